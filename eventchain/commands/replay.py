"""``eventchain replay``: rebuild the views (blue/green), as of a past instant, verify."""

from __future__ import annotations

from datetime import datetime
from pathlib import Path

import click

from adapters.derived_files import record_derived
from eventchain.cli_support import audit_read, open_app, operator_option, settings_of
from eventchain.console import progress
from eventchain.output import instant
from eventchain.read_paths import EVENT_TIME, as_role, snapshot_connection, team_of
from projections.schema import PUBLIC_RELATIONS
from projections.visibility import Role, visible_customer_ids
from replay.rebuild import RebuildRunningError, build_views, rebuild, verify


@click.group("replay")
def replay_group() -> None:
    """Replay the event log: rebuild views, look at the past, verify the live views.

    \b
    Example:
      eventchain replay rebuild
      eventchain replay rebuild --as-of 2026-01-31T23:59:59+08:00 --out funnel-jan.duckdb
      eventchain replay verify
    """


@replay_group.command("rebuild")
@click.option(
    "--view",
    type=click.Choice(PUBLIC_RELATIONS),
    help="The view you care about (all views share one position, so the whole file is rebuilt).",
)
@click.option(
    "--as-of",
    "as_of",
    type=EVENT_TIME,
    help="Build the views as they stood at this instant (events recorded at or before it).",
)
@click.option(
    "--out",
    type=click.Path(dir_okay=False, path_type=Path),
    help="With --as-of: where to write them (default: DATA_DIR/views-asof-<ts>.duckdb).",
)
@click.pass_context
def rebuild_command(ctx: click.Context, view: str | None, as_of: datetime | None, out: Path | None) -> None:
    """Rebuild every view from position 0 into a new file and swap it in atomically.

    The live views and the analyst snapshot keep serving until the swap; a running
    `serve` reopens the new file by itself. With --as-of, nothing is swapped: the past
    views go to their own file that analysts open with any DuckDB client.

    \b
    Example:
      eventchain replay rebuild
      eventchain replay rebuild --as-of 2026-01-31T23:59:59+08:00
    """
    settings = settings_of(ctx)
    app = open_app(ctx)
    total = app.max_notification_id()
    with progress("replay", total=max(total, 1)) as advance:
        seen = [0]

        def report(position: int, _total: int) -> None:
            advance(position - seen[0])
            seen[0] = position

        if as_of is not None:
            stamp = as_of.strftime("%Y%m%dT%H%M%S")
            target = out or settings.data_dir / f"views-asof-{stamp}.duckdb"
            result = build_views(app, target, as_of=as_of, progress=report)
            record_derived(settings.data_dir, "as-of", target, app.clock(), as_of=as_of)  # for erasure
            click.echo(f"views as of {instant(as_of)} written to {result.path} ({result.events} events read)")
            return
        if out is not None:
            raise click.UsageError("--out only goes with --as-of (a full rebuild replaces the live views)")
        try:
            result = rebuild(app, settings.views_path, settings.snapshot_path, progress=report)
        except RebuildRunningError as error:
            raise click.ClickException(str(error)) from None
    focus = f" (including {view})" if view else ""
    click.echo(
        f"rebuilt all views{focus} from {result.events} events; live at position {result.position}: "
        f"{result.path}"
    )


@replay_group.command("verify")
@click.pass_context
def verify_command(ctx: click.Context) -> None:
    """Check the incremental views equal a rebuild from the log (a checksum per table).

    Compares the published analyst snapshot with a fresh rebuild up to the snapshot's
    position; exits 1 and names the tables that differ.

    \b
    Example:
      eventchain replay verify
    """
    settings = settings_of(ctx)
    if not settings.snapshot_path.exists():
        raise click.ClickException(
            f"no analyst snapshot at {settings.snapshot_path}: run serve or demo first"
        )
    app = open_app(ctx)
    scratch = settings.data_dir / ".verify.duckdb"
    result = verify(app, settings.snapshot_path, scratch)
    if result.ok:
        click.echo(
            f"verified {len(result.checked)} views at position {result.position}: incremental == rebuilt"
        )
        return
    click.echo(f"MISMATCH at position {result.position}: {', '.join(result.mismatched)}", err=True)
    ctx.exit(1)


@replay_group.command("what-if")
@click.option(
    "--rules",
    "rules_ref",
    required=True,
    metavar="V|FILE",
    help="A rules version number, or a draft TOML file.",
)
@click.option("--from", "start", type=EVENT_TIME, help="Only leads from this event time on.")
@click.option("--to", "end", type=EVENT_TIME, help="Only leads before this event time.")
@click.option("--json", "as_json_output", is_flag=True, help="Print one JSON object.")
@as_role
@operator_option
@click.pass_context
def what_if_command(
    ctx: click.Context,
    rules_ref: str,
    start: datetime | None,
    end: datetime | None,
    as_json_output: bool,
    role: Role,
    actor: str,
) -> None:
    """Back-test routing and SLA under another rules version or a draft file, writing nothing.

    Reports the assignments that would change (count and sample), the breaches that would
    appear or vanish (responses as they happened), and CTRE.

    \b
    Example:
      eventchain replay what-if --rules 1
      eventchain replay what-if --rules draft.toml --from 2026-03-01 --to 2026-04-01
    """
    import json

    from application.rules import ruleset
    from domain.rules import RulesError, parse_rules, rules_from_dict
    from replay.what_if import as_json, summary_lines, what_if

    app = open_app(ctx)
    try:
        if rules_ref.isdigit():
            document = rules_from_dict(ruleset(app).document(int(rules_ref)))
        else:
            document = parse_rules(Path(rules_ref).read_text(encoding="utf-8"))
    except (RulesError, OSError) as error:
        raise click.ClickException(f"--rules {rules_ref}: {error}") from None
    visible = None
    if not role.sees_everything:  # a rep back-tests their own customers, a director their team's
        with snapshot_connection(settings_of(ctx).snapshot_path) as connection:
            visible = visible_customer_ids(connection, role, team_of(role))
    report = what_if(app, document, start, end, customers=visible)
    audit_read(ctx, app, role=role, action="what-if", subject=f"rules {rules_ref}", rows=report.leads)
    if as_json_output:
        click.echo(json.dumps(as_json(report), ensure_ascii=False))
        return
    for line in summary_lines(report):
        click.echo(line)


def register(group: click.Group) -> None:
    group.add_command(replay_group)
