"""`serve`'s catch-up log: where each part stands while it works through a backlog.

A line at start (the backlog `serve` found), one every ``PROGRESS_EVERY`` seconds while
some part is ``BEHIND`` events or messages or more behind, and one when everything has
caught up. The figures are the ones `/metrics` and `status` show (``collect_status``
plus the followers' positions); as JSON log lines they carry them under ``progress``.
"""

from __future__ import annotations

import logging
import threading
from typing import Any, Final

from eventchain.health import collect_status
from eventchain.metrics import ServiceState

PROGRESS_EVERY: Final = 5.0  # seconds between progress lines while catching up
LEASE_FIRST_TRY_S: Final = 10.0  # longest wait for a part's first try of its lock
BEHIND: Final = 100  # a lag this large is a backlog worth a line; smaller is steady traffic
log = logging.getLogger("eventchain.serve")


def progress(state: ServiceState) -> dict[str, Any]:
    """Positions and lags of the parts this `serve` runs, against the store's position."""
    status = collect_status(state.settings, state.app)
    store = int(status["store_position"] or 0)
    figures: dict[str, Any] = {"store_position": store}
    lags: dict[str, int] = {}
    if "ingest" in state.parts and status.get("consumer_lag") is not None:
        figures["ingest_backlog"] = lags["ingest"] = int(status["consumer_lag"])
    if state.runs("project"):
        projected = int(status.get("projector_position") or 0)
        figures["project_position"] = projected
        lags["project"] = max(0, store - projected)
    for name, position in state.positions.items():
        if not state.runs(name):
            continue  # standing by: another process's position
        figures[f"{name}_position"] = value = position()
        lags[name] = max(0, store - value)
    figures["lags"] = lags
    figures["behind"] = max(lags.values(), default=0)
    return figures


def _line(figures: dict[str, Any]) -> str:
    parts = ", ".join(f"{name} {lag} behind" for name, lag in figures["lags"].items() if lag)
    return f"catching up at store position {figures['store_position']}: {parts}"


def report(state: ServiceState, catching_up: bool, first: bool = False) -> bool:
    """Logs one progress line if due; returns whether `serve` is still catching up."""
    try:
        figures = progress(state)
    except Exception as error:  # the store or NATS away: the parts log their own retries
        log.debug("progress not read: %s", error)
        return catching_up
    if figures["behind"] >= BEHIND or (first and figures["behind"]):
        log.info(_line(figures), extra={"progress": figures})
        return True
    if (catching_up and figures["behind"] == 0) or first:
        log.info("caught up at store position %d", figures["store_position"], extra={"progress": figures})
        return False
    return catching_up


def report_until_stopped(state: ServiceState, stop: threading.Event) -> None:
    """The first line once every leased part has tried its lock (so a standby's parts are not
    counted as behind), then one every PROGRESS_EVERY while catching up."""
    for tried in state.leases_tried.values():
        tried.wait(LEASE_FIRST_TRY_S)
    catching_up = report(state, catching_up=False, first=True)
    while not stop.wait(PROGRESS_EVERY):
        catching_up = report(state, catching_up)
