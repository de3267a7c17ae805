"""``eventchain serve``: ingest consumer + projector + SLA watcher, until SIGINT/SIGTERM."""

from __future__ import annotations

import json
import logging
import signal
import sys
import threading
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import click

from adapters.nats_ingest import IngestConfig, IngestWorker
from adapters.sla_watcher import run_sla_watcher
from eventchain.cli_support import open_app, settings_of
from eventchain.nats_support import nats_url
from projections.service import run_projector

SERVICES = ("ingest", "project", "sla", "web")
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
    help="Run only these services (repeatable); default: all three.",
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
@click.pass_context
def serve_command(ctx: click.Context, only: tuple[str, ...], batch: int, ack_wait: float) -> None:
    """Run the service: NATS ingest, the DuckDB projector and the SLA watcher.

    Without EVENTCHAIN_NATS_URL a local nats-server (JetStream) runs under the data
    directory. Logs are JSON lines when stderr is not a terminal. Stop with Ctrl-C or
    SIGTERM; in-flight batches finish or are redelivered, never half-applied.

    \b
    Example:
      EVENTCHAIN_STORE_URL=postgresql://eventchain@db/eventchain eventchain serve
      eventchain serve --only ingest          # scale out: more ingest workers
    """
    configure_logging()
    settings = settings_of(ctx)
    selected = only or SERVICES
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    app = open_app(ctx, require_kek=True)
    with nats_url(settings) as url:
        runners: dict[str, Callable[[], None]] = {}
        if "ingest" in selected:
            worker = IngestWorker(app, url, IngestConfig(batch=batch, ack_wait=ack_wait))
            runners["ingest"] = lambda: worker.run(stop)
        if "project" in selected:
            runners["project"] = lambda: run_projector(settings, stop)
        if "sla" in selected:  # the router and the SLA watcher, in one loop
            runners["sla"] = lambda: run_sla_watcher(settings, stop)
        if "web" in selected:  # the workspace (adapters/web), on settings.web_addr
            from adapters.web.app import run_web

            runners["web"] = lambda: run_web(settings, stop)
        log.info("serving %s (store %s, nats %s)", ", ".join(runners), settings.store_url.split("@")[-1], url)
        _run_all(runners, stop)
    log.info("stopped")


def _run_all(runners: dict[str, Callable[[], None]], stop: threading.Event) -> None:
    threads = [threading.Thread(target=_guarded(name, run, stop), name=name) for name, run in runners.items()]
    for thread in threads:
        thread.start()
    while not stop.wait(0.2):
        if not any(thread.is_alive() for thread in threads):
            break
    stop.set()
    for thread in threads:
        thread.join()


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
