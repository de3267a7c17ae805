"""``eventchain team invite AGENT``: a web workspace account for a roster agent."""

from __future__ import annotations

import click

from domain.accounts import AccountError
from eventchain.cli_support import open_app, settings_of
from eventchain.commands.rules import team_group


@team_group.command("invite")
@click.argument("agent_id")
@click.option(
    "--exec",
    "grant_exec",
    is_flag=True,
    help="Operator's grant: this account signs in with the exec role (sees every customer).",
)
@click.option(
    "--link",
    is_flag=True,
    help="Print a one-time link (valid 24 h) with which the agent sets their own password, "
    "instead of an initial password.",
)
@click.option("--actor", default="operator", show_default=True, help="Who issues the invitation.")
@click.pass_context
def invite_command(ctx: click.Context, agent_id: str, grant_exec: bool, link: bool, actor: str) -> None:
    """Create AGENT_ID's workspace account (or reset its password) and print the initial
    password once — or, with --link, a one-time link to set one; only an argon2 hash (of a
    link: a SHA-256) is stored. The role comes from the roster: an agent others report to
    signs in as director of their team, everyone else as sales.

    \b
    Example:
      eventchain team invite a-wang
      eventchain team invite a-li --link
      eventchain team invite d-qian --exec --actor ops-liu
    """
    from application.accounts import invite, invite_link

    host = settings_of(ctx).web_addr
    try:
        if link:
            token = invite_link(open_app(ctx), agent_id, actor, grant_exec=grant_exec)
        else:
            password = invite(open_app(ctx), agent_id, actor, grant_exec=grant_exec)
    except AccountError as error:
        raise click.ClickException(str(error)) from None
    if link:
        click.echo(f"http://{host}/welcome/{agent_id}/{token}")
        click.echo(f"{agent_id}: one-time link, valid 24 h; a new invite replaces it", err=True)
        return
    click.echo(f"{agent_id}: initial password {password}")
    click.echo(f"sign in at http://{host}/login (shown once; run invite again to reset it)")


def register(group: click.Group) -> None:
    """``invite`` joins the ``team`` group defined in ``rules``; nothing to add at top level."""
