"""What the report shows, read from the DuckDB read models (SPEC §2.4) through a role.

Every figure is selected from its one definition, a table macro of projections/schema.py,
with ``visible_customers`` as its scope, so a sales rep's report counts only their own
customers and never computes a figure another way. Time is event time, shown in China
Standard Time (the teams' working hours).
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, Final

import duckdb

from domain.vocabulary import STAGES
from projections.schema import EVERYONE_SCOPE
from projections.visibility import VISIBLE_TABLE, Role, load_visible_customers

REPORT_TIMEZONE: Final = "Asia/Shanghai"
TIME_FORMAT: Final = "%Y-%m-%d %H:%M"
ROW_LIMIT: Final = 500  # tables beyond this are cut (the full data stays in DuckDB)
_VISIBLE = f"(SELECT customer_id FROM {VISIBLE_TABLE})"


@dataclass(frozen=True, slots=True)
class Window:
    """Leads (and breaches) whose event time is in ``[start, end)``; None = unbounded."""

    start: datetime | None = None
    end: datetime | None = None

    def parameters(self) -> list[str | None]:
        start = None if self.start is None else self.start.isoformat()
        end = None if self.end is None else self.end.isoformat()
        return [start, start, end, end]

    def bounds(self) -> list[str]:
        """``[from_ts, to_ts)`` for the figure macros (``ec.*_of``): infinite when unbounded."""
        return [
            "-infinity" if self.start is None else self.start.isoformat(),
            "infinity" if self.end is None else self.end.isoformat(),
        ]

    @staticmethod
    def condition(column: str) -> str:
        return (
            f"(?::TIMESTAMPTZ IS NULL OR {column} >= ?::TIMESTAMPTZ)"
            f" AND (?::TIMESTAMPTZ IS NULL OR {column} < ?::TIMESTAMPTZ)"
        )


@dataclass(frozen=True, slots=True)
class Table:
    columns: list[str]
    rows: list[tuple[Any, ...]]  # at most ROW_LIMIT of them
    total: int = 0  # rows before the limit

    @property
    def cut(self) -> bool:
        return self.total > len(self.rows)


@dataclass(frozen=True, slots=True)
class ChannelCTRE:
    channel: str
    leads: int
    responded: int
    mean_response_hours: float
    lead_share: float


@dataclass(frozen=True, slots=True)
class CTRE:
    """A row set of ``ec.ctre_of`` (projections/schema.py): the channels and the total."""

    channels: list[ChannelCTRE]
    ctre_hours: float | None  # Σ mean_c × share_c; None without leads
    balance_index: float | None  # share-weighted coefficient of variation of the channel means


@dataclass(slots=True)
class ReportData:
    role: Role
    window: Window
    as_of: str | None  # the latest event time in the views: unanswered leads count up to it
    visible_customers: int = 0
    funnel: list[tuple[str, str, int, int]] = field(default_factory=list)  # stage, channel, n, 7d
    ctre: CTRE = field(default_factory=lambda: CTRE([], None, None))
    heatmap: list[tuple[int, int, int, float]] = field(default_factory=list)  # weekday, hour, n, mean h
    breached_leads: int = 0  # leads with a missed first-response deadline (ec.breached_leads_of)
    sla_breaches: Table = field(default_factory=lambda: Table([], []))  # their escalation steps
    silent_customers: Table = field(default_factory=lambda: Table([], []))
    journey_breakpoints: Table | None = None  # None: not shown to this role / not in the views
    data_health: Table | None = None


def open_views(path: Path) -> duckdb.DuckDBPyConnection:
    """A read-only connection to the analyst snapshot (never blocks the projector)."""
    connection = duckdb.connect(str(path), read_only=True)
    connection.execute(f"SET TimeZone = '{REPORT_TIMEZONE}'")
    return connection


def scope_of(role: Role) -> str:
    """The scope a role's figures are selected over (projections/schema.py): everyone for
    exec (the analyst views' own plan, no semi-join), else the role's ``visible_customers``."""
    return EVERYONE_SCOPE if role.sees_everything else VISIBLE_TABLE


def load_report_data(
    connection: duckdb.DuckDBPyConnection,
    role: Role,
    window: Window,
    team: Collection[str] = (),
    *,
    scope: str | None = None,
) -> ReportData:
    """``scope``: the relation the figures count over; None for the role's (``scope_of``)."""
    data = ReportData(role, window, _latest_event_time(connection))
    data.visible_customers = load_visible_customers(connection, role, team)
    scope = scope or scope_of(role)
    data.funnel = _funnel(connection, window, scope)
    data.ctre = ctre_figures(connection, window, scope)
    data.heatmap = _heatmap(connection, window, scope)
    data.breached_leads, data.sla_breaches = _sla_breaches(connection, window, scope)
    data.silent_customers = silent_customers(connection)
    data.journey_breakpoints = _organisation_table(connection, "journey_breakpoints", role)
    data.data_health = _organisation_table(connection, "data_health", role)
    return data


def _latest_event_time(connection: duckdb.DuckDBPyConnection) -> str | None:
    row = connection.execute("SELECT max(occurred_at)::VARCHAR FROM touchpoints").fetchone()
    return None if row is None else row[0]  # what ec.watermark reads, or None before any event


def _funnel(
    connection: duckdb.DuckDBPyConnection, window: Window, scope: str = VISIBLE_TABLE
) -> list[tuple[str, str, int, int]]:
    sql = f"""SELECT coalesce(stage, 'none'), channel, customers::INTEGER, followed_up_7d::INTEGER
              FROM ec.funnel_of('{scope}', ?, ?) ORDER BY ALL"""
    rows = connection.execute(sql, window.bounds()).fetchall()
    return sorted((tuple(row) for row in rows), key=_stage_order)


def _stage_order(row: tuple[str, str, int, int]) -> tuple[int, str, str]:
    return (STAGES.index(row[0]) if row[0] in STAGES else len(STAGES), row[0], row[1])


def ctre_figures(connection: duckdb.DuckDBPyConnection, window: Window, scope: str = VISIBLE_TABLE) -> CTRE:
    """CTRE of the leads the role sees in the window, as of the log's watermark (``ec.ctre_of``)."""
    rows = connection.execute(
        f"""SELECT channel, leads::INTEGER, responded::INTEGER, mean_response_hours, lead_share,
                   ctre_hours, balance_index
            FROM ec.ctre_of('{scope}', ?, ?, (SELECT as_of FROM ec.watermark))
            ORDER BY channel = '*', channel""",
        window.bounds(),
    ).fetchall()
    channels = [ChannelCTRE(r[0], r[1], r[2], float(r[3]), float(r[4])) for r in rows if r[0] != "*"]
    total = [r for r in rows if r[0] == "*"]
    if not total:
        return CTRE([], None, None)
    return CTRE(channels, float(total[0][5]), float(total[0][6]))


def _heatmap(
    connection: duckdb.DuckDBPyConnection, window: Window, scope: str = VISIBLE_TABLE
) -> list[tuple[int, int, int, float]]:
    sql = f"""SELECT weekday, hour, leads::INTEGER, mean_response_hours
              FROM ec.heatmap_of('{scope}', ?, ?, (SELECT as_of FROM ec.watermark)) ORDER BY ALL"""
    return [tuple(row) for row in connection.execute(sql, window.bounds()).fetchall()]


def _sla_breaches(
    connection: duckdb.DuckDBPyConnection, window: Window, scope: str = VISIBLE_TABLE
) -> tuple[int, Table]:
    """Breached leads (``ec.breached_leads_of``) and the escalation steps behind them."""
    row = connection.execute(
        f"SELECT count(*) FROM ec.breached_leads_of('{scope}', ?, ?)", window.bounds()
    ).fetchone()
    source = f"""
        FROM ec.breach_steps_of('{scope}', ?, ?) s
        LEFT JOIN customer_360 c ON c.customer_id = s.customer_id"""
    cursor = connection.execute(
        f"""SELECT CAST(s.customer_id AS VARCHAR) AS customer_id, c.display_name, c.owner_agent_id,
               strftime(s.deadline_at, '{TIME_FORMAT}') AS deadline_at, s.step, s.escalated_to,
               s.rule_version {source}
            ORDER BY s.deadline_at DESC, s.step LIMIT {ROW_LIMIT}""",
        window.bounds(),
    )
    columns, rows = [d[0] for d in cursor.description], cursor.fetchall()
    return int(row[0]) if row else 0, Table(columns, rows, _count(connection, source, window.bounds()))


def _count(connection: duckdb.DuckDBPyConnection, source: str, parameters: Sequence[Any]) -> int:
    row = connection.execute(f"SELECT count(*) {source}", list(parameters)).fetchone()
    return int(row[0]) if row else 0


def _organisation_table(connection: duckdb.DuckDBPyConnection, name: str, role: Role) -> Table | None:
    """Organisation-wide views: filtered per customer when they have one, else exec only."""
    columns = table_columns(connection, name)
    if not columns:
        return None
    if "customer_id" in columns:
        return visible_rows(connection, name)
    return visible_rows(connection, name) if role.sees_everything else None


def table_columns(connection: duckdb.DuckDBPyConnection, name: str) -> dict[str, str]:
    """Column name → type of a table or view; empty when it does not exist."""
    rows = connection.execute(
        "SELECT column_name, data_type FROM information_schema.columns "
        "WHERE table_name = ? AND table_schema = 'main' ORDER BY ordinal_position",
        [name],
    ).fetchall()
    return {row[0]: row[1] for row in rows}


def readable_columns(columns: dict[str, str], alias: str = "") -> str:
    """A select list that shows timestamps as local wall-clock text."""
    prefix = f"{alias}." if alias else ""
    return ", ".join(
        f'strftime({prefix}"{name}", \'{TIME_FORMAT}\') AS "{name}"'
        if kind.startswith("TIMESTAMP")
        else f'CAST({prefix}"{name}" AS VARCHAR) AS "{name}"'
        if kind == "UUID"
        else f'{prefix}"{name}"'
        for name, kind in columns.items()
    )


def silent_customers(connection: duckdb.DuckDBPyConnection, window: Window | None = None) -> Table:
    """The visible silent customers, longest silent first; with a bounded ``window``, those
    whose lead is in it (the board's period, as every other panel)."""
    window = window or Window()
    where, parameters = "TRUE", []
    if window.start or window.end:
        where = f"customer_id IN (SELECT customer_id FROM ec.leads WHERE {Window.condition('lead_at')})"
        parameters = window.parameters()
    return visible_rows(
        connection,
        "silent_customers",
        where=where,
        parameters=parameters,
        order_by="silent_days DESC NULLS LAST, display_name, customer_id",
    )


def visible_rows(
    connection: duckdb.DuckDBPyConnection,
    name: str,
    *,
    where: str = "TRUE",
    parameters: Sequence[Any] = (),
    order_by: str = "ALL",
) -> Table:
    """Rows of a view the role sees (all of them when it has no ``customer_id``)."""
    columns = table_columns(connection, name)
    if not columns:
        return Table([], [])
    visible = f"CAST(customer_id AS VARCHAR) IN {_VISIBLE}" if "customer_id" in columns else "TRUE"
    source = f"FROM {name} WHERE {visible} AND ({where})"
    cursor = connection.execute(
        f"SELECT {readable_columns(columns)} {source} ORDER BY {order_by} LIMIT {ROW_LIMIT}", list(parameters)
    )
    columns_shown, rows = [d[0] for d in cursor.description], cursor.fetchall()
    return Table(columns_shown, rows, _count(connection, source, parameters))
