"""The web workspace (SPEC §3b): the Starlette application, its routes and middleware, and the
server ``eventchain serve`` runs. Pages and commands live beside it: ``context`` (who is
asking, rendering), ``sign_in``, ``pages`` (reads over the analyst snapshot), ``commands``
(writes through the application's use cases)."""

from __future__ import annotations

import ipaddress
import os
import threading
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, Final

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from adapters.sessions import SessionTable
from application.event_chain import EventChain
from application.read_audit import ReadAlertCheck, ReadEntry, alert_policy_in_force, publish_alert
from eventchain.bootstrap import build_application
from eventchain.nats_support import running_local_url
from eventchain.web.commands import log_action, retract_action, stage_action
from eventchain.web.context import (
    HERE,
    SESSION_COOKIE,
    User,
    Workspace,
    csrf_ok,
    current_user,
    error_page,
    html_of,
    json_of,
    log,
)
from eventchain.web.devices import devices_page, end_action, end_all_action, release_action
from eventchain.web.figure_cache import MAX_STALE, FigureCache
from eventchain.web.group_commit import GroupCommit
from eventchain.web.pages import (
    board_api,
    board_page,
    customer_data,
    customers_csv,
    customers_data,
    desk_data,
    desk_live_api,
    freshness_api,
)
from eventchain.web.security import (
    SESSION_LIFETIME,
    SignInLimiter,
    session_secret,
)
from eventchain.web.sign_in import (
    home,
    login_form,
    login_handler,
    logout_handler,
    me,
    password_page,
    welcome_handler,
)
from eventchain.web.snapshot import SnapshotMissingError, SnapshotReader

# What a session signed in with a temporary password may reach before it is changed.
TEMPORARY_PASSWORD_PATHS: Final = frozenset({"/password", "/api/me"})


def create_app(settings: Any, app: EventChain | None = None, *, max_stale: float = MAX_STALE) -> Starlette:
    """The ASGI application; ``app`` defaults to the configured store (its clock is the
    service's clock: session expiry, rate limits and logged touchpoints all use it).
    ``max_stale``: how old figures may be served while they are recomputed (0: never)."""
    chain = app or build_application(settings)
    snapshot = SnapshotReader(Path(settings.snapshot_path))
    sessions = SessionTable(chain.recorder)
    policy = alert_policy_in_force(chain, os.environ)
    workspace = Workspace(
        chain,
        snapshot,
        SignInLimiter(sessions, chain.clock),
        GroupCommit(chain),
        sessions,
        figures=FigureCache(snapshot.identity, max_stale=max_stale),
        data_dir=Path(settings.data_dir),
        # Always there: a rules revision may switch the checks on (or to freeze) while serving.
        alerts=ReadAlertCheck(
            chain, sessions, policy, source=lambda: alert_policy_in_force(chain, os.environ)
        ),
        publish_alert=alert_publisher(settings),
    )

    def page(
        handler: Callable[[Request, Workspace, User], Awaitable[Response] | Response],
    ) -> Callable[..., Any]:
        def endpoint(request: Request) -> Response:
            user = current_user(request, workspace)
            if user is None:
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"error": "sign in first"}, status_code=401)
                return RedirectResponse("/login", status_code=303)
            if request.method == "POST" and not csrf_ok(request):
                raise HTTPException(403, "missing or wrong CSRF token")
            if user.must_change_password and request.url.path not in TEMPORARY_PASSWORD_PATHS:
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"error": "change your temporary password first"}, status_code=403)
                return RedirectResponse("/password", status_code=303)
            try:
                result = handler(request, workspace, user)
            except SnapshotMissingError as error:
                raise HTTPException(503, str(error)) from None
            assert isinstance(result, Response)
            return result

        return endpoint

    routes = [
        Route("/", lambda request: home(request, workspace)),
        Route("/login", lambda request: login_form(request), methods=["GET"]),
        Route("/login", login_handler(workspace), methods=["POST"]),
        Route("/logout", logout_handler(workspace), methods=["POST"]),
        Route("/welcome/{agent_id}/{token}", welcome_handler(workspace), methods=["GET", "POST"]),
        Route("/desk", page(html_of(desk_data, "desk.html"))),
        Route("/board", page(board_page)),
        Route("/customers", page(html_of(customers_data, "customers.html"))),
        Route("/customers.csv", page(customers_csv)),
        Route("/customers/{customer_id}", page(html_of(customer_data, "customer.html"))),
        Route("/customers/{customer_id}/log", page(log_action), methods=["POST"]),
        Route("/customers/{customer_id}/retract", page(retract_action), methods=["POST"]),
        Route("/customers/{customer_id}/stage", page(stage_action), methods=["POST"]),
        Route("/password", page(password_page), methods=["GET", "POST"]),
        Route("/devices", page(devices_page)),
        Route("/devices/end", page(end_action), methods=["POST"]),
        Route("/devices/end-all", page(end_all_action), methods=["POST"]),
        Route("/devices/release", page(release_action), methods=["POST"]),
        Route("/api/me", page(lambda r, w, u: JSONResponse(me(u)))),
        Route("/api/freshness", page(freshness_api)),
        Route("/api/desk", page(json_of(desk_data))),
        Route("/api/desk/live", page(desk_live_api)),
        Route("/api/board", page(board_api)),
        Route("/api/customers", page(json_of(customers_data))),
        Route("/api/customers/{customer_id}", page(json_of(customer_data))),
        Mount("/static", StaticFiles(directory=str(HERE / "static")), name="static"),
    ]
    middleware = [
        Middleware(
            SessionMiddleware,
            secret_key=session_secret(getattr(settings, "kek", None)),
            session_cookie=SESSION_COOKIE,
            max_age=int(SESSION_LIFETIME.total_seconds()),
            same_site="strict",
            https_only=False,  # loopback by default; put TLS in front for anything else
        ),
        Middleware(FormFirst),
    ]
    web = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: error_page})
    web.state.workspace = workspace
    return web


def alert_publisher(settings: Any) -> Callable[[ReadEntry, list[str], bool], None]:
    """Publishes read alerts where the CLI does: the configured NATS, else the local one."""

    def publish(entry: ReadEntry, reasons: list[str], frozen: bool) -> None:
        url = getattr(settings, "nats_url", None) or running_local_url(Path(settings.data_dir) / "nats")
        if url is None:
            log.warning("read alert not published: no NATS configured or running")
            return
        publish_alert(url, entry, reasons, frozen)

    return publish


class FormFirst:
    """Reads a POST's form once, before the endpoint runs, so the CSRF check and the
    command see the same fields (sync endpoints cannot await the body)."""

    def __init__(self, app: Any) -> None:
        self.app = app

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        posting = scope["type"] == "http" and scope["method"] == "POST"
        if posting and scope["path"] not in ("/login", "/logout"):
            request = Request(scope, receive)
            form = await request.form()
            scope["eventchain.form"] = {k: v for k, v in form.items() if isinstance(v, str)}
            body = b""

            async def replay() -> dict[str, Any]:
                return {"type": "http.request", "body": body, "more_body": False}

            await self.app(scope, replay, send)
            return
        await self.app(scope, receive, send)


def parse_addr(text: str) -> tuple[str, int]:
    host, _, port = text.rpartition(":")
    host = host.strip("[]") or "127.0.0.1"
    try:
        ipaddress.ip_address(host)
        number = int(port)
    except ValueError:
        raise ValueError(f"web address {text!r}: expected host:port, e.g. 127.0.0.1:8710") from None
    if not 0 <= number <= 65535:
        raise ValueError(f"web address {text!r}: port out of range")
    return host, number


KEEP_ALIVE_S: Final = 30


def run_web(
    settings: Any, stop: threading.Event, app: EventChain | None = None, *, max_stale: float = MAX_STALE
) -> None:
    """Serves the workspace on ``settings.web_addr`` until ``stop`` is set (serve runs it
    as one of its threads)."""
    host, port = parse_addr(settings.web_addr)
    asgi = create_app(settings, app, max_stale=max_stale)
    workspace: Workspace = asgi.state.workspace
    server = uvicorn.Server(
        uvicorn.Config(
            asgi,
            host=host,
            port=port,
            log_level="warning",
            access_log=False,
            lifespan="off",
            # Longer than the pages' 5 s freshness poll, so a polling browser keeps its connection
            # (uvicorn's default, 5 s, closes it just as the next poll is sent).
            timeout_keep_alive=KEEP_ALIVE_S,
        )
    )

    def stop_when_told() -> None:
        stop.wait()
        server.should_exit = True

    threading.Thread(target=stop_when_told, name="web-stop", daemon=True).start()
    log.info("web workspace on http://%s:%d", host, port)
    try:
        server.run()
    finally:
        if workspace.figures is not None:
            workspace.figures.close()
        workspace.snapshot.close()
