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
from zoneinfo import ZoneInfo

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
from eventchain.web.i18n import LANGUAGES, label, role_label, translator
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
ANSWERED_MEMORY: Final = 120.0  # seconds; the projector publishes within a second or two
CHINA: Final = ZoneInfo("Asia/Shanghai")
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
    # Messages for the next page of a session (kept here, never in the URL), and leads an
    # agent answered that the published snapshot may not show answered yet.
    _flashes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _answered: dict[tuple[str, str], float] = field(default_factory=dict)
    data_dir: Path = Path("data")  # where derived copies (exports) are listed

    def __post_init__(self) -> None:
        if self.figures is None:
            self.figures = FigureCache(self.snapshot.identity)

    def cached(
        self,
        key: tuple[Any, ...],
        compute: Callable[[], Any],
        agent_id: str | None = None,
        *,
        current: bool = False,
    ) -> Any:
        """A role's figures for the published snapshot (eventchain/web/figure_cache.py: computed
        once per snapshot, refreshed off the request path while the snapshot moves). An agent
        who has just recorded something gets figures of the current snapshot, so the effect
        shows as soon as the projector has published it."""
        assert self.figures is not None
        acted = self._acted.get(agent_id) if agent_id else None
        fresh = current or (acted is not None and time.monotonic() - acted < self.figures.max_stale)
        return self.figures.get(key, compute, fresh=fresh)

    def acted(self, agent_id: str) -> None:
        self._acted[agent_id] = time.monotonic()

    def flash(self, session_id: str, message: dict[str, Any]) -> None:
        self._flashes[session_id] = message

    def take_flash(self, session_id: str) -> dict[str, Any] | None:
        return self._flashes.pop(session_id, None)

    def answered(self, agent_id: str, customer_id: str) -> None:
        self._answered[(agent_id, customer_id)] = time.monotonic()

    def unanswered(self, agent_id: str, customer_id: str) -> None:
        self._answered.pop((agent_id, customer_id), None)

    def recently_answered(self, agent_id: str) -> set[str]:
        """Leads ``agent_id`` answered in the last ANSWERED_MEMORY seconds: the desk leaves them
        out at once instead of waiting for the projector to publish the answer."""
        horizon = time.monotonic() - ANSWERED_MEMORY
        for key in [k for k, at in self._answered.items() if at < horizon]:
            del self._answered[key]
        return {customer for (agent, customer) in self._answered if agent == agent_id}

    def agents(self) -> dict[str, Agent]:
        cached = self._roster
        if cached is None or time.monotonic() - cached[0] > ROSTER_CACHE_SECONDS:
            cached = (time.monotonic(), dict(roster(self.app).agents))
            self._roster = cached
        return cached[1]


templates = Jinja2Templates(directory=str(HERE / "templates"))


def _when(value: Any) -> str:
    """An instant in China time, to the minute (stored instants are UTC)."""
    instant: object = value
    if isinstance(value, str):
        try:
            instant = datetime.fromisoformat(value)
        except ValueError:
            return value
    if isinstance(instant, datetime):
        if instant.tzinfo is not None:
            instant = instant.astimezone(CHINA)
        return instant.strftime("%Y-%m-%d %H:%M")
    return "—" if value is None else str(value)


def duration(seconds: float, words: dict[str, str]) -> str:
    """``3天2小时``, ``2小时5分钟``, ``4分钟``: the two largest units, whole."""
    minutes = int(abs(seconds)) // 60
    days, hours, mins = minutes // 1440, minutes % 1440 // 60, minutes % 60
    if days:
        return f"{days}{words['days_short']}{hours}{words['hours_short']}"
    if hours:
        return f"{hours}{words['hours_short']}{mins}{words['minutes_short']}"
    return f"{mins}{words['minutes_short']}"


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
templates.env.globals["role_label"] = role_label
templates.env.globals["duration"] = duration


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


ERROR_HINTS: Final = {404: "not_found_hint", 403: "forbidden_hint", 503: "unavailable_hint"}


def error_page(request: Request, error: Exception) -> Response:
    """Errors in the layout, in the user's language, saying what to do; JSON for the API."""
    assert isinstance(error, HTTPException)
    detail = str(error.detail).splitlines()[0] if error.detail else "error"
    if request.url.path.startswith("/api/") or "text/html" not in request.headers.get("accept", ""):
        return JSONResponse({"error": detail}, status_code=error.status_code)
    words = translator(language_of(request))
    if error.status_code == 403 and "csrf" in detail.lower():
        message = words["csrf_hint"]
    elif error.status_code in ERROR_HINTS:
        message = words[ERROR_HINTS[error.status_code]]
    elif error.status_code == 400:
        message = words["bad_request_hint"].format(detail=detail)
    else:
        message = words["server_error_hint"]
    user = current_user(request, request.app.state.workspace) if "session" in request.scope else None
    context = {"message": message, "user": user, "status": error.status_code}
    return render(request, "error.html", context, error.status_code)


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
            return datetime.combine(date.fromisoformat(text), datetime.min.time(), tzinfo=CHINA)
        except ValueError:
            raise HTTPException(400, f"日期 {name}={text!r} 无效，请写成 2026-03-01 的形式") from None

    start, end = day("from"), day("to")
    if start and end and start >= end:
        raise HTTPException(400, "开始日期须早于结束日期")
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
