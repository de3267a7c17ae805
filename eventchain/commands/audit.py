"""``eventchain correct`` and ``eventchain history``: the audit trail is the event log."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import click

from adapters.log_reader import aggregate_fields
from application.dlq import list_actions
from application.event_chain import CustomerNotFoundError, EventChain
from application.read_audit import list_reads
from domain.customer import PROFILE_FIELDS, Customer
from eventchain.cli_support import audit_read, open_app, operator_option, settings_of
from eventchain.output import chosen_format, emit_rows, output_options, plural
from eventchain.read_paths import EVENT_TIME, as_role, snapshot_connection, team_of
from projections.visibility import Role, visible_customer_ids

# What each event says about who did it, for the history listing.
_WHO = ("actor", "author", "agent_id")


@click.command("correct")
@click.argument("customer")
@click.argument("field", type=click.Choice(PROFILE_FIELDS))
@click.argument("value")
@click.option("--reason", required=True, help="Why the old value was wrong.")
@click.option("--actor", required=True, help="Who corrects it.")
@click.pass_context
def correct_command(
    ctx: click.Context, customer: str, field: str, value: str, reason: str, actor: str
) -> None:
    """Correct a profile field by appending an event (nothing is edited in place).

    \b
    Example:
      eventchain correct phone:13800138000 company 杭州某智能硬件股份有限公司 \
        --reason "renamed" --actor a-wang
    """
    app = open_app(ctx)
    try:
        target = app.correct_profile(customer, field, value, reason, actor)
    except (CustomerNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{field} of {target.id} corrected by {actor}")


@click.command("history")
@click.argument("customer")
@as_role
@operator_option
@click.pass_context
def history_command(ctx: click.Context, customer: str, role: Role, actor: str) -> None:
    """Who did what and when to a customer, read from its events. CUSTOMER is an id, a
    unique prefix of it, or an identity.

    \b
    Example:
      eventchain history phone:13800138000
      eventchain history 4ba5387c-155c-547c-86a0-f0c41daddff4 --as sales:a-wang
    """
    app = open_app(ctx)
    try:
        target = app.find_customer(customer)
    except CustomerNotFoundError as error:
        raise click.ClickException(str(error)) from None
    if not role.sees_everything:
        with snapshot_connection(settings_of(ctx).snapshot_path) as connection:
            if str(target.id) not in visible_customer_ids(connection, role, team_of(role)):
                raise click.ClickException(f"customer not found: {customer}")
    lines = history_lines(app, target)
    audit_read(ctx, app, role=role, action="history", subject=str(target.id), rows=1)
    for line in lines:
        click.echo(line)


@click.group("audit")
def audit_group() -> None:
    """The audit trails kept in the store: who read which personal data (reads), who
    re-drove or dropped which dead letter (dlq).

    \b
    Example:
      eventchain audit reads --since 2026-03-01
      eventchain audit dlq
    """


@audit_group.command("reads")
@click.option("--since", type=EVENT_TIME, help="Only reads from this instant on (UTC+8 if naive).")
@click.option("--by", "by_actor", help="Only reads by this actor.")
@output_options
@click.pass_context
def reads_command(
    ctx: click.Context,
    since: datetime | None,
    by_actor: str | None,
    output_format: str | None,
    as_json: bool,
) -> None:
    """Who read which personal data, when, through which role, and how many customers.

    Every read path that returns personal data (customer, customers, export, report,
    history, duplicates, what-if, the web workspace) appends one entry to the store.

    \b
    Example:
      eventchain audit reads --since 2026-03-01 --by a-wang
    """
    app = open_app(ctx)
    if output_format or as_json:
        rows = [
            {
                "read_at": e.read_at,
                "actor": e.actor,
                "role": e.role,
                "via": e.via,
                "action": e.action,
                "subject": e.subject,
                "rows": e.rows,
            }
            for e in list_reads(app, since=since, actor=by_actor)
        ]
        columns = ("read_at", "actor", "role", "via", "action", "subject", "rows")
        emit_rows(rows, columns, chosen_format(output_format, as_json))
        click.echo(plural(len(rows), "read"), err=True)
        return
    count = 0
    for entry in list_reads(app, since=since, actor=by_actor):
        count += 1
        click.echo(
            f"{entry.read_at.isoformat(timespec='seconds')}  {entry.actor}  {entry.role}  {entry.via}  "
            f"{entry.action}  {entry.subject}  {entry.rows} rows"
        )
    click.echo(plural(count, "read"), err=True)


@audit_group.command("dlq")
@click.option("--since", type=EVENT_TIME, help="Only actions from this instant on (UTC+8 if naive).")
@output_options
@click.pass_context
def dlq_actions_command(
    ctx: click.Context, since: datetime | None, output_format: str | None, as_json: bool
) -> None:
    """Who retried or dropped which dead letter, when, why it had been rejected, and
    whether its bytes were fixed first (sha256 of the fix).

    \b
    Example:
      eventchain audit dlq --since 2026-03-01
    """
    fmt = chosen_format(output_format, as_json)
    rows = [
        {
            "acted_at": event.acted_at,
            "actor": event.actor,
            "action": event.action,
            "sequence": event.sequence,
            "channel": event.channel,
            "msg_id": event.msg_id,
            "reason": event.reason,
            "republished_as": event.republished_as or None,
            "fix_sha256": event.fix_sha256,
            "note": event.note,
        }
        for event in list_actions(open_app(ctx), since=since)
    ]
    emit_rows(rows, DLQ_ACTION_COLUMNS, fmt, title="dead-letter actions")
    click.echo(plural(len(rows), "action"), err=True)


DLQ_ACTION_COLUMNS = (
    "acted_at",
    "actor",
    "action",
    "sequence",
    "channel",
    "msg_id",
    "reason",
    "republished_as",
    "fix_sha256",
    "note",
)


def history_lines(app: EventChain, customer: Customer) -> list[str]:
    lines: list[tuple[str, int, str]] = []
    ids = [customer.id, *customer.absorbed_from]
    for customer_id, version, qualname, fields in aggregate_fields(app, ids):
        when = str(fields.get("timestamp", "?"))
        kind = qualname.rpartition(".")[2]
        who = next((f"{k}={fields[k]}" for k in _WHO if fields.get(k)), "")
        detail = _detail(kind, fields)
        text = f"{when}  {str(customer_id)[:8]} v{version}  {kind}  {who}  {detail}"
        lines.append((when, version, text.rstrip()))
    return [text for _, _, text in sorted(lines)]


def _detail(kind: str, fields: dict[str, Any]) -> str:
    if kind == "TouchpointRecorded":
        return f"{fields['channel']} {fields['direction']} {fields['touchpoint_id']}"
    if kind == "Corrected":
        return f"{fields['field']} := {fields['value']!r} ({fields['reason']})"
    if kind == "LeadAssigned":
        return f"{fields['matched_step']} v{fields['rule_version']}: {fields['reason']}"
    if kind in {"MergedInto", "Absorbed", "Unmerged", "Restored", "StageChanged"}:
        return str(fields.get("reason") or fields.get("stage") or "")
    if kind == "FirstResponseOverdue":
        return f"step {fields['step']} → {fields['escalated_to']}"
    return ""


def register(group: click.Group) -> None:
    group.add_command(correct_command)
    group.add_command(history_command)
    group.add_command(audit_group)
