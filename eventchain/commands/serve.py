"""``eventchain serve``: ingest consumer + projector + SLA watcher, until SIGINT/SIGTERM."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, Final

import click

from adapters.nats import IngestConfig
from application.event_chain import EventChain
from eventchain import catch_up
from eventchain.bootstrap import build_application
from eventchain.cli_support import open_app, settings_of
from eventchain.ingest_worker import IngestWorker
from eventchain.metrics import ServiceState, serve_endpoint
from eventchain.nats_support import nats_url
from eventchain.service_lock import (
    LEASED_PARTS,
    PartRunningError,
    announce,
    announced,
    part_lease,
    part_locks,
)
from followers.deferred_purge import DeferredPurger
from followers.follow_ups import FollowUpFollower
from followers.loop import Follower, FollowerHealth, run_follower
from followers.notifier import Notifier
from followers.router import Router
from followers.silence import SilenceTagger
from followers.sla_watcher import SlaWatcher
from projections.service import run_projector

SERVICES = ("ingest", "project", "route", "sla", "silence", "notify", "web")
# Seconds between follower ticks: an idle tick is one indexed query, so the router can look
# often (a new lead is assigned within about this long) and the SLA watcher fires within
# about its interval after a deadline.
SHUTDOWN_GRACE: Final = 1.5  # seconds each part gets to finish its step after SIGTERM
TICKS: Final = {"route": 0.25, "sla": 1.0, "silence": 5.0, "purge": 2.0}
log = logging.getLogger("eventchain.serve")


class JsonLogFormatter(logging.Formatter):
    """One JSON object per line: what log shippers expect when stderr is not a terminal."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "at": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        progress = getattr(record, "progress", None)
        if progress is not None:  # the catch-up figures (eventchain.catch_up)
            entry["progress"] = progress
        if record.exc_info:
            entry["error"] = self.formatException(record.exc_info)
        return json.dumps(entry, ensure_ascii=False)


def configure_logging() -> None:
    handler = logging.StreamHandler(sys.stderr)
    if sys.stderr.isatty():
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    else:
        handler.setFormatter(JsonLogFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(logging.INFO)


@click.command("serve")
@click.option(
    "--only",
    type=click.Choice(SERVICES),
    multiple=True,
    help="Run only these services (repeatable); default: all of them.",
)
@click.option(
    "--batch",
    default=500,
    show_default=True,
    type=click.IntRange(1, 5000),
    help="Messages fetched (and committed in one transaction) at a time.",
)
@click.option(
    "--ack-wait",
    default=30.0,
    show_default=True,
    type=click.FloatRange(1, 3600),
    help="Seconds JetStream waits for an ack before redelivering.",
)
@click.option(
    "--metrics-addr",
    envvar="EVENTCHAIN_METRICS_ADDR",
    default="127.0.0.1:9464",
    show_default=True,
    help="host:port of /metrics (Prometheus), /healthz and /readyz; 'off' for none.",
)
@click.pass_context
def serve_command(
    ctx: click.Context, only: tuple[str, ...], batch: int, ack_wait: float, metrics_addr: str
) -> None:
    """Run the service: NATS ingest, the DuckDB projector, and the followers of the log.

    \b
    ingest   NATS JetStream → the event store (scale out: run more)
    project  the event store → DuckDB views and the analyst snapshot
    route    assigns new leads (rules + roster)
    sla      escalates unanswered leads when their deadline passes (the clock), and
             runs the follow-up plans: steps due, met, paused, resumed, escalated
    silence  tags customers silent after [silence] days without a touchpoint
    notify   publishes assignments, handovers and escalations to notifications.>
    web      the signed-in workspace for reps and directors (--web-addr)

    Without EVENTCHAIN_NATS_URL a local nats-server (JetStream) runs under the data
    directory. Logs are JSON lines when stderr is not a terminal. Stop with Ctrl-C or
    SIGTERM; in-flight batches finish or are redelivered, never half-applied.

    \b
    Example:
      EVENTCHAIN_STORE_URL=postgresql://eventchain@db/eventchain eventchain serve
      eventchain serve --only ingest          # scale out: more ingest workers
      eventchain serve --only sla --only notify
    """
    configure_logging()
    settings = settings_of(ctx)
    selected = only or SERVICES
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    try:
        shared = tuple(part for part in selected if part not in LEASED_PARTS)  # the others wait: _leased
        with part_locks(settings, shared), announced(settings, list(selected)) as announcement:
            _serve(ctx, selected, batch, ack_wait, metrics_addr, stop, announcement)
    except PartRunningError as error:
        raise click.ClickException(str(error)) from None
    log.info("stopped")


def _serve(
    ctx: click.Context,
    selected: tuple[str, ...],
    batch: int,
    ack_wait: float,
    metrics_addr: str,
    stop: threading.Event,
    announcement: dict[str, Any],
) -> None:
    settings = settings_of(ctx)
    app = open_app(ctx, require_kek=True)
    state = ServiceState(settings, app, parts=selected)
    with nats_url(settings) as url:
        if metrics_addr != "off" and _start_endpoint(state, metrics_addr, stop):
            announcement["metrics_addr"] = metrics_addr
            announce(announcement)
        runners: dict[str, Callable[[], None]] = {}
        if "ingest" in selected:
            worker = IngestWorker(app, url, IngestConfig(batch=batch, ack_wait=ack_wait))
            state.worker = worker.stats
            runners["ingest"] = lambda: worker.run(stop)
            # erasures' deferred stream purges (followers/deferred_purge.py): they wait on ingest
            runners["purge"] = _follower_runner(
                "purge", lambda a: DeferredPurger(a, url), state, stop, TICKS["purge"]
            )
        if "project" in selected:
            runners["project"] = lambda: run_projector(settings, stop, build_application(settings))
            runners["project"] = lambda: run_projector(settings, stop, health=state.projector)
        followers: dict[str, Callable[[EventChain], Follower]] = {
            "route": Router,
            "sla": SlaWatcher,
            "silence": SilenceTagger,
        }
        for name, make in followers.items():
            if name in selected:  # each on its own application: one store connection each
                runners[name] = _follower_runner(name, make, state, stop, TICKS[name])
        if "sla" in selected:  # follow-up plans: the SLA's clock, its part, its lease (docs/routing.md)
            plans = _follower_runner("follow_up", FollowUpFollower, state, stop, TICKS["sla"])
            runners["sla"] = _together(runners["sla"], plans)
        if "notify" in selected:
            notifier = Notifier(open_app(ctx, require_kek=True), url)
            state.positions["notify"] = lambda: notifier.stats.position
            runners["notify"] = lambda: notifier.run(stop)
        if "web" in selected:  # the workspace (eventchain/web), on settings.web_addr
            from eventchain.web.app import run_web

            runners["web"] = lambda: run_web(settings, stop)
        announcing = threading.Lock()
        for part in LEASED_PARTS:
            if part in runners:
                state.leases_tried[part] = threading.Event()
                runners[part] = _leased(part, runners[part], state, stop, announcement, announcing)
        log.info("serving %s (store %s, nats %s)", ", ".join(runners), settings.store_url.split("@")[-1], url)
        runners["progress"] = lambda: catch_up.report_until_stopped(state, stop)
        _run_all(runners, stop)


def _follower_runner(
    name: str,
    make: Callable[[EventChain], Follower],
    state: ServiceState,
    stop: threading.Event,
    interval: float,
) -> Callable[[], None]:
    health = state.health[name] = FollowerHealth()

    running: list[Follower] = []
    state.positions[name] = lambda: running[0].position if running else 0

    def run() -> None:  # once this process holds the part's lease: it resumes from the checkpoint
        settings = state.settings
        follower = make(build_application(settings))
        running.append(follower)
        run_follower(follower, stop, interval, health)

    return run


def _together(*runs: Callable[[], None]) -> Callable[[], None]:
    """One part made of several loops, each in its own thread: it ends when they all have."""

    def run() -> None:
        threads = [threading.Thread(target=loop, daemon=True) for loop in runs]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()

    return run


def _leased(
    part: str,
    run: Callable[[], None],
    state: ServiceState,
    stop: threading.Event,
    announcement: dict[str, Any],
    announcing: threading.Lock,
) -> Callable[[], None]:
    """Runs ``part`` once this process holds its lock: until then, a hot standby."""

    def tried(held: bool) -> None:
        if held:
            with announcing:
                state.active.add(part)
                announcement["active"] = sorted(state.active)
                announce(announcement)
        state.leases_tried[part].set()

    def target() -> None:
        with part_lease(state.settings, part, stop, tried) as held:
            if held and part not in state.active:  # taken over from a process that died
                tried(True)
            if held:
                run()

    return target


def _start_endpoint(state: ServiceState, address: str, stop: threading.Event) -> bool:
    host, _, port = address.rpartition(":")
    if not port.isdigit() or not host:
        raise click.BadParameter(f"{address!r} is not host:port", param_hint="--metrics-addr")
    try:
        serve_endpoint(state, address, stop)
    except OSError as error:  # e.g. a second worker on this host: it serves on, without metrics
        log.error("no metrics endpoint: cannot listen on %s (%s)", address, error.strerror)
        return False
    return True


def _run_all(runners: dict[str, Callable[[], None]], stop: threading.Event) -> None:
    threads = [
        threading.Thread(target=_guarded(name, run, stop), name=name, daemon=True)
        for name, run in runners.items()
    ]
    for thread in threads:
        thread.start()
    while not stop.wait(0.2):
        if not any(thread.is_alive() for thread in threads):
            break
    stop.set()
    # Each part finishes its in-flight step (a batch commit, a projector range, a follower
    # tick) if it can within the grace period; one still blocked after it (a store call
    # waiting out an outage) is abandoned: nothing it had not committed is acked or tracked,
    # so its messages are redelivered and its followers resume from their positions.
    deadline = time.monotonic() + SHUTDOWN_GRACE
    for thread in threads:
        thread.join(timeout=max(0.0, deadline - time.monotonic()))
    abandoned = [thread.name for thread in threads if thread.is_alive()]
    if abandoned:
        log.warning(
            "abandoning %s after %.1f s (uncommitted work is redone on restart)",
            ", ".join(abandoned),
            SHUTDOWN_GRACE,
        )


def _guarded(name: str, run: Callable[[], None], stop: threading.Event) -> Callable[[], None]:
    def target() -> None:
        try:
            run()
        except Exception:
            log.exception("%s failed; stopping the service", name)
            stop.set()

    return target


def register(group: click.Group) -> None:
    group.add_command(serve_command)
