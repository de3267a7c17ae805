"""The workspace's follow-up figures (seed 004), selected from the ``follow_ups`` and
``follow_up_execution`` views through a role: load ``visible_customers`` first
(``projections.visibility.load_visible_customers``)."""

from __future__ import annotations

from typing import Final

import duckdb

from projections.visibility import VISIBLE_TABLE
from projections.workspace_queries import LIST_LIMIT, Rows, _rows

_VISIBLE: Final = f"f.customer_id IN (SELECT CAST(customer_id AS UUID) FROM {VISIBLE_TABLE})"


def due_steps(connection: duckdb.DuckDBPyConnection, owner: str | None, limit: int = LIST_LIMIT) -> Rows:
    """Steps due or overdue (unmet, plan not paused), earliest due first: the rep's desk."""
    return _rows(
        connection,
        f"""SELECT CAST(f.customer_id AS VARCHAR) AS customer_id, c.display_name, f.plan, f.step,
                   f.action, f.due_at, f.status, f.agent_id, count(*) OVER () AS total
            FROM follow_ups f JOIN customer_360 c USING (customer_id)
            WHERE f.status IN ('due', 'overdue') AND {_VISIBLE}
              AND (?::VARCHAR IS NULL OR f.agent_id = ?)
            ORDER BY f.due_at, customer_id, f.step LIMIT ?""",
        [owner, owner, limit],
    )


def plan_progress(connection: duckdb.DuckDBPyConnection, customer_id: str) -> Rows:
    """One customer's plan steps so far (the customer page)."""
    return _rows(
        connection,
        f"""SELECT f.plan, f.step, f.action, f.due_at, f.met_at, f.evidence, f.status, f.rule_version
            FROM follow_ups f WHERE CAST(f.customer_id AS VARCHAR) = ? AND {_VISIBLE}
            ORDER BY f.plan, coalesce(f.due_at, f.met_at)""",
        [customer_id],
    )


def execution_rates(connection: duckdb.DuckDBPyConnection) -> Rows:
    """Per rep and plan over the visible customers: ``follow_up_execution``'s figure."""
    return _rows(
        connection,
        f"""SELECT agent_id, plan, steps, met_on_time, open, execution_rate
            FROM ec.follow_up_execution_of('{VISIBLE_TABLE}') ORDER BY execution_rate, agent_id, plan""",
    )
