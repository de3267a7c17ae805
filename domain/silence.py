"""Silent customers (rules ``[silence] days``), pure: the silence tagger's book.

A customer is silent once ``days`` have passed on the service's clock since its latest
touchpoint (any channel, either direction). The book keeps each live customer's latest touch
and orders the untagged ones by the instant they fall silent (a heap), so a tick costs what
is new or due, not a scan of every customer. The caller records what ``due`` and
``to_lift`` return as ``TagsChanged`` events; replays read those and never decide again.
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

from domain.customer import Customer
from domain.rules import RuleSet, rules_from_dict

SILENT: Final = "silent"


@dataclass(slots=True)
class Quiet:
    last_touch: datetime | None = None
    silent: bool = False  # the tag as recorded
    closed: bool = False  # merged into another customer


@dataclass
class SilenceBook:
    customers: dict[str, Quiet] = field(default_factory=dict)
    days: int | None = None  # None until the first rules version
    version: int = 0
    _heap: list[tuple[datetime, str]] = field(default_factory=list)
    _touched: set[str] = field(default_factory=set)  # new touchpoints since the last to_lift

    def feed(self, kind: str, customer_id: str, fields: dict[str, Any]) -> None:
        if kind == RuleSet.RulesRevised.__qualname__:
            days = rules_from_dict(fields["document"]).silence.days
            self.version += 1
            if days != self.days:
                self.days = days
                self._heap = [
                    (q.last_touch + timedelta(days=days), c)
                    for c, q in self.customers.items()
                    if q.last_touch is not None and not q.closed
                ]
                heapq.heapify(self._heap)
            return
        quiet = self.customers.setdefault(customer_id, Quiet())
        if kind == Customer.TouchpointRecorded.__qualname__:
            at = fields["occurred_at"]
            at = at if isinstance(at, datetime) else datetime.fromisoformat(at)
            if quiet.last_touch is None or at > quiet.last_touch:
                quiet.last_touch = at
                self._schedule(customer_id, quiet)
            self._touched.add(customer_id)
        elif kind == Customer.TagsChanged.__qualname__:
            if SILENT in fields["added"]:
                quiet.silent = True
            if SILENT in fields["removed"]:
                quiet.silent = False
                self._schedule(customer_id, quiet)
        elif kind == Customer.MergedInto.__qualname__:
            quiet.closed = True
        elif kind == Customer.Restored.__qualname__:
            quiet.closed = False
            self._schedule(customer_id, quiet)

    def replace(self, customer_id: str, last_touch: datetime | None, silent: bool, closed: bool) -> None:
        """Sets a customer from its aggregate (after a merge or unmerge moved touchpoints)."""
        quiet = Quiet(last_touch, silent, closed)
        self.customers[customer_id] = quiet
        self._schedule(customer_id, quiet)
        self._touched.add(customer_id)

    def due(self, now: datetime) -> list[str]:
        """Customers that fell silent by ``now`` and are not tagged yet (unscheduled: the
        caller records the tag, then the fed TagsChanged keeps them tagged)."""
        found: list[str] = []
        if self.days is None:
            return found
        span = timedelta(days=self.days)
        while self._heap and self._heap[0][0] <= now:
            at, customer_id = heapq.heappop(self._heap)
            quiet = self.customers[customer_id]
            if quiet.closed or quiet.silent or quiet.last_touch is None or quiet.last_touch + span != at:
                continue  # stale: touched again, tagged or merged since it was scheduled
            found.append(customer_id)
        return found

    def to_lift(self, now: datetime) -> list[str]:
        """Silent customers touched again since the last call, no longer silent at ``now``."""
        touched, self._touched = self._touched, set()
        if self.days is None:
            return []
        span = timedelta(days=self.days)
        return sorted(
            c
            for c in touched
            if (q := self.customers[c]).silent
            and not q.closed
            and q.last_touch is not None
            and now - q.last_touch < span
        )

    def reschedule(self, customer_ids: Iterable[str]) -> None:
        """Considers these customers again on the next ``due`` and ``to_lift`` (their change
        was not recorded)."""
        for customer_id in customer_ids:
            quiet = self.customers.get(customer_id)
            if quiet is not None:
                self._schedule(customer_id, quiet)
                self._touched.add(customer_id)

    def _schedule(self, customer_id: str, quiet: Quiet) -> None:
        if self.days is not None and quiet.last_touch is not None and not quiet.closed:
            heapq.heappush(self._heap, (quiet.last_touch + timedelta(days=self.days), customer_id))


def silence_change(quiet: Quiet, days: int, now: datetime) -> bool | None:
    """What the tag should become at ``now``: True to tag silent, False to lift the tag, None
    to leave it (the rule ``due`` and ``to_lift`` apply, for one customer as it is)."""
    if quiet.closed or quiet.last_touch is None:
        return None
    fell_silent = now - quiet.last_touch >= timedelta(days=days)
    if fell_silent != quiet.silent:
        return fell_silent
    return None
