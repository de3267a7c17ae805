"""`serve`'s operator endpoint: Prometheus metrics, ``/healthz`` and ``/readyz`` on loopback.

``/metrics`` is computed at scrape time from what the service already knows: the store's
position, the positions of the projector (its snapshot's tracking row) and of each follower,
the ingest consumer's backlog and the dead-letter count (from JetStream), the snapshot's age,
the ingest worker's counters and each follower loop's failures. Lags are positions behind the
store. ``/healthz`` answers 200 while the process runs; ``/readyz`` answers 200 only while the
store and NATS answer (503 with the reason otherwise), so an orchestrator stops routing work
to a service whose store is down.
"""

from __future__ import annotations

import json
import logging
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector, CollectorRegistry

from application.event_chain import EventChain
from eventchain.config import Settings
from eventchain.health import collect_status
from eventchain.ingest_worker import WorkerStats
from eventchain.service_lock import LEASED_PARTS
from followers.loop import FollowerHealth
from projections.service import ProjectorHealth

log = logging.getLogger("eventchain.metrics")
READY_TIMEOUT = 2.0  # seconds a readiness probe waits for the store


@dataclass
class ServiceState:
    """What the running `serve` registers for the endpoint to read."""

    settings: Settings
    app: EventChain
    worker: WorkerStats | None = None
    positions: dict[str, Callable[[], int]] = field(default_factory=dict)  # follower → its position
    health: dict[str, FollowerHealth] = field(default_factory=dict)
    parts: tuple[str, ...] = ()  # the parts this serve runs
    active: set[str] = field(default_factory=set)  # leased parts it holds (the others stand by)
    leases_tried: dict[str, threading.Event] = field(default_factory=dict)  # set after a first try
    projector: ProjectorHealth = field(default_factory=ProjectorHealth)
    started_at: float = field(default_factory=time.time)

    def runs(self, part: str) -> bool:
        """Whether this serve runs ``part`` now (a part on standby does not)."""
        return part in self.parts and (part not in LEASED_PARTS or part in self.active)


class ServiceCollector(Collector):
    def __init__(self, state: ServiceState) -> None:
        self.state = state

    def collect(self) -> Iterator[Metric]:
        found = _within(READY_TIMEOUT * 2, lambda: collect_status(self.state.settings, self.state.app))
        up = not isinstance(found, BaseException)
        yield _gauge("eventchain_store_up", "1 while the store answers, 0 during an outage.", float(up))
        status: dict[str, Any] = found if up else {}
        store = status.get("store_position") or 0
        yield _gauge("eventchain_store_position", "Notification id of the newest event in the store.", store)
        for key, name, text in (
            (
                "projector_position",
                "eventchain_projector_position",
                "Position the analyst snapshot reflects.",
            ),
            (
                "projector_lag",
                "eventchain_projector_lag_events",
                "Events recorded but not yet in the snapshot.",
            ),
            (
                "snapshot_age_s",
                "eventchain_snapshot_age_seconds",
                "Seconds since the snapshot was published.",
            ),
            (
                "consumer_pending",
                "eventchain_ingest_pending_messages",
                "Messages not yet delivered to ingest.",
            ),
            ("consumer_ack_pending", "eventchain_ingest_unacked_messages", "Delivered, not yet acked."),
            ("dlq_messages", "eventchain_dlq_messages", "Dead letters in TOUCHPOINTS_DLQ."),
            ("notifications", "eventchain_notifications_messages", "Messages in the NOTIFICATIONS stream."),
            ("wecom_pending", "eventchain_wecom_pending_messages", "Notifications the WeCom bridge owes."),
            (
                "erasure_purges_pending",
                "eventchain_erasure_purges_pending_messages",
                "Erased customers' stream messages to purge once ingest has recorded them.",
            ),
            (
                "unowned_leads",
                "eventchain_unowned_leads",
                "Leads with no owner 30 s after they were recorded.",
            ),
            (
                "oldest_unowned_lead_age_s",
                "eventchain_oldest_unowned_lead_age_seconds",
                "Age of the oldest lead with no owner.",
            ),
        ):
            if status.get(key) is not None:
                yield _gauge(name, text, float(status[key]))
        if up:
            yield _gauge(
                "eventchain_calendar_covered",
                "1 while the holiday calendar in force covers the next 60 days.",
                float(status.get("calendar_warning") is None),
            )
        positions = GaugeMetricFamily(
            "eventchain_follower_position", "Log position each follower has read.", labels=["follower"]
        )
        lags = GaugeMetricFamily(
            "eventchain_follower_lag_events", "Events a follower has not read yet.", labels=["follower"]
        )
        for name, position in self.state.positions.items():
            if not self.state.runs(name):
                continue  # standing by: another process's position
            value = position()
            positions.add_metric([name], value)
            lags.add_metric([name], max(0, store - value))
        yield positions
        yield lags
        failures = CounterMetricFamily(
            "eventchain_follower_failures",
            "Follower ticks that failed and were retried.",
            labels=["follower"],
        )
        recorded = CounterMetricFamily(
            "eventchain_follower_recorded",
            "Effects (events, messages) a follower recorded.",
            labels=["follower"],
        )
        for name, health in self.state.health.items():
            failures.add_metric([name], health.failures)
            recorded.add_metric([name], health.recorded)
        yield failures
        yield recorded
        if self.state.runs("project"):
            projector = self.state.projector
            yield _gauge(
                "eventchain_projector_up",
                "1 while the projector projects, 0 while it retries an error (see /readyz).",
                float(projector.last_error is None),
            )
            retried = CounterMetricFamily(
                "eventchain_projector_failures", "Projector errors retried (opening the views included)."
            )
            retried.add_metric([], projector.failures)
            yield retried
        active = GaugeMetricFamily(
            "eventchain_part_active",
            "1 where this process runs the part, 0 where it stands by for another process.",
            labels=["part", "pid"],
        )
        for part in (p for p in LEASED_PARTS if p in self.state.parts):
            active.add_metric([part, str(os.getpid())], float(part in self.state.active))
        yield active
        worker = self.state.worker
        if worker is not None:
            for attribute, text in (
                ("recorded", "Touchpoints recorded by this ingest worker."),
                ("duplicates", "Redelivered touchpoints recorded already."),
                ("dead_lettered", "Messages sent to the dead-letter stream."),
                ("batches", "Store transactions committed by this ingest worker."),
            ):
                counter = CounterMetricFamily(f"eventchain_ingest_{attribute}", text)
                counter.add_metric([], getattr(worker, attribute))
                yield counter
            yield from intake_counters(worker)
        yield _gauge(
            "eventchain_uptime_seconds", "Seconds since serve started.", time.time() - self.state.started_at
        )


def intake_counters(worker: WorkerStats) -> Iterator[Metric]:
    """The intake ledger's outcomes as this worker counted them (intake_daily has them all)."""
    intake = CounterMetricFamily(
        "eventchain_intake",
        "Messages by what became of them: recorded, duplicate, held, dead_lettered.",
        labels=["channel", "outcome"],
    )
    for (channel, outcome), count in sorted(worker.outcomes.items()):
        intake.add_metric([channel, outcome], count)
    yield intake
    reasons = CounterMetricFamily(
        "eventchain_dead_letters",
        "Dead-lettered messages by reason: schema, limits, identity, dictionary, other.",
        labels=["channel", "reason"],
    )
    for (channel, reason), count in sorted(worker.dead_letter_reasons.items()):
        reasons.add_metric([channel, reason], count)
    yield reasons


def _gauge(name: str, text: str, value: float) -> GaugeMetricFamily:
    gauge = GaugeMetricFamily(name, text)
    gauge.add_metric([], value)
    return gauge


def readiness(state: ServiceState) -> tuple[bool, dict[str, Any]]:
    """Ready when the store answers and (if ingest or notify run) NATS answers."""
    checks: dict[str, Any] = {}
    store = _within(READY_TIMEOUT, state.app.max_notification_id)
    if isinstance(store, BaseException):
        checks["store_error"] = _first_line(store)
    else:
        checks["store_position"] = store
        status = _within(READY_TIMEOUT * 2, lambda: collect_status(state.settings, state.app))
        if isinstance(status, BaseException):
            checks["status_error"] = _first_line(status)
        elif status.get("nats_error"):
            checks["nats_error"] = status["nats_error"]
    if state.runs("project") and state.projector.last_error is not None:
        checks["projector_error"] = state.projector.last_error
    return not any(key.endswith("_error") for key in checks), checks


def _within(seconds: float, call: Callable[[], Any]) -> Any:
    """``call()``'s result, or the exception it raised, or TimeoutError after ``seconds`` (a
    store in an outage makes the pool wait much longer than a probe may)."""
    box: list[Any] = []

    def run() -> None:
        try:
            box.append(call())
        except Exception as error:
            box.append(error)

    thread = threading.Thread(target=run, daemon=True)
    thread.start()
    thread.join(seconds)
    return box[0] if box else TimeoutError(f"no answer within {seconds:g} s")


def _first_line(error: BaseException) -> str:
    text = str(error).strip()
    return text.splitlines()[0] if text else type(error).__name__


def serve_endpoint(state: ServiceState, address: str, stop: threading.Event) -> ThreadingHTTPServer:
    """Starts the endpoint on ``host:port`` (a thread); it stops when ``stop`` is set."""
    host, _, port = address.rpartition(":")
    registry = CollectorRegistry()
    registry.register(ServiceCollector(state))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            path = self.path.split("?")[0]
            if path == "/metrics":
                self._answer(200, generate_latest(registry), CONTENT_TYPE_LATEST)
            elif path == "/healthz":
                self._answer(200, b'{"status": "alive"}\n', "application/json")
            elif path == "/readyz":
                ready, checks = readiness(state)
                body = json.dumps({"ready": ready, **checks}).encode() + b"\n"
                self._answer(200 if ready else 503, body, "application/json")
            else:
                self._answer(404, b"not found\n", "text/plain")

        def _answer(self, code: int, body: bytes, content_type: str) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer((host or "127.0.0.1", int(port)), Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="metrics", daemon=True).start()

    def shut_down_on_stop() -> None:
        stop.wait()
        server.shutdown()

    threading.Thread(target=shut_down_on_stop, daemon=True).start()
    log.info("metrics on http://%s:%d/metrics", *server.server_address[:2])
    return server
