"""The follow-up follower (issue 30) with 20k and 200k customers on active plans, on SQLite
(100k and 1M events).

Next to each other in the same run: the full pass (fold the whole log and decide: what a tick
would cost without a kept fold) and the idle tick (nothing new, nothing due: one log query and a
heap peek); then, with the follower ticking on the wall clock and the notifier publishing to
JetStream as in ``serve``: step due → ``StepCameDue`` recorded (observed − due, from the events
themselves) and due → notification received by a subscriber on ``notifications.follow_up.>``.
"""

from __future__ import annotations

import asyncio
import json
import statistics
import threading
import time
import tomllib
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import nats

from adapters.log_reader import log_events
from adapters.nats import wait_until
from application.event_chain import EventChain
from application.rules import apply_rules, join
from bench.harness import BenchContext, Figure, stopwatch
from domain.customer import Customer
from domain.roster import Agent
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from eventchain.commands.serve import TICKS
from followers.follow_ups import FollowUpFollower, check_follow_ups
from followers.loop import run_follower
from followers.notifier import CUSTOMER_HEADER, Notifier

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SIZES = (20_000, 200_000)  # customers on plans: 100k and 1M events
BATCH = 5_000
LATE_LEADS = 50


def touch(number: int, at: datetime, direction: str, prefix: str) -> AcceptedTouchpoint:
    return decode_touchpoint(
        json.dumps(
            {
                "touchpoint_id": f"{prefix}-{direction}-{number}",
                "channel": "wecom_msg",
                "occurred_at": at.isoformat(),
                "direction": direction,
                "actor": "a-wang" if direction == "outbound" else None,
                "identities": [{"kind": "wecom_external_id", "value": f"wm-{prefix}-{number}"}],
                "payload": {"external_userid": f"wm-{prefix}-{number}"},
            }
        ).encode()
    )


def answered(app: EventChain, numbers: range, first: datetime, spacing: timedelta, prefix: str) -> None:
    """Customers whose leads were answered 5 minutes later: each starts seed 004's plan."""
    for begin in range(numbers.start, numbers.stop, BATCH):
        batch = []
        for number in range(begin, min(begin + BATCH, numbers.stop)):
            lead_at = first + spacing * (number - numbers.start)
            batch += [
                touch(number, lead_at, "inbound", prefix),
                touch(number, lead_at + timedelta(minutes=5), "outbound", prefix),
            ]
        app.record(batch)


class Receiver:
    """A subscriber on its own thread: when each customer's first notification arrived."""

    def __init__(self, url: str, subject: str) -> None:
        self.url, self.subject = url, subject
        self.received: dict[str, datetime] = {}
        self.ready, self.stop = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=lambda: asyncio.run(self._run()), daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        self.ready.wait(30)
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop.set()
        self.thread.join(timeout=30)

    async def _run(self) -> None:
        nc = await nats.connect(self.url)

        async def on_message(message: Any) -> None:
            customer = (message.headers or {}).get(CUSTOMER_HEADER, "")
            self.received.setdefault(customer, datetime.now(UTC))

        await nc.subscribe(self.subject, cb=on_message)
        self.ready.set()
        while not self.stop.is_set():
            await asyncio.sleep(0.05)
        await nc.close()


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _size_figures(ctx: BenchContext, customers: int) -> list[Figure]:
    url = f"sqlite:///{ctx.workdir / f'follow-ups-{customers}.db'}"
    app = EventChain.from_url(url)
    for data in tomllib.loads((EXAMPLES / "team.toml").read_text(encoding="utf-8"))["agent"]:
        join(app, Agent.from_dict(data), "bench")
    apply_rules(app, (EXAMPLES / "rules.toml").read_text(encoding="utf-8"), "bench", "bench rules")
    start = datetime.now(UTC) - timedelta(hours=2)  # 100k leads over 17 minutes, answered
    answered(app, range(customers), start, timedelta(seconds=0.01), "b")
    now = start + timedelta(hours=1)  # every plan started, no step due for another day
    with stopwatch() as full_pass:
        check_follow_ups(app, now)  # records every plan's start: the log as serve leaves it
    with stopwatch() as start_up:
        follower = FollowUpFollower(EventChain.from_url(url), clock=lambda: now)
        follower.tick()
    idle = []
    for _ in range(30):
        began = time.perf_counter()
        assert follower.tick() == 0
        idle.append(time.perf_counter() - began)
    size = app.max_notification_id()

    # Due → recorded on the wall clock: plans whose manual falls due over the next seconds.
    wall = datetime.now(UTC)
    first_due = wall + timedelta(seconds=5)
    answered(
        app,
        range(10**7, 10**7 + LATE_LEADS),
        first_due - timedelta(hours=24, minutes=5),
        timedelta(seconds=0.2),
        "late",
    )
    mark = app.max_notification_id()
    live = FollowUpFollower(EventChain.from_url(url))
    notifier = Notifier(EventChain.from_url(url), ctx.nats_url())
    stop = threading.Event()
    threads = [
        threading.Thread(target=run_follower, args=(live, stop, TICKS["sla"]), daemon=True),
        threading.Thread(target=notifier.run, args=(stop,), daemon=True),  # serve's 0.5 s poll
    ]

    def due_steps() -> list[tuple[str, dict[str, str]]]:
        return [(c, f) for n, _, c, f in log_events(app, [Customer.StepCameDue], personal=False) if n > mark]

    with Receiver(ctx.nats_url(), "notifications.follow_up.>") as receiver:
        for thread in threads:
            thread.start()
        wait_until(lambda: len(due_steps()) >= LATE_LEADS, timeout=120, interval=0.2)
        steps = due_steps()
        wait_until(lambda: all(c in receiver.received for c, _ in steps), timeout=120, interval=0.2)
        stop.set()
        for thread in threads:
            thread.join(timeout=30)
    lateness = [
        (datetime.fromisoformat(f["observed_at"]) - datetime.fromisoformat(f["at"])).total_seconds()
        for _, f in steps
    ]
    notified = [(receiver.received[c] - datetime.fromisoformat(f["at"])).total_seconds() for c, f in steps]
    label = f"{customers:,} customers on plans, {size:,} events"
    return [
        Figure(
            f"idle follow-up tick ({label})",
            statistics.median(idle) * 1000,
            "ms",
            "≤ 50 ms, flat in log size",
            "full pass: fold and decide from the log's start",
            full_pass[0] * 1000,
            notes=f"p99 {_p(idle, 0.99) * 1000:.2f} ms over {len(idle)} ticks; "
            f"start-up fold (no checkpoint yet) {start_up[0]:.1f} s",
        ),
        Figure(
            f"follow-up step due → StepCameDue recorded p99 ({label})",
            _p(lateness, 0.99) * 1000,
            "ms",
            "(part of due → notified)",
            notes=f"median {statistics.median(lateness) * 1000:.0f} ms over {len(lateness)} steps, "
            f"tick {TICKS['sla']} s",
        ),
        Figure(
            f"follow-up step due → notification received p99 ({label})",
            _p(notified, 0.99) * 1000,
            "ms",
            "due → notified p99 ≤ 5 s",
            notes=f"median {statistics.median(notified) * 1000:.0f} ms over {len(notified)} steps; "
            "JetStream publish by the notifier (0.5 s poll), received by a subscriber",
        ),
    ]


def run(ctx: BenchContext) -> list[Figure]:
    figures: list[Figure] = []
    for customers in SIZES:
        figures += _size_figures(ctx, ctx.scaled(customers))
    return figures
