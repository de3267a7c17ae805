"""The followers (router, SLA watcher, silence tagger, notifier) at 100k and 1M events, on SQLite.

Next to each other in the same run: the full-log pass (fold everything again: what every
tick cost before the followers kept their fold) and the followers' idle tick (nothing new);
the followers' start-up fold; new lead → ``LeadAssigned`` latency with the router ticking
as in ``serve``; escalation lateness (observed − due) with the SLA watcher on the wall clock;
how long a follower takes to stop in the middle of its start-up fold; notifications/s.
"""

from __future__ import annotations

import json
import statistics
import threading
import time
import tomllib
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from adapters.application import EventChain
from adapters.followers import run_follower
from adapters.log_reader import log_events
from adapters.nats_ingest import wait_until
from adapters.notifier import Notifier
from adapters.router import Router, route_pending
from adapters.rules import apply_rules, join
from adapters.silence import SilenceTagger, apply_silence
from adapters.sla_watcher import SlaWatcher, check_sla
from bench.harness import BenchContext, Figure, stopwatch
from bench.workload import START, accepted_touchpoints
from domain.customer import Customer
from domain.roster import Agent
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from eventchain.commands.serve import TICKS

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SIZES = (100_000, 1_000_000)
END_OF_WORKLOAD = START + timedelta(days=130)  # the workload's leads are all in the past of this


def _store(ctx: BenchContext, events: int) -> EventChain:
    app = EventChain.from_url(f"sqlite:///{ctx.workdir / f'followers-{events}.db'}")
    for data in tomllib.loads((EXAMPLES / "team.toml").read_text(encoding="utf-8"))["agent"]:
        join(app, Agent.from_dict(data), "bench")
    apply_rules(app, (EXAMPLES / "rules.toml").read_text(encoding="utf-8"), "bench", "bench rules")
    app.record(accepted_touchpoints(events, max(1, events // 4), seed=11, prefix=f"f{events}"))
    return app


def _lead(number: int, at: datetime, text: str = "想了解参数") -> AcceptedTouchpoint:
    return decode_touchpoint(
        json.dumps(
            {
                "touchpoint_id": f"fresh-{number}-{at.timestamp()}",
                "channel": "douyin_dm",
                "occurred_at": at.isoformat(),
                "direction": "inbound",
                "identities": [{"kind": "phone", "value": f"137{number:08d}"}],
                "payload": {"open_id": f"dy-fresh-{number}-{at.timestamp()}", "text": text},
            },
            ensure_ascii=False,
        ).encode()
    )


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _timestamps(app: EventChain, event_class: type, start: int) -> dict[str, datetime]:
    """Customer → recorded-at of its first event of ``event_class`` after ``start``."""
    from adapters.log_reader import LogTail

    tail = LogTail(app, [event_class])
    tail.position = start
    found: dict[str, datetime] = {}
    for _, _, customer, fields in tail.read():
        found.setdefault(customer, datetime.fromisoformat(fields["timestamp"]["_data_"]))
    return found


def _in_thread(follower: object, stop: threading.Event, interval: float) -> threading.Thread:
    thread = threading.Thread(target=run_follower, args=(follower, stop, interval), daemon=True)
    thread.start()
    return thread


def _size_figures(ctx: BenchContext, events: int) -> list[Figure]:
    app = _store(ctx, events)
    url = f"sqlite:///{ctx.workdir / f'followers-{events}.db'}"
    route_pending(app)  # every lead routed, the escalations and tags recorded: the log as serve leaves it
    check_sla(app, END_OF_WORKLOAD)
    apply_silence(app, END_OF_WORKLOAD)
    size = app.max_notification_id()
    with stopwatch() as full_pass:  # what every 5 s tick cost before: fold the whole log again
        route_pending(app)
        check_sla(app, END_OF_WORKLOAD)
        apply_silence(app, END_OF_WORKLOAD)

    clock: Callable[[], datetime] = lambda: END_OF_WORKLOAD  # noqa: E731
    followers = [
        Router(EventChain.from_url(url)),
        SlaWatcher(EventChain.from_url(url), clock=clock),
        SilenceTagger(EventChain.from_url(url), clock=clock),
    ]
    with stopwatch() as start_up:
        for follower in followers:
            follower.tick()
    idle: list[float] = []
    for _ in range(30):
        began = time.perf_counter()
        for follower in followers:
            follower.tick()
        idle.append(time.perf_counter() - began)

    # A follower stopping in the middle of its start-up fold (what SIGTERM asks of serve).
    stop = threading.Event()
    cold = SlaWatcher(EventChain.from_url(url), clock=clock)
    thread = threading.Thread(target=cold.tick, args=(stop.is_set,), daemon=True)
    thread.start()
    time.sleep(0.5)
    with stopwatch() as stopping:
        stop.set()
        thread.join()

    label = f"{size / 1e6:.2f}M events" if size >= 1e6 else f"{size / 1e3:.0f}k events"
    return [
        Figure(
            f"idle follower tick, router+SLA+silence ({label})",
            statistics.median(idle) * 1000,
            "ms",
            "≤ 50 ms, flat in log size",
            "full-log pass (the tick before)",
            full_pass[0] * 1000,
            notes=f"p99 {_p(idle, 0.99) * 1000:.1f} ms over 30 ticks "
            f"({full_pass[0] / statistics.median(idle):,.0f}× less than the full pass); "
            f"start-up fold of the three {start_up[0]:.1f} s",
        ),
        Figure(
            f"SLA watcher stops mid start-up fold ({label})",
            stopping[0] * 1000,
            "ms",
            "serve stops ≤ 2 s after SIGTERM",
        ),
        *_latency_figures(url, label),
    ]


def _latency_figures(url: str, label: str) -> list[Figure]:
    """Lead → LeadAssigned with the router ticking as in serve, and escalation lateness with the
    SLA watcher on the wall clock: both measured from the events' recorded-at timestamps."""
    writer = EventChain.from_url(url)
    stop = threading.Event()
    router = Router(EventChain.from_url(url))
    watcher = SlaWatcher(EventChain.from_url(url))  # the wall clock
    router.tick()
    watcher.tick()
    threads = [_in_thread(router, stop, TICKS["route"]), _in_thread(watcher, stop, TICKS["sla"])]
    start = writer.max_notification_id()
    try:
        leads = 60
        for number in range(leads):
            now = datetime.now(UTC)
            # Deadlines (15 min) fall due 1–8 s from now, so the watcher's lateness is measured too.
            writer.record([_lead(number, now - timedelta(minutes=15) + timedelta(seconds=1 + number % 8))])
            time.sleep(0.05)
        wait_until(
            lambda: len(_timestamps(writer, Customer.FirstResponseOverdue, start)) >= leads, timeout=60
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    recorded = _timestamps(writer, Customer.TouchpointRecorded, start)
    assigned = _timestamps(writer, Customer.LeadAssigned, start)
    latency = [(assigned[c] - recorded[c]).total_seconds() for c in assigned if c in recorded]
    lateness = [
        (
            datetime.fromisoformat(f["observed_at"]["_data_"]) - datetime.fromisoformat(f["due_at"]["_data_"])
        ).total_seconds()
        for _, _, _, f in log_events(writer, [Customer.FirstResponseOverdue])
        if f.get("observed_at") and datetime.fromisoformat(f["observed_at"]["_data_"]) > END_OF_WORKLOAD
    ]
    return [
        Figure(
            f"new lead → LeadAssigned p99 ({label})",
            _p(latency, 0.99) * 1000,
            "ms",
            "p99 ≤ 1 s at 1M events",
            notes=f"median {statistics.median(latency) * 1000:.0f} ms, {len(latency)} leads, router tick "
            f"{TICKS['route']} s",
        ),
        Figure(
            f"escalation lateness after the deadline p99 ({label})",
            _p(lateness, 0.99) * 1000,
            "ms",
            "p99 ≤ 5 s",
            notes=f"median {statistics.median(lateness) * 1000:.0f} ms, {len(lateness)} escalations, "
            f"SLA tick {TICKS['sla']} s",
        ),
    ]


def _notifier_figure(ctx: BenchContext, events: int) -> Figure:
    app = EventChain.from_url(f"sqlite:///{ctx.workdir / f'followers-{events}.db'}")
    expected = sum(
        1 for _ in log_events(app, [Customer.LeadAssigned, Customer.FirstResponseOverdue], personal=False)
    )
    notifier = Notifier(app, ctx.nats_url())
    stop = threading.Event()
    thread = threading.Thread(target=notifier.run, args=(stop, 0.05), daemon=True)
    with stopwatch() as elapsed:
        thread.start()
        wait_until(lambda: notifier.stats.published >= expected, timeout=600, interval=0.05)
    stop.set()
    thread.join()
    return Figure(
        "notifications published (JetStream, acked, tracked)",
        notifier.stats.published / elapsed[0],
        "msg/s",
        "every decision once, in order",
        notes=f"{notifier.stats.published} notifications from a {events:,}-event log",
    )


def run(ctx: BenchContext) -> list[Figure]:
    figures: list[Figure] = []
    for events in SIZES:
        figures += _size_figures(ctx, ctx.scaled(events))
    figures.append(_notifier_figure(ctx, ctx.scaled(SIZES[0])))
    return figures
