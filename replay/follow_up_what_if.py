"""Back-testing follow-up plans (seed 004): ``replay what-if`` re-runs the plans in event time.

The follow-up book (``domain.follow_ups``) folds the recorded facts — touchpoints, stages, tags,
owners, the roster — with the draft document as the only rules version, and decides at the
horizon ("now", or the window's end): every plan starts under the draft, each step comes due and
is met as the draft says. Because the book's outcome depends neither on the arrival order of
the facts nor on how often it ticks, the rules in force reproduce the recorded decisions
exactly; what differs under a draft is what the draft changes.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass, field
from datetime import datetime
from typing import Final

from adapters.log_reader import log_events
from application.event_chain import EventChain
from domain.customer import FOLLOW_UP_EVENTS
from domain.follow_up_book import FollowUpBook
from domain.follow_ups import decision_from_event
from domain.plan_rules import FollowUpDecision
from domain.rules import RulesDocument, RuleSet, as_dict
from followers.follow_ups import WATCHED_EVENTS

# What a decision is, for comparing: which, of whom, when in event time (not when observed).
Outcome = tuple[str, str, str, str, str]
_RECORDED: Final = frozenset(cls.__qualname__ for cls in FOLLOW_UP_EVENTS.values())
_FACTS: Final = tuple(cls for cls in WATCHED_EVENTS if cls.__qualname__ not in _RECORDED)


@dataclass
class PlanBackTest:
    due_actual: int = 0  # steps that came due (or were met before they could)
    met_in_time_actual: int = 0
    due_predicted: int = 0
    met_in_time_predicted: int = 0
    changed: list[Outcome] = field(default_factory=list)  # decisions in one run and not the other


def back_test_plans(
    app: EventChain,
    rules: RulesDocument,
    horizon: datetime,
    start: datetime | None = None,
    end: datetime | None = None,
    customers: Collection[str] | None = None,
) -> PlanBackTest:
    """Plans started in ``[start, end)`` (of the customers given, or all), as recorded and as
    the draft would have decided them by ``horizon``."""
    book = FollowUpBook()
    book.rule_versions.append(as_dict(rules))
    actual: list[FollowUpDecision] = []
    for _, kind, originator, fields in log_events(app, (*_FACTS, *FOLLOW_UP_EVENTS.values()), personal=False):
        if kind in _RECORDED:
            actual.append(decision_from_event(kind.rpartition(".")[2], originator, fields))
        elif kind != RuleSet.RulesRevised.__qualname__:
            book.feed(kind, originator, fields)
    predicted = book.due(horizon)

    def chosen(decisions: list[FollowUpDecision]) -> list[FollowUpDecision]:
        started = {
            (d.customer_id, d.plan)
            for d in decisions
            if d.kind == "started"
            and (start is None or d.at >= start)
            and (end is None or d.at < end)
            and (customers is None or d.customer_id in customers)
        }
        return [d for d in decisions if (d.customer_id, d.plan) in started]

    actual, predicted = chosen(actual), chosen(predicted)
    report = PlanBackTest()
    report.due_actual, report.met_in_time_actual = _counts(actual)
    report.due_predicted, report.met_in_time_predicted = _counts(predicted)
    was, would = {_outcome(d) for d in actual}, {_outcome(d) for d in predicted}
    report.changed = sorted(was ^ would)
    return report


def _outcome(decision: FollowUpDecision) -> Outcome:
    return (decision.customer_id, decision.plan, decision.step, decision.kind, decision.at.isoformat())


def _counts(decisions: list[FollowUpDecision]) -> tuple[int, int]:
    """(steps, steps met in time): a step counts once it came due or was met; it was met in time
    when it was met and never came due before that."""
    steps = {(d.customer_id, d.plan, d.step) for d in decisions if d.kind in ("due", "met")}
    came_due = {(d.customer_id, d.plan, d.step) for d in decisions if d.kind == "due"}
    met = {(d.customer_id, d.plan, d.step) for d in decisions if d.kind == "met"}
    return len(steps), len(met - came_due)
