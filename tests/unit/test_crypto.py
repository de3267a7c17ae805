"""The key-encryption key as an operator types it: clear errors, no silent weak keys."""

from __future__ import annotations

import base64

import pytest
from hypothesis import given
from hypothesis import strategies as st

from adapters.crypto import KeyError_, new_kek, parse_kek


def test_a_generated_key_encryption_key_parses_to_32_bytes_and_each_one_is_new() -> None:
    first, second = new_kek(), new_kek()
    assert len(parse_kek(first)) == 32 and first != second
    assert "=" not in first and "+" not in first and "/" not in first  # safe in env files and shells


def test_a_key_with_surrounding_whitespace_or_padding_is_accepted() -> None:
    text = new_kek()
    assert parse_kek(f"  {text}\n") == parse_kek(text + "=")


@pytest.mark.parametrize("text", [None, ""])
def test_a_missing_key_names_the_variable_and_how_to_make_one(text: str | None) -> None:
    expected = r"EVENTCHAIN_KEK is not set \(generate one with `eventchain keygen`\)"
    with pytest.raises(KeyError_, match=expected):
        parse_kek(text)


@given(st.binary(min_size=0, max_size=64).filter(lambda b: len(b) != 32))
def test_a_key_of_the_wrong_length_is_refused_with_its_length(raw: bytes) -> None:
    text = base64.urlsafe_b64encode(raw).decode()
    with pytest.raises(KeyError_, match="EVENTCHAIN_KEK"):
        parse_kek(text or "=")


def test_text_that_is_not_base64_is_refused() -> None:
    with pytest.raises(KeyError_, match="EVENTCHAIN_KEK"):
        parse_kek("not a key at all!")
