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


def desk_steps(connection: duckdb.DuckDBPyConnection, user: User, now: datetime) -> list[dict[str, Any]]:
    """The user's due and overdue steps (everyone's for exec), with seconds left to the due
    time (negative: overdue)."""
    owner = user.agent_id if user.role.kind != "exec" else None
    return [
        {**row, "seconds_left": int((row["due_at"] - now).total_seconds())}
        for row in follow_ups.due_steps(connection, owner, DESK_ROWS).dicts()
    ]


def progress(connection: duckdb.DuckDBPyConnection, customer_id: str) -> list[dict[str, Any]]:
    return follow_ups.plan_progress(connection, customer_id).dicts()


def board_rates(connection: duckdb.DuckDBPyConnection) -> list[dict[str, Any]]:
    return follow_ups.execution_rates(connection).dicts()


def board_calendar_warning(workspace: Workspace) -> str | None:
    document = rules_in_force(workspace.app)
    return None if document is None else calendar_warning(document, workspace.app.clock().date())
