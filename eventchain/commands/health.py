"""``eventchain health``: seed 003's CRM health check from the crm_health view, and an alert on
the notifications subjects for each indicator past its threshold."""

from __future__ import annotations

import asyncio
import json
from typing import Any, Final

import click

from adapters.nats import connect
from eventchain.cli_support import quiet_connection_logs, settings_of
from eventchain.nats_support import nats_url
from eventchain.output import chosen_format, emit_rows, json_value, output_options, plural
from eventchain.read_paths import snapshot_connection
from followers.notifier import NotificationNames, ensure_notification_stream

COLUMNS: Final = ("month", "team", "indicator", "value", "threshold", "status")
ALERT_KIND: Final = "crm_health"


@click.command("health")
@click.option(
    "--month",
    type=click.DateTime(formats=["%Y-%m"]),
    help="Only this month (YYYY-MM, China time); default: every month.",
)
@click.option(
    "--notify",
    is_flag=True,
    help="Publish each alert on notifications.crm_health.<team> (Nats-Msg-Id per month, team, "
    "indicator and value: a repeated check within the stream's duplicate window is dropped).",
)
@output_options
@click.pass_context
def health_command(
    ctx: click.Context, month: Any, notify: bool, output_format: str | None, as_json: bool
) -> None:
    """The CRM health check (seed 003): daily active share, stage updates on time, core-field
    completeness, intake success, mean first response, corrections — per month and team,
    against the thresholds of the rules' [crm_health]. Exit status 1 when one is in alert.

    \b
    Example:
      eventchain health --month 2026-03
      eventchain health --notify          # e.g. from cron, once a day
    """
    fmt = chosen_format(output_format, as_json)
    first = month.date().replace(day=1) if month else None
    with snapshot_connection(settings_of(ctx).snapshot_path) as connection:
        cursor = connection.execute(
            f"SELECT {', '.join(COLUMNS)} FROM crm_health WHERE ? IS NULL OR month = ? "
            "ORDER BY month, team, indicator",
            [first, first],
        )
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    alerts = [row for row in rows if row["status"] == "alert"]
    emit_rows(rows, COLUMNS, fmt, title=f"CRM health: {plural(len(alerts), 'alert')}")
    if notify and alerts:
        quiet_connection_logs()
        with nats_url(settings_of(ctx)) as url:
            asyncio.run(publish_alerts(url, alerts))
        click.echo(f"published {plural(len(alerts), 'alert')}", err=True)
    if alerts:
        ctx.exit(1)


async def publish_alerts(
    url: str, alerts: list[dict[str, Any]], names: NotificationNames | None = None
) -> None:
    names = names or NotificationNames()
    nc = await connect(url, name="eventchain-health", forever=False)
    try:
        js = nc.jetstream()
        await ensure_notification_stream(js, names)
        for alert in alerts:
            body = {"kind": ALERT_KIND, **{column: json_value(alert[column]) for column in COLUMNS}}
            # what a generic consumer (the WeCom bridge) shows as the reason
            body["reason"] = f"{alert['indicator']} {alert['value']:.4g}, threshold {alert['threshold']:.4g}"
            msg_id = (
                f"{ALERT_KIND}:{alert['month']}:{alert['team']}:{alert['indicator']}:{alert['value']:.6g}"
            )
            await js.publish(
                names.subject(ALERT_KIND, alert["team"] or "_"),
                json.dumps(body, ensure_ascii=False).encode(),
                headers={"Nats-Msg-Id": msg_id},
            )
    finally:
        await nc.close()


def register(group: click.Group) -> None:
    group.add_command(health_command)
