"""What the followers' books on the clock share (``domain.sla.SlaBook``,
``domain.follow_up_book.FollowUpBook``), pure: the rules' versions and the team as folded
from the log, and the customers ordered by the next instant something falls due for them.
"""

from __future__ import annotations

import heapq
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from domain.roster import Roster, RosterState
from domain.rules import RulesDocument, RuleSet, rules_from_dict


@dataclass
class RulesAndTeam:
    """Every revision of the rules (version n is ``rule_versions[n - 1]``) and the roster."""

    rule_versions: list[dict[str, Any]] = field(default_factory=list)
    roster: RosterState = field(default_factory=RosterState)
    _parsed: dict[int, RulesDocument] = field(default_factory=dict)

    def feed_rules_or_team(self, kind: str, fields: dict[str, Any]) -> bool:
        """Folds a rules revision or a roster event; False for any other event."""
        if kind == RuleSet.RulesRevised.__qualname__:
            self.rule_versions.append(fields["document"])
            return True
        if kind.startswith(f"{Roster.__name__}."):
            self.roster.apply(kind, fields)
            return True
        return False

    @property
    def latest(self) -> int:
        return len(self.rule_versions)

    def rules(self, version: int | None) -> RulesDocument | None:
        """The rules of ``version`` (parsed once), or None for a version the log lacks."""
        if version is None or not 1 <= version <= len(self.rule_versions):
            return None
        if version not in self._parsed:
            self._parsed[version] = rules_from_dict(self.rule_versions[version - 1])
        return self._parsed[version]


@dataclass
class DueHeap:
    """Customers by the next instant something falls due for them. Rescheduling pushes a new
    entry and leaves the old one to be skipped (lazy deletion), so each change is O(log n)."""

    _heap: list[tuple[datetime, str]] = field(default_factory=list)
    _scheduled: dict[str, datetime] = field(default_factory=dict)

    def schedule(self, customer_id: str, at: datetime | None) -> None:
        """``at``: the customer's next due instant; None: nothing is due for them any more."""
        if at is None:
            self._scheduled.pop(customer_id, None)
        elif self._scheduled.get(customer_id) != at:
            self._scheduled[customer_id] = at
            heapq.heappush(self._heap, (at, customer_id))

    def next_due(self) -> datetime | None:
        while self._heap and self._scheduled.get(self._heap[0][1]) != self._heap[0][0]:
            heapq.heappop(self._heap)  # stale: rescheduled or settled since
        return self._heap[0][0] if self._heap else None

    def pop_due(self, now: datetime) -> list[str]:
        """The customers due at ``now``, in due order, unscheduled until scheduled again."""
        found = []
        while self._heap and self._heap[0][0] <= now:
            at, customer_id = heapq.heappop(self._heap)
            if self._scheduled.get(customer_id) == at:
                del self._scheduled[customer_id]
                found.append(customer_id)
        return found

    def __len__(self) -> int:
        return len(self._scheduled)
