"""The silence tagger: a follower that tags customers ``silent`` after ``[silence] days``
without a touchpoint, on the service's clock, and lifts the tag when they are touched again.

Its decisions are ``TagsChanged`` events carrying the instant observed; the
``silent_customers`` view reads the tag, so it and the tagger cannot disagree. Each candidate
is read again before its tag changes, and a conflict with another writer reads it again: a
race lost never re-folds the log.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final
from uuid import UUID

from application.event_chain import EventChain
from domain.customer import Customer
from domain.rules import RuleSet
from domain.silence import SILENT, Quiet, SilenceBook, silence_change
from followers.checkpoints import BookFollower
from followers.loop import MOVES_TOUCHPOINTS, fold_new

SILENCE_NAME: Final = "silence"
SILENCE_EVENTS: Final = (
    RuleSet.RulesRevised,
    Customer.TouchpointRecorded,
    Customer.TagsChanged,
    Customer.MergedInto,
    Customer.Restored,
    *MOVES_TOUCHPOINTS,
)
FOLD_MODULES: Final = ("domain.silence", "domain.rules", "followers.silence")


class SilenceTagger(BookFollower[SilenceBook]):
    name = SILENCE_NAME

    def __init__(self, app: EventChain, clock: Callable[[], datetime] | None = None) -> None:
        self.clock = clock or app.clock
        super().__init__(app, SILENCE_NAME, FOLD_MODULES, SilenceBook, SILENCE_EVENTS)

    def tick(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        tagged, lifted = self.apply(should_stop)
        return tagged + lifted

    def apply(self, should_stop: Callable[[], bool] = lambda: False) -> tuple[int, int]:
        """Folds what is new, tags who fell silent, lifts who came back; returns (tagged, lifted)."""
        for customer_id in fold_new(self.tail, self.book.feed, should_stop):
            self.book.replace(
                customer_id, *quiet_facts(self.app.get_customer(UUID(customer_id), follow_merges=False))
            )
        if should_stop():
            return 0, 0
        now = self.clock()
        candidates = sorted({*self.book.due(now), *self.book.to_lift(now)})
        if not candidates or self.book.days is None:
            self.checkpoint(force=False)
            return 0, 0
        changes: dict[str, bool] = {}
        try:
            self.app.save_deciding_again(lambda: self._decide(candidates, now, changes))
        except BaseException:
            self.book.reschedule(candidates)
            raise
        self.checkpoint(force=False)
        tagged = sum(changes.values())
        return tagged, len(changes) - tagged

    def _decide(self, candidates: list[str], now: datetime, changes: dict[str, bool]) -> list[Customer]:
        """Reads each candidate and decides with what its aggregate says now (touched, tagged or
        merged meanwhile by another writer: nothing to record)."""
        changes.clear()
        days, version = self.book.days or 0, self.book.version
        recorded_at = self.app.clock()
        customers = []
        for customer_id in candidates:
            customer = self.app.get_customer(UUID(customer_id), follow_merges=False)
            last_touch, silent, closed = quiet_facts(customer)
            add = silence_change(Quiet(last_touch, silent, closed), days, now)
            if add is None:
                continue
            reason = f"no touchpoint for {days} days (rules v{version})" if add else "touched again"
            customer.change_tags([SILENT] if add else [], [] if add else [SILENT], now, reason, recorded_at)
            changes[customer_id] = add
            customers.append(customer)
        return customers


def quiet_facts(customer: Customer) -> tuple[datetime | None, bool, bool]:
    """(latest touch, tagged silent, merged away) of a customer, from its aggregate."""
    chain = customer.chain
    return chain[-1].occurred_at if chain else None, SILENT in customer.tags, customer.merged_into is not None


def apply_silence(app: EventChain, now: datetime) -> tuple[int, int]:
    """One full pass at ``now``: for one-shot commands and tests."""
    return SilenceTagger(app, clock=lambda: now).apply()
