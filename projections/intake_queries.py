"""What the director's board shows of the intake ledger and the CRM health check: selections
from ``ec.intake_by_channel_of`` and ``crm_health`` (projections/schema.py), nothing re-derived.
Both are company figures without personal data; the health rows are narrowed to the team."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any, Final

import duckdb

INTAKE_DAYS: Final = 7  # the board shows the last week of the ledger


def intake_panel(connection: duckdb.DuckDBPyConnection, today: date, team: str | None) -> dict[str, Any]:
    """The last INTAKE_DAYS days of the ledger per channel and day (newest first), and the
    CRM health rows of the latest month: ``team``'s and the company's ('*'); None: every team."""
    cursor = connection.execute(
        "SELECT channel, day, received, recorded, duplicates, dead_lettered, held, sent, gap, adds_up "
        "FROM ec.intake_by_channel_of(?, DATE '9999-12-31', NULL) ORDER BY day DESC, channel",
        [today - timedelta(days=INTAKE_DAYS - 1)],
    )
    columns = [name for name, *_ in cursor.description]
    intake = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    cursor = connection.execute(
        "SELECT month, team, indicator, value, threshold, status FROM crm_health "
        "WHERE month = (SELECT max(month) FROM crm_health) AND (? IS NULL OR team IN (?, '*')) "
        "ORDER BY status = 'ok', team, indicator",
        [team, team],
    )
    columns = [name for name, *_ in cursor.description]
    health = [dict(zip(columns, row, strict=True)) for row in cursor.fetchall()]
    return {"intake": intake, "health": health}
