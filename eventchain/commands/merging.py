"""``eventchain merge`` / ``unmerge`` / ``duplicates`` (SPEC §6)."""

from __future__ import annotations

import click
import duckdb

from application.event_chain import CustomerNotFoundError, EventChain
from application.merging import held_links, merge, unmerge
from application.rules import identity_rules
from domain.customer import MergeRefusedError
from domain.duplicates import Candidate, Profile, find_candidates
from domain.identities import identity_kind
from eventchain.cli_support import audit_read, open_app, operator_option, settings_of
from eventchain.output import chosen_format, emit_rows, output_options, plural
from eventchain.read_paths import as_role, snapshot_connection, team_of
from projections.visibility import Role, visible_customer_ids


@click.command("merge")
@click.argument("survivor")
@click.argument("absorbed")
@click.option("--reason", required=True, help="Why: recorded on both customers' events.")
@click.option("--actor", default="operator", show_default=True, help="Who decided.")
@click.option("--force", is_flag=True, help="Merge even when the two carry different USCCs (recorded).")
@click.pass_context
def merge_command(
    ctx: click.Context, survivor: str, absorbed: str, reason: str, actor: str, force: bool
) -> None:
    """Merge ABSORBED into SURVIVOR (ids, unique id prefixes such as 4ba5387c, or
    identities such as phone:138…).

    \b
    Example:
      eventchain merge phone:13800138000 email:li@example.cn --reason "same buyer, two forms"
    """
    app = open_app(ctx)
    try:
        kept = merge(app, survivor, absorbed, reason=reason, actor=actor, force=force)
    except (CustomerNotFoundError, MergeRefusedError) as error:
        hint = " (use --force to override, with a reason)" if "protection" in str(error) else ""
        raise click.ClickException(f"{error}{hint}") from None
    click.echo(
        f"merged into {kept.id}; {len(kept.touchpoints)} touchpoints, {len(kept.identity_keys)} identities"
    )


@click.command("unmerge")
@click.argument("survivor")
@click.argument("absorbed_id")
@click.option("--reason", required=True, help="Why: recorded on both customers' events.")
@click.option("--actor", default="operator", show_default=True, help="Who decided.")
@click.pass_context
def unmerge_command(ctx: click.Context, survivor: str, absorbed_id: str, reason: str, actor: str) -> None:
    """Undo a merge: SURVIVOR gives back ABSORBED_ID's touchpoints and identities (ids
    or unique id prefixes).

    \b
    Example:
      eventchain unmerge phone:13800138000 4ba5387c-155c-547c-86a0-f0c41daddff4 --reason "different people"
    """
    app = open_app(ctx)
    try:
        restored = unmerge(app, survivor, absorbed_id, reason=reason, actor=actor)
    except (CustomerNotFoundError, MergeRefusedError) as error:
        raise click.ClickException(str(error)) from None
    click.echo(f"restored {restored.id} with {len(restored.touchpoints)} touchpoints")


@click.command("duplicates")
@click.option("--limit", default=50, show_default=True, type=click.IntRange(1, 100_000))
@click.option(
    "--conflicts", is_flag=True, help="List customers already over an identity limit (fused) instead."
)
@as_role
@output_options
@operator_option
@click.pass_context
def duplicates_command(
    ctx: click.Context,
    limit: int,
    conflicts: bool,
    role: Role,
    output_format: str | None,
    as_json: bool,
    actor: str,
) -> None:
    """List duplicate-customer candidates: a shared phone/email/USCC (with the reason when
    resolution held the link instead of fusing two customers), or the same person at the
    same company once company names are normalised (read from the analyst snapshot). A role
    sees pairs of its own customers only. --conflicts lists customers holding more values of
    an identity kind than the rules allow (two USCCs: two companies fused), to split.

    \b
    Example:
      eventchain duplicates --limit 20
      eventchain duplicates --as director:d-qian
      eventchain duplicates --conflicts --as exec
    """
    fmt = chosen_format(output_format, as_json)
    app = open_app(ctx)  # refuses a wrong or missing key-encryption key
    with snapshot_connection(settings_of(ctx).snapshot_path) as connection:
        visible = visible_customer_ids(connection, role, team_of(role))
        profiles = {p.customer_id: p for p in load_profiles(connection) if p.customer_id in visible}
    if conflicts:
        _list_conflicts(ctx, app, list(profiles.values()), limit, role, fmt)
        return
    candidates = find_candidates(list(profiles.values()))
    held = {(link.identity_key, link.customer_id): link.reason for link in held_links(app)}
    candidates = [_with_held_reason(c, held) for c in candidates]
    shown = candidates[:limit]
    audit_read(
        ctx,
        app,
        role=role,
        action="duplicates",
        subject=f"limit={limit}",
        rows=len({c for pair in shown for c in (pair.a, pair.b)}),
    )
    rows = [
        {
            "customer_a": pair.a,
            "name_a": profiles[pair.a].name,
            "company_a": profiles[pair.a].company,
            "customer_b": pair.b,
            "name_b": profiles[pair.b].name,
            "company_b": profiles[pair.b].company,
            "score": round(pair.score, 2),
            "reason": pair.reason,
        }
        for pair in shown
    ]
    emit_rows(rows, DUPLICATE_COLUMNS, fmt, title="duplicate candidates")
    click.echo(f"{plural(len(candidates), 'candidate pair')} ({len(shown)} shown)", err=True)


DUPLICATE_COLUMNS = (
    "customer_a",
    "name_a",
    "company_a",
    "customer_b",
    "name_b",
    "company_b",
    "score",
    "reason",
)


CONFLICT_COLUMNS = ("customer_id", "name", "company", "over_limit", "identities")


def _with_held_reason(candidate: Candidate, held: dict[tuple[str, str], str]) -> Candidate:
    key = candidate.reason.removeprefix("same ")
    reason = held.get((key, candidate.a)) or held.get((key, candidate.b))
    if reason is None:
        return candidate
    return Candidate(candidate.a, candidate.b, f"held at ingest: {reason}", candidate.score)


def _list_conflicts(
    ctx: click.Context, app: EventChain, profiles: list[Profile], limit: int, role: Role, fmt: str
) -> None:
    rules = identity_rules(app)
    fused = [(p, rules.over_limit(p.identity_keys)) for p in profiles]
    fused = sorted(((p, kinds) for p, kinds in fused if kinds), key=lambda pair: pair[0].customer_id)
    shown = fused[:limit]
    audit_read(
        ctx, app, role=role, action="duplicates --conflicts", subject=f"limit={limit}", rows=len(shown)
    )
    rows = [
        {
            "customer_id": p.customer_id,
            "name": p.name,
            "company": p.company,
            "over_limit": ", ".join(kinds),
            "identities": sorted(k for k in p.identity_keys if identity_kind(k) in kinds),
        }
        for p, kinds in shown
    ]
    emit_rows(rows, CONFLICT_COLUMNS, fmt, title="customers over an identity limit")
    click.echo(f"{plural(len(fused), 'customer')} over a limit ({len(shown)} shown)", err=True)


def load_profiles(connection: duckdb.DuckDBPyConnection) -> list[Profile]:
    rows = connection.execute(
        "SELECT customer_id::VARCHAR, display_name, company, identities FROM customer_360 WHERE NOT erased"
    ).fetchall()
    return [Profile(r[0], None if r[1] == "(unknown)" else r[1], r[2], frozenset(r[3] or [])) for r in rows]


def register(group: click.Group) -> None:
    for command in (merge_command, unmerge_command, duplicates_command):
        group.add_command(command)
