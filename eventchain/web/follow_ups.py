"""Follow-up plans where people work (seed 004): due and overdue steps on the rep's desk with
the suggested action, a plan's progress on the customer page, the execution rate per rep and
plan on the director's board, and the board's warning when the holiday calendar runs out.
Each page calls one function here and includes one partial template (``_follow_ups_*.html``);
their words are in ``follow_up_words``."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import duckdb

from application.rules import rules_in_force
from domain.rules import calendar_warning
from eventchain.web.context import DESK_ROWS, User, Workspace
from projections import follow_up_queries as follow_ups
from projections.visibility import load_visible_customers


def desk(workspace: Workspace, user: User, now: datetime) -> list[dict[str, Any]]:
    """The user's due and overdue steps (everyone's for exec), by due time, with seconds left to
    the due time (negative: overdue); computed once per snapshot and role."""

    def compute() -> list[dict[str, Any]]:
        with workspace.snapshot.cursor() as connection:
            load_visible_customers(connection, user.role, user.team)
            owner = user.agent_id if user.role.kind != "exec" else None
            return follow_ups.due_steps(connection, owner, DESK_ROWS).dicts()

    steps = workspace.cached((str(user.role), user.team, "desk-follow-ups"), compute, user.agent_id)
    return [{**row, "seconds_left": int((row["due_at"] - now).total_seconds())} for row in steps]


def progress(connection: duckdb.DuckDBPyConnection, customer_id: str) -> list[dict[str, Any]]:
    return follow_ups.plan_progress(connection, customer_id).dicts()


def board_panel(connection: duckdb.DuckDBPyConnection, workspace: Workspace) -> dict[str, Any]:
    """The board's follow-up panel (the role's visible customers are loaded on ``connection``)."""
    document = rules_in_force(workspace.app)
    today = workspace.app.clock().date()
    return {
        "follow_up_rates": follow_ups.execution_rates(connection).dicts(),
        "calendar_warning": None if document is None else calendar_warning(document, today),
    }
