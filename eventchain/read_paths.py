"""What the read commands (report, customer, customers) share: the ``--as`` role,
event-time options, and opening the analyst snapshot with one-line errors."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final

import click
import duckdb

from domain.accounts import team_members
from projections.queries import open_views, table_columns
from projections.visibility import Role, RoleError, parse_role

CHINA_STANDARD_TIME: Final = timezone(timedelta(hours=8))


class RoleParam(click.ParamType[Role, Any]):
    name = "ROLE"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Role:
        if isinstance(value, Role):
            return value
        try:
            return parse_role(str(value))
        except RoleError as error:
            self.fail(str(error), param, ctx)


class EventTimeParam(click.ParamType[datetime, Any]):
    """An ISO date or date-time; without an offset it is read as China Standard Time."""

    name = "TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> datetime:
        if isinstance(value, datetime):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(
                f"{value!r} is not an ISO date or date-time (e.g. 2026-03-01 or 2026-03-01T09:00+08:00)",
                param,
                ctx,
            )
        return moment if moment.tzinfo else moment.replace(tzinfo=CHINA_STANDARD_TIME)


ROLE = RoleParam()
EVENT_TIME = EventTimeParam()
# `--as ROLE` for report, export, history: the operator's preview of a role, always explicit
# (no silent exec); reps and directors sign in to the web workspace instead.
as_role = click.option(
    "--as",
    "role",
    type=ROLE,
    required=True,
    help="Operator's preview of a role's view: sales:<agent>, director:<agent> or exec.",
)


def team_of(role: Role) -> list[str]:
    """The agents a director's role covers: everyone on the director's team in the roster
    (the director included), and everyone who reports to them. Empty for the other roles."""
    if role.kind != "director":
        return []
    from application.rules import roster
    from eventchain.cli_support import open_app

    agents = roster(open_app(click.get_current_context())).agents
    director = agents.get(role.agent_id or "")
    if director is None:
        raise click.UsageError(f"role {role}: no agent {role.agent_id} on the roster (eventchain team list)")
    return team_members(agents, director.agent_id)


@contextmanager
def snapshot_connection(path: Path) -> Iterator[duckdb.DuckDBPyConnection]:
    """A read-only connection to the analyst snapshot; user-facing failures are one line."""
    if not path.is_file():
        raise click.ClickException(
            f"no analyst snapshot at {path}: run `eventchain demo` or `eventchain serve` first "
            "(or pass --snapshot-path)"
        )
    try:
        connection = open_views(path)
    except duckdb.Error as error:
        raise click.ClickException(f"cannot open {path}: {_first_line(error)}") from None
    with connection:
        if not table_columns(connection, "customer_360"):
            raise click.ClickException(f"{path} has no customer_360 view: not an eventchain snapshot")
        yield connection


def _first_line(error: BaseException) -> str:
    return str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
