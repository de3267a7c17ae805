"""Follow-up plans where people work (seed 004): due and overdue steps on the rep's desk with
the suggested action, a plan's progress on the customer page, the execution rate per rep and
plan on the director's board, and the board's warning when the holiday calendar runs out.
Each page calls one function here and includes one partial template (``_follow_ups_*.html``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Final

import duckdb

from application.rules import rules_in_force
from domain.rules import calendar_warning
from eventchain.web.context import DESK_ROWS, User, Workspace
from projections import follow_up_queries as follow_ups

WORDS: Final[dict[str, tuple[str, str]]] = {
    "follow_ups_due": ("待办跟进步骤", "Follow-up steps due"),
    "follow_up_step": ("步骤", "Step"),
    "follow_up_action": ("建议动作", "Suggested action"),
    "follow_up_due_at": ("到期", "Due"),
    "follow_up_met_at": ("完成于", "Met"),
    "follow_up_plan": ("跟进计划", "Follow-up plan"),
    "follow_up_rate": ("跟进计划执行率", "Follow-up execution rate"),
    "follow_up_steps": ("步骤数", "Steps"),
    "follow_up_met_on_time": ("按时完成", "Met on time"),
    "follow_up_open": ("未完成", "Open"),
    "calendar_warning": ("节假日日历即将失效", "Holiday calendar ends soon"),
    "status.due": ("到期", "due"),
    "status.overdue": ("逾期", "overdue"),
    "status.met": ("按时完成", "met"),
    "status.met_late": ("逾期完成", "met late"),
    "status.paused": ("已暂停", "paused"),
}


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
