from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.identities import (
    InvalidIdentityError,
    clean_text,
    identity_index_id,
    normalise_identity,
)
from tests.strategies import phones


@pytest.mark.parametrize(
    ("kind", "raw", "expected"),
    [
        ("phone", "13800138000", "+8613800138000"),
        ("phone", "+86 138-0013-8000", "+8613800138000"),
        ("phone", "１３８００１３８０００", "+8613800138000"),  # full-width digits (NFKC)
        ("phone", "138\u200e0013\u200b8000", "+8613800138000"),  # seed 004's invisible marks
        ("phone", "0571-8888-6666", "+8657188886666"),  # landline with area code
        ("email", " Li@Example.CN ", "li@example.cn"),
        ("uscc", "91330106ma2gl2kj4w", "91330106MA2GL2KJ4W"),
        ("douyin_open_id", "dy-open-1", "dy-open-1"),
    ],
)
def test_identities_normalise_to_one_canonical_form(kind: str, raw: str, expected: str) -> None:
    assert expected == normalise_identity(kind, raw)


@pytest.mark.parametrize(
    ("kind", "raw"),
    [
        ("phone", "12345"),
        ("phone", "=VLOOKUP(A1,B:C,2,0)"),
        ("email", "li@"),
        ("uscc", "91330106MA2GL2KJ4X"),  # bad check character
        ("xhs_id", "has spaces inside"),
        ("phone", "\u200e"),
    ],
)
def test_unparseable_identities_are_refused(kind: str, raw: str) -> None:
    with pytest.raises(InvalidIdentityError):
        normalise_identity(kind, raw)


@given(phones)
def test_normalising_a_phone_is_idempotent(phone: str) -> None:
    once = normalise_identity("phone", phone)
    assert once == normalise_identity("phone", once)


@given(st.text(max_size=30))
def test_cleaning_text_is_idempotent_and_leaves_no_invisible_characters(value: str) -> None:
    cleaned = clean_text(value)
    assert cleaned == clean_text(cleaned)
    assert not any(ch in cleaned for ch in "\u200b\u200e\u202e\u2060\ufeff")


def test_the_same_identity_key_always_names_the_same_index_aggregate() -> None:
    assert identity_index_id("phone:+8613800138000") == identity_index_id("phone:+8613800138000")
    assert identity_index_id("phone:+8613800138000") != identity_index_id("phone:+8613800138001")
