"""``eventchain erase``, ``eventchain keygen`` and ``eventchain keys rotate``: personal-data
erasure and the key-encryption key (SPEC §7, docs/privacy.md)."""

from __future__ import annotations

import os
from datetime import datetime
from pathlib import Path

import click

from adapters.crypto import KEK_ENV, KeyError_, new_kek, parse_kek
from adapters.derived_files import settle
from adapters.nats import NatsNames
from application.erasure import (
    ErasureError,
    Receipt,
    defer_purges,
    dry_run_receipt,
    erasable,
    erase,
    receipt,
    receipt_lines,
    record_receipt,
)
from application.event_chain import CustomerNotFoundError, EventChain
from application.stream_purge import (
    NOTIFICATIONS_STREAM,
    ErasedParty,
    PurgeTarget,
    StreamPurge,
    purge_streams,
)
from eventchain.cli_support import open_app, operator_option, settings_of
from eventchain.config import Settings
from eventchain.nats_support import nats_url
from replay.rebuild import RebuildRunningError, build_views, rebuild

NEW_KEK_ENV = "EVENTCHAIN_NEW_KEK"


@click.command("erase")
@click.argument("customer")
@click.option("--reason", required=True, help="The request being honoured, e.g. 'PIPL Art. 47 request #12'.")
@click.option(
    "--dry-run",
    is_flag=True,
    help="Show what would be erased and which stream messages deleted; change nothing.",
)
@operator_option
@click.pass_context
def erase_command(ctx: click.Context, customer: str, reason: str, dry_run: bool, actor: str) -> None:
    """Erase a customer's personal data (and of every customer merged into it).

    Destroys their data keys, so names, phones, emails and texts in the stored events can
    never be read again; releases their identities (a new touchpoint from the same phone
    starts a new customer); appends PersonalDataErased; deletes their messages from the
    NATS streams (raw touchpoints, dead letters, notifications) — only theirs, matched by
    touchpoint id, customer-id header or identities, never by free text; messages ingest has
    not recorded yet are deferred and purged by `serve` once recorded; unreadable dead letters
    that mention them are quarantined for you to decide. Rewrites the views and the analyst
    snapshot into fresh files; regenerates or removes the as-of rebuilds, exports and reports
    that hold them. Prints a receipt with every message id (also appended to
    DATA_DIR/erasures.jsonl). Then rotate the key-encryption key: `eventchain keys rotate`.

    \b
    Example:
      eventchain erase phone:13800138000 --reason "PIPL request 2026-118" --dry-run
      eventchain erase phone:13800138000 --reason "PIPL request 2026-118" --actor dpo-li
    """
    settings = settings_of(ctx)
    app = open_app(ctx, require_kek=True)
    try:
        target = erasable(app, customer)
        if dry_run:
            purges, streams_error = _purge_streams(settings, target.party, dry_run=True)
            entry = dry_run_receipt(
                target, at=app.clock(), actor=actor, reason=reason, purges=purges, streams_error=streams_error
            )
            _print(entry)
            return
        erasure = erase(app, customer, reason, actor)
    except (CustomerNotFoundError, ErasureError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    purges, streams_error = _purge_streams(settings, erasure.party)
    defer_purges(app, erasure, purges, NatsNames())
    views = _rewrite_views(app, settings)

    def regenerate(path: Path, as_of: datetime) -> None:
        build_views(app, path, as_of=as_of)  # the erased customer now reads as erased

    derived = settle(settings.data_dir, erasure.party.mentioned_in, regenerate)
    entry = receipt(
        erasure,
        erased_at=app.clock(),
        actor=actor,
        reason=reason,
        purges=purges,
        streams_error=streams_error,
        views=views,
        derived=derived,
    )
    record_receipt(settings.data_dir, entry)
    _print(entry)


def _print(entry: Receipt) -> None:
    for line in receipt_lines(entry):
        click.echo(line, err=line.startswith("warning"))


def _purge_streams(
    settings: Settings, party: ErasedParty, *, dry_run: bool = False
) -> tuple[list[StreamPurge], str | None]:
    """Purges the ingest, dead-letter and notification streams; a NATS outage is reported,
    the store erasure stands (run erase again to purge)."""
    if not settings.nats_url and not (settings.data_dir / "nats").is_dir():
        return [], None  # this data dir never ran a local NATS, and none is configured
    names = NatsNames()
    targets = [
        PurgeTarget(names.stream, consumer=names.durable),
        PurgeTarget(names.dlq_stream),
        PurgeTarget(NOTIFICATIONS_STREAM, headers_only=True),
    ]
    try:
        with nats_url(settings) as url:
            return purge_streams(url, targets, party, dry_run=dry_run), None
    except Exception as error:  # any NATS failure: say so in one line
        return [], str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__


def _rewrite_views(app: EventChain, settings: Settings) -> list[Path]:
    """Rebuilds the views into a fresh file and republishes the snapshot from it: the old
    files' freed pages may still hold the plaintext the projector once wrote."""
    if not settings.views_path.exists():
        return []
    try:
        rebuild(app, settings.views_path, settings.snapshot_path)
    except RebuildRunningError as error:  # its result is built after the erasure: still say so
        click.echo(f"warning: views not rewritten ({error}); run `eventchain replay rebuild`", err=True)
        return []
    return [settings.views_path, settings.snapshot_path]


@click.command("keygen")
def keygen_command() -> None:
    """Print a new key-encryption key for EVENTCHAIN_KEK (keep it in your secret store).

    \b
    Example:
      export EVENTCHAIN_KEK=$(eventchain keygen)
    """
    click.echo(new_kek())


@click.group("keys")
def keys_group() -> None:
    """The key-encryption key's life: rotate it after erasures (docs/privacy.md).

    \b
    Example:
      EVENTCHAIN_NEW_KEK=$(eventchain keygen) eventchain keys rotate
    """


@keys_group.command("rotate")
@click.pass_context
def rotate_command(ctx: click.Context) -> None:
    """Re-wrap every live data key under the key in EVENTCHAIN_NEW_KEK.

    Stop `serve` and other writers first. Afterwards set EVENTCHAIN_KEK to the new key and
    destroy the old one: the keys of erased customers left in the store's WAL, free pages
    and backups were wrapped under the old key and can then never be unwrapped.

    \b
    Example:
      EVENTCHAIN_NEW_KEK=$(eventchain keygen) eventchain keys rotate
    """
    try:
        new_key = parse_kek(os.environ.get(NEW_KEK_ENV))
    except KeyError_ as error:
        raise click.ClickException(str(error).replace(KEK_ENV, NEW_KEK_ENV, 1)) from None
    app = open_app(ctx, require_kek=True)
    assert app.keys is not None
    try:
        count = app.keys.rotate(new_key)
    except KeyError_ as error:
        raise click.ClickException(str(error)) from None
    click.echo(
        f"re-wrapped {count} data keys at {datetime.now().astimezone().isoformat(timespec='seconds')}; "
        f"now set {KEK_ENV} to the new key everywhere and destroy the old one"
    )


def register(group: click.Group) -> None:
    group.add_command(erase_command)
    group.add_command(keygen_command)
    group.add_command(keys_group)
