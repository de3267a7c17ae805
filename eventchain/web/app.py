"""The web workspace (SPEC §3b): Starlette pages and JSON over the analyst snapshot,
commands through the store, every read filtered by the signed-in agent's role."""

from __future__ import annotations

import ipaddress
import logging
import threading
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from uuid import UUID

import uvicorn
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.middleware.sessions import SessionMiddleware
from starlette.requests import Request
from starlette.responses import JSONResponse, RedirectResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.templating import Jinja2Templates

from application.accounts import (
    PasswordError,
    SignInError,
    link_valid,
    redeem_link,
    sign_in,
    sign_out,
)
from application.event_chain import CustomerNotFoundError, EventChain
from application.read_audit import record_read
from application.rep_actions import ActionError, log_contact, move_stage
from application.rules import roster
from domain.accounts import AccountError, team_members
from domain.roster import Agent
from domain.rules import RulesError
from domain.touchpoints import CHANNELS
from domain.vocabulary import STAGES
from eventchain.web.figure_cache import MAX_STALE, FigureCache
from eventchain.web.group_commit import GroupCommit
from eventchain.web.i18n import LANGUAGES, label, translator
from eventchain.web.security import (
    SESSION_LIFETIME,
    SignInLimiter,
    csrf_matches,
    csrf_token,
    session_current,
    session_secret,
)
from eventchain.web.snapshot import SnapshotMissingError, SnapshotReader
from projections import workspace_queries as figures
from projections.queries import Window, load_report_data
from projections.visibility import Role, RoleError, load_visible_customers, parse_role

HERE: Final = Path(__file__).parent
ROSTER_CACHE_SECONDS: Final = 5.0
DESK_ROWS: Final = 50  # the most urgent first; the totals say how many more there are
SESSION_COOKIE: Final = "eventchain_session"
log = logging.getLogger("eventchain.web")


@dataclass(frozen=True, slots=True)
class User:
    agent_id: str
    role: Role
    team: tuple[str, ...]
    session_id: str


@dataclass
class Workspace:
    app: EventChain
    snapshot: SnapshotReader
    limiter: SignInLimiter
    audit: GroupCommit
    ended_sessions: set[str] = field(default_factory=set)
    _roster: tuple[float, dict[str, Agent]] | None = None
    figures: FigureCache | None = None
    _acted: dict[str, float] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.figures is None:
            self.figures = FigureCache(self.snapshot.identity)

    def cached(self, key: tuple[Any, ...], compute: Callable[[], Any], agent_id: str | None = None) -> Any:
        """A role's figures for the published snapshot (eventchain/web/figure_cache.py: computed
        once per snapshot, refreshed off the request path while the snapshot moves). An agent
        who has just recorded something gets figures of the current snapshot, so the effect
        shows as soon as the projector has published it."""
        assert self.figures is not None
        acted = self._acted.get(agent_id) if agent_id else None
        fresh = acted is not None and time.monotonic() - acted < self.figures.max_stale
        return self.figures.get(key, compute, fresh=fresh)

    def acted(self, agent_id: str) -> None:
        self._acted[agent_id] = time.monotonic()

    def agents(self) -> dict[str, Agent]:
        cached = self._roster
        if cached is None or time.monotonic() - cached[0] > ROSTER_CACHE_SECONDS:
            cached = (time.monotonic(), dict(roster(self.app).agents))
            self._roster = cached
        return cached[1]


templates = Jinja2Templates(directory=str(HERE / "templates"))


def _when(value: Any) -> str:
    if isinstance(value, datetime):
        return value.strftime("%Y-%m-%d %H:%M")
    return "—" if value is None else str(value)


def _number(value: Any, digits: int = 1) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:,.{digits}f}"
    if isinstance(value, int) and not isinstance(value, bool):
        return f"{value:,}"
    return str(value)


templates.env.filters["when"] = _when
templates.env.filters["number"] = _number
templates.env.globals["zip"] = zip
templates.env.globals["label"] = label


def create_app(settings: Any, app: EventChain | None = None, *, max_stale: float = MAX_STALE) -> Starlette:
    """The ASGI application; ``app`` defaults to the configured store (its clock is the
    service's clock: session expiry, rate limits and logged touchpoints all use it).
    ``max_stale``: how old figures may be served while they are recomputed (0: never)."""
    chain = app or EventChain.from_url(settings.store_url, kek=settings.kek)
    snapshot = SnapshotReader(Path(settings.snapshot_path))
    workspace = Workspace(
        chain,
        snapshot,
        SignInLimiter(chain.clock),
        GroupCommit(chain),
        figures=FigureCache(snapshot.identity, max_stale=max_stale),
    )

    def page(
        handler: Callable[[Request, Workspace, User], Awaitable[Response] | Response],
    ) -> Callable[..., Any]:
        def endpoint(request: Request) -> Response:
            user = _user(request, workspace)
            if user is None:
                if request.url.path.startswith("/api/"):
                    return JSONResponse({"error": "sign in first"}, status_code=401)
                return RedirectResponse("/login", status_code=303)
            if request.method == "POST" and not _csrf_ok(request):
                raise HTTPException(403, "missing or wrong CSRF token")
            try:
                result = handler(request, workspace, user)
            except SnapshotMissingError as error:
                raise HTTPException(503, str(error)) from None
            assert isinstance(result, Response)
            return result

        return endpoint

    routes = [
        Route("/", lambda request: _home(request, workspace)),
        Route("/login", lambda request: _login_form(request), methods=["GET"]),
        Route("/login", _login_handler(workspace), methods=["POST"]),
        Route("/logout", _logout_handler(workspace), methods=["POST"]),
        Route("/welcome/{agent_id}/{token}", _welcome_handler(workspace), methods=["GET", "POST"]),
        Route("/desk", page(html_of(desk_data, "desk.html"))),
        Route("/board", page(board_page)),
        Route("/customers", page(html_of(customers_data, "customers.html"))),
        Route("/customers/{customer_id}", page(html_of(customer_data, "customer.html"))),
        Route("/customers/{customer_id}/log", page(log_action), methods=["POST"]),
        Route("/customers/{customer_id}/stage", page(stage_action), methods=["POST"]),
        Route("/api/me", page(lambda r, w, u: JSONResponse(_me(u)))),
        Route("/api/freshness", page(freshness_api)),
        Route("/api/desk", page(json_of(desk_data))),
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
    web = Starlette(routes=routes, middleware=middleware, exception_handlers={HTTPException: _error})
    web.state.workspace = workspace
    return web


# --- sessions ---------------------------------------------------------------------------


def _user(request: Request, workspace: Workspace) -> User | None:
    session = request.session
    if not session_current(session, workspace.app.clock(), workspace.ended_sessions):
        if session.get("agent"):
            session.clear()
        return None
    try:
        role = parse_role(session["role"])
    except RoleError:
        return None
    team = tuple(team_members(workspace.agents(), role.agent_id or "")) if role.kind == "director" else ()
    return User(session["agent"], role, team, session["sid"])


def _csrf_ok(request: Request) -> bool:
    offered = request.headers.get("x-csrf-token")
    if offered is None:
        form = request.scope.get("eventchain.form")
        offered = form.get("csrf") if form is not None else None
    return csrf_matches(request.session, offered)


def _language(request: Request) -> str:
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        request.session["lang"] = chosen
    language = request.session.get("lang", "zh")
    return language if language in LANGUAGES else "zh"


def _render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    language = _language(request)
    context = {
        "t": translator(language),
        "lang": language,
        "csrf": csrf_token(request.session),
        "stages": STAGES,
        "channels": CHANNELS,
        **context,
    }
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def _home(request: Request, workspace: Workspace) -> Response:
    user = _user(request, workspace)
    if user is None:
        return RedirectResponse("/login", status_code=303)
    return RedirectResponse("/desk" if user.role.kind == "sales" else "/board", status_code=303)


def _login_form(request: Request, message: str | None = None, status_code: int = 200) -> Response:
    notice = None
    if request.query_params.get("notice") == "password_set":
        notice = translator(_language(request))["password_set"]
    return _render(request, "login.html", {"message": message, "notice": notice, "user": None}, status_code)


def _login_handler(workspace: Workspace) -> Callable[[Request], Awaitable[Response]]:
    async def login(request: Request) -> Response:
        form = await request.form()
        if not csrf_matches(request.session, _text(form.get("csrf"))):
            raise HTTPException(403, "missing or wrong CSRF token")
        agent_id = (_text(form.get("agent_id")) or "").strip()[:64]
        password = _text(form.get("password")) or ""
        client = request.client.host if request.client else "?"
        words = translator(_language(request))
        if workspace.limiter.blocked(agent_id, client):
            return _login_form(request, words["too_many"], 429)
        try:
            signed = sign_in(workspace.app, agent_id, password, client)
        except SignInError:
            workspace.limiter.failed(agent_id, client)
            return _login_form(request, words["wrong_credentials"], 401)
        language = request.session.get("lang", "zh")
        request.session.clear()  # a fresh session (and CSRF token) on every sign-in
        request.session.update(
            agent=signed.agent_id,
            role=signed.role,
            sid=signed.session_id,
            issued_at=workspace.app.clock().isoformat(),
            lang=language,
        )
        return RedirectResponse("/", status_code=303)

    return login


def _welcome_handler(workspace: Workspace) -> Callable[[Request], Awaitable[Response]]:
    """A one-time link from ``team invite --link``: the agent sets their own password."""

    async def welcome(request: Request) -> Response:
        agent_id = request.path_params["agent_id"][:64]
        token = request.path_params["token"][:128]
        words = translator(_language(request))

        def form(message: str | None, status_code: int) -> Response:
            context = {"message": message, "user": None, "agent_id": agent_id}
            return _render(request, "welcome.html", context, status_code)

        if request.method == "GET":
            valid = link_valid(workspace.app, agent_id, token)
            return form(None if valid else words["link_invalid"], 200 if valid else 404)
        fields = request.scope["eventchain.form"]  # read by FormFirst
        if not csrf_matches(request.session, _text(fields.get("csrf"))):
            raise HTTPException(403, "missing or wrong CSRF token")
        try:
            redeem_link(
                workspace.app,
                agent_id,
                token,
                _text(fields.get("password")) or "",
                _text(fields.get("confirm")) or "",
            )
        except PasswordError as error:  # which field, and why, in the page's language
            why = words["password_rule"] if error.field == "password" else words["passwords_differ"]
            return form(f"{words[error.field]}: {why}", 400)
        except AccountError:
            return form(words["link_invalid"], 404)
        return RedirectResponse("/login?notice=password_set", status_code=303)

    return welcome


def _logout_handler(workspace: Workspace) -> Callable[[Request], Awaitable[Response]]:
    async def logout(request: Request) -> Response:
        form = await request.form()
        if not csrf_matches(request.session, _text(form.get("csrf"))):
            raise HTTPException(403, "missing or wrong CSRF token")
        agent, sid = request.session.get("agent"), request.session.get("sid")
        if isinstance(agent, str) and isinstance(sid, str):
            workspace.ended_sessions.add(sid)
            sign_out(workspace.app, agent, sid)
        request.session.clear()
        return RedirectResponse("/login", status_code=303)

    return logout


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def _error(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    detail = str(error.detail).splitlines()[0] if error.detail else "error"
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": detail}, status_code=error.status_code)
    return _render(request, "error.html", {"message": detail, "user": None}, error.status_code)


def _me(user: User) -> dict[str, Any]:
    return {"agent_id": user.agent_id, "role": str(user.role), "team": list(user.team)}


# --- reading ----------------------------------------------------------------------------


def _audit(workspace: Workspace, user: User, action: str, subject: str, rows: int) -> None:
    record_read(
        workspace.audit,  # type: ignore[arg-type]  # clock + save, committed in groups
        actor=user.agent_id,
        role=str(user.role),
        action=action,
        subject=subject,
        rows=rows,
        via="web",
    )


def _window(request: Request) -> Window:
    def day(name: str) -> datetime | None:
        text = request.query_params.get(name)
        if not text:
            return None
        try:
            return datetime.combine(date.fromisoformat(text), datetime.min.time()).astimezone()
        except ValueError:
            raise HTTPException(400, f"{name}={text!r} is not a date like 2026-03-01") from None

    start, end = day("from"), day("to")
    if start and end and start >= end:
        raise HTTPException(400, "from must be before to")
    return Window(start, end + timedelta(days=1) if end else None)


def _names(workspace: Workspace) -> dict[str, str]:
    return {agent_id: agent.name for agent_id, agent in workspace.agents().items()}


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

    def compute() -> tuple[list[dict[str, Any]], list[dict[str, Any]], dict[str, Any]]:
        with workspace.snapshot.cursor() as connection:
            load_visible_customers(connection, user.role, user.team)
            owner = user.agent_id if user.role.kind != "exec" else None
            return (
                figures.waiting_leads(connection, owner, DESK_ROWS).dicts(),
                figures.no_follow_up_on_channel(connection, channel, days, DESK_ROWS).dicts(),
                figures.freshness(connection),
            )

    now = workspace.app.clock()
    leads, silent, freshness = workspace.cached(
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
    _audit(workspace, user, "web.desk", f"waiting+{channel}>{days}d", len(waiting) + len(silent))
    return {
        "waiting": waiting,
        "no_follow_up": silent,
        "channel": channel,
        "days": days,
        "now": now,
        "freshness": freshness,
    }


Reader = Callable[[Request, Workspace, User], dict[str, Any]]


def html_of(reader: Reader, template: str) -> Callable[[Request, Workspace, User], Response]:
    def handler(request: Request, workspace: Workspace, user: User) -> Response:
        data = reader(request, workspace, user)
        return _render(request, template, {"user": user, "names": _names(workspace), **data})

    return handler


def json_of(reader: Reader) -> Callable[[Request, Workspace, User], Response]:
    return lambda request, workspace, user: _json(reader(request, workspace, user))


def board_data(request: Request, workspace: Workspace, user: User) -> dict[str, Any]:
    if user.role.kind == "sales":
        raise HTTPException(404, "not found")
    window = _window(request)
    data: dict[str, Any] = workspace.cached(
        (str(user.role), user.team, "board", window.start, window.end),
        lambda: _board_figures(workspace, user, window),
        user.agent_id,
    )
    _audit(workspace, user, "web.board", request.url.query or "all", data["visible"])
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
        }


def board_page(request: Request, workspace: Workspace, user: User) -> Response:
    data = board_data(request, workspace, user)
    agents = workspace.agents()
    grid = {(w, h): (n, mean) for w, h, n, mean in data["heatmap"]}
    top = max((n for n, _ in grid.values()), default=0)
    return _render(
        request,
        "board.html",
        {
            "user": user,
            "names": _names(workspace),
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
        "channels": [vars(c) if hasattr(c, "__dict__") else _slots(c) for c in ctre.channels],
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
    return _json(data)


def _slots(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


FILTERS: Final = ("stage", "channel", "owner", "city")


def customers_data(request: Request, workspace: Workspace, user: User) -> dict[str, Any]:
    filters = {k: v for k, v in request.query_params.items() if k in FILTERS and v}
    with workspace.snapshot.cursor() as connection:
        load_visible_customers(connection, user.role, user.team)
        rows = figures.customers(connection, filters).dicts()
        freshness = figures.freshness(connection)
    _audit(
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
    _audit(workspace, user, "web.customer", customer_id, 1)
    return {"customer": row, "timeline": chain, "freshness": freshness}


def freshness_api(request: Request, workspace: Workspace, user: User) -> Response:
    with workspace.snapshot.cursor() as connection:
        return _json(figures.freshness(connection))


# --- commands ---------------------------------------------------------------------------


def _visible_customer(workspace: Workspace, user: User, customer_id: str) -> UUID:
    with workspace.snapshot.cursor() as connection:
        load_visible_customers(connection, user.role, user.team)
        if figures.customer_360(connection, customer_id) is None:
            raise HTTPException(404, "not found")
    return UUID(customer_id)


def _command(
    request: Request, workspace: Workspace, user: User, run: Callable[[UUID, dict[str, str]], str]
) -> Response:
    customer_id = request.path_params["customer_id"]
    form = request.scope["eventchain.form"]
    uuid = _visible_customer(workspace, user, customer_id)
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


def _json(data: dict[str, Any]) -> Response:
    import json

    return Response(
        json.dumps(data, ensure_ascii=False, default=_plain), media_type="application/json; charset=utf-8"
    )


def _plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, set | tuple):
        return list(value)
    return str(value)


# --- serving ----------------------------------------------------------------------------


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
