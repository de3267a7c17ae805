"""External identities: cleaning, normalisation and the keys that index customers."""

from __future__ import annotations

import re
import unicodedata
from functools import lru_cache
from typing import Final, Literal, get_args
from uuid import UUID, uuid5

import phonenumbers
from stdnum.cn import uscc as uscc_number
from stdnum.exceptions import ValidationError as StdnumValidationError

IdentityKind = Literal["phone", "email", "douyin_open_id", "wecom_external_id", "uscc", "pos_card", "xhs_id"]
IDENTITY_KINDS: Final[tuple[str, ...]] = get_args(IdentityKind)

# Kinds that name exactly one real-world party: two customers holding different values
# of one of these kinds are different parties (merge protection, SPEC §6).
UNIQUE_KINDS: Final[frozenset[str]] = frozenset({"uscc"})
# Kinds strong enough that a shared value marks two records as duplicate candidates.
STRONG_KINDS: Final[frozenset[str]] = frozenset({"phone", "email", "uscc"})

IDENTITY_NAMESPACE: Final = UUID("5b0c7d1e-3f8a-4c65-9d0e-2a7f6c1b9e40")

# Zero-width and bidirectional controls that Excel exports and chat copy-paste smuggle
# into values (seed 004: U+200E inside phone numbers).
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060\ufeff]")
_EMAIL = re.compile(r"^[a-z0-9.!#$%&'*+/=?^_`{|}~-]+@[a-z0-9-]+(\.[a-z0-9-]+)+$")
_OPAQUE_ID = re.compile(r"^[\w.:@+=/-]{1,128}$")
DEFAULT_PHONE_REGION: Final = "CN"


def clean_text(value: str) -> str:
    """Strips invisible/bidi characters, applies NFKC (full-width digits become ASCII)."""
    return unicodedata.normalize("NFKC", _INVISIBLE.sub("", value)).strip()


# Memoised: a pure function of its arguments, and phone parsing is the costly part of
# validating a touchpoint (~30 µs); the same customers' identities recur in every batch.
# Invalid values are not cached (lru_cache does not cache exceptions).
@lru_cache(maxsize=1 << 17)
def normalise_identity(kind: str, value: str) -> str:
    """Returns the canonical form of an identity value, or raises InvalidIdentityError."""
    cleaned = clean_text(value)
    if not cleaned:
        raise InvalidIdentityError("is empty")
    if kind == "phone":
        return normalise_phone(cleaned)
    if kind == "email":
        return normalise_email(cleaned)
    if kind == "uscc":
        return normalise_uscc(cleaned)
    if kind not in IDENTITY_KINDS:
        raise InvalidIdentityError(f"unknown identity kind {kind!r}")
    if not _OPAQUE_ID.match(cleaned):
        raise InvalidIdentityError(f"{cleaned[:40]!r} is not a valid {kind}")
    return cleaned


@lru_cache(maxsize=1 << 16)
def normalise_phone(value: str, region: str = DEFAULT_PHONE_REGION) -> str:
    try:
        number = phonenumbers.parse(value, region)
    except phonenumbers.NumberParseException:
        raise InvalidIdentityError(f"{value[:40]!r} is not a phone number") from None
    if not phonenumbers.is_valid_number(number):
        raise InvalidIdentityError(f"{value[:40]!r} is not a valid phone number") from None
    return phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.E164)


def normalise_email(value: str) -> str:
    lowered = value.lower()
    if len(lowered) > 254 or not _EMAIL.match(lowered):
        raise InvalidIdentityError(f"{value[:40]!r} is not a valid email address")
    return lowered


def normalise_uscc(value: str) -> str:
    try:
        return str(uscc_number.validate(value))
    except StdnumValidationError as error:
        raise InvalidIdentityError(
            f"{value[:40]!r} is not a valid unified social credit code ({error})"
        ) from None


def identity_key(kind: str, normalised_value: str) -> str:
    """The stable key of an identity, e.g. ``phone:+8613800138000``."""
    return f"{kind}:{normalised_value}"


# Values that are no person: the placeholders people type into forms to get past them and
# the test values of integrations. Each would merge every customer who used it into one.
# The company's own numbers (switchboard, the 400 line) come from the rules document's
# ``[identities] blocked``; both lists are keys as ``identity_key`` writes them.
PLACEHOLDER_IDENTITIES: Final[frozenset[str]] = frozenset(
    {
        "phone:+8613800000000",
        "phone:+8613000000000",
        "phone:+8613111111111",
        "phone:+8613888888888",
        "phone:+8618888888888",
        "phone:+8613333333333",
        "phone:+8615555555555",
        "phone:+8617777777777",
        "phone:+8619999999999",
        "phone:+12345678901",  # 12345678901 typed with a +: a valid North American number
        "email:test@test.com",
        "email:test@example.com",
        "email:a@a.com",
        "email:123@qq.com",
        "email:123456@qq.com",
        "email:test@qq.com",
        "email:none@none.com",
        "email:noreply@example.com",
    }
)
# Whole domains reserved for examples and tests (RFC 2606) or throwaway inboxes.
PLACEHOLDER_EMAIL_DOMAINS: Final[frozenset[str]] = frozenset(
    {"test.com", "example.com", "example.org", "example.net", "mailinator.com"}
)


def blocked_reason(key: str, blocked: frozenset[str] = frozenset()) -> str | None:
    """Why an identity key must not take part in identity resolution, or None."""
    if key in blocked:
        return "is blocked by the rules ([identities] blocked)"
    if key in PLACEHOLDER_IDENTITIES:
        return "is a placeholder value, not a person"
    kind, _, value = key.partition(":")
    if kind == "email" and value.rpartition("@")[2] in PLACEHOLDER_EMAIL_DOMAINS:
        return "is at a domain reserved for examples and tests"
    return None


def parse_identity_key(text: str) -> str:
    """``kind:value`` as written by a person (``phone:400-800-1234``) → the normalised key."""
    kind, sep, value = text.partition(":")
    if not sep or kind not in IDENTITY_KINDS:
        raise InvalidIdentityError(f"{text[:40]!r} is not KIND:VALUE with KIND one of {IDENTITY_KINDS}")
    return identity_key(kind, normalise_identity(kind, value))


def identity_kind(key: str) -> str:
    return key.partition(":")[0]


@lru_cache(maxsize=1 << 17)
def identity_index_id(key: str) -> UUID:
    """The id of the index aggregate for an identity key (uuid5: the same key, the same id)."""
    return uuid5(IDENTITY_NAMESPACE, key)


class InvalidIdentityError(ValueError):
    """An identity value that cannot be normalised."""
