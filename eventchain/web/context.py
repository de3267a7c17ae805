"""What every request of the workspace shares: the signed-in user, the workspace's state,
CSRF, language, rendering, the read audit and the period filter.

Over 400 lines on purpose: these are the pieces every page handler receives together, and the
checks among them (session → role → CSRF → audited read) must run in one order for every page;
the pages themselves are in ``pages.py``, ``commands.py``, ``devices.py``, ``follow_ups.py``."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, Final
from uuid import UUID
from zoneinfo import ZoneInfo

from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.templating import Jinja2Templates

from adapters.sessions import SessionTable
from application.event_chain import EventChain
from application.read_audit import ReadAlertCheck, ReadEntry, act_on_alert, record_read
from application.rules import roster
from application.sessions import end_session, find_account, session_key
from domain.accounts import team_members
from domain.roster import Agent
from domain.sessions import EXPIRED, IDLE, LEFT, Refused, SessionPolicy, Standing, authorise, touched
from domain.touchpoints import CHANNELS
from domain.vocabulary import STAGES
from eventchain.web.figure_cache import FigureCache
from eventchain.web.group_commit import GroupCommit
from eventchain.web.i18n import LANGUAGES, label, role_label, translator
from eventchain.web.security import (
    SESSION_POLICY,
    SignInLimiter,
    csrf_matches,
    csrf_token,
)
from eventchain.web.snapshot import SnapshotReader
from projections import workspace_queries as figures
from projections.queries import Window
from projections.visibility import Role, RoleError, load_visible_customers, parse_role

HERE: Final = Path(__file__).parent
# The roster and accounts are read again at most this old: a departure (`team leave`), a role
# change or a hold is refused within 2 s in every process (issue 29).
ROSTER_CACHE_SECONDS: Final = 1.0
# With the notify action, reads are checked for alerts at most this often, off the request path.
ALERT_CHECK_INTERVAL_S: Final = 0.5
DESK_ROWS: Final = 50  # the most urgent first; the totals say how many more there are
SESSION_COOKIE: Final = "eventchain_session"
ANSWERED_MEMORY: Final = 120.0  # seconds; the projector publishes within a second or two
CHINA: Final = ZoneInfo("Asia/Shanghai")
log = logging.getLogger("eventchain.web")
# Refusals that end the session for good (recorded as a sign-out with the reason).
ENDING_REASONS: Final = frozenset({EXPIRED, IDLE, LEFT})


@dataclass(frozen=True, slots=True)
class User:
    agent_id: str
    role: Role
    team: tuple[str, ...]
    session_key: str  # the SHA-256 of the cookie's session id, as the store keeps it
    must_change_password: bool = False


@dataclass
class Workspace:
    app: EventChain
    snapshot: SnapshotReader
    limiter: SignInLimiter
    audit: GroupCommit
    sessions: SessionTable
    policy: SessionPolicy = SESSION_POLICY
    _roster: tuple[float, dict[str, Agent]] | None = None
    figures: FigureCache | None = None
    _acted: dict[str, float] = field(default_factory=dict)
    # Messages for the next page of a session (kept here, never in the URL), and leads an
    # agent answered that the published snapshot may not show answered yet.
    _flashes: dict[str, dict[str, Any]] = field(default_factory=dict)
    _answered: dict[tuple[str, str], float] = field(default_factory=dict)
    data_dir: Path = Path("data")  # where derived copies (exports) are listed
    _standings: dict[str, tuple[float, Standing | None]] = field(default_factory=dict)
    alerts: ReadAlertCheck | None = None
    # Publishes a read alert on notifications.read_alert.<actor> (entry, reasons, frozen).
    publish_alert: Callable[[ReadEntry, list[str], bool], None] | None = None
    _alerts_due: threading.Event | None = None
    _alert_lock: threading.Lock = field(default_factory=threading.Lock)

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

    def standing(self, agent_id: str) -> Standing | None:
        """The account's grant, hold and password state, at most ROSTER_CACHE_SECONDS old."""
        cached = self._standings.get(agent_id)
        if cached is None or time.monotonic() - cached[0] > ROSTER_CACHE_SECONDS:
            account = find_account(self.app, agent_id)
            cached = (time.monotonic(), None if account is None else account.standing())
            self._standings[agent_id] = cached
        return cached[1]

    def forget(self, agent_id: str) -> None:
        """This process changed the account: read it again on the next request."""
        self._standings.pop(agent_id, None)

    def check_alerts_soon(self) -> None:
        """Wakes the one background thread that checks new reads (started on first use): with
        the notify action no request waits for the check, and one check covers many reads."""
        with self._alert_lock:
            if self._alerts_due is None:
                self._alerts_due = threading.Event()
                threading.Thread(target=self._check_alerts, name="web-read-alerts", daemon=True).start()
            self._alerts_due.set()

    def _check_alerts(self) -> None:
        assert self._alerts_due is not None
        while True:
            self._alerts_due.wait()
            self._alerts_due.clear()
            try:
                freeze_on_alerts(self)
            except Exception:  # the reads are recorded; the next read checks them again
                log.exception("read alert check failed")
            time.sleep(ALERT_CHECK_INTERVAL_S)  # one check (one checkpoint write) covers many reads


templates = Jinja2Templates(directory=str(HERE / "templates"))


CHINA_TIME: Final = timezone(timedelta(hours=8), "CST")


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
    """Who is asking, from the store: the cookie names a session, the session table says whose
    and whether it still runs, the roster and the account say with which role, now."""
    session_id = request.session.get("sid")
    if not isinstance(session_id, str):
        return None
    session = workspace.sessions.get(session_key(session_id))
    now = workspace.app.clock()
    agent_id = session.agent_id if session is not None else ""
    access = authorise(session, now, workspace.policy, workspace.agents(), workspace.standing(agent_id))
    if isinstance(access, Refused):
        if session is not None and session.ended_at is None and access.reason in ENDING_REASONS:
            end_session(workspace.app, workspace.sessions, session, access.reason)
        request.session.pop("sid", None)
        return None
    assert session is not None
    if touched(session, now, workspace.policy) is not None:
        workspace.sessions.seen(session.key, now)
    try:
        role = parse_role(access.role)
    except RoleError:
        return None
    team = tuple(team_members(workspace.agents(), role.agent_id or "")) if role.kind == "director" else ()
    return User(session.agent_id, role, team, session.key, access.must_change_password)


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
    if workspace.alerts is None:
        return
    if workspace.alerts.policy.action != "freeze":  # only told: checked off the request path
        workspace.check_alerts_soon()
        return
    if freeze_on_alerts(workspace):
        standing = workspace.standing(user.agent_id)
        if standing is not None and standing.held is not None:  # frozen before the data left
            raise HTTPException(
                403, "sign-ins held: a read alert froze this account until a director releases it"
            )


def freeze_on_alerts(workspace: Workspace) -> bool:
    """Checks the reads recorded since the last check (this one's among them) and does what the
    rules say; True when an actor was frozen (then this response must not carry the data)."""
    assert workspace.alerts is not None
    frozen = False
    for entry, reasons in workspace.alerts.check():
        acted = act_on_alert(workspace.app, workspace.sessions, workspace.alerts.policy, entry, reasons)
        log.warning("read alert for %s: %s%s", entry.actor, "; ".join(reasons), " (frozen)" if acted else "")
        if workspace.publish_alert is not None:
            try:
                workspace.publish_alert(entry, reasons, acted)
            except Exception as error:  # the read is recorded and acted on; NATS down must not hide it
                log.warning("read alert not published (%s: %s)", type(error).__name__, error)
        if acted:
            workspace.forget(entry.actor)
            frozen = True
    return frozen


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
