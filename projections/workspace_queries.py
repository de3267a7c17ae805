"""The workspace's figures, selected from the DuckDB read models (SPEC §2.4) through a role.

Every query here reads rows joined to ``visible_customers`` (load it first with
``projections.visibility.load_visible_customers``), so a figure never counts a customer
the role may not see. Figures already defined by the views or by ``queries`` (CTRE,
funnel follow-up, heatmap) are reused, not redefined: the web workspace and the offline
report can both select from this module.

Over 400 lines on purpose: one module per role-filtered read path, so every figure a person
sees goes through the same ``visible_customers`` join and can be audited in one place.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final
from zoneinfo import ZoneInfo

import duckdb

from domain.identities import InvalidIdentityError, identity_key, normalise_identity
from domain.rules import RulesDocument, RulesError, Sla, rules_from_dict
from domain.sla import first_response_deadline, response_minutes
from domain.vocabulary import STAGES
from projections.queries import CTRE, Window, ctre_figures
from projections.visibility import VISIBLE_TABLE

# Casting the (few) visible ids to UUID, not every row's UUID to text.
_VISIBLE: Final = f"customer_id IN (SELECT CAST(customer_id AS UUID) FROM {VISIBLE_TABLE})"
LIST_LIMIT: Final = 200
CHINA: Final = ZoneInfo("Asia/Shanghai")


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
                   list_contains(c.tags, 'vip') AS vip, count(*) OVER () AS total,
                   (SELECT first(t.summary ORDER BY t.occurred_at DESC, t.touchpoint_id DESC)
                    FROM touchpoints t
                    WHERE t.customer_id = l.customer_id AND t.direction = 'inbound') AS question,
                   c.tags, c.budget_cny
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


def waiting_ids(
    connection: duckdb.DuckDBPyConnection, owner: str | None, limit: int = LIST_LIMIT
) -> list[str]:
    """The ids of the unanswered leads ``waiting_leads`` lists (cheap: the desk polls it)."""
    rows = connection.execute(
        f"""SELECT CAST(customer_id AS VARCHAR) FROM lead_response
            WHERE first_response_at IS NULL AND {_VISIBLE} AND (?::VARCHAR IS NULL OR owner_agent_id = ?)
            ORDER BY lead_at, customer_id LIMIT ?""",
        [owner, owner, limit],
    ).fetchall()
    return [row[0] for row in rows]


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
    connection: duckdb.DuckDBPyConnection, channel: str, days: int, now: datetime, limit: int = LIST_LIMIT
) -> Rows:
    """Seed 000's action report: customers reached on ``channel`` whose last follow-up
    (outbound touchpoint, retracted ones left out) is older than ``days`` before ``now`` — the
    service's clock, so a customer falls due with time passing, not only when a new event
    arrives — or who never had one; the longest silent first."""
    return _rows(
        connection,
        f"""WITH chain AS (
                SELECT customer_id,
                       max(occurred_at) FILTER (WHERE direction = 'outbound' AND touchpoint_id NOT IN
                                                (SELECT touchpoint_id FROM ec.retractions)) AS last_follow_up,
                       bool_or(channel = ?) AS on_channel
                FROM touchpoints WHERE {_VISIBLE} GROUP BY customer_id)
            SELECT CAST(c.customer_id AS VARCHAR) AS customer_id, c.display_name, c.owner_agent_id,
                   t.last_follow_up, c.last_touch_at, count(*) OVER () AS total
            FROM chain t JOIN customer_360 c ON c.customer_id = t.customer_id
            WHERE t.on_channel AND coalesce(t.last_follow_up, TIMESTAMPTZ '1970-01-01 00:00:00+00')
                  < CAST(? AS TIMESTAMPTZ) - to_days(?::INTEGER)
            ORDER BY t.last_follow_up NULLS FIRST, c.last_touch_at, c.customer_id LIMIT ?""",
        [channel, now, days, limit],
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


def escalations_to(
    connection: duckdb.DuckDBPyConnection, agent_id: str, window: Window | None = None
) -> Rows:
    """SLA breaches escalated to this agent whose deadline falls in ``window``, with their status:
    answered (the lead's first response, and how many hours after the lead) or still waiting.
    ``escalated_to`` is the plain agent id, or ``<step>:<id>`` (``manager:m-zhao``) in views
    projected before that change."""
    window = window or Window()
    return _rows(
        connection,
        f"""SELECT CAST(s.customer_id AS VARCHAR) AS customer_id, c.display_name, c.owner_agent_id,
                   s.deadline_at, s.step, r.first_response_at,
                   r.first_response_at IS NOT NULL AS answered, r.response_hours
            FROM sla_breaches s JOIN customer_360 c ON c.customer_id = s.customer_id
                 LEFT JOIN lead_response r ON r.customer_id = s.customer_id
            WHERE regexp_replace(s.escalated_to, '^[a-z_]+:', '') = ? AND s.customer_id IN
                  (SELECT CAST(customer_id AS UUID) FROM {VISIBLE_TABLE})
              AND {Window.condition("s.deadline_at")}
            ORDER BY answered, s.deadline_at DESC LIMIT {LIST_LIMIT}""",
        [agent_id, *window.parameters()],
    )


def stage_counts(connection: duckdb.DuckDBPyConnection, dimension: str, window: Window) -> Rows:
    """Leads per stage and ``dimension`` (first-touch channel or city) for the funnel's
    stage-to-stage conversion: the customers the funnel counts (a lead in the window)."""
    column = {"channel": "l.channel", "city": "c.city"}[dimension]
    return _rows(
        connection,
        f"""SELECT coalesce(c.stage, 'none') AS stage, coalesce({column}, '—') AS "group",
                   count(*) AS customers
            FROM customer_360 c JOIN ec.leads l USING (customer_id)
            WHERE c.{_VISIBLE} AND {Window.condition("l.lead_at")}
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
    connection: duckdb.DuckDBPyConnection, as_of: str | None, weeks: int = 8, window: Window | None = None
) -> list[tuple[str, CTRE]]:
    """CTRE and balance per ISO week (Monday start, China time) over the last ``weeks`` weeks
    before the end of ``window`` (the watermark when it has none), each week cut to the window,
    computed exactly as the report computes them for a period."""
    if as_of is None:
        return []
    window = window or Window()
    end = window.end or datetime.fromisoformat(as_of)
    local = end.astimezone(CHINA) - timedelta(microseconds=1)
    monday = (local - timedelta(days=local.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)
    trend = []
    for back in range(weeks - 1, -1, -1):
        start = monday - timedelta(weeks=back)
        stop = start + timedelta(weeks=1)
        if window.start is not None and stop <= window.start:
            continue
        cut = Window(max(start, window.start) if window.start else start, min(stop, end))
        trend.append((start.date().isoformat(), ctre_figures(connection, cut)))
    return trend


def unowned_leads(connection: duckdb.DuckDBPyConnection, cutoff: datetime, limit: int = 10) -> Rows:
    """Visible leads that nobody owned by ``cutoff`` (recorded before it), oldest first, with
    how many there are in all: the router's safety net on the director's board
    (``ec.unowned_leads``, the figure status and /metrics count)."""
    return _rows(
        connection,
        f"""SELECT u.customer_id, c.display_name, u.channel, u.lead_at, u.recorded_at,
                   count(*) OVER () AS total
            FROM ec.unowned_leads u JOIN customer_360 c USING (customer_id)
            WHERE u.{_VISIBLE} AND u.recorded_at <= ?
            ORDER BY u.recorded_at, u.customer_id LIMIT {int(limit)}""",
        [cutoff],
    )


def pipeline_value(connection: duckdb.DuckDBPyConnection, window: Window | None = None) -> Rows:
    """By stage, the customers the funnel counts (a lead in ``window``), how many stated a
    budget and its sum in CNY (``customer_360.budget_cny``, the latest stated in event time)."""
    window = window or Window()
    return _rows(
        connection,
        f"""SELECT coalesce(stage, 'none') AS stage, customers, with_budget, budget_cny FROM (
                SELECT c.stage, count(*) AS customers, count(c.budget_cny) AS with_budget,
                       coalesce(sum(c.budget_cny), 0) AS budget_cny
                FROM customer_360 c JOIN ec.leads l USING (customer_id)
                WHERE c.{_VISIBLE} AND {Window.condition("l.lead_at")} GROUP BY c.stage)
            ORDER BY list_position({list(STAGES)}, stage) NULLS LAST""",
        window.parameters(),
    )


@dataclass(frozen=True, slots=True)
class CustomerQuery:
    """Search and filters of the customer list. ``text`` matches a name or company (any part), an
    id prefix, or a phone / e-mail in any spelling (normalised as ingest normalises them)."""

    text: str = ""
    stage: str = ""
    reached: str = ""  # at this stage or beyond (STAGES order, as ``conversion`` counts)
    channel: str = ""  # the lead's channel (first-touch channel for customers without a lead)
    owner: str = ""
    city: str = ""
    tag: str = ""
    window: Window = field(default_factory=Window)  # leads whose lead_at is in it (the board's period)
    sort: str = "last_touch"
    page: int = 1
    page_size: int = 50


SORTS: Final = {
    "last_touch": "c.last_touch_at DESC NULLS LAST",
    "first_touch": "c.first_touch_at DESC NULLS LAST",
    "name": "c.display_name",
    "stage": f"list_position({list(STAGES)}, c.stage) NULLS LAST",
}


def customers(connection: duckdb.DuckDBPyConnection, query: CustomerQuery) -> Rows:
    """The visible customers matching ``query`` (search, drill-down filters), one page of them,
    with ``total`` the count of all matches."""
    conditions: list[str] = ["TRUE"]
    parameters: list[Any] = []
    for value, column in (
        (query.stage, "coalesce(c.stage, 'none')"),
        (query.channel, "coalesce(l.channel, c.first_touch_channel)"),
        (query.owner, "c.owner_agent_id"),
        (query.city, "c.city"),
    ):
        if value:
            conditions.append(f"{column} = ?")
            parameters.append(value)
    if query.reached in STAGES:
        conditions.append(f"list_position({list(STAGES)}, c.stage) >= ?")
        parameters.append(STAGES.index(query.reached) + 1)
    if query.tag:
        conditions.append("list_contains(c.tags, ?)")
        parameters.append(query.tag)
    if query.window.start or query.window.end:
        conditions.append(Window.condition("l.lead_at"))
        parameters.extend(query.window.parameters())
    text = query.text.strip()
    if text:
        keys = identity_keys_of(text)
        conditions.append(
            "(c.display_name ILIKE ? OR c.company ILIKE ? OR CAST(c.customer_id AS VARCHAR) LIKE ?"
            " OR list_has_any(c.identities, ?::VARCHAR[]))"
        )
        pattern = "%" + text.replace("\\", "").replace("%", "").replace("_", "") + "%"
        parameters.extend([pattern, pattern, text.lower() + "%", keys])
    order = SORTS.get(query.sort, SORTS["last_touch"])
    offset = (max(query.page, 1) - 1) * query.page_size
    return _rows(
        connection,
        # the role's customers first (a few thousand of a million), then the search over them
        f"""WITH c AS MATERIALIZED (SELECT * FROM customer_360 WHERE {_VISIBLE}),
                 l AS MATERIALIZED (SELECT customer_id, channel, lead_at FROM ec.leads WHERE {_VISIBLE})
            SELECT CAST(c.customer_id AS VARCHAR) AS customer_id, c.display_name, c.company, c.city,
                   c.owner_agent_id, c.stage, coalesce(l.channel, c.first_touch_channel) AS channel, c.tags,
                   c.last_touch_at, c.touch_count, count(*) OVER () AS total
            FROM c LEFT JOIN l USING (customer_id)
            WHERE {" AND ".join(conditions)}
            ORDER BY {order}, c.customer_id LIMIT {query.page_size} OFFSET {offset}""",
        parameters,
    )


def identity_keys_of(text: str) -> list[str]:
    """The identity keys ``text`` could be (``phone:+8613800138000`` for ``+86 138-0013-8000``),
    normalised by the same functions ingest uses; none when it is no phone or e-mail."""
    keys = []
    for kind in ("phone", "email"):
        try:
            keys.append(identity_key(kind, normalise_identity(kind, text)))
        except InvalidIdentityError:
            continue
    return keys


def customer_360(connection: duckdb.DuckDBPyConnection, customer_id: str) -> dict[str, Any] | None:
    """One visible customer's 360 row; None when it does not exist or the role may not see it."""
    found = _rows(
        connection,
        f"""SELECT CAST(customer_id AS VARCHAR) AS customer_id, display_name, company, city, industry,
                   owner_agent_id, stage, tags, first_touch_channel, first_touch_at, first_response_at,
                   last_touch_at, touch_count, identities, budget_cny
            FROM customer_360 WHERE customer_id = TRY_CAST(? AS UUID) AND {_VISIBLE}""",
        [customer_id],
    ).dicts()
    return found[0] if found else None


def timeline(connection: duckdb.DuckDBPyConnection, customer_id: str) -> Rows:
    """A visible customer's touchpoints across channels, in event-time order; a retracted one
    (``ec.retractions``) with the reason and who retracted it: the history keeps it."""
    return _rows(
        connection,
        f"""SELECT t.touchpoint_id, t.channel, t.direction, t.occurred_at, t.actor, t.summary,
                   r.reason AS retracted_reason, r.actor AS retracted_by
            FROM touchpoints t LEFT JOIN ec.retractions r USING (touchpoint_id)
            WHERE t.customer_id = TRY_CAST(? AS UUID) AND t.{_VISIBLE}
            ORDER BY t.occurred_at, t.touchpoint_id""",
        [customer_id],
    )
