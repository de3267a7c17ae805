"""The dead-letter audit trail: what an operator did to a dead letter (SPEC §9, §7).

One ``DeadLetterAction`` aggregate per retry or drop, created once and never changed, like
``ReadAudit``: the store's append-only log keeps who re-drove or dropped which rejected
touchpoint, when, why it had been rejected, and whether its bytes were fixed first.
"""

from __future__ import annotations

from datetime import datetime
from typing import Final
from uuid import UUID

from eventsourcing.domain import Aggregate

DEAD_LETTER_ACTIONS: Final = ("retried", "dropped")


class DeadLetterAction(Aggregate):
    class Created(Aggregate.Created):
        actor: str  # the operator's user, or --actor
        action: str  # "retried" or "dropped"
        stream: str  # the dead-letter stream, e.g. TOUCHPOINTS_DLQ
        sequence: int  # the dead letter's sequence in that stream
        channel: str
        reason: str  # why ingest had rejected it
        msg_id: str  # the original Nats-Msg-Id ("" when it had none)
        fix_sha256: str  # sha256 of the replacement bytes ("" when re-driven as it was)
        republished_as: int  # the ingest stream's sequence of the re-driven copy (0 for a drop)
        note: str
        acted_at: datetime

    def __init__(
        self,
        actor: str,
        action: str,
        stream: str,
        sequence: int,
        channel: str,
        reason: str,
        msg_id: str,
        fix_sha256: str,
        republished_as: int,
        note: str,
        acted_at: datetime,
    ) -> None:
        self.actor = actor
        self.action = action
        self.stream = stream
        self.sequence = sequence
        self.channel = channel
        self.reason = reason
        self.msg_id = msg_id
        self.fix_sha256 = fix_sha256
        self.republished_as = republished_as
        self.note = note
        self.acted_at = acted_at

    @classmethod
    def record(
        cls,
        action_id: UUID,
        *,
        actor: str,
        action: str,
        stream: str,
        sequence: int,
        channel: str,
        reason: str,
        msg_id: str,
        acted_at: datetime,
        fix_sha256: str = "",
        republished_as: int = 0,
        note: str = "",
    ) -> DeadLetterAction:
        if not actor.strip():
            raise InvalidDeadLetterActionError("actor: a dead-letter action needs an actor")
        if action not in DEAD_LETTER_ACTIONS:
            raise InvalidDeadLetterActionError(f"action: {action!r} is not one of {DEAD_LETTER_ACTIONS}")
        if sequence < 1:
            raise InvalidDeadLetterActionError(f"sequence: {sequence} is not a stream sequence (≥ 1)")
        if action == "retried" and republished_as < 1:
            raise InvalidDeadLetterActionError("republished_as: a retry names the re-driven copy's sequence")
        return cls._create(
            cls.Created,
            id=action_id,
            timestamp=acted_at,
            actor=actor,
            action=action,
            stream=stream,
            sequence=sequence,
            channel=channel,
            reason=reason,
            msg_id=msg_id,
            fix_sha256=fix_sha256,
            republished_as=republished_as,
            note=note,
            acted_at=acted_at,
        )


class InvalidDeadLetterActionError(ValueError):
    """An audit entry that names no actor, an unknown action or no dead letter."""
