"""The dead-letter audit entry: who retried or dropped which dead letter."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.dead_letters import DeadLetterAction, InvalidDeadLetterActionError

AT = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)


def action(**overrides: object) -> DeadLetterAction:
    fields: dict[str, object] = {
        "actor": "ops-li",
        "action": "retried",
        "stream": "TOUCHPOINTS_DLQ",
        "sequence": 12,
        "channel": "web_form",
        "reason": "Expected `str`, got `int`",
        "msg_id": "wf-2026-000123",
        "acted_at": AT,
        "republished_as": 40,
    }
    return DeadLetterAction.record(uuid4(), **{**fields, **overrides})  # type: ignore[arg-type]


def test_a_retry_is_one_created_event_naming_the_dead_letter_and_the_copy() -> None:
    retried = action(fix_sha256="ab" * 32, note="form_id was a number")

    [event] = retried.collect_events()
    assert isinstance(event, DeadLetterAction.Created)
    assert ("retried", 12, 40, "ab" * 32) == (
        event.action,
        event.sequence,
        event.republished_as,
        event.fix_sha256,
    )
    assert AT == event.acted_at


@pytest.mark.parametrize(
    ("overrides", "field"),
    [
        ({"actor": " "}, "actor"),
        ({"action": "fixed"}, "action"),
        ({"sequence": 0}, "sequence"),
        ({"republished_as": 0}, "republished_as"),
    ],
)
def test_an_entry_missing_what_it_records_is_refused_naming_the_field(
    overrides: dict[str, object], field: str
) -> None:
    with pytest.raises(InvalidDeadLetterActionError, match=f"^{field}: "):
        action(**overrides)


def test_a_drop_needs_no_republished_copy() -> None:
    [event] = action(action="dropped", republished_as=0).collect_events()
    assert isinstance(event, DeadLetterAction.Created) and "dropped" == event.action
