"""``eventchain demo``: the main job end to end on embedded defaults."""

from __future__ import annotations

import asyncio
import dataclasses
import json
import threading

import click
from rich.console import Console
from rich.table import Table

from adapters.crypto import new_kek, parse_kek
from adapters.nats import PublishResult, publish_envelopes, wait_until
from application.event_chain import EventChain
from domain.customer import Customer
from domain.touchpoints import decode_touchpoint
from eventchain.cli_support import open_app, settings_of
from eventchain.config import Settings
from eventchain.demo_routing import setup_and_route
from eventchain.demo_views import project_and_show
from eventchain.ingest_worker import IngestWorker, WorkerStats
from eventchain.nats_support import nats_url
from eventchain.output import minute, zone_caption
from eventchain.scenarios import seed_touchpoints

SHOWCASE_CUSTOMER = "phone:13800138000"


@click.command("demo")
@click.option(
    "--customers",
    default=40,
    show_default=True,
    type=click.IntRange(1, 100_000),
    help="Generated customers on top of the hand-written seed stories.",
)
@click.pass_context
def demo_command(ctx: click.Context, customers: int) -> None:
    """Run the seed scenarios end to end and print what the service knows.

    Records a web form, Douyin DMs, expo scans with GPS, a 400 call summary, an
    engineer's log upload, WeCom messages and sales responses for several customers,
    then prints one customer's whole chain, and the funnel and CTRE from the views.

    \b
    Example:
      eventchain --data-dir /tmp/ec demo --customers 200
    """
    console = Console()
    settings = _with_demo_kek(ctx, console)
    app = open_app(ctx)
    envelopes = [json.dumps(e, ensure_ascii=False).encode() for e in seed_touchpoints(customers)]
    with nats_url(settings) as url:
        published, stats = publish_and_consume(app, url, envelopes)
    console.print(
        f"[bold]published[/] {published.published} touchpoints to NATS JetStream ({url}; "
        f"{published.duplicates} dropped as repeats inside the duplicate window); the ingest worker "
        f"recorded {stats.recorded} ({stats.duplicates} already stored) in {stats.batches} store transactions"
    )
    setup_and_route(console, app)
    print_chain(console, app.find_customer(SHOWCASE_CUSTOMER))
    project_and_show(console, app, settings)


def _with_demo_kek(ctx: click.Context, console: Console) -> Settings:
    """The demo runs on embedded defaults: without EVENTCHAIN_KEK it makes a demo key under
    the data directory (never in the repository) so personal data is encrypted as in production."""
    settings = settings_of(ctx)
    if settings.kek is not None:
        return settings
    key_file = settings.data_dir / "demo.kek"
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    if not key_file.exists():
        key_file.write_text(new_kek())
        key_file.chmod(0o600)
    console.print(
        f"[dim]EVENTCHAIN_KEK not set: using the demo key in {key_file} (set your own in production)[/]"
    )
    settings = dataclasses.replace(settings, kek=parse_kek(key_file.read_text()))
    ctx.find_root().obj = settings
    return settings


def publish_and_consume(
    app: EventChain, url: str, envelopes: list[bytes]
) -> tuple[PublishResult, WorkerStats]:
    """Publishes the envelopes as a channel would and runs an ingest worker until every
    one is committed (and acked)."""
    pairs = [(decode_touchpoint(raw), raw) for raw in envelopes]
    result = asyncio.run(publish_envelopes(url, pairs))
    published = result.published  # repeats inside the duplicate window are dropped by JetStream
    worker = IngestWorker(app, url)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        done = wait_until(lambda: worker.stats.recorded + worker.stats.duplicates >= published, timeout=120)
    finally:
        stop.set()
        thread.join(timeout=30)
    if not done:
        raise click.ClickException(
            f"only {worker.stats.recorded} of {published} touchpoints arrived in 120 s"
        )
    return result, worker.stats


def print_chain(console: Console, customer: Customer) -> None:
    table = Table(
        title=f"Customer {customer.profile_value('name')} · "
        f"{customer.profile_value('company')} · {customer.id}",
        caption=zone_caption(),
    )
    for column in ("occurred at", "channel", "direction", "actor"):
        table.add_column(column, no_wrap=True)
    table.add_column("summary", overflow="fold")  # Chinese text has no spaces to wrap at
    for facts in customer.chain:
        table.add_row(
            minute(facts.occurred_at),
            facts.channel,
            facts.direction,
            facts.actor or "",
            facts.summary,
        )
    console.print(table)
    console.print("identities: " + ", ".join(sorted(customer.identity_keys)))


def register(group: click.Group) -> None:
    group.add_command(demo_command)
