"""Signing in and out, changing one's password, and the one-time welcome link where an agent
sets their password."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from application.accounts import (
    PasswordError,
    SignInError,
    SignInsHeldError,
    change_password,
    link_valid,
    redeem_link,
    sign_in,
)
from application.sessions import end_session, end_sessions_of, open_for, session_key
from domain.accounts import AccountError
from domain.sessions import PASSWORD_CHANGED, SIGNED_OUT
from eventchain.web.context import User, Workspace, current_user, language_of, render, text_of
from eventchain.web.i18n import translator
from eventchain.web.security import (
    csrf_matches,
)


def home(request: Request, workspace: Workspace) -> Response:
    user = current_user(request, workspace)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    if user.must_change_password:
        return RedirectResponse("/password", status_code=303)
    return RedirectResponse("/desk" if user.role.kind == "sales" else "/board", status_code=303)


def login_form(request: Request, message: str | None = None, status_code: int = 200) -> Response:
    # A notice the server left in this browser's session (never text or a code from the URL).
    notice = None
    if request.session.pop("notice", None) == "password_set":
        notice = translator(language_of(request))["password_set"]
    return render(request, "login.html", {"message": message, "notice": notice, "user": None}, status_code)


def login_handler(workspace: Workspace) -> Callable[[Request], Awaitable[Response]]:
    async def login(request: Request) -> Response:
        form = await request.form()
        if not csrf_matches(request.session, text_of(form.get("csrf"))):
            raise HTTPException(403, "missing or wrong CSRF token")
        agent_id = (text_of(form.get("agent_id")) or "").strip()[:64]
        password = text_of(form.get("password")) or ""
        client = request.client.host if request.client else "?"
        words = translator(language_of(request))
        device = request.headers.get("user-agent", "")
        if workspace.limiter.blocked(agent_id, client):
            return login_form(request, words["too_many"], 429)
        try:
            signed = sign_in(workspace.app, agent_id, password, client, device)
        except SignInsHeldError:
            return login_form(request, words["sign_ins_held"], 403)
        except SignInError:
            workspace.limiter.failed(agent_id, client)
            return login_form(request, words["wrong_credentials"], 401)
        open_for(workspace.app, workspace.sessions, signed.agent_id, signed.session_id, client, device)
        workspace.forget(signed.agent_id)
        language = request.session.get("lang", "zh")
        request.session.clear()  # a fresh session (and CSRF token) on every sign-in
        # The cookie names the session and nothing else about the user: who, which role and
        # whether it still runs are read from the store on every request.
        request.session.update(sid=signed.session_id, lang=language)
        return RedirectResponse("/", status_code=303)

    return login


def welcome_handler(workspace: Workspace) -> Callable[[Request], Awaitable[Response]]:
    """A one-time link from ``team invite --link``: the agent sets their own password."""

    async def welcome(request: Request) -> Response:
        agent_id = request.path_params["agent_id"][:64]
        token = request.path_params["token"][:128]
        words = translator(language_of(request))

        def form(message: str | None, status_code: int) -> Response:
            context = {"message": message, "user": None, "agent_id": agent_id}
            return render(request, "welcome.html", context, status_code)

        if request.method == "GET":
            valid = link_valid(workspace.app, agent_id, token)
            return form(None if valid else words["link_invalid"], 200 if valid else 404)
        fields = request.scope["eventchain.form"]  # read by FormFirst
        if not csrf_matches(request.session, text_of(fields.get("csrf"))):
            raise HTTPException(403, "missing or wrong CSRF token")
        try:
            redeem_link(
                workspace.app,
                agent_id,
                token,
                text_of(fields.get("password")) or "",
                text_of(fields.get("confirm")) or "",
            )
        except PasswordError as error:  # which field, and why, in the page's language
            return form(password_message(words, error), 400)
        except AccountError:
            return form(words["link_invalid"], 404)
        request.session["notice"] = "password_set"
        return RedirectResponse("/login", status_code=303)

    return welcome


def logout_handler(workspace: Workspace) -> Callable[[Request], Awaitable[Response]]:
    async def logout(request: Request) -> Response:
        form = await request.form()
        if not csrf_matches(request.session, text_of(form.get("csrf"))):
            raise HTTPException(403, "missing or wrong CSRF token")
        session_id = request.session.get("sid")
        if isinstance(session_id, str):
            session = workspace.sessions.get(session_key(session_id))
            if session is not None:
                end_session(workspace.app, workspace.sessions, session, SIGNED_OUT, session.agent_id)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    return logout


def password_message(words: dict[str, str], error: PasswordError) -> str:
    return f"{words[error.field]}: {words[error.reason]}"


def password_page(request: Request, workspace: Workspace, user: User) -> Response:
    """Change one's password; the only page a temporary password reaches (issue 29)."""

    def form(message: str | None, status_code: int = 200) -> Response:
        context = {"user": user, "message": message, "forced": user.must_change_password}
        return render(request, "password.html", context, status_code)

    if request.method == "GET":
        return form(None)
    fields = request.scope["eventchain.form"]  # read by FormFirst; CSRF checked by page()
    words = translator(language_of(request))
    try:
        change_password(
            workspace.app,
            user.agent_id,
            text_of(fields.get("current")) or "",
            text_of(fields.get("password")) or "",
            text_of(fields.get("confirm")) or "",
        )
    except PasswordError as error:
        return form(password_message(words, error), 400)
    workspace.forget(user.agent_id)
    # Other browsers signed in with the old password are signed out.
    end_sessions_of(
        workspace.app,
        workspace.sessions,
        user.agent_id,
        PASSWORD_CHANGED,
        user.agent_id,
        keep=user.session_key,
        policy=workspace.policy,
    )
    return RedirectResponse("/", status_code=303)


def me(user: User) -> dict[str, Any]:
    return {
        "agent_id": user.agent_id,
        "role": str(user.role),
        "team": list(user.team),
        "must_change_password": user.must_change_password,
    }
