"""The workspace's pages and JSON: the rep's desk, the director's board, customers. Every
read goes through the role's visible customers and is audited."""

from __future__ import annotations

from typing import Any, Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response

from domain.touchpoints import CHANNELS
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
from projections.queries import Window, load_report_data
from projections.visibility import load_visible_customers


def desk_data(request: Request, workspace: Workspace, user: User) -> dict[str, Any]:
    channel = request.query_params.get("channel", "wecom_msg")
    if channel not in CHANNELS:
        raise HTTPException(400, f"unknown channel {channel!r}: expected one of {', '.join(CHANNELS)}")
    try:
        days = int(request.query_params.get("days", "3"))
    except ValueError:
        raise HTTPException(400, "days must be a whole number") from None
    if not 0 <= days <= 365:
        raise HTTPException(400, "days must be between 0 and 365")

    def compute() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any], list[dict[str, Any]]]:
        with workspace.snapshot.cursor() as connection:
            load_visible_customers(connection, user.role, user.team)
            owner = user.agent_id if user.role.kind != "exec" else None
            return (
                figures.waiting_leads(connection, owner, DESK_ROWS).dicts(),
                figures.no_follow_up_on_channel(connection, channel, days, DESK_ROWS).dicts(),
                figures.freshness(connection),
                follow_ups.desk_steps(connection, user, workspace.app.clock()),
            )

    now = workspace.app.clock()
    leads, silent, freshness, steps = workspace.cached(
        (str(user.role), user.team, "desk", channel, days), compute, user.agent_id
    )
    waiting = [
        {
            **lead,
            "seconds_left": None
            if lead["deadline_at"] is None
            else int((lead["deadline_at"] - now).total_seconds()),
        }
        for lead in leads
    ]
    audit_read(workspace, user, "web.desk", f"waiting+{channel}>{days}d", len(waiting) + len(silent))
    return {
        "waiting": waiting,
        "no_follow_up": silent,
        "channel": channel,
        "days": days,
        "now": now,
        "freshness": freshness,
        "follow_ups": steps,
    }


def board_data(request: Request, workspace: Workspace, user: User) -> dict[str, Any]:
    if user.role.kind == "sales":
        raise HTTPException(404, "not found")
    window = period_of(request)
    data: dict[str, Any] = workspace.cached(
        (str(user.role), user.team, "board", window.start, window.end),
        lambda: _board_figures(workspace, user, window),
        user.agent_id,
    )
    audit_read(workspace, user, "web.board", request.url.query or "all", data["visible"])
    return data


def _board_figures(workspace: Workspace, user: User, window: Window) -> dict[str, Any]:
    with workspace.snapshot.cursor() as connection:
        report = load_report_data(connection, user.role, window, user.team)
        return {
            "visible": report.visible_customers,
            "as_of": report.as_of,
            "freshness": figures.freshness(connection),
            "per_rep": figures.per_rep(connection, window).dicts(),
            "escalations": figures.escalations_to(connection, user.agent_id).dicts()
            if user.role.agent_id
            else [],
            "conversion_channel": figures.conversion(figures.stage_counts(connection, "channel", window)),
            "conversion_city": figures.conversion(figures.stage_counts(connection, "city", window)),
            "funnel": report.funnel,
            "ctre": report.ctre,
            "trend": figures.weekly_ctre(connection, report.as_of),
            "heatmap": report.heatmap,
            "pipeline": figures.pipeline_value(connection).dicts(),
            "silent": report.silent_customers,
            "data_health": report.data_health,
            "window": window,
            "follow_up_rates": follow_ups.board_rates(connection),
            "calendar_warning": follow_ups.board_calendar_warning(workspace),
        }


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


FILTERS: Final = ("stage", "channel", "owner", "city")


def customers_data(request: Request, workspace: Workspace, user: User) -> dict[str, Any]:
    filters = {k: v for k, v in request.query_params.items() if k in FILTERS and v}
    with workspace.snapshot.cursor() as connection:
        load_visible_customers(connection, user.role, user.team)
        rows = figures.customers(connection, filters).dicts()
        freshness = figures.freshness(connection)
    audit_read(
        workspace, user, "web.customers", "&".join(f"{k}={v}" for k, v in filters.items()) or "all", len(rows)
    )
    return {"customers": rows, "filters": filters, "freshness": freshness}


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
    return {"customer": row, "timeline": chain, "freshness": freshness, "plan_progress": plan_progress}


def freshness_api(request: Request, workspace: Workspace, user: User) -> Response:
    with workspace.snapshot.cursor() as connection:
        return json_response(figures.freshness(connection))
