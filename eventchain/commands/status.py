"""``eventchain status``: positions, lags, DLQ count, snapshot age — table or JSON."""

from __future__ import annotations

import json
import sys
import time
from typing import Any

import click

from eventchain.cli_support import open_app, quiet_connection_logs, settings_of
from eventchain.health import service_status
from eventchain.output import chosen_format, emit_rows, output_options
from eventchain.service_lock import (
    LOCKED_PARTS,
)


@click.command("status")
@click.option(
    "--only",
    "expected",
    type=click.Choice(LOCKED_PARTS),
    multiple=True,
    help="Judge only these parts of serve (repeatable), e.g. on an ingest-only host.",
)
@click.option(
    "--wait",
    "wait_s",
    type=click.FloatRange(min=0),
    default=0,
    help="Wait up to this many seconds for a healthy state (after starting serve in the background).",
)
@output_options
@click.pass_context
def status_command(
    ctx: click.Context, expected: tuple[str, ...], wait_s: float, output_format: str | None, as_json: bool
) -> None:
    """Show which parts of serve run, the store's position, the projector's and every
    follower's (route, sla, silence, notify) position and lag, the NATS consumer's
    backlog, dead letters, snapshot age, the last rule version and the erasures' stream
    purges still pending — the figures of serve's /metrics. Exit code 1, with one line per
    problem on stderr, when a part of serve is not running, a running serve is not ready,
    NATS does not answer, or the holiday calendar in force ends within 60 days.

    \b
    Example:
      eventchain status
      eventchain status --json | jq .projector_lag
      eventchain status --only ingest      # an ingest-only host
      eventchain serve & eventchain status --wait 60
    """
    fmt = chosen_format(output_format, as_json)
    quiet_connection_logs()
    settings = settings_of(ctx)
    app = open_app(ctx, must_exist=True)
    deadline = time.monotonic() + wait_s
    status = service_status(settings, app, expected or LOCKED_PARTS)
    while status["problems"] and time.monotonic() < deadline:
        time.sleep(0.5)  # polling the parts' locks and the running serve's /readyz
        status = service_status(settings, app, expected or LOCKED_PARTS)
    if fmt == "json":
        click.echo(json.dumps(status, ensure_ascii=False))
    else:
        rows = [{"what": key.replace("_", " "), "value": _shown(value)} for key, value in status.items()]
        emit_rows(rows, ("what", "value"), fmt, title="eventchain status")
    for problem in status["problems"]:
        click.echo(f"unhealthy: {problem}", err=True)
    if status["problems"]:
        sys.exit(1)


def _shown(value: Any) -> Any:
    if isinstance(value, dict) and "pid" in value:  # a running serve
        parts = ",".join(value["parts"])
        metrics = value["metrics_addr"] or "off"
        standby = [part for part in value["parts"] if part not in value["active"]]
        waits = f", standing by for {','.join(standby)}" if standby else ""
        return f"pid {value['pid']} ({parts}{waits}) since {value['started_at']}, metrics {metrics}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {v}" for k, v in value.items())
    if isinstance(value, list):
        return "; ".join(_shown(item) for item in value) or "none"
    return value


def register(group: click.Group) -> None:
    group.add_command(status_command)
