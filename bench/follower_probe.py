"""The followers measured in a process of their own, as `serve` runs them (bench_followers).

python -m bench.follower_probe STORE_URL CLOCK_ISO  → one JSON line: the three followers'
start-up fold (from the log's start), 30 idle ticks, how long the SLA watcher takes to stop mid
start-up fold, restart → first new lead owned (from the router's checkpoint) and recovery after a
failed tick, a conflict storm (300 leads whose customers are written again at once), new
lead → LeadAssigned latency with the router ticking as in serve, and escalation lateness
(observed − due) with the SLA watcher on the wall clock, both from the events' recorded-at
timestamps.
"""

from __future__ import annotations

import json
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

from adapters.log_reader import LogTail, log_events
from adapters.nats import wait_until
from adapters.store import store_execute
from application.event_chain import EventChain
from domain.customer import Customer
from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint
from eventchain.commands.serve import TICKS
from followers.checkpoints import TABLE as CHECKPOINTS
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
        found.setdefault(customer, _instant(fields["timestamp"]))
    return found


def _instant(value: Any) -> datetime:
    """A stored time as the log reader gives it (ISO text; the library's wrapped form too)."""
    return datetime.fromisoformat(value["_data_"] if isinstance(value, dict) else value)


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
    for follower in followers:
        follower.checkpoint()  # as on a graceful stop: what resumes() reads back
    stop = threading.Event()
    cold = SlaWatcher(EventChain.from_url(url), clock=lambda: clock)
    thread = threading.Thread(target=cold.tick, args=(stop.is_set,), daemon=True)
    thread.start()
    time.sleep(0.5)
    began = time.perf_counter()
    stop.set()
    thread.join()
    return {"start_up_s": start_up, "idle_s": idle, "stop_s": time.perf_counter() - began}


def resumes(url: str, clock: datetime) -> dict[str, Any]:
    """Each follower's restart: read its checkpoint (saved by idle_and_stop) and tick once
    over the empty tail; and the checkpoint's size."""
    makers: dict[str, Callable[[], Follower]] = {
        "router": lambda: Router(EventChain.from_url(url)),
        "sla": lambda: SlaWatcher(EventChain.from_url(url), clock=lambda: clock),
        "silence": lambda: SilenceTagger(EventChain.from_url(url), clock=lambda: clock),
    }
    found: dict[str, Any] = {}
    sizes = EventChain.from_url(url)
    for name, make in makers.items():
        began = time.perf_counter()
        follower = make()
        follower.tick()
        found[name] = time.perf_counter() - began
        row = store_execute(
            sizes.recorder, f"SELECT length(state) FROM {CHECKPOINTS} WHERE name = ?", (name,), fetch=True
        )
        found[f"{name}_bytes"] = int(row[0][0]) if row else 0
    return {"resume_s": found}


def restart(url: str, clock: datetime, prefix: str = "136") -> dict[str, Any]:
    """Restart → first new lead owned: the router resumes from its checkpoint (saved as on a
    graceful stop) and routes a lead recorded while it was down; then recovery after a failed
    tick (reset to the checkpoint, then a tick)."""
    router = Router(EventChain.from_url(url))
    router.tick()
    router.checkpoint()
    writer = EventChain.from_url(url)
    writer.record([lead(0, datetime.now(UTC), prefix)])
    began = time.perf_counter()
    restarted = Router(EventChain.from_url(url))
    routed = restarted.tick()
    restart_s = time.perf_counter() - began
    assert routed == 1, routed
    writer.record([lead(1, datetime.now(UTC), prefix)])
    began = time.perf_counter()
    restarted.reset()  # what run_follower does after a failed tick
    routed = restarted.tick()
    recovery_s = time.perf_counter() - began
    assert routed == 1, routed
    return {"restart_s": restart_s, "recovery_s": recovery_s, "resumed_at": restarted.resumed.position}


def conflict_storm(url: str, prefix: str = "135", leads: int = 300) -> dict[str, Any]:
    """300 new leads, each customer written again (a second inbound touch) within 0.3 s of its
    lead, with the router ticking as in serve: how long until all are owned, and duplicates."""
    writer = EventChain.from_url(url)
    router = Router(EventChain.from_url(url))
    router.tick()
    stop = threading.Event()
    thread = threading.Thread(target=run_follower, args=(router, stop, TICKS["route"]), daemon=True)
    thread.start()
    start = writer.max_notification_id()
    began = time.perf_counter()
    try:
        for number in range(leads):
            now = datetime.now(UTC)
            writer.record([lead(number, now, prefix)])
            if number >= 1:  # the previous customer writes again, ~5 ms after its lead
                writer.record([lead(number - 1, now + timedelta(seconds=1), prefix)])
        wait_until(lambda: len(recorded_at(writer, Customer.LeadAssigned, start)) >= leads, timeout=120)
        owned_s = time.perf_counter() - began
    finally:
        stop.set()
        thread.join()
    tail = LogTail(writer, [Customer.LeadAssigned])
    tail.position = start
    assigned = [customer for _, _, customer, _ in tail.read()]
    return {
        "storm_owned_s": owned_s,
        "storm_leads": len(set(assigned)),
        "storm_duplicates": len(assigned) - len(set(assigned)),
    }


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
        (_instant(f["observed_at"]) - _instant(f["due_at"])).total_seconds()
        for _, _, _, f in log_events(writer, [Customer.FirstResponseOverdue], personal=False)
        if f.get("observed_at") and _instant(f["observed_at"]) > clock
    ]
    return {
        "latency_s": [(assigned[c] - touched[c]).total_seconds() for c in assigned if c in touched],
        "lateness_s": lateness,
    }


def main(url: str, clock_text: str, prefix: str = "137", only: str = "") -> None:
    """``prefix``: the new leads' phone prefix (a store probed before already has 137…)."""
    clock = datetime.fromisoformat(clock_text)
    idle = idle_and_stop(url, clock) if only != "latency" else {}
    resumed = {**resumes(url, clock), **restart(url, clock)} if only != "latency" else {}
    storm = conflict_storm(url) if only != "latency" else {}
    print(json.dumps({**idle, **resumed, **storm, **latencies(url, clock, prefix)}))


if __name__ == "__main__":
    main(*sys.argv[1:])
