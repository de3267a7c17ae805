"""``eventchain dlq list|show|retry|drop``: the dead letters of ingest (SPEC §9)."""

from __future__ import annotations

import asyncio
import json
import sys
from collections.abc import Awaitable, Callable
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import click

from adapters.nats import IngestConfig, NatsNames, connect
from application.dlq import (
    DeadLetter,
    DeadLetterFilter,
    DeadLetterNotFoundError,
    DuplicateWithinWindowError,
    TruncatedDeadLetterError,
    drop_dead_letter,
    get_dead_letter,
    list_dead_letters,
    record_action,
    retry_dead_letter,
)
from application.event_chain import EventChain
from domain.touchpoints import CHANNELS, RejectedTouchpointError, channel_of, decode_touchpoint
from eventchain.cli_support import audit_read, open_app, operator_option, quiet_connection_logs, settings_of
from eventchain.nats_support import nats_url
from eventchain.output import chosen_format, emit_rows, instant, json_value, output_options, plural
from eventchain.read_paths import EVENT_TIME
from projections.visibility import parse_role

LIST_COLUMNS = ("sequence", "stored_at", "channel", "msg_id", "deliveries", "path", "reason")
T = TypeVar("T")


def filter_options(function: Callable[..., Any]) -> Callable[..., Any]:
    for option in reversed(
        (
            click.option(
                "--channel",
                type=click.Choice([*CHANNELS, "unknown"]),
                help="Only dead letters of this channel (unknown: published on no channel's subject).",
            ),
            click.option(
                "--reason", "reason_text", help="Only those whose reason or path contains this text."
            ),
            click.option(
                "--since", type=EVENT_TIME, help="Only those dead-lettered at or after this instant."
            ),
            click.option("--until", type=EVENT_TIME, help="Only those dead-lettered before this instant."),
        )
    ):
        function = option(function)
    return function


def selection_options(function: Callable[..., Any]) -> Callable[..., Any]:
    """SEQUENCE… or the filters or --all: which dead letters retry and drop act on."""
    function = click.option(
        "--all", "every", is_flag=True, help="Every dead letter (with no sequence or filter)."
    )(function)
    function = filter_options(function)
    return click.argument("sequences", type=click.IntRange(min=1), nargs=-1)(function)


def _on_nats(ctx: click.Context, work: Callable[[Any, NatsNames], Awaitable[T]]) -> T:
    """Runs ``work(js, names)`` on the configured NATS (or the local one under the data dir,
    started for the command if `serve` is not running)."""
    quiet_connection_logs()
    names = IngestConfig().names

    async def run(url: str) -> T:
        nc = await asyncio.wait_for(connect(url, name="eventchain-dlq", forever=False), timeout=10)
        try:
            return await work(nc.jetstream(), names)
        finally:
            await nc.close()

    with nats_url(settings_of(ctx)) as url:
        return asyncio.run(run(url))


@click.group("dlq")
def dlq_group() -> None:
    """Dead letters: touchpoints ingest rejected, kept in TOUCHPOINTS_DLQ for 30 days.

    List and inspect them, re-drive them (as they were, or after fixing the bytes) with
    their original Nats-Msg-Id, or drop them. Every retry and drop is recorded in the
    store (eventchain audit dlq); list and show are recorded as reads (eventchain audit reads).

    \b
    Example:
      eventchain dlq list --channel web_form --reason form_id
      eventchain dlq show 12 --body > fix.json     # edit fix.json, then
      eventchain dlq retry 12 --fix fix.json
      eventchain dlq drop --reason "test data" --channel douyin_dm --note "load test"
    """


@dlq_group.command("list")
@filter_options
@output_options
@operator_option
@click.pass_context
def list_command(
    ctx: click.Context,
    channel: str | None,
    reason_text: str | None,
    since: datetime | None,
    until: datetime | None,
    output_format: str | None,
    as_json: bool,
    actor: str,
) -> None:
    """List dead letters, oldest first: sequence, when, channel, Nats-Msg-Id, deliveries,
    the rejected field's path and why.

    \b
    Example:
      eventchain dlq list
      eventchain dlq list --since 2026-03-01 --reason "timestamp" --json
    """
    fmt = chosen_format(output_format, as_json)
    only = DeadLetterFilter(channel, reason_text, since, until)
    app = open_app(ctx)
    letters = _on_nats(ctx, lambda js, names: list_dead_letters(js, names, only))
    emit_rows([letter.summary() for letter in letters], LIST_COLUMNS, fmt, title="dead letters")
    _audit(ctx, app, "dlq list", _describe(only), len(letters))
    click.echo(plural(len(letters), "dead letter"), err=True)


@dlq_group.command("show")
@click.argument("sequence", type=click.IntRange(min=1))
@click.option("--body", "body_only", is_flag=True, help="Print only the original bytes (to fix and --fix).")
@output_options
@operator_option
@click.pass_context
def show_command(
    ctx: click.Context, sequence: int, body_only: bool, output_format: str | None, as_json: bool, actor: str
) -> None:
    """Show one dead letter: its headers (reason, path, deliveries, original subject,
    sequence and Nats-Msg-Id) and the original bytes.

    \b
    Example:
      eventchain dlq show 12
      eventchain dlq show 12 --body > fix.json
    """
    fmt = chosen_format(output_format, as_json)
    app = open_app(ctx)
    letter = _one(ctx, sequence)
    _audit(ctx, app, "dlq show", str(sequence), 1)
    if body_only:
        sys.stdout.buffer.write(letter.data)
        sys.stdout.buffer.flush()
        return
    fields = _details(letter)
    if fmt == "json":
        click.echo(json.dumps(json_value(fields), ensure_ascii=False))
        return
    for key, value in fields.items():
        if key != "body":
            click.echo(f"{key}\t{value}" if fmt != "table" else f"{key.replace('_', ' '):>18}  {value}")
    click.echo(fields["body"])


def _details(letter: DeadLetter) -> dict[str, Any]:
    return {
        **letter.summary(),
        "stored_at": instant(letter.stored_at),
        "subject": letter.subject,
        "original_subject": letter.original_subject,
        "original_sequence": letter.original_sequence,
        "exception": letter.exception,
        "truncated": letter.truncated,
        "size": letter.original_size,
        "body": letter.data.decode("utf-8", "replace"),
    }


def _one(ctx: click.Context, sequence: int) -> DeadLetter:
    try:
        return _on_nats(ctx, lambda js, names: get_dead_letter(js, names, sequence))
    except DeadLetterNotFoundError as error:
        raise click.ClickException(str(error)) from None


def _check_selection(sequences: tuple[int, ...], only: DeadLetterFilter, every: bool) -> None:
    if sequences and (only.given or every):
        raise click.UsageError(
            "give sequence numbers or filters (--channel, --reason, --since, --until), not both"
        )
    if not sequences and not only.given and not every:
        raise click.UsageError("name dead letters: sequence numbers, filters, or --all for every one")


async def _selected(
    js: Any, names: NatsNames, sequences: tuple[int, ...], only: DeadLetterFilter
) -> list[DeadLetter]:
    """The dead letters named by sequence, or matching the filter (no filter: every one)."""
    if not sequences:
        return await list_dead_letters(js, names, only)
    try:
        return [await get_dead_letter(js, names, sequence) for sequence in sequences]
    except DeadLetterNotFoundError as error:
        raise click.ClickException(str(error)) from None


@dlq_group.command("retry")
@selection_options
@click.option(
    "--fix",
    "fix_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Publish this file's envelope instead of the original bytes (one dead letter only).",
)
@click.option("--note", default="", help="Why (recorded with the retry).")
@operator_option
@click.pass_context
def retry_command(
    ctx: click.Context,
    sequences: tuple[int, ...],
    channel: str | None,
    reason_text: str | None,
    since: datetime | None,
    until: datetime | None,
    every: bool,
    fix_file: Path | None,
    note: str,
    actor: str,
) -> None:
    """Re-publish dead letters to their ingest subject with their original Nats-Msg-Id,
    then delete them from the DLQ. With --fix, the file's envelope (validated first)
    replaces the original bytes. A message that fails again is dead-lettered again.

    \b
    Example:
      eventchain dlq retry 12 --fix fix.json --note "form_id was a number"
      eventchain dlq retry --reason "more than 3653 days" --note "max age raised"
    """
    only = DeadLetterFilter(channel, reason_text, since, until)
    _check_selection(sequences, only, every)
    if fix_file is not None and len(sequences) != 1:
        raise click.UsageError("--fix replaces one dead letter's bytes: name exactly one sequence")
    fixed, subject = _fixed(fix_file) if fix_file is not None else (None, None)
    app = open_app(ctx)
    config = IngestConfig()
    how = f"fixed from {fix_file}" if fix_file is not None else "as it was"

    async def work(js: Any, names: NatsNames) -> tuple[int, int]:
        letters = await _selected(js, names, sequences, only)
        failures = 0
        for letter in letters:
            try:
                retried = await retry_dead_letter(js, names, letter, config.duplicate_window, fixed, subject)
            except (DuplicateWithinWindowError, TruncatedDeadLetterError) as error:
                click.echo(f"error: {error}", err=True)
                failures += 1
                continue
            record_action(
                app,
                names,
                letter,
                actor=actor,
                action="retried",
                note=note,
                fixed_body=fixed,
                republished_as=retried.republished_as,
            )
            click.echo(
                f"retried dead letter {letter.sequence} ({letter.msg_id or 'no Nats-Msg-Id'}) {how} "
                f"on {retried.subject} as stream sequence {retried.republished_as}"
            )
        return len(letters), failures

    selected, failures = _on_nats(ctx, work)
    click.echo(f"{plural(selected - failures, 'dead letter')} retried", err=True)
    if failures:
        sys.exit(1)


def _fixed(path: Path) -> tuple[bytes, str]:
    """The fix file's envelope, validated as ingest would, and the subject its channel names."""
    body = path.read_bytes().strip()
    try:
        accepted = decode_touchpoint(body)
    except RejectedTouchpointError as error:
        raise click.ClickException(f"--fix {path}: still rejected: {error}") from None
    return body, IngestConfig().names.subject(channel_of(accepted.touchpoint))


@dlq_group.command("drop")
@selection_options
@click.option("--note", required=True, help="Why they are dropped (recorded).")
@operator_option
@click.pass_context
def drop_command(
    ctx: click.Context,
    sequences: tuple[int, ...],
    channel: str | None,
    reason_text: str | None,
    since: datetime | None,
    until: datetime | None,
    every: bool,
    note: str,
    actor: str,
) -> None:
    """Delete dead letters from the DLQ for good, with their raw originals in the ingest
    stream (the deletion erases their bytes). How a person settles what an erasure
    quarantined (eventchain erase lists their sequences).

    \b
    Example:
      eventchain dlq drop 13 --note "test message from the integrator"
      eventchain dlq drop --channel douyin_dm --until 2026-03-01 --note "before the fix"
    """
    only = DeadLetterFilter(channel, reason_text, since, until)
    _check_selection(sequences, only, every)
    app = open_app(ctx)

    async def work(js: Any, names: NatsNames) -> int:
        letters = await _selected(js, names, sequences, only)
        for letter in letters:
            try:
                await drop_dead_letter(js, names, letter)
            except DeadLetterNotFoundError as error:
                raise click.ClickException(str(error)) from None
            record_action(app, names, letter, actor=actor, action="dropped", note=note)
            click.echo(f"dropped dead letter {letter.sequence} ({letter.msg_id or 'no Nats-Msg-Id'})")
        return len(letters)

    dropped = _on_nats(ctx, work)
    click.echo(f"{plural(dropped, 'dead letter')} dropped", err=True)


def _describe(only: DeadLetterFilter) -> str:
    parts = [f"{k}={v}" for k, v in (("channel", only.channel), ("reason", only.reason)) if v]
    parts += [f"{k}={instant(v)}" for k, v in (("since", only.since), ("until", only.until)) if v]
    return " ".join(parts) or "all"


def _audit(ctx: click.Context, app: EventChain, action: str, subject: str, rows: int) -> None:
    """Dead letters hold raw envelopes (personal data of every customer): exec-level reads."""
    audit_read(ctx, app, role=parse_role("exec"), action=action, subject=subject, rows=rows)


def register(group: click.Group) -> None:
    group.add_command(dlq_group)
