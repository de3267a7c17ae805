"""我的设备 (my devices, issue 29; seed 001's fix for a shared account): a rep's signed-in
browsers — when, from which address and device, last seen — each of which they can end; a
director sees and ends their team's, and releases sign-ins a read alert held."""

from __future__ import annotations

import re
from datetime import timedelta
from typing import Final

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from application.rules import roster
from application.sessions import end_session, end_sessions_of, find_account, open_sessions, release_sign_ins
from domain.sessions import ENDED_BY_ADMIN, ENDED_BY_USER, SIGNED_OUT_EVERYWHERE, may_end
from eventchain.web.context import User, Workspace, agent_names, language_of, render, templates, text_of
from eventchain.web.i18n import translator

HISTORY: Final = timedelta(days=7)
BROWSERS: Final = (
    ("MicroMessenger", "微信"),
    ("wxwork", "企业微信"),
    ("Edg/", "Edge"),
    ("Firefox/", "Firefox"),
    ("Chrome/", "Chrome"),
    ("Safari/", "Safari"),
    ("curl/", "curl"),
    ("python-httpx", "httpx"),
)
SYSTEMS: Final = (
    ("Android", "Android"),
    ("iPhone", "iOS"),
    ("iPad", "iPadOS"),
    ("Windows", "Windows"),
    ("Mac OS X", "macOS"),
    ("Linux", "Linux"),
)


def device_label(user_agent: str) -> str:
    """A browser and system a person recognises ("Chrome · Windows"); the raw User-Agent when
    neither is known (the full string stays in the store and on the account's events)."""
    browser = next((name for token, name in BROWSERS if token in user_agent), None)
    system = next((name for token, name in SYSTEMS if token in user_agent), None)
    if "Headless" in user_agent and browser:
        browser += " (headless)"
    if browser is None and system is None:
        return re.sub(r"\s+", " ", user_agent)[:60] or "?"
    return " · ".join(part for part in (browser, system) if part)


templates.env.globals["device_label"] = device_label


def team_of(workspace: Workspace, user: User) -> list[str]:
    """Whose devices besides their own a user sees: a director their team, exec everyone."""
    if user.role.kind == "exec":
        return sorted(workspace.agents())
    return [agent for agent in user.team if agent != user.agent_id]


def devices_page(request: Request, workspace: Workspace, user: User, notice: str | None = None) -> Response:
    app, table = workspace.app, workspace.sessions
    mine = open_sessions(app, table, [user.agent_id], workspace.policy)
    team = team_of(workspace, user)
    context = {
        "user": user,
        "names": agent_names(workspace),
        "notice": notice,
        "mine": mine,
        "team_view": user.role.kind != "sales",
        "team": [s for s in open_sessions(app, table, team, workspace.policy) if s.agent_id != user.agent_id],
        "held": held_of(workspace, team),
        "history": table.sessions_of([user.agent_id, *team], since=app.clock() - HISTORY),
    }
    return render(request, "devices.html", context)


def held_of(workspace: Workspace, agents: list[str]) -> list[tuple[str, str]]:
    held = []
    for agent_id in agents:
        standing = workspace.standing(agent_id)
        if standing is not None and standing.held is not None:
            held.append((agent_id, standing.held))
    return held


def end_action(request: Request, workspace: Workspace, user: User) -> Response:
    key = text_of(request.scope["eventchain.form"].get("session")) or ""
    session = workspace.sessions.get(key)
    if session is None or not may_end(str(user.role), user.team, user.agent_id, session.agent_id):
        raise HTTPException(404, "not found")  # another's session: as if it did not exist
    reason = ENDED_BY_USER if session.agent_id == user.agent_id else ENDED_BY_ADMIN
    end_session(workspace.app, workspace.sessions, session, reason, user.agent_id)
    if session.key == user.session_key:
        request.session.clear()
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/devices", status_code=303)


def end_all_action(request: Request, workspace: Workspace, user: User) -> Response:
    """Sign out everywhere: every browser of the user, this one included."""
    end_sessions_of(
        workspace.app,
        workspace.sessions,
        user.agent_id,
        SIGNED_OUT_EVERYWHERE,
        user.agent_id,
        policy=workspace.policy,
    )
    request.session.clear()
    return RedirectResponse("/login", status_code=303)


def release_action(request: Request, workspace: Workspace, user: User) -> Response:
    agent_id = text_of(request.scope["eventchain.form"].get("agent")) or ""
    if user.role.kind == "sales" or agent_id not in team_of(workspace, user):
        raise HTTPException(404, "not found")
    if find_account(workspace.app, agent_id) is None or agent_id not in roster(workspace.app).agents:
        raise HTTPException(404, "not found")
    release_sign_ins(workspace.app, agent_id, user.agent_id)
    workspace.forget(agent_id)
    return devices_page(request, workspace, user, translator(language_of(request))["released"])
