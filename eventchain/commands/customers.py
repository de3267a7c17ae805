"""``eventchain customers --as ROLE`` and ``eventchain customer ID --as ROLE``: the
customer 360 read paths, filtered by role (SPEC §7)."""

from __future__ import annotations

from typing import Final

import click
import duckdb
from rich import box
from rich.console import Console
from rich.table import Table

from adapters.report.queries import Table as Rows
from adapters.report.queries import table_columns, visible_rows
from domain.identities import identity_key, normalise_identity
from eventchain.cli_support import audit_read, open_app, operator_option, settings_of
from eventchain.read_paths import ROLE, snapshot_connection, team_of
from projections.visibility import Role, load_visible_customers

LIST_COLUMNS: Final = ("customer_id", "display_name", "company", "owner_agent_id", "stage", "last_touch_at")
CHAIN_COLUMNS: Final = ("occurred_at", "channel", "direction", "actor", "summary", "touchpoint_id")


@click.command("customers")
@click.option("--as", "role", type=ROLE, required=True, help="sales:<agent>, director:<agent> or exec.")
@click.option("--stage", help="Only customers at this stage (e.g. lead, contacted).")
@operator_option
@click.pass_context
def customers_command(ctx: click.Context, role: Role, stage: str | None, actor: str) -> None:
    """List the customers a role may see, from the customer_360 view.

    \b
    Example:
      eventchain customers --as sales:a-wang
      eventchain customers --as exec --stage lead
    """
    app = open_app(ctx)  # refuses a wrong or missing key-encryption key
    with snapshot_connection(settings_of(ctx).snapshot_path) as connection:
        load_visible_customers(connection, role, team_of(role))
        where, parameters = ("stage = ?", [stage]) if stage else ("TRUE", [])
        rows = visible_rows(
            connection,
            "customer_360",
            where=where,
            parameters=parameters,
            order_by="last_touch_at DESC NULLS LAST, customer_id",
        )
    shown = _pick(rows, LIST_COLUMNS)
    audit_read(ctx, app, role=role, action="customers", subject=f"stage={stage or '*'}", rows=len(shown.rows))
    _print_table(f"{len(shown.rows)} customers visible to {role}", shown)


@click.command("customer")
@click.argument("reference", metavar="ID")
@click.option("--as", "role", type=ROLE, required=True, help="sales:<agent>, director:<agent> or exec.")
@operator_option
@click.pass_context
def customer_command(ctx: click.Context, reference: str, role: Role, actor: str) -> None:
    """Show one customer's 360 row and whole event chain (event-time order).

    ID is the customer id or one of its identities (phone:13800138000,
    email:li@example.cn, …). A customer outside the role reads as "not found".

    \b
    Example:
      eventchain customer phone:13800138000 --as sales:a-wang
    """
    app = open_app(ctx)
    with snapshot_connection(settings_of(ctx).snapshot_path) as connection:
        load_visible_customers(connection, role, team_of(role))
        profile = _find(connection, reference)
        if profile is None:
            # Same words whether it does not exist or the role may not see it: no leak.
            raise click.ClickException(f"customer {reference} not found")
        customer_id = profile[profile_index(connection)]
        chain = visible_rows(
            connection,
            "touchpoints",
            where="CAST(customer_id AS VARCHAR) = ?",
            parameters=[customer_id],
            order_by="occurred_at, touchpoint_id",
        )
        columns = list(table_columns(connection, "customer_360"))
    audit_read(ctx, app, role=role, action="customer", subject=str(customer_id), rows=1)
    console = Console()
    for name, value in zip(columns, profile, strict=True):
        shown = ", ".join(map(str, value)) if isinstance(value, list) else ("" if value is None else value)
        console.print(f"[bold]{name}[/]: {shown}", highlight=False)
    _print_table("chain", _pick(chain, CHAIN_COLUMNS))


def profile_index(connection: duckdb.DuckDBPyConnection) -> int:
    return list(table_columns(connection, "customer_360")).index("customer_id")


def _find(connection: duckdb.DuckDBPyConnection, reference: str) -> tuple[object, ...] | None:
    """The visible customer_360 row for an id or identity; None when absent or not visible."""
    kind, separator, value = reference.partition(":")
    if separator:
        try:
            parameter = identity_key(kind, normalise_identity(kind, value))
        except ValueError:
            return None
        where = "list_contains(identities, ?)"
    else:
        where, parameter = "CAST(customer_id AS VARCHAR) = lower(?)", reference.strip()
    rows = visible_rows(connection, "customer_360", where=where, parameters=[parameter], order_by="ALL")
    return rows.rows[0] if rows.rows else None


def _pick(rows: Rows, wanted: tuple[str, ...]) -> Rows:
    positions = [rows.columns.index(c) for c in wanted if c in rows.columns]
    return Rows([rows.columns[p] for p in positions], [tuple(r[p] for p in positions) for r in rows.rows])


def _print_table(title: str, rows: Rows) -> None:
    table = Table(title=title, box=box.SIMPLE_HEAD)
    for column in rows.columns:
        # Ids are what the user types next (`customer ID`): never shorten them.
        whole = column in ("customer_id", "touchpoint_id", "occurred_at")
        table.add_column(column, no_wrap=whole, min_width=36 if column == "customer_id" else None)
    for row in rows.rows:
        table.add_row(*("" if v is None else str(v) for v in row))
    Console().print(table)


def register(group: click.Group) -> None:
    group.add_command(customers_command)
    group.add_command(customer_command)
