"""The workspace's pages and JSON: the rep's desk, the director's board, customers. Every
read goes through the role's visible customers and is audited."""

from __future__ import annotations

import csv
import io
import secrets
from datetime import timedelta
from typing import Any, Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from adapters.derived_files import record_derived
from application.rep_actions import OUTCOMES, kinds_for
from domain.intake import china_today
from domain.touchpoints import CHANNELS
from eventchain.output import neutralise
from eventchain.web import follow_ups
from eventchain.web.context import (
    DESK_ROWS,
    User,
    Workspace,
    agent_names,
    audit_read,
    json_response,
    period_of,
    render,
    slots_of,
)
from projections import workspace_queries as figures
from projections.intake_queries import intake_panel
from projections.queries import Window, load_report_data, silent_customers
from projections.schema import UNOWNED_GRACE_S
from projections.visibility import load_visible_customers


def desk_data(request: Request, workspace: Workspace, user: User) -> dict[str, Any]:
    channel = request.query_params.get("channel", "wecom_msg")
    if channel not in CHANNELS:
        raise HTTPException(400, f"未知渠道 {channel!r}，可选：{'、'.join(CHANNELS)}")
    try:
        days = int(request.query_params.get("days", "3"))
    except ValueError:
        raise HTTPException(400, "天数须为整数") from None
    if not 0 <= days <= 365:
        raise HTTPException(400, "天数须在 0 到 365 之间")

    now = workspace.app.clock()
    # The page's live check asks for the waiting list only, on the current snapshot.
    live = request.query_params.get("live") == "1"

    def compute() -> tuple[list[dict[str, Any]], list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        with workspace.snapshot.cursor() as connection:
            load_visible_customers(connection, user.role, user.team)
            owner = user.agent_id if user.role.kind != "exec" else None
            team = (
                figures.waiting_leads(connection, None, DESK_ROWS).dicts()
                if user.role.kind == "director" and not live
                else []
            )
            return (
                figures.waiting_leads(connection, owner, DESK_ROWS).dicts(),
                [lead for lead in team if lead["owner_agent_id"] != user.agent_id],
                []
                if live
                else figures.no_follow_up_on_channel(connection, channel, days, now, DESK_ROWS).dicts(),
                figures.freshness(connection),
            )

    leads, team, silent, freshness = workspace.cached(
        # the minute is in the key: "no follow-up for N days" counts from now, snapshot moved or not
        (str(user.role), user.team, "desk", channel, days, live, now.replace(second=0, microsecond=0)),
        compute,
        user.agent_id,
        current=live,
    )
    answered = workspace.recently_answered(user.agent_id)

    def countdown(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
        return [
            {
                **lead,
                "seconds_left": None
                if lead["deadline_at"] is None
                else int((lead["deadline_at"] - now).total_seconds()),
            }
            for lead in rows
            if lead["customer_id"] not in answered
        ]

    waiting, team_waiting = countdown(leads), countdown(team)
    audit_read(
        workspace,
        user,
        "web.desk",
        f"waiting+{channel}>{days}d",
        len(waiting) + len(team_waiting) + len(silent),
    )
    return {
        "waiting": waiting,
        "waiting_total": max(0, (leads[0]["total"] if leads else 0) - (len(leads) - len(waiting))),
        "team_waiting": team_waiting,
        "no_follow_up": silent,
        "channel": channel,
        "days": days,
        "now": now,
        "freshness": freshness,
        "follow_ups": [] if live else follow_ups.desk(workspace, user, now),
    }


def board_data(request: Request, workspace: Workspace, user: User) -> dict[str, Any]:
    if user.role.kind == "sales":
        raise HTTPException(403, "forbidden: the board is for directors and executives")
    window = period_of(request)
    data: dict[str, Any] = workspace.cached(
        (str(user.role), user.team, "board", window.start, window.end),
        lambda: _board_figures(workspace, user, window),
        user.agent_id,
    )
    audit_read(workspace, user, "web.board", request.url.query or "all", data["visible"])
    return {**data, "unowned": _unowned(workspace, user)}


def _unowned(workspace: Workspace, user: User) -> list[dict[str, Any]]:
    """Leads nobody owns past the grace: counted from now on the service's clock, so cached
    for the minute (not for the snapshot, like the other panels)."""
    cutoff = workspace.app.clock() - timedelta(seconds=UNOWNED_GRACE_S)

    def compute() -> list[dict[str, Any]]:
        with workspace.snapshot.cursor() as connection:
            load_visible_customers(connection, user.role, user.team)
            return figures.unowned_leads(connection, cutoff).dicts()

    minute = cutoff.replace(second=0, microsecond=0)
    return workspace.cached((str(user.role), user.team, "unowned", minute), compute, user.agent_id)  # type: ignore[no-any-return]


def _board_figures(workspace: Workspace, user: User, window: Window) -> dict[str, Any]:
    """Every panel over the same period (leads whose lead time is in ``window``; escalations by
    their deadline), so each figure and its drill-down agree."""
    with workspace.snapshot.cursor() as connection:
        report = load_report_data(connection, user.role, window, user.team)
        return {
            "visible": report.visible_customers,
            "as_of": report.as_of,
            "freshness": figures.freshness(connection),
            "per_rep": figures.per_rep(connection, window).dicts(),
            "escalations": figures.escalations_to(connection, user.agent_id, window).dicts()
            if user.role.agent_id
            else [],
            "conversion_channel": figures.conversion(figures.stage_counts(connection, "channel", window)),
            "conversion_city": figures.conversion(figures.stage_counts(connection, "city", window)),
            "funnel": report.funnel,
            "ctre": report.ctre,
            "trend": figures.weekly_ctre(connection, report.as_of, window=window),
            "heatmap": report.heatmap,
            "pipeline": figures.pipeline_value(connection, window).dicts(),
            "silent": silent_customers(connection, window),
            "data_health": report.data_health,
            "window": window,
            **follow_ups.board_panel(connection, workspace),
            "intake_health": intake_panel(
                connection, china_today(workspace.app.clock()), _team_name(workspace, user)
            ),
        }


def _team_name(workspace: Workspace, user: User) -> str | None:
    """The director's team (the roster's), None for exec: the board's CRM health rows."""
    if user.role.kind == "exec":
        return None
    agent = workspace.agents().get(user.role.agent_id or "")
    return agent.team if agent is not None else ""


def board_page(request: Request, workspace: Workspace, user: User) -> Response:
    data = board_data(request, workspace, user)
    agents = workspace.agents()
    grid = {(w, h): (n, mean) for w, h, n, mean in data["heatmap"]}
    top = max((n for n, _ in grid.values()), default=0)
    return render(
        request,
        "board.html",
        {
            "user": user,
            "names": agent_names(workspace),
            "capacity": {a: agent.capacity for a, agent in agents.items()},
            "grid": grid,
            "grid_top": top,
            "ctre_top": max((c.mean_response_hours for c in data["ctre"].channels), default=0),
            "trend_top": max((c.ctre_hours or 0 for _, c in data["trend"]), default=0),
            "query_from": request.query_params.get("from", ""),
            "query_to": request.query_params.get("to", ""),
            "period": "".join(
                f"&{k}={request.query_params[k]}" for k in ("from", "to") if request.query_params.get(k)
            ),
            **data,
        },
    )


def board_api(request: Request, workspace: Workspace, user: User) -> Response:
    data = dict(board_data(request, workspace, user))  # a copy: the figures are shared
    ctre = data.pop("ctre")
    data["ctre"] = {
        "ctre_hours": ctre.ctre_hours,
        "balance_index": ctre.balance_index,
        "channels": [vars(c) if hasattr(c, "__dict__") else slots_of(c) for c in ctre.channels],
    }
    data["trend"] = [
        {"week": week, "ctre_hours": c.ctre_hours, "balance_index": c.balance_index}
        for week, c in data["trend"]
    ]
    data["silent"] = [dict(zip(data["silent"].columns, r, strict=True)) for r in data["silent"].rows]
    health = data.pop("data_health")
    data["data_health"] = None if health is None else [list(r) for r in health.rows]
    window = data.pop("window")
    data["window"] = {"from": window.start, "to": window.end}
    return json_response(data)


FILTERS: Final = ("q", "stage", "reached", "channel", "owner", "city", "tag", "from", "to", "sort")
PAGE_SIZE: Final = 50
EXPORT_ROWS: Final = 10_000


def customer_query(request: Request, page_size: int = PAGE_SIZE) -> figures.CustomerQuery:
    params = request.query_params
    try:
        page = max(1, int(params.get("page", "1")))
    except ValueError:
        raise HTTPException(400, "页码须为整数") from None
    return figures.CustomerQuery(
        text=params.get("q", "")[:100],
        stage=params.get("stage", ""),
        reached=params.get("reached", ""),
        channel=params.get("channel", ""),
        owner=params.get("owner", ""),
        city=params.get("city", ""),
        tag=params.get("tag", ""),
        window=period_of(request),
        sort=params.get("sort", "last_touch"),
        page=page,
        page_size=page_size,
    )


def customers_data(request: Request, workspace: Workspace, user: User) -> dict[str, Any]:
    query = customer_query(request)
    filters = {k: v for k, v in request.query_params.items() if k in FILTERS and v}
    with workspace.snapshot.cursor() as connection:
        load_visible_customers(connection, user.role, user.team)
        rows = figures.customers(connection, query).dicts()
        freshness = figures.freshness(connection)
    audit_read(
        workspace, user, "web.customers", "&".join(f"{k}={v}" for k, v in filters.items()) or "all", len(rows)
    )
    total = rows[0]["total"] if rows else 0
    return {
        "customers": rows,
        "total": total,
        "filters": filters,
        "page": query.page,
        "pages": max(1, -(-total // query.page_size)),
        "sorts": list(figures.SORTS),
        "owners": sorted(workspace.agents()),
        "freshness": freshness,
    }


def customers_csv(request: Request, workspace: Workspace, user: User) -> Response:
    """The customer list as CSV (UTF-8 with BOM, formula-looking cells neutralised), the same
    filters as the page, audited as a read and listed as a derived copy like ``eventchain export``."""
    query = customer_query(request, page_size=EXPORT_ROWS)
    with workspace.snapshot.cursor() as connection:
        load_visible_customers(connection, user.role, user.team)
        found = figures.customers(connection, query)
    columns = [c for c in found.columns if c != "total"]
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(columns)
    for row in found.dicts():
        writer.writerow([neutralise(row[c]) for c in columns])
    record_derived(workspace.data_dir, "export", None, workspace.app.clock())  # a download: not vouched for
    audit_read(workspace, user, "web.export", request.url.query or "all", len(found.rows))
    return Response(
        "\ufeff" + buffer.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={"content-disposition": 'attachment; filename="customers.csv"'},
    )


def customer_data(request: Request, workspace: Workspace, user: User) -> dict[str, Any]:
    customer_id = request.path_params["customer_id"]
    with workspace.snapshot.cursor() as connection:
        load_visible_customers(connection, user.role, user.team)
        row = figures.customer_360(connection, customer_id)
        if row is None:  # absent and not visible look the same
            raise HTTPException(404, "not found")
        chain = figures.timeline(connection, customer_id).dicts()
        freshness = figures.freshness(connection)
        plan_progress = follow_ups.progress(connection, customer_id)
    audit_read(workspace, user, "web.customer", customer_id, 1)
    # What the last command of this session recorded shows at once, before the projector
    # has published it (the message is the server's, never taken from the URL).
    flash = workspace.take_flash(user.session_key) if request.method == "GET" else None
    entry = flash.get("entry") if flash else None
    if entry and entry["touchpoint_id"] not in {t["touchpoint_id"] for t in chain}:
        chain.append(entry)
    retracted = flash.get("retracted") if flash else None
    for touchpoint in chain:
        touchpoint.setdefault("just_recorded", False)
        if retracted and touchpoint["touchpoint_id"] == retracted["touchpoint_id"]:
            touchpoint["retracted_reason"] = touchpoint.get("retracted_reason") or retracted["reason"]
            touchpoint["retracted_by"] = touchpoint.get("retracted_by") or retracted["by"]
    contacts = [identity.partition(":") for identity in row.get("identities") or []]
    return {
        "customer": row,
        "timeline": chain,
        "freshness": freshness,
        "notice": flash.get("text") if flash else None,
        "contacts": [(kind, value) for kind, _, value in contacts if value],
        "asked": [t for t in chain if t["direction"] == "inbound"][-3:],
        "kinds": kinds_for({kind for kind, _, _ in contacts}),
        "outcomes": list(OUTCOMES),
        "request_key": secrets.token_hex(12),
        "plan_progress": plan_progress,
    }


def desk_live_api(request: Request, workspace: Workspace, user: User) -> Response:
    """What the desk polls twice a second: the ids of my waiting leads in the published snapshot
    (no personal data, so no read to audit); the page fetches the rows when they change. Computed
    once per published snapshot and role, so a poll between publications costs a file stat."""

    def compute() -> tuple[list[str], str | None]:
        with workspace.snapshot.cursor() as connection:
            load_visible_customers(connection, user.role, user.team)
            owner = user.agent_id if user.role.kind != "exec" else None
            return figures.waiting_ids(connection, owner, DESK_ROWS), figures.freshness(connection)[
                "published_at"
            ]

    ids, published = workspace.cached((str(user.role), user.team, "desk-live"), compute, current=True)
    answered = workspace.recently_answered(user.agent_id)
    return json_response({"waiting": [c for c in ids if c not in answered], "published_at": published})


def freshness_api(request: Request, workspace: Workspace, user: User) -> Response:
    with workspace.snapshot.cursor() as connection:
        return json_response(figures.freshness(connection))
