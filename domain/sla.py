"""First-response SLA as a pure function of event times (no clock reads).

A lead's deadline is its first inbound touch plus ``first_response_minutes`` (VIP leads use
``vip_first_response_minutes``). Step k of the escalation chain falls due one further SLA period
after step k-1, so the chain walks up one level per missed period. A first response at or before a
step's due time cancels that step and every later one.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta


@dataclass(frozen=True, slots=True)
class DueStep:
    step: int  # 1-based position in the escalation chain
    role: str  # the chain entry, e.g. "manager"; the caller resolves it to a person
    deadline_at: datetime  # the first-response deadline that was missed
    due_at: datetime  # when this step fell due (event time)


def first_response_deadline(lead_at: datetime, minutes: int) -> datetime:
    return lead_at + timedelta(minutes=minutes)


def due_steps(
    lead_at: datetime,
    answered_at: datetime | None,
    minutes: int,
    chain: Sequence[str],
    now: datetime,
    already: frozenset[int] | set[int] = frozenset(),
) -> list[DueStep]:
    """Chain steps due at event time ``now`` that are not in ``already`` (idempotence lives here:
    the caller passes the steps it has recorded, so re-running never repeats one)."""
    deadline = first_response_deadline(lead_at, minutes)
    steps: list[DueStep] = []
    for index, role in enumerate(chain, start=1):
        due_at = deadline + timedelta(minutes=minutes * (index - 1))
        if due_at > now or (answered_at is not None and answered_at <= due_at):
            break  # later steps fall due even later, and an answer cancels them all
        if index not in already:
            steps.append(DueStep(index, role, deadline, due_at))
    return steps
