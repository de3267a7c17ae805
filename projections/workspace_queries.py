"""The workspace's figures, selected from the DuckDB read models (SPEC §2.4) through a role.

Every query here reads rows joined to ``visible_customers`` (load it first with
``projections.visibility.load_visible_customers``), so a figure never counts a customer
the role may not see. Figures already defined by the views or by ``queries`` (CTRE,
funnel follow-up, heatmap) are reused, not redefined: the web workspace and the offline
report can both select from this module.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Final

import duckdb

from domain.rules import RulesDocument, RulesError, Sla, rules_from_dict
from domain.sla import first_response_deadline, response_minutes
from domain.vocabulary import STAGES
from projections.queries import CTRE, Window, ctre_figures
from projections.visibility import VISIBLE_TABLE

# Casting the (few) visible ids to UUID, not every row's UUID to text.
_VISIBLE: Final = f"customer_id IN (SELECT CAST(customer_id AS UUID) FROM {VISIBLE_TABLE})"
LIST_LIMIT: Final = 200


@dataclass(frozen=True, slots=True)
class Rows:
    columns: list[str]
    rows: list[tuple[Any, ...]]

    def dicts(self) -> list[dict[str, Any]]:
        return [dict(zip(self.columns, row, strict=True)) for row in self.rows]


def _rows(connection: duckdb.DuckDBPyConnection, sql: str, parameters: Sequence[Any] = ()) -> Rows:
    cursor = connection.execute(sql, list(parameters))
    return Rows([d[0] for d in cursor.description], cursor.fetchall())


def freshness(connection: duckdb.DuckDBPyConnection) -> dict[str, str | None]:
    """The snapshot's event-time watermark and when the projector published it."""
    watermark = connection.execute("SELECT max(occurred_at)::VARCHAR FROM touchpoints").fetchone()
    try:
        found = connection.execute(
            "SELECT value FROM ec.settings WHERE key = 'snapshot_published_at'"
        ).fetchone()
    except duckdb.CatalogException:  # views not written by the projector (no ec schema)
        found = None
    published = found[0] if found else None
    return {"as_of": watermark[0] if watermark else None, "published_at": published}


def waiting_leads(
    connection: duckdb.DuckDBPyConnection, owner: str | None = None, limit: int = LIST_LIMIT
) -> Rows:
    """Leads nobody has answered yet, earliest first-response deadline first.

    The deadline is the SLA's own (``domain.sla.first_response_deadline``): the rules in force
    (``ec.rules_in_force``, projected from ``RulesRevised``), VIP-tagged leads with the VIP
    minutes, counted in the rules' working time. SQL orders by the deadline counted without
    working hours, which is the same order whenever every lead has the same minutes; the page
    is then re-sorted by the exact deadline. With no rules recorded there is no deadline."""
    found = _rows(
        connection,
        f"""SELECT CAST(l.customer_id AS VARCHAR) AS customer_id, c.display_name, c.company,
                   l.owner_agent_id, l.channel, l.lead_at,
                   list_contains(c.tags, 'vip') AS vip, count(*) OVER () AS total
            FROM lead_response l JOIN customer_360 c ON c.customer_id = l.customer_id
                 LEFT JOIN ec.rules_in_force r ON true
            WHERE l.first_response_at IS NULL AND l.customer_id IN
                  (SELECT CAST(customer_id AS UUID) FROM {VISIBLE_TABLE})
              AND (?::VARCHAR IS NULL OR l.owner_agent_id = ?)
            ORDER BY l.lead_at + to_minutes(CASE WHEN list_contains(c.tags, 'vip')
                                               THEN r.vip_first_response_minutes
                                               ELSE r.first_response_minutes END),
                     l.lead_at, customer_id LIMIT ?""",
        [owner, owner, limit],
    )
    document = document_in_force(connection)
    sla = document.sla if document is not None else None
    working = document.working_time() if document is not None else None  # with the operator's calendar
    rows = []
    for row in found.dicts():
        deadline = None
        if sla is not None and working is not None:
            deadline = first_response_deadline(row["lead_at"], response_minutes(sla, row["vip"]), working)
        rows.append({**row, "deadline_at": deadline})
    rows.sort(key=lambda r: (r["deadline_at"] is None, r["deadline_at"] or r["lead_at"], r["customer_id"]))
    columns = [*found.columns[:6], "deadline_at", *found.columns[6:]]
    return Rows(columns, [tuple(r[c] for c in columns) for r in rows])


def rules_in_force(connection: duckdb.DuckDBPyConnection) -> Sla | None:
    """The SLA of the newest recorded rules (None before any rules were applied)."""
    document = document_in_force(connection)
    return None if document is None else document.sla


def document_in_force(connection: duckdb.DuckDBPyConnection) -> RulesDocument | None:
    """The newest recorded rules document (None before any rules were applied)."""
    try:
        found = connection.execute("SELECT document FROM ec.rules_in_force").fetchone()
    except duckdb.CatalogException:  # a snapshot written before the rules were projected
        return None
    if found is None:
        return None
    try:
        return rules_from_dict(json.loads(found[0]))
    except RulesError:
        return None


def no_follow_up_on_channel(
    connection: duckdb.DuckDBPyConnection, channel: str, days: int, limit: int = LIST_LIMIT
) -> Rows:
    """Seed 000's action report: customers reached on ``channel`` whose last follow-up
    (outbound touchpoint) is older than ``days`` before the watermark, or who never had one."""
    return _rows(
        connection,
        f"""WITH chain AS (
                SELECT customer_id, max(occurred_at) FILTER (WHERE direction = 'outbound') AS last_follow_up,
                       bool_or(channel = ?) AS on_channel
                FROM touchpoints WHERE {_VISIBLE} GROUP BY customer_id)
            SELECT CAST(c.customer_id AS VARCHAR) AS customer_id, c.display_name, c.owner_agent_id,
                   t.last_follow_up, c.last_touch_at, count(*) OVER () AS total
            FROM chain t JOIN customer_360 c ON c.customer_id = t.customer_id, ec.watermark w
            WHERE t.on_channel AND coalesce(t.last_follow_up, TIMESTAMPTZ '1970-01-01 00:00:00+00')
                  < w.as_of - to_days(?::INTEGER)
            ORDER BY t.last_follow_up NULLS FIRST, c.customer_id LIMIT ?""",
        [channel, days, limit],
    )


def per_rep(connection: duckdb.DuckDBPyConnection, window: Window) -> Rows:
    """Per owner: customers owned (load), leads in the window, answered, mean response
    hours of the answered ones, still waiting, breached leads (the figure macros of
    projections/schema.py: ``ec.lead_hours``, ``ec.breached_leads_of``)."""
    return _rows(
        connection,
        f"""WITH owned AS (SELECT owner_agent_id, count(*) AS customers FROM customer_360
                           WHERE {_VISIBLE} GROUP BY ALL),
            leads AS (SELECT owner_agent_id, count(*) AS leads, count(*) FILTER (WHERE answered) AS responded,
                             avg(hours) FILTER (WHERE answered) AS mean_response_hours,
                             count(*) FILTER (WHERE NOT answered) AS waiting
                      FROM ec.lead_hours('{VISIBLE_TABLE}', ?, ?, (SELECT as_of FROM ec.watermark))
                      GROUP BY ALL),
            breaches AS (SELECT c.owner_agent_id, count(*) AS breaches
                         FROM ec.breached_leads_of('{VISIBLE_TABLE}', ?, ?) s
                         JOIN customer_360 c ON c.customer_id = s.customer_id GROUP BY ALL)
            SELECT o.owner_agent_id, o.customers, coalesce(l.leads, 0) AS leads,
                   coalesce(l.responded, 0) AS responded, l.mean_response_hours,
                   coalesce(l.waiting, 0) AS waiting, coalesce(b.breaches, 0) AS breaches
            FROM owned o LEFT JOIN leads l USING (owner_agent_id) LEFT JOIN breaches b USING (owner_agent_id)
            ORDER BY o.owner_agent_id NULLS LAST""",
        [*window.bounds(), *window.bounds()],
    )


def escalations_to(connection: duckdb.DuckDBPyConnection, agent_id: str) -> Rows:
    """SLA breaches escalated to this agent: ``escalated_to`` is the plain agent id, or
    ``<step>:<id>`` (``manager:m-zhao``, ``director:d-qian``) in views projected before
    that change."""
    return _rows(
        connection,
        f"""SELECT CAST(s.customer_id AS VARCHAR) AS customer_id, c.display_name, c.owner_agent_id,
                   s.deadline_at, s.step, c.first_response_at
            FROM sla_breaches s JOIN customer_360 c ON c.customer_id = s.customer_id
            WHERE regexp_replace(s.escalated_to, '^[a-z_]+:', '') = ? AND s.customer_id IN
                  (SELECT CAST(customer_id AS UUID) FROM {VISIBLE_TABLE})
            ORDER BY s.deadline_at DESC LIMIT {LIST_LIMIT}""",
        [agent_id],
    )


def stage_counts(connection: duckdb.DuckDBPyConnection, dimension: str, window: Window) -> Rows:
    """Customers per stage and ``dimension`` (first-touch channel or city), for the funnel's
    stage-to-stage conversion."""
    column = {"channel": "first_touch_channel", "city": "city"}[dimension]
    return _rows(
        connection,
        f"""SELECT coalesce(stage, 'none') AS stage, coalesce({column}, '—') AS "group", count(*) AS customers
            FROM customer_360 WHERE {_VISIBLE} AND {Window.condition("first_touch_at")}
            GROUP BY ALL ORDER BY ALL""",
        window.parameters(),
    )


def conversion(counts: Rows) -> list[dict[str, Any]]:
    """Per group: customers who reached each stage (at it or beyond, in STAGES order) and
    the conversion from the previous stage."""
    reached: dict[str, list[int]] = {}
    for stage, group, customers in counts.rows:
        if stage not in STAGES:
            continue
        ladder = reached.setdefault(group, [0] * len(STAGES))
        for index in range(STAGES.index(stage) + 1):
            ladder[index] += customers
    result = []
    for group, ladder in sorted(reached.items()):
        steps = [
            {"stage": stage, "reached": n, "rate": (n / ladder[i - 1]) if i and ladder[i - 1] else None}
            for i, (stage, n) in enumerate(zip(STAGES, ladder, strict=True))
        ]
        result.append({"group": group, "steps": steps})
    return result


def weekly_ctre(
    connection: duckdb.DuckDBPyConnection, as_of: str | None, weeks: int = 8
) -> list[tuple[str, CTRE]]:
    """CTRE and balance per ISO week (Monday start) over the last ``weeks`` weeks before the
    watermark, computed exactly as the report computes them for a period."""
    if as_of is None:
        return []
    end = datetime.fromisoformat(as_of)
    monday = (end - timedelta(days=end.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    trend = []
    for back in range(weeks - 1, -1, -1):
        start = monday - timedelta(weeks=back)
        window = Window(start, start + timedelta(weeks=1))
        trend.append((start.date().isoformat(), ctre_figures(connection, window)))
    return trend


def pipeline_value(connection: duckdb.DuckDBPyConnection) -> Rows:
    """Budget (CNY) of the visible customers by stage: ``customer_360.budget_cny``, the latest
    budget each customer stated (in event time)."""
    return _rows(
        connection,
        f"""SELECT coalesce(stage, 'none') AS stage, customers, budget_cny FROM (
                SELECT stage, count(*) AS customers, sum(budget_cny) AS budget_cny FROM customer_360
                WHERE {_VISIBLE} AND budget_cny IS NOT NULL AND NOT erased GROUP BY stage)
            ORDER BY list_position({list(STAGES)}, stage) NULLS LAST""",
    )


def customers(connection: duckdb.DuckDBPyConnection, filters: dict[str, str]) -> Rows:
    """Drill-down: the visible customers behind a figure (stage, channel, owner, city)."""
    columns = {"stage": "stage", "channel": "first_touch_channel", "owner": "owner_agent_id", "city": "city"}
    conditions, parameters = [], []
    for key, value in filters.items():
        if key in columns and value:
            conditions.append(f"{columns[key]} = ?")
            parameters.append(value)
    where = " AND ".join([_VISIBLE, *conditions])
    return _rows(
        connection,
        f"""SELECT CAST(customer_id AS VARCHAR) AS customer_id, display_name, company, city, owner_agent_id,
                   stage, first_touch_channel, last_touch_at, touch_count
            FROM customer_360 WHERE {where} ORDER BY last_touch_at DESC NULLS LAST LIMIT {LIST_LIMIT}""",
        parameters,
    )


def customer_360(connection: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, Any] | None:
    """One visible customer's 360 row; None when it does not exist or the role may not see it."""
    found = _rows(
        connection,
        f"""SELECT CAST(customer_id AS VARCHAR) AS customer_id, display_name, company, city, industry,
                   owner_agent_id, stage, tags, first_touch_channel, first_touch_at, first_response_at,
                   last_touch_at, touch_count
            FROM customer_360 WHERE customer_id = TRY_CAST(? AS UUID) AND {_VISIBLE}""",
        [customer_id],
    ).dicts()
    return found[0] if found else None


def timeline(connection: duckdb.DuckDBPyConnection, customer_id: str) -> Rows:
    """A visible customer's touchpoints across channels, in event-time order."""
    return _rows(
        connection,
        f"""SELECT touchpoint_id, channel, direction, occurred_at, actor, summary FROM touchpoints
            WHERE customer_id = TRY_CAST(? AS UUID) AND {_VISIBLE} ORDER BY occurred_at, touchpoint_id""",
        [customer_id],
    )
