"""The silence tagger: a follower that tags customers ``silent`` after ``[silence] days``
without a touchpoint, on the service's clock, and lifts the tag when they are touched again.

Its decisions are ``TagsChanged`` events carrying the instant observed; the
``silent_customers`` view reads the tag, so it and the tagger cannot disagree.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Final
from uuid import UUID

from eventsourcing.persistence import IntegrityError

from adapters.log_reader import LogTail
from application.event_chain import EventChain
from domain.customer import Customer
from domain.rules import RuleSet
from domain.silence import SILENT, SilenceBook
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


class SilenceTagger:
    name = SILENCE_NAME

    def __init__(self, app: EventChain, clock: Callable[[], datetime] | None = None) -> None:
        self.app = app
        self.clock = clock or app.clock
        self.reset()

    def reset(self) -> None:
        self.book = SilenceBook()
        self.tail = LogTail(self.app, SILENCE_EVENTS)

    @property
    def position(self) -> int:
        return self.tail.position

    def tick(self, should_stop: Callable[[], bool] = lambda: False) -> int:
        tagged, lifted = self.apply(should_stop)
        return tagged + lifted

    def apply(self, should_stop: Callable[[], bool] = lambda: False) -> tuple[int, int]:
        """Folds what is new, tags who fell silent, lifts who came back; returns (tagged, lifted)."""
        for customer_id in fold_new(self.tail, self.book.feed, should_stop):
            customer = self.app.get_customer(UUID(customer_id), follow_merges=False)
            chain = customer.chain
            self.book.replace(
                customer_id,
                chain[-1].occurred_at if chain else None,
                SILENT in customer.tags,
                customer.merged_into is not None,
            )
        if should_stop():
            return 0, 0
        now = self.clock()
        silent, back = self.book.due(now), self.book.to_lift(now)
        if not silent and not back:
            return 0, 0
        days, version = self.book.days, self.book.version
        changed = []
        recorded_at = self.app.clock()
        for customer_id, add in [*((c, True) for c in silent), *((c, False) for c in back)]:
            customer = self.app.get_customer(UUID(customer_id), follow_merges=False)
            reason = f"no touchpoint for {days} days (rules v{version})" if add else "touched again"
            if customer.change_tags(
                [SILENT] if add else [], [] if add else [SILENT], now, reason, recorded_at
            ):
                changed.append(customer)
        try:
            self.app.save(*changed)
        except IntegrityError:  # another tagger got there first: its events come back next tick
            self.reset()
            return 0, 0
        return len(silent), len(back)


def apply_silence(app: EventChain, now: datetime) -> tuple[int, int]:
    """One full pass at ``now``: for one-shot commands and tests."""
    return SilenceTagger(app, clock=lambda: now).apply()
