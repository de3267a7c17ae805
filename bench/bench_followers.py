"""The followers (router, SLA watcher, silence tagger, notifier) at 100k and 1M events, on SQLite.

Next to each other in the same run: the full-log pass (fold everything again: what every
tick cost before the followers kept their fold) and the followers' idle tick (nothing new);
the followers' start-up fold; new lead → ``LeadAssigned`` latency with the router ticking
as in ``serve``; escalation lateness (observed − due) with the SLA watcher on the wall clock;
how long a follower takes to stop in the middle of its start-up fold; restart → first new lead
owned from the router's checkpoint (and recovery after a failed tick); a conflict storm (300
leads whose customers are written again at once: time until all owned, duplicates);
notifications/s.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import threading
import tomllib
from datetime import timedelta
from pathlib import Path

from adapters.log_reader import log_events
from adapters.nats import wait_until
from adapters.store import store_execute
from application.event_chain import EventChain
from application.rules import apply_rules, join
from bench.harness import BenchContext, Figure, stopwatch
from bench.workload import START, accepted_touchpoints
from domain.customer import Customer
from domain.roster import Agent
from eventchain.commands.serve import TICKS
from followers.checkpoints import TABLE as CHECKPOINTS
from followers.notifier import Notifier
from followers.router import route_pending
from followers.silence import apply_silence
from followers.sla_watcher import check_sla

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


def _p(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def _size_figures(ctx: BenchContext, events: int) -> list[Figure]:
    app = _store(ctx, events)
    url = f"sqlite:///{ctx.workdir / f'followers-{events}.db'}"
    route_pending(app)  # every lead routed, the escalations and tags recorded: the log as serve leaves it
    check_sla(app, END_OF_WORKLOAD)
    apply_silence(app, END_OF_WORKLOAD)
    size = app.max_notification_id()
    # Without checkpoints (as before issue 25): the full pass and the probe's start-up fold read
    # the whole log; the probe then measures the restart from a checkpoint next to it.
    store_execute(app.recorder, f"DELETE FROM {CHECKPOINTS}")
    with stopwatch() as full_pass:  # what every 5 s tick cost before: fold the whole log again
        route_pending(app)
        check_sla(app, END_OF_WORKLOAD)
        apply_silence(app, END_OF_WORKLOAD)
    store_execute(app.recorder, f"DELETE FROM {CHECKPOINTS}")

    # The followers run in a child process, as in serve: this process holds the writer's
    # aggregate cache and the one-shot passes' garbage (GBs at 1M events), whose garbage
    # collections would be measured instead of the ticks.
    probe = subprocess.run(
        [sys.executable, "-m", "bench.follower_probe", url, END_OF_WORKLOAD.isoformat()],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parents[1],
    )
    found = json.loads(probe.stdout.strip().splitlines()[-1])
    idle = found["idle_s"]
    resume = found["resume_s"]
    slowest = max(("router", "sla", "silence"), key=lambda name: resume[name])
    label = f"{size / 1e6:.2f}M events" if size >= 1e6 else f"{size / 1e3:.0f}k events"
    return [
        Figure(
            f"idle follower tick, router+SLA+silence ({label})",
            statistics.median(idle) * 1000,
            "ms",
            "≤ 50 ms, flat in log size",
            "full-log pass (the tick before)",
            full_pass[0] * 1000,
            notes=f"p99 {_p(idle, 0.99) * 1000:.1f} ms over {len(idle)} ticks "
            f"({full_pass[0] / statistics.median(idle):,.0f}× less than the full pass); "
            f"start-up fold of the three {found['start_up_s']:.1f} s",
        ),
        Figure(
            f"restart → first new lead owned ({label})",
            found["restart_s"] * 1000,
            "ms",
            "≤ 2 s at 1M events, flat in log size",
            "start-up fold from the log's start",
            found["start_up_s"] * 1000,
            notes=f"router resumed from its checkpoint at {found['resumed_at']:,}; "
            f"recovery after a failed tick {found['recovery_s'] * 1000:.0f} ms",
        ),
        Figure(
            f"each follower's restart, slowest: {slowest} ({label})",
            resume[slowest] * 1000,
            "ms",
            "≤ 2 s at 1M events",
            notes="checkpoint read + one tick: "
            + ", ".join(
                f"{name} {resume[name] * 1000:.0f} ms ({resume[name + '_bytes'] / 1e6:.1f} MB)"
                for name in ("router", "sla", "silence")
            ),
        ),
        Figure(
            f"conflict storm: 300 leads written again at once, all owned ({label})",
            found["storm_owned_s"] * 1000,
            "ms",
            "all owned ≤ 5 s, 0 duplicates",
            notes=f"{found['storm_leads']} owned, {found['storm_duplicates']} duplicates",
        ),
        Figure(
            f"SLA watcher stops mid start-up fold ({label})",
            found["stop_s"] * 1000,
            "ms",
            "serve stops ≤ 2 s after SIGTERM",
        ),
        Figure(
            f"new lead → LeadAssigned p99 ({label})",
            _p(found["latency_s"], 0.99) * 1000,
            "ms",
            "p99 ≤ 1 s at 1M events",
            notes=f"median {statistics.median(found['latency_s']) * 1000:.0f} ms, "
            f"{len(found['latency_s'])} leads, router tick {TICKS['route']} s",
        ),
        Figure(
            f"escalation lateness after the deadline p99 ({label})",
            _p(found["lateness_s"], 0.99) * 1000,
            "ms",
            "p99 ≤ 5 s",
            notes=f"median {statistics.median(found['lateness_s']) * 1000:.0f} ms, "
            f"{len(found['lateness_s'])} escalations, SLA tick {TICKS['sla']} s",
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
