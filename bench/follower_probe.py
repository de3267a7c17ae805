"""The followers measured in a process of their own, as `serve` runs them (bench_followers).

python -m bench.follower_probe STORE_URL CLOCK_ISO  → one JSON line: the three followers'
start-up fold, 30 idle ticks, how long the SLA watcher takes to stop mid start-up fold, new
lead → LeadAssigned latency with the router ticking as in serve, and escalation lateness
(observed − due) with the SLA watcher on the wall clock, both from the events' recorded-at
timestamps.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.log_reader import LogTail, log_events
from adapters.nats import wait_until
from application.event_chain import EventChain
from domain.customer import Customer
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from eventchain.commands.serve import TICKS
from followers.loop import Follower, run_follower
from followers.router import Router
from followers.silence import SilenceTagger
from followers.sla_watcher import SlaWatcher

LEADS = 60


def lead(number: int, at: datetime, prefix: str = "137") -> AcceptedTouchpoint:
    return decode_touchpoint(
        json.dumps(
            {
                "touchpoint_id": f"probe-{number}-{at.timestamp()}",
                "channel": "douyin_dm",
                "occurred_at": at.isoformat(),
                "direction": "inbound",
                "identities": [{"kind": "phone", "value": f"{prefix}{number:08d}"}],
                "payload": {"open_id": f"dy-probe-{number}-{at.timestamp()}", "text": "想了解参数"},
            },
            ensure_ascii=False,
        ).encode()
    )


def recorded_at(app: EventChain, event_class: type, start: int) -> dict[str, datetime]:
    """Customer → recorded-at of its first event of ``event_class`` after ``start``."""
    tail = LogTail(app, [event_class])
    tail.position = start
    found: dict[str, datetime] = {}
    for _, _, customer, fields in tail.read():
        found.setdefault(customer, datetime.fromisoformat(fields["timestamp"]["_data_"]))
    return found


def idle_and_stop(url: str, clock: datetime) -> dict[str, Any]:
    followers: list[Follower] = [
        Router(EventChain.from_url(url)),
        SlaWatcher(EventChain.from_url(url), clock=lambda: clock),
        SilenceTagger(EventChain.from_url(url), clock=lambda: clock),
    ]
    began = time.perf_counter()
    for follower in followers:
        follower.tick()
    start_up = time.perf_counter() - began
    idle = []
    for _ in range(30):
        began = time.perf_counter()
        for follower in followers:
            follower.tick()
        idle.append(time.perf_counter() - began)
    stop = threading.Event()
    cold = SlaWatcher(EventChain.from_url(url), clock=lambda: clock)
    thread = threading.Thread(target=cold.tick, args=(stop.is_set,), daemon=True)
    thread.start()
    time.sleep(0.5)
    began = time.perf_counter()
    stop.set()
    thread.join()
    return {"start_up_s": start_up, "idle_s": idle, "stop_s": time.perf_counter() - began}


def latencies(url: str, clock: datetime, prefix: str = "137") -> dict[str, Any]:
    writer = EventChain.from_url(url)
    router, watcher = Router(EventChain.from_url(url)), SlaWatcher(EventChain.from_url(url))  # wall clock
    router.tick()
    watcher.tick()
    stop = threading.Event()
    threads = [
        threading.Thread(target=run_follower, args=(router, stop, TICKS["route"]), daemon=True),
        threading.Thread(target=run_follower, args=(watcher, stop, TICKS["sla"]), daemon=True),
    ]
    for thread in threads:
        thread.start()
    start = writer.max_notification_id()
    try:
        for number in range(LEADS):
            now = datetime.now(UTC)
            # Deadlines (15 min) fall due 1–8 s from now, so the watcher's lateness is measured too.
            due_in = timedelta(seconds=1 + number % 8)
            writer.record([lead(number, now - timedelta(minutes=15) + due_in, prefix)])
            time.sleep(0.05)
        wait_until(
            lambda: len(recorded_at(writer, Customer.FirstResponseOverdue, start)) >= LEADS, timeout=60
        )
    finally:
        stop.set()
        for thread in threads:
            thread.join()
    touched = recorded_at(writer, Customer.TouchpointRecorded, start)
    assigned = recorded_at(writer, Customer.LeadAssigned, start)
    lateness = [
        (
            datetime.fromisoformat(f["observed_at"]["_data_"]) - datetime.fromisoformat(f["due_at"]["_data_"])
        ).total_seconds()
        for _, _, _, f in log_events(writer, [Customer.FirstResponseOverdue], personal=False)
        if f.get("observed_at") and datetime.fromisoformat(f["observed_at"]["_data_"]) > clock
    ]
    return {
        "latency_s": [(assigned[c] - touched[c]).total_seconds() for c in assigned if c in touched],
        "lateness_s": lateness,
    }


def main(url: str, clock_text: str, prefix: str = "137", only: str = "") -> None:
    """``prefix``: the new leads' phone prefix (a store probed before already has 137…)."""
    clock = datetime.fromisoformat(clock_text)
    idle = idle_and_stop(url, clock) if only != "latency" else {}
    print(json.dumps({**idle, **latencies(url, clock, prefix)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
