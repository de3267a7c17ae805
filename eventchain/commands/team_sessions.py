"""``eventchain team sessions list|end|release``: who is signed in to the workspace, ending an
agent's sessions, releasing sign-ins a read alert held (issue 29). The sessions are in the
store's database, so what this does is seen by every `serve` on its next request."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import click

from domain.sessions import Session
from eventchain.cli_support import open_app, operator_option
from eventchain.commands.rules import team_group
from eventchain.output import chosen_format, emit_rows, instant, output_options

COLUMNS = (
    "agent_id",
    "issued_at",
    "last_seen_at",
    "client",
    "device",
    "ended_at",
    "ended_reason",
    "key",
    "state",
)


@team_group.group("sessions")
def sessions_group() -> None:
    """Workspace sessions: list them, end an agent's, release held sign-ins.

    \b
    Example:
      eventchain team sessions list
      eventchain team sessions list a-wang --days 7
      eventchain team sessions end a-wang --actor ops-liu
      eventchain team sessions release a-wang --actor m-zhao
    """


@sessions_group.command("list")
@click.argument("agent_id", required=False)
@click.option(
    "--days",
    type=click.IntRange(min=1),
    default=None,
    help="Every sign-in of the last N days, ended ones too.",
)
@output_options
@click.pass_context
def list_command(
    ctx: click.Context, agent_id: str | None, days: int | None, output_format: str | None, as_json: bool
) -> None:
    """Open sessions (with --days: all sign-ins of those days, with how each ended), newest
    first; instants in EVENTCHAIN_TIMEZONE (China time unless set). A session the clock ended
    (8 h after sign-in, 2 h idle) is not open. Rows over for 90 days are pruned at sign-in.

    \b
    Example:
      eventchain team sessions list
      eventchain team sessions list a-wang --days 7 --json
    """
    from adapters.sessions import SessionTable
    from application.sessions import open_sessions
    from domain.sessions import SessionPolicy, expiry_of

    app = open_app(ctx)
    table = SessionTable(app.recorder)
    now, policy = app.clock(), SessionPolicy()
    open_only = days is None
    if open_only:  # the ones that still let requests through: expired by the clock left out
        agents = [agent_id] if agent_id else sorted({s.agent_id for s in table.all_sessions(open_only=True)})
        sessions = open_sessions(app, table, agents, policy)
    else:
        since = now - timedelta(days=days or 0)
        sessions = table.sessions_of([agent_id], since=since) if agent_id else table.all_sessions(since=since)
    rows = [{**asdict(s), "state": _state(s, expiry_of(s, now, policy))} for s in sessions]
    if not rows and not (output_format or as_json):
        click.echo("no sessions")
        return
    chosen = chosen_format(output_format, as_json)
    if chosen == "table":  # for a person: no session key; the state says how it ended
        shown = [c for c in COLUMNS if c not in ("key", "ended_at", "ended_reason")]
        emit_rows(rows, shown, chosen)
    else:
        emit_rows(rows, COLUMNS, chosen)


def _state(session: Session, expired: str | None) -> str:
    """``open``; ``ended: <why>``; or ``over: idle|expired`` when the clock ended it unseen."""
    if session.ended_at is not None:
        return f"ended {instant(session.ended_at)}: {session.ended_reason}"
    return f"over: {expired}" if expired else "open"


@sessions_group.command("end")
@click.argument("agent_id")
@operator_option
@click.pass_context
def end_command(ctx: click.Context, agent_id: str, actor: str) -> None:
    """End every session of AGENT_ID: their next request, in every process, goes to sign-in.

    \b
    Example:
      eventchain team sessions end a-wang --actor ops-liu
    """
    from adapters.sessions import SessionTable
    from application.sessions import end_sessions_of

    app = open_app(ctx)
    ended = end_sessions_of(app, SessionTable(app.recorder), agent_id, ended_by=actor)
    click.echo(f"{agent_id}: {ended.count} session{'s' if ended.count != 1 else ''} ended")


@sessions_group.command("release")
@click.argument("agent_id")
@operator_option
@click.pass_context
def release_command(ctx: click.Context, agent_id: str, actor: str) -> None:
    """Let AGENT_ID sign in again after a read alert held their sign-ins.

    \b
    Example:
      eventchain team sessions release a-wang --actor m-zhao
    """
    from application.sessions import release_sign_ins

    if not release_sign_ins(open_app(ctx), agent_id, actor):
        raise click.ClickException(f"no workspace account for {agent_id} (eventchain team invite)")
    click.echo(f"{agent_id}: sign-ins released")


def register(group: click.Group) -> None:
    """``sessions`` joins the ``team`` group defined in ``rules``; nothing to add at top level."""
