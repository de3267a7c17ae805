"""The rep's commands from the workspace (log a contact, retract a mistaken one, move a
stage): through the application's use cases, only on customers the user may see.

A refused command renders the customer page again with the refusal as an error and what
was typed still in the form; a recorded one redirects to the page with a message kept on
the server for this session (never in the URL) and the recorded entry shown at once."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from application.event_chain import CustomerNotFoundError
from application.rep_actions import KIND_NAMES, ActionError, Logged, log_contact, move_stage, retract_contact
from domain.rules import RulesError
from eventchain.web.context import User, Workspace, agent_names, render, visible_customer
from eventchain.web.i18n import refusal


def _command(
    request: Request,
    workspace: Workspace,
    user: User,
    run: Callable[[UUID, dict[str, str]], tuple[str, Logged | None]],
    shown: dict[str, Any] | None = None,
) -> Response:
    customer_id = request.path_params["customer_id"]
    form: dict[str, str] = request.scope["eventchain.form"]
    uuid = visible_customer(workspace, user, customer_id)
    try:
        message, logged = run(uuid, form)
        workspace.acted(user.agent_id)
    except (ActionError, RulesError, ValueError, CustomerNotFoundError) as error:
        message = refusal(error)
        if request.headers.get("x-csrf-token"):
            return JSONResponse({"error": message}, status_code=400)
        return _page_again(request, workspace, user, message, form)
    if logged is not None:
        workspace.answered(user.agent_id, customer_id)
    if request.headers.get("x-csrf-token"):
        return JSONResponse({"recorded": logged.touchpoint_id if logged else message})
    workspace.flash(
        user.session_id, {"text": message, "entry": _entry(logged) if logged else None, **(shown or {})}
    )
    return RedirectResponse(f"/customers/{customer_id}", status_code=303)


def _page_again(
    request: Request, workspace: Workspace, user: User, message: str, form: dict[str, str]
) -> Response:
    from eventchain.web.pages import customer_data

    data = customer_data(request, workspace, user)
    context = {"user": user, "names": agent_names(workspace), "error": message, "form": form, **data}
    return render(request, "customer.html", context, status_code=400)


def _entry(logged: Logged) -> dict[str, Any]:
    return {
        "touchpoint_id": logged.touchpoint_id,
        "channel": logged.channel,
        "direction": logged.direction,
        "occurred_at": logged.occurred_at,
        "actor": logged.actor,
        "summary": logged.summary,
        "retracted_reason": None,
        "just_recorded": True,
    }


def log_action(request: Request, workspace: Workspace, user: User) -> Response:
    def run(uuid: UUID, form: dict[str, str]) -> tuple[str, Logged | None]:
        kind = form.get("kind", "")
        logged = log_contact(
            workspace.app,
            uuid,
            kind,
            form.get("note", ""),
            user.agent_id,
            outcome=form.get("outcome", ""),
            request_key=form.get("request_key", ""),
        )
        return f"已记录{KIND_NAMES.get(kind, '')}，并计为我方跟进", logged

    return _command(request, workspace, user, run)


def retract_action(request: Request, workspace: Workspace, user: User) -> Response:
    form: dict[str, str] = request.scope["eventchain.form"]
    touchpoint_id, reason = form.get("touchpoint_id", ""), form.get("reason", "")

    def run(uuid: UUID, form: dict[str, str]) -> tuple[str, Logged | None]:
        retract_contact(workspace.app, uuid, touchpoint_id, reason, user.agent_id)
        workspace.unanswered(user.agent_id, str(uuid))  # it may be waiting again: the desk shows it
        return "已更正：原记录保留在历史中，不再计入响应与跟进", None

    shown = {"retracted": {"touchpoint_id": touchpoint_id, "reason": reason.strip(), "by": user.agent_id}}
    return _command(request, workspace, user, run, shown)


def stage_action(request: Request, workspace: Workspace, user: User) -> Response:
    def run(uuid: UUID, form: dict[str, str]) -> tuple[str, Logged | None]:
        stage = form.get("stage", "")
        move_stage(
            workspace.app, uuid, stage, form.get("evidence", ""), form.get("reason", ""), user.agent_id
        )
        return "阶段已更新", None

    return _command(request, workspace, user, run)
