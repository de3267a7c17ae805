"""The demo's routing step under the name the routing brief gives it (no CLI commands here).

The work lives in ``eventchain.demo_routing``; this module keeps the ``(app, console)``
argument order other callers were told to expect.
"""

from __future__ import annotations

from rich.console import Console

from application.event_chain import EventChain
from eventchain.demo_routing import setup_and_route as _setup_and_route


def setup_and_route(app: EventChain, console: Console) -> None:
    """Apply the example rules and team, route pending leads, run the SLA check at the
    scenario's end (event time) and print the assignment/escalation summary."""
    _setup_and_route(console, app)
