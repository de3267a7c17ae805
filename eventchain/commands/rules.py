"""``eventchain rules …`` and ``eventchain team …``: versioned rules and the sales roster."""

from __future__ import annotations

import json
import tomllib
from pathlib import Path
from typing import Any

import click

from application.rules import apply_rules, join, leave, rollback_rules, roster, ruleset, update
from domain.roster import Agent, RosterError
from domain.rules import RulesError, as_dict, diff, parse_rules
from eventchain.cli_support import open_app
from eventchain.output import chosen_format, emit_rows, output_options, plural


@click.group("rules")
def rules_group() -> None:
    """Versioned routing/SLA rules: every change is an event (diff, rollback, replay).

    \b
    Example:
      eventchain rules apply examples/rules.toml --note "seed 004 weights"
      eventchain rules diff 1 2
      eventchain rules rollback 1 --note "weights hurt Douyin"
    """


@rules_group.command("apply")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--note", required=True, help="Why this change (kept in the history).")
@click.option("--author", default="operator", show_default=True)
@click.pass_context
def apply_command(ctx: click.Context, file: Path, note: str, author: str) -> None:
    """Validate FILE (TOML) and append it as the next rules version.

    \b
    Example:
      eventchain rules apply examples/rules.toml --note "first version"
    """
    app = open_app(ctx)
    text = file.read_text(encoding="utf-8")
    try:
        document = as_dict(parse_rules(text))
        rules = ruleset(app)
        if rules.revisions and document == rules.document(rules.current):
            click.echo(f"{file} is the same as rules version {rules.current}: nothing applied")
            return
        version = apply_rules(app, text, author, note)
    except RulesError as error:
        raise click.ClickException(f"{file}: {error} (nothing was applied)") from None
    click.echo(f"rules version {version} applied")


@rules_group.command("history")
@output_options
@click.pass_context
def history_command(ctx: click.Context, output_format: str | None, as_json: bool) -> None:
    """Every version with author, time and note.

    \b
    Example:
      eventchain rules history
      eventchain rules history --json
    """
    revisions = ruleset(open_app(ctx)).revisions
    if output_format or as_json:
        rows = [
            {
                "version": r.number,
                "revised_at": r.revised_at,
                "author": r.author,
                "note": r.note,
                "rollback_of": r.rollback_of,
            }
            for r in revisions
        ]
        columns = ("version", "revised_at", "author", "note", "rollback_of")
        emit_rows(rows, columns, chosen_format(output_format, as_json))
        return
    for revision in revisions:
        rollback = f" (rollback of {revision.rollback_of})" if revision.rollback_of else ""
        click.echo(
            f"v{revision.number}  {revision.revised_at.isoformat(timespec='seconds')}  "
            f"{revision.author}: {revision.note}{rollback}"
        )


@rules_group.command("show")
@click.argument("version", type=int, required=False)
@click.pass_context
def show_command(ctx: click.Context, version: int | None) -> None:
    """Print a version's document (default: the current one) as JSON.

    \b
    Example:
      eventchain rules show 2
    """
    rules = ruleset(open_app(ctx))
    try:
        document = rules.document(version or rules.current)
    except RulesError as error:
        raise click.ClickException(str(error)) from None
    click.echo(json.dumps(document, ensure_ascii=False, indent=2))


@rules_group.command("diff")
@click.argument("a", type=int)
@click.argument("b", type=int)
@click.pass_context
def diff_command(ctx: click.Context, a: int, b: int) -> None:
    """The keys that changed from version A to B, old → new.

    \b
    Example:
      eventchain rules diff 1 2
    """
    rules = ruleset(open_app(ctx))
    if not rules.revisions:
        raise click.ClickException("no rules applied yet: eventchain rules apply FILE --note …")
    try:
        changes = diff(rules.document(a), rules.document(b))
    except RulesError as error:
        raise click.ClickException(str(error)) from None
    for path, old, new in changes:
        click.echo(f"{path}: {json.dumps(old, ensure_ascii=False)} → {json.dumps(new, ensure_ascii=False)}")
    if not changes:
        click.echo("no changes")


@rules_group.command("rollback")
@click.argument("version", type=int)
@click.option("--note", default="", help="Why.")
@click.option("--author", default="operator", show_default=True)
@click.pass_context
def rollback_command(ctx: click.Context, version: int, note: str, author: str) -> None:
    """Append a new version equal to VERSION (history stays append-only).

    \b
    Example:
      eventchain rules rollback 1 --note "back to the old weights"
    """
    try:
        new_version = rollback_rules(open_app(ctx), version, author, note)
    except RulesError as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"rules version {new_version} = version {version}")


@click.group("team")
def team_group() -> None:
    """The sales roster: join, update, leave (leaving hands customers over), list.

    \b
    Example:
      eventchain team join --file examples/team.toml
      eventchain team leave a-li --reason "resigned" --actor hr-liu
    """


@team_group.command("join")
@click.option(
    "--file",
    "file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="TOML with [[agent]] tables (agent_id, name, team, city, skills, manager, hired_on, lat, lon, "
    "capacity).",
)
@click.option("--agent", "fields", multiple=True, metavar="KEY=VALUE", help="One agent given inline.")
@click.option("--actor", default="operator", show_default=True)
@click.pass_context
def join_command(ctx: click.Context, file: Path | None, fields: tuple[str, ...], actor: str) -> None:
    """Add agents to the roster.

    \b
    Example:
      eventchain team join --file examples/team.toml
      eventchain team join --agent agent_id=a-sun --agent name=孙工 --agent team=hz --agent city=杭州
    """
    agents = (
        [_agent(a) for a in tomllib.loads(file.read_text(encoding="utf-8")).get("agent", [])] if file else []
    )
    if fields:
        agents.append(_agent(_key_values(fields)))
    if not agents:
        raise click.UsageError("give --file or --agent KEY=VALUE")
    app = open_app(ctx)
    known = roster(app).agents
    joined = unchanged = 0
    for agent in agents:
        current = known.get(agent.agent_id)
        if current is not None and current.status != "left":
            if current.as_dict() != agent.as_dict():
                raise click.ClickException(
                    f"agent {agent.agent_id} is already on the team with other details: "
                    f"change them with eventchain team update {agent.agent_id} --set KEY=VALUE"
                )
            unchanged += 1  # joining again with the same details is a no-op: files can be re-applied
            continue
        try:
            join(app, agent, actor)
        except RosterError as error:
            raise click.ClickException(str(error)) from None
        joined += 1
    already = f"; {plural(unchanged, 'agent')} already on the team unchanged" if unchanged else ""
    click.echo(f"{plural(joined, 'agent')} joined{already}")


@team_group.command("update")
@click.argument("agent_id")
@click.option("--set", "changes", multiple=True, metavar="KEY=VALUE", required=True)
@click.option("--actor", default="operator", show_default=True)
@click.pass_context
def update_command(ctx: click.Context, agent_id: str, changes: tuple[str, ...], actor: str) -> None:
    """Change an agent's fields (team, city, skills, manager, capacity, status…).

    \b
    Example:
      eventchain team update a-li --set status=away
    """
    values: dict[str, Any] = dict(c.split("=", 1) for c in changes)
    if "skills" in values:
        values["skills"] = [s for s in values["skills"].split(",") if s]
    try:
        update(open_app(ctx), agent_id, values, actor)
    except (RosterError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{agent_id} updated")


@team_group.command("leave")
@click.argument("agent_id")
@click.option("--reason", required=True)
@click.option("--actor", required=True, help="Who records the departure (kept on every handover).")
@click.pass_context
def leave_command(ctx: click.Context, agent_id: str, reason: str, actor: str) -> None:
    """An agent leaves: every customer they own is handed over to their manager, then up
    the chain of managers within each one's capacity, the rest to the pool; each as an
    event with actor and reason. Customers merged into another are skipped.

    \b
    Example:
      eventchain team leave a-li --reason resigned --actor hr-liu
    """
    try:
        handed = leave(open_app(ctx), agent_id, reason, actor)
    except RosterError as error:
        raise click.ClickException(str(error)) from None
    takers = ", ".join(f"{count} to {taker}" for taker, count in sorted(handed.items()))
    click.echo(f"{agent_id} left; {sum(handed.values())} customers handed over ({takers or 'none'})")


@team_group.command("list")
@output_options
@click.pass_context
def list_command(ctx: click.Context, output_format: str | None, as_json: bool) -> None:
    """The roster with team, city, skills, manager and status (--json or --format for
    scripts: every field of every agent).

    \b
    Example:
      eventchain team list
      eventchain team list --format csv > team.csv
    """
    agents = sorted(roster(open_app(ctx)).agents.values(), key=lambda a: a.agent_id)
    if output_format or as_json:
        rows = [agent.as_dict() for agent in agents]
        emit_rows(rows, list(rows[0]) if rows else ["agent_id"], chosen_format(output_format, as_json))
        return
    for agent in agents:
        click.echo(
            f"{agent.agent_id}  {agent.name}  team {agent.team}  {agent.city or '—'}  "
            f"skills {','.join(agent.skills) or '—'}  manager {agent.manager or '—'}  {agent.status}"
        )


@click.command("stage")
@click.argument("customer")
@click.argument("stage")
@click.option("--evidence", multiple=True, required=True, help="Touchpoint id(s) that justify the stage.")
@click.option("--actor", required=True)
@click.option("--reason", default="", help="Why.")
@click.pass_context
def stage_command(
    ctx: click.Context, customer: str, stage: str, evidence: tuple[str, ...], actor: str, reason: str
) -> None:
    """Move CUSTOMER to STAGE; the rules' gate says what evidence that stage needs.

    \b
    Example:
      eventchain stage phone:13800138000 requirement --evidence call-400-0789 --actor a-wang
    """
    from application.event_chain import CustomerNotFoundError
    from application.rules import change_stage

    try:
        change_stage(open_app(ctx), customer, stage, list(evidence), actor, reason)
    except (RulesError, CustomerNotFoundError, ValueError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"{customer} is now in stage {stage}")


def _agent(data: dict[str, Any]) -> Agent:
    try:
        return Agent.from_dict(data)
    except KeyError as error:  # name the missing field, not the bare key repr
        raise click.BadParameter(f"agent {data.get('agent_id', '?')}: missing field {error}") from None
    except (ValueError, TypeError) as error:
        raise click.BadParameter(f"agent {data.get('agent_id', '?')}: {error}") from None


def _key_values(pairs: tuple[str, ...]) -> dict[str, Any]:
    """``--agent key=value`` pairs; skills are comma-separated (a bare string would be split
    into characters by the Agent's tuple field)."""
    values: dict[str, Any] = {}
    for pair in pairs:
        key, sep, value = pair.partition("=")
        if not sep:
            raise click.BadParameter(f"--agent {pair!r}: expected KEY=VALUE")
        values[key] = [s for s in value.split(",") if s] if key == "skills" else value
    return values


def register(group: click.Group) -> None:
    group.add_command(rules_group)
    group.add_command(team_group)
    group.add_command(stage_command)
