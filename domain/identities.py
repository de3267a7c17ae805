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


def identity_kind(key: str) -> str:
    return key.partition(":")[0]


@lru_cache(maxsize=1 << 17)
def identity_index_id(key: str) -> UUID:
    """The id of the index aggregate for an identity key (uuid5: the same key, the same id)."""
    return uuid5(IDENTITY_NAMESPACE, key)


class InvalidIdentityError(ValueError):
    """An identity value that cannot be normalised."""
