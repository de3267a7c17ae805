"""Words the aggregate, the rules and the followers share: the sales stages, the router's
actor name and the escalation record. They live here, below all three, so that
``customer``, ``rules``, ``routing`` and ``sla`` import each other in one direction only."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Final

# The sales stages (seed 002's journey); a customer enters "lead" with its first inbound touch.
STAGES: Final = ("lead", "contacted", "requirement", "solution", "contract", "won", "lost")

# The actor recorded on the router's owner decisions.
ROUTER: Final = "router"


@dataclass(frozen=True, slots=True)
class Escalation:
    """A step the SLA watcher found due at ``observed_at``, resolved to a person."""

    customer_id: str
    step: int
    role: str
    escalated_to: str
    reason: str
    deadline_at: datetime
    due_at: datetime
    rule_version: int
    observed_at: datetime
