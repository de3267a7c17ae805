"""``eventchain customers --as ROLE`` and ``eventchain customer ID --as ROLE``: the
customer 360 read paths, filtered by role (SPEC §7)."""

from __future__ import annotations

import json
import re
from typing import Any, Final

import click
import duckdb

from domain.identities import identity_key, normalise_identity
from eventchain.cli_support import audit_read, open_app, operator_option, settings_of
from eventchain.output import cell, chosen_format, emit_rows, json_value, output_options, plural
from eventchain.read_paths import ROLE, snapshot_connection, team_of
from projections.queries import Table as Rows
from projections.queries import table_columns, visible_rows
from projections.visibility import Role, load_visible_customers

LIST_COLUMNS: Final = ("customer_id", "display_name", "company", "owner_agent_id", "stage", "last_touch_at")
ID_PREFIX: Final = re.compile(r"[0-9a-fA-F][0-9a-fA-F-]{3,35}")  # 4+ characters of a customer id
CHAIN_COLUMNS: Final = ("occurred_at", "channel", "direction", "actor", "summary", "touchpoint_id")


@click.command("customers")
@click.option("--as", "role", type=ROLE, required=True, help="sales:<agent>, director:<agent> or exec.")
@click.option("--stage", help="Only customers at this stage (e.g. lead, contacted).")
@output_options
@operator_option
@click.pass_context
def customers_command(
    ctx: click.Context, role: Role, stage: str | None, output_format: str | None, as_json: bool, actor: str
) -> None:
    """List the customers a role may see, from the customer_360 view.

    \b
    Example:
      eventchain customers --as sales:a-wang
      eventchain customers --as exec --stage lead
      eventchain customers --as exec | cut -f1,2     # piped: full values, tab-separated
    """
    fmt = chosen_format(output_format, as_json)
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
    title = f"{plural(len(shown.rows), 'customer')} visible to {role}"
    emit_rows(_dicts(shown), shown.columns, fmt, title=title)
    if fmt != "table":
        click.echo(title, err=True)


@click.command("customer")
@click.argument("reference", metavar="ID")
@click.option("--as", "role", type=ROLE, required=True, help="sales:<agent>, director:<agent> or exec.")
@output_options
@operator_option
@click.pass_context
def customer_command(
    ctx: click.Context, reference: str, role: Role, output_format: str | None, as_json: bool, actor: str
) -> None:
    """Show one customer's 360 row and whole event chain (event-time order).

    ID is the customer id, a unique prefix of it (the 8 characters the demo prints),
    or one of its identities (phone:13800138000, email:li@example.cn, …). A customer
    outside the role reads as "not found". --json prints the profile and the chain;
    --format tsv/csv the chain.

    \b
    Example:
      eventchain customer phone:13800138000 --as sales:a-wang
      eventchain customer 4ba5387c --as exec --json
    """
    fmt = chosen_format(output_format, as_json)
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
    shown = _pick(chain, CHAIN_COLUMNS)
    if fmt == "json":
        profile_fields = {name: json_value(value) for name, value in zip(columns, profile, strict=True)}
        chain_rows = [{c: json_value(row[c]) for c in shown.columns} for row in _dicts(shown)]
        click.echo(json.dumps({"profile": profile_fields, "chain": chain_rows}, ensure_ascii=False))
        return
    if fmt in ("table", "tsv"):  # csv is the chain alone, for spreadsheets
        for name, value in zip(columns, profile, strict=True):
            click.echo(f"{name}: {cell(value)}")
    title = f"chain: {plural(len(shown.rows), 'touchpoint')}"
    if fmt != "table":
        click.echo(title, err=True)
    emit_rows(_dicts(shown), shown.columns, fmt, title=title)


def _dicts(rows: Rows) -> list[dict[str, Any]]:
    return [dict(zip(rows.columns, row, strict=True)) for row in rows.rows]


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
    elif ID_PREFIX.fullmatch(reference.strip()) and len(reference.strip()) < 36:
        prefix = reference.strip().lower()
        rows = visible_rows(
            connection,
            "customer_360",
            where="starts_with(CAST(customer_id AS VARCHAR), ?)",
            parameters=[prefix],
            order_by="ALL",
        )
        if len(rows.rows) > 1:  # among the customers the role sees: nothing leaks
            raise click.ClickException(
                f"customer id prefix {prefix} matches {len(rows.rows)} customers: give more characters"
            )
        return rows.rows[0] if rows.rows else None
    else:
        where, parameter = "CAST(customer_id AS VARCHAR) = lower(?)", reference.strip()
    rows = visible_rows(connection, "customer_360", where=where, parameters=[parameter], order_by="ALL")
    return rows.rows[0] if rows.rows else None


def _pick(rows: Rows, wanted: tuple[str, ...]) -> Rows:
    positions = [rows.columns.index(c) for c in wanted if c in rows.columns]
    return Rows([rows.columns[p] for p in positions], [tuple(r[p] for p in positions) for r in rows.rows])


def register(group: click.Group) -> None:
    group.add_command(customers_command)
    group.add_command(customer_command)
