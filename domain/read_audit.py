"""The read audit (SPEC §7): every read of personal data is an event in the store.

One ``ReadAudit`` aggregate per read, created once and never changed: appending needs no
lock or version check across readers, and the store's append-only log is the audit trail
(not the DuckDB views, which are rebuilt and could be rewritten).
"""

from __future__ import annotations

from datetime import datetime
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
