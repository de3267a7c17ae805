"""What every request of the workspace shares: the signed-in user, the workspace's state,
CSRF, language, rendering, the read audit and the period filter."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from uuid import UUID

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from application.event_chain import EventChain
from application.read_audit import record_read
from application.rules import roster
from domain.accounts import team_members
from domain.roster import Agent
from domain.touchpoints import CHANNELS
from domain.vocabulary import STAGES
from eventchain.web.figure_cache import FigureCache
from eventchain.web.group_commit import GroupCommit
from eventchain.web.i18n import LANGUAGES, label, translator
from eventchain.web.security import (
    SignInLimiter,
    csrf_matches,
    csrf_token,
    session_current,
)
from eventchain.web.snapshot import SnapshotReader
from projections import workspace_queries as figures
from projections.queries import Window
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


def current_user(request: Request, workspace: Workspace) -> User | None:
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


def csrf_ok(request: Request) -> bool:
    offered = request.headers.get("x-csrf-token")
    if offered is None:
        form = request.scope.get("eventchain.form")
        offered = form.get("csrf") if form is not None else None
    return csrf_matches(request.session, offered)


def language_of(request: Request) -> str:
    chosen = request.query_params.get("lang")
    if chosen in LANGUAGES:
        request.session["lang"] = chosen
    language = request.session.get("lang", "zh")
    return language if language in LANGUAGES else "zh"


def render(request: Request, template: str, context: dict[str, Any], status_code: int = 200) -> Response:
    language = language_of(request)
    context = {
        "t": translator(language),
        "lang": language,
        "csrf": csrf_token(request.session),
        "stages": STAGES,
        "channels": CHANNELS,
        **context,
    }
    return templates.TemplateResponse(request, template, context, status_code=status_code)


def text_of(value: Any) -> str | None:
    return value if isinstance(value, str) else None


def error_page(request: Request, error: Exception) -> Response:
    assert isinstance(error, HTTPException)
    detail = str(error.detail).splitlines()[0] if error.detail else "error"
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": detail}, status_code=error.status_code)
    return render(request, "error.html", {"message": detail, "user": None}, error.status_code)


def audit_read(workspace: Workspace, user: User, action: str, subject: str, rows: int) -> None:
    record_read(
        workspace.audit,  # type: ignore[arg-type]  # clock + save, committed in groups
        actor=user.agent_id,
        role=str(user.role),
        action=action,
        subject=subject,
        rows=rows,
        via="web",
    )


def period_of(request: Request) -> Window:
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


def agent_names(workspace: Workspace) -> dict[str, str]:
    return {agent_id: agent.name for agent_id, agent in workspace.agents().items()}


Reader = Callable[[Request, Workspace, User], dict[str, Any]]


def html_of(reader: Reader, template: str) -> Callable[[Request, Workspace, User], Response]:
    def handler(request: Request, workspace: Workspace, user: User) -> Response:
        data = reader(request, workspace, user)
        return render(request, template, {"user": user, "names": agent_names(workspace), **data})

    return handler


def json_of(reader: Reader) -> Callable[[Request, Workspace, User], Response]:
    return lambda request, workspace, user: json_response(reader(request, workspace, user))


def slots_of(value: Any) -> dict[str, Any]:
    return {name: getattr(value, name) for name in value.__slots__}


def visible_customer(workspace: Workspace, user: User, customer_id: str) -> UUID:
    with workspace.snapshot.cursor() as connection:
        load_visible_customers(connection, user.role, user.team)
        if figures.customer_360(connection, customer_id) is None:
            raise HTTPException(404, "not found")
    return UUID(customer_id)


def json_response(data: dict[str, Any]) -> Response:
    import json

    return Response(
        json.dumps(data, ensure_ascii=False, default=plain), media_type="application/json; charset=utf-8"
    )


def plain(value: Any) -> Any:
    if isinstance(value, datetime | date):
        return value.isoformat()
    if isinstance(value, UUID):
        return str(value)
    if isinstance(value, set | tuple):
        return list(value)
    return str(value)
