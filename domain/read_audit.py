"""The read audit (SPEC §7): every read of personal data is an event in the store.

One ``ReadAudit`` aggregate per read, created once and never changed: appending needs no
lock or version check across readers, and the store's append-only log is the audit trail
(not the DuckDB views, which are rebuilt and could be rewritten).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from uuid import UUID

from eventsourcing.domain import Aggregate


class ReadAudit(Aggregate):
    class Created(Aggregate.Created):
        actor: str  # who read: the signed-in agent, or the operator's user on the CLI
        role: str  # the role the read was filtered by, e.g. "sales:a-wang" or "exec"
        action: str  # what was read: "customer", "customers", "export", "report", …
        subject: str  # which customer, file or filter
        rows: int  # how many customers' personal data were returned
        via: str  # "cli" or "web"
        read_at: datetime

    def __init__(
        self, actor: str, role: str, action: str, subject: str, rows: int, via: str, read_at: datetime
    ) -> None:
        self.actor = actor
        self.role = role
        self.action = action
        self.subject = subject
        self.rows = rows
        self.via = via
        self.read_at = read_at

    @classmethod
    def record(
        cls,
        read_id: UUID,
        *,
        actor: str,
        role: str,
        action: str,
        subject: str,
        rows: int,
        via: str,
        read_at: datetime,
    ) -> ReadAudit:
        if not actor.strip() or not action.strip():
            raise ValueError("a read audit entry needs an actor and an action")
        if rows < 0:
            raise ValueError("rows cannot be negative")
        return cls._create(
            cls.Created,
            id=read_id,
            timestamp=read_at,
            actor=actor,
            role=role,
            action=action,
            subject=subject,
            rows=rows,
            via=via,
            read_at=read_at,
        )


@dataclass(frozen=True, slots=True)
class ReadAlertPolicy:
    """When a read of personal data is alarming (seed 001: a leaving rep exported 200+
    customers at 2 a.m.): too many customers' rows by one actor within a window, or a read
    outside working hours. ``max_rows`` 0 switches the count off; ``working_hours`` None
    switches the hours off. Hours are local at ``utc_offset`` (China Standard Time).
    ``action``: ``notify`` publishes the alert; ``freeze`` also ends the actor's sessions and
    holds their sign-ins until a director releases them (seed 001: frozen before the data left)."""

    max_rows: int = 200
    window: timedelta = timedelta(hours=1)
    working_hours: tuple[int, int] | None = (8, 20)  # [start, end) local hours
    utc_offset: timedelta = timedelta(hours=8)
    action: str = "notify"


def read_alerts(
    policy: ReadAlertPolicy, read_at: datetime, rows: int, earlier: list[tuple[datetime, int]]
) -> list[str]:
    """Why this read (at ``read_at``, ``rows`` rows) is alarming, given the same actor's
    ``earlier`` reads (when, rows); empty when it is not."""
    reasons = []
    in_window = rows + sum(n for at, n in earlier if read_at - policy.window < at <= read_at)
    if policy.max_rows and rows and in_window > policy.max_rows:
        minutes = int(policy.window.total_seconds() // 60)
        reasons.append(f"{in_window} rows read within {minutes} min (limit {policy.max_rows})")
    if policy.working_hours is not None and rows:
        local = read_at.astimezone(timezone(policy.utc_offset))
        start, end = policy.working_hours
        if not start <= local.hour < end:
            reasons.append(f"read at {local:%H:%M} local time, outside working hours {start:02}-{end:02}")
    return reasons


ALERT_ACTIONS = ("notify", "freeze")


def alerts_on(policy: ReadAlertPolicy) -> bool:
    """False when neither the count nor the hours can ever alarm (nothing to check)."""
    return bool(policy.max_rows) or policy.working_hours is not None


def still_in_window(
    policy: ReadAlertPolicy, reads: list[tuple[datetime, int]], newest: datetime
) -> list[tuple[datetime, int]]:
    """The reads a later check still needs: those within the window before ``newest``."""
    return [(at, rows) for at, rows in reads if at > newest - policy.window]
