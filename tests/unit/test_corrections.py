"""A profile correction as typed in: cleaned like an envelope's contact field (domain)."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from domain.customer import corrected_value


@given(st.floats(min_value=0, max_value=1e12, allow_nan=False))
def test_a_budget_typed_as_text_is_the_amount(budget: float) -> None:
    assert corrected_value("budget_cny", repr(budget)) == budget


@given(st.text(min_size=1).filter(lambda t: t.strip() and "\x00" not in t))
def test_a_text_correction_is_never_empty_and_never_padded(text: str) -> None:
    try:
        value = corrected_value("company", text)
    except ValueError as error:  # only when cleaning leaves nothing
        assert "empty" in str(error)
        return
    assert value and value == value.strip()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("company", "   ", "company: the corrected value is empty"),
        ("budget_cny", "lots", "budget_cny: 'lots' is not a number"),
        ("budget_cny", "-5", "budget_cny: '-5' must be a non-negative amount"),
        ("budget_cny", "inf", "budget_cny: 'inf' must be a non-negative amount"),
    ],
)
def test_a_bad_correction_is_refused_naming_the_field(field: str, value: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        corrected_value(field, value)
