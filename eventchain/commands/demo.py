"""``eventchain demo``: the main job end to end on embedded defaults."""

from __future__ import annotations

import json
import tempfile
from pathlib import Path

import click
from rich.console import Console
from rich.table import Table

from adapters.application import EventChain
from domain.customer import Customer
from domain.metrics import first_response_by_channel
from domain.touchpoints import decode_touchpoint
from eventchain.cli_support import open_app, settings_of
from eventchain.demo_views import project_and_show
from eventchain.scenarios import seed_touchpoints

SHOWCASE_CUSTOMER = "phone:13800138000"


@click.command("demo")
@click.option("--customers", default=40, show_default=True, type=click.IntRange(1, 100_000),
              help="Generated customers on top of the hand-written seed stories.")
@click.pass_context
def demo_command(ctx: click.Context, customers: int) -> None:
    """Run the seed scenarios end to end and print what the service knows.

    Records a web form, Douyin DMs, expo scans with GPS, a 400 call summary, an
    engineer's log upload, WeCom messages and sales responses for several customers,
    then prints one customer's whole chain and the first-response time per channel.

    \b
    Example:
      eventchain --data-dir /tmp/ec demo --customers 200
    """
    app = open_app(ctx)
    console = Console()
    envelopes = seed_touchpoints(customers)
    with tempfile.TemporaryDirectory() as scratch:
        feed = Path(scratch) / "seed.jsonl"
        feed.write_text("\n".join(json.dumps(e, ensure_ascii=False) for e in envelopes))
        accepted = [decode_touchpoint(line) for line in feed.read_bytes().splitlines()]
    results = app.record(accepted)
    recorded = sum(r.recorded for r in results)
    console.print(
        f"[bold]recorded[/] {recorded} touchpoints ({len(envelopes) - recorded} already stored) "
        f"in {len(results)} store transactions"
    )
    print_chain(console, app.find_customer(SHOWCASE_CUSTOMER))
    print_first_response(console, app)
    project_and_show(console, app, settings_of(ctx))


def print_chain(console: Console, customer: Customer) -> None:
    table = Table(title=f"Customer {customer.profile_value('name')} · "
                        f"{customer.profile_value('company')} · {customer.id}")
    for column in ("occurred at", "channel", "direction", "actor", "summary"):
        table.add_column(column)
    for facts in customer.chain:
        table.add_row(facts.occurred_at.isoformat(timespec="minutes"), facts.channel,
                      facts.direction, facts.actor or "", facts.summary)
    console.print(table)
    console.print("identities: " + ", ".join(sorted(customer.identity_keys)))


def print_first_response(console: Console, app: EventChain) -> None:
    customers = [app.get_customer(i, follow_merges=False) for i in app.customer_ids()]
    table = Table(title="First response by first-touch channel")
    for column in ("channel", "leads", "responded", "mean response (h)"):
        table.add_column(column, justify="right")
    for row in first_response_by_channel(customers):
        mean = "—" if row.mean_response_hours is None else f"{row.mean_response_hours:.1f}"
        table.add_row(row.channel, str(row.leads), str(row.responded), mean)
    console.print(table)


def register(group: click.Group) -> None:
    group.add_command(demo_command)
