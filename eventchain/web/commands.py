"""The rep's commands from the workspace (log a contact, move a stage): through the
application's use cases, only on customers the user may see."""

from __future__ import annotations

from collections.abc import Callable
from uuid import UUID

from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response

from application.event_chain import CustomerNotFoundError
from application.rep_actions import ActionError, log_contact, move_stage
from domain.rules import RulesError
from eventchain.web.context import User, Workspace, visible_customer


def _command(
    request: Request, workspace: Workspace, user: User, run: Callable[[UUID, dict[str, str]], str]
) -> Response:
    customer_id = request.path_params["customer_id"]
    form = request.scope["eventchain.form"]
    uuid = visible_customer(workspace, user, customer_id)
    try:
        done = run(uuid, form)
        workspace.acted(user.agent_id)
    except (ActionError, RulesError, ValueError, CustomerNotFoundError) as error:
        message = str(error).splitlines()[0]
        if request.headers.get("x-csrf-token"):
            return JSONResponse({"error": message}, status_code=400)
        return RedirectResponse(f"/customers/{customer_id}?notice={_quote(message)}", status_code=303)
    if request.headers.get("x-csrf-token"):
        return JSONResponse({"recorded": done})
    return RedirectResponse(f"/customers/{customer_id}?notice=recorded", status_code=303)


def _quote(text: str) -> str:
    from urllib.parse import quote

    return quote(text[:200])


def log_action(request: Request, workspace: Workspace, user: User) -> Response:
    return _command(
        request,
        workspace,
        user,
        lambda uuid, form: log_contact(
            workspace.app, uuid, form.get("kind", ""), form.get("note", ""), user.agent_id
        ),
    )


def stage_action(request: Request, workspace: Workspace, user: User) -> Response:
    def run(uuid: UUID, form: dict[str, str]) -> str:
        stage = form.get("stage", "")
        move_stage(
            workspace.app, uuid, stage, form.get("evidence", ""), form.get("reason", ""), user.agent_id
        )
        return stage

    return _command(request, workspace, user, run)
