"""Shared Hypothesis strategies. Every new touchpoint channel or event type is added
here, so round-trip and replay properties cover it automatically."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from typing import Any

from hypothesis import strategies as st

from domain.identities import blocked_reason
from domain.plan_rules import FollowUpDecision
from domain.touchpoints import (
    Call400,
    Call400Payload,
    CallEntities,
    Contact,
    DouyinDM,
    DouyinPayload,
    Email,
    EmailPayload,
    EngineerLog,
    EngineerLogPayload,
    ExpoScan,
    ExpoScanPayload,
    Identity,
    Sms,
    SmsPayload,
    Utm,
    Visit,
    VisitPayload,
    WebForm,
    WebFormPayload,
    WecomMsg,
    WecomPayload,
)

PHONE_PREFIXES = ["138", "139", "186", "135", "150", "177"]

# Control characters are rejected in names and ids (and all but tab and line breaks in text).
_printable = st.characters(blacklist_categories=("Cc", "Cs"))
text = st.text(st.one_of(_printable, st.sampled_from("\t\n\r")), max_size=40)
short_text = st.text(_printable, min_size=1, max_size=20).filter(lambda s: s.strip() == s and s)
ids = st.from_regex(r"[a-z0-9][a-z0-9-]{0,15}", fullmatch=True)
uris = st.builds(lambda p: f"https://example.cn/{p}", ids)
offsets = st.sampled_from([UTC, timezone(timedelta(hours=8)), timezone(timedelta(hours=-5))])
aware_datetimes = st.builds(
    lambda d, tz: d.replace(tzinfo=UTC).astimezone(tz),
    st.datetimes(min_value=datetime(2024, 1, 1), max_value=datetime(2027, 12, 31)),
    offsets,
)
phones = st.builds(
    lambda prefix, n: f"{prefix}{n:08d}", st.sampled_from(PHONE_PREFIXES), st.integers(0, 10**8 - 1)
).filter(lambda phone: blocked_reason(f"phone:+86{phone}") is None)  # placeholders are rejected
emails = st.builds(lambda user, host: f"{user}@{host}.cn", ids, ids)
identities = st.one_of(
    st.builds(Identity, kind=st.just("phone"), value=phones),
    st.builds(Identity, kind=st.just("email"), value=emails),
    st.builds(Identity, kind=st.just("xhs_id"), value=ids),
    st.builds(Identity, kind=st.just("pos_card"), value=ids),
)
contacts = st.builds(
    Contact,
    name=st.none() | short_text,
    company=st.none() | short_text,
    city=st.none() | st.sampled_from(["杭州", "成都", "上海"]),
    industry=st.none() | st.sampled_from(["智能硬件", "医疗设备"]),
    budget_cny=st.none() | st.floats(0, 10**7, allow_nan=False),
)

payloads: dict[str, Any] = {
    "web_form": st.builds(
        WebFormPayload,
        form_id=ids,
        page_url=st.none() | uris,
        fields=st.dictionaries(ids, text, max_size=3),
        utm=st.none() | st.builds(Utm, source=st.none() | ids, medium=st.none() | ids),
    ),
    "douyin_dm": st.builds(
        DouyinPayload,
        open_id=ids,
        nickname=st.none() | short_text,
        text=st.none() | text,
        media=st.lists(uris, max_size=2),
    ),
    "expo_scan": st.builds(
        ExpoScanPayload,
        expo_id=ids,
        booth=st.none() | ids,
        lat=st.none() | st.floats(-90, 90, allow_nan=False),
        lon=st.none() | st.floats(-180, 180, allow_nan=False),
    ),
    "call_400": st.builds(
        Call400Payload,
        call_id=ids,
        duration_s=st.none() | st.integers(0, 10_000),
        summary=st.none() | text,
        entities=st.none() | st.builds(CallEntities, product=st.none() | short_text),
    ),
    "engineer_log": st.builds(
        EngineerLogPayload,
        ticket_id=ids,
        log_uri=uris,
        sha256=st.none() | st.from_regex(r"[0-9a-f]{64}", fullmatch=True),
        size_bytes=st.none() | st.integers(0, 10**9),
        diagnosis=st.none() | text,
    ),
    "wecom_msg": st.builds(WecomPayload, external_userid=ids, text=st.none() | text),
    "visit": st.builds(
        VisitPayload,
        visit_id=ids,
        address=st.none() | short_text,
        duration_min=st.none() | st.integers(0, 600),
        summary=st.none() | text,
    ),
    "sms": st.builds(SmsPayload, message_id=ids, agent_id=st.none() | ids, text=st.none() | text),
    "email": st.builds(EmailPayload, message_id=ids, subject=st.none() | short_text, text=st.none() | text),
}
ENVELOPES = {
    "web_form": WebForm,
    "douyin_dm": DouyinDM,
    "expo_scan": ExpoScan,
    "call_400": Call400,
    "engineer_log": EngineerLog,
    "wecom_msg": WecomMsg,
    "visit": Visit,
    "sms": Sms,
    "email": Email,
}


@st.composite
def touchpoints(draw: st.DrawFn, channel: str | None = None) -> Any:
    """Any valid touchpoint envelope (as its msgspec Struct)."""
    chosen = channel or draw(st.sampled_from(sorted(ENVELOPES)))
    direction = draw(st.sampled_from(["inbound", "outbound"]))
    return ENVELOPES[chosen](
        touchpoint_id=draw(ids),
        occurred_at=draw(aware_datetimes),
        direction=direction,
        actor=draw(ids) if direction == "outbound" else None,
        identities=draw(st.lists(identities, min_size=1, max_size=3)),
        contact=draw(st.none() | contacts),
        payload=draw(payloads[chosen]),
    )


@st.composite
def touchpoint_histories(draw: st.DrawFn, max_size: int = 25) -> list[Any]:
    """Touchpoints of a small population whose identities overlap (so resolution links
    and merges customers); unique touchpoint ids."""
    pool = draw(
        st.lists(
            st.one_of(
                st.builds(Identity, kind=st.just("phone"), value=phones),
                st.builds(Identity, kind=st.just("email"), value=emails),
            ),
            min_size=1,
            max_size=6,
            unique_by=lambda i: (i.kind, i.value),
        )
    )
    count = draw(st.integers(1, max_size))
    result = []
    for number in range(count):
        base = draw(touchpoints())
        chosen = draw(st.lists(st.sampled_from(pool), min_size=1, max_size=2))
        result.append(
            type(base)(
                touchpoint_id=f"tp-{number}",
                occurred_at=base.occurred_at,
                direction=base.direction,
                actor=base.actor,
                identities=chosen,
                contact=base.contact,
                payload=base.payload,
            )
        )
    return result


@st.composite
def follow_up_decisions(draw: st.DrawFn, customer_id: str = "c") -> FollowUpDecision:
    """Any decision of the follow-up follower (each kind is one Customer event class)."""
    kind = draw(st.sampled_from(["started", "due", "met", "paused", "resumed", "escalated"]))
    stepped = kind in ("due", "met", "escalated")
    return FollowUpDecision(
        kind,
        customer_id,
        draw(short_text),
        draw(st.integers(1, 10_000)),
        draw(aware_datetimes),
        draw(aware_datetimes),
        draw(short_text) if stepped else "",
        evidence=draw(st.just("") | ids),
        agent_id=draw(st.none() | ids),
        action=draw(st.just("") | short_text),
        due_at=draw(st.none() | aware_datetimes) if stepped else None,
    )


# Customer.TouchpointRetracted: why a person declares a record a mistake (free text, never empty).
retraction_reasons = text.filter(lambda reason: bool(reason.strip()))
# --- the intake ledger's facts (domain/intake.py) ---------------------------------------------


def intake_entries() -> st.SearchStrategy[Any]:
    from domain.intake import OUTCOMES, REJECT_KINDS, IntakeEntry

    return st.builds(
        IntakeEntry,
        sequence=st.integers(1, 10**9),
        channel=st.sampled_from(sorted(ENVELOPES)),
        day=st.dates().map(lambda d: d.isoformat()),
        outcome=st.sampled_from(OUTCOMES),
        touchpoint_id=st.just("") | ids,
        source=st.just("") | ids,
        medium=st.just("") | ids,
        campaign=st.just("") | ids,
        reason=st.just("") | st.sampled_from(REJECT_KINDS),
        path=st.just("") | st.just("$.payload.fields.科室"),
    )


def manifests() -> st.SearchStrategy[Any]:
    from domain.intake import Manifest

    return st.builds(
        Manifest,
        manifest_id=ids,
        channel=st.sampled_from(sorted(ENVELOPES)),
        day=st.dates(),
        utm=st.none()
        | st.builds(Utm, source=st.none() | ids, medium=st.none() | ids, campaign=st.none() | ids),
        sent=st.integers(0, 10**6),
        sent_at=aware_datetimes,
    )


# Account events (issue 29: sessions, holds, temporary passwords): one account's life as the
# calls that raise them, in any order.
short_text = st.text(st.characters(codec="utf-8", exclude_categories=["Cs"]), max_size=40)
ACCOUNT_START = datetime(2026, 3, 2, 1, 0, tzinfo=UTC)


@st.composite
def account_histories(draw: st.DrawFn, max_size: int = 12) -> Any:
    """An ``Account`` with a drawn history of sign-ins (address, device), failures, sign-outs
    (reason, who), holds, releases, password resets and changes, exec grants and revocations."""
    from domain.accounts import Account
    from domain.roster import Agent

    at = ACCOUNT_START
    account = Account.invite(Agent("a-wang", "王工", "hz"), "$argon2id$x", draw(short_text), at)
    sessions = ["s0"]
    for _ in range(draw(st.integers(0, max_size))):
        at += timedelta(seconds=draw(st.integers(1, 10**6)))
        match draw(
            st.sampled_from(["in", "fail", "out", "hold", "release", "reset", "change", "grant", "revoke"])
        ):
            case "in":
                sessions.append(f"s{len(sessions)}")
                account.sign_in(sessions[-1], "sales:a-wang", draw(short_text), at, draw(short_text))
            case "fail":
                account.fail_sign_in(draw(short_text), draw(short_text), at)
            case "out":
                account.sign_out(
                    draw(st.sampled_from(sessions)),
                    at,
                    reason=draw(short_text),
                    ended_by=draw(short_text),
                    client=draw(short_text),
                    device=draw(short_text),
                )
            case "hold":
                account.hold(draw(short_text), draw(short_text), at)
            case "release":
                account.release(draw(short_text), at)
            case "reset":
                account.reset_password("$argon2id$reset", draw(short_text), at)
            case "change":
                account.change_password("$argon2id$changed", at)
            case "grant":
                account.grant_exec(draw(short_text), at)
            case _:
                account.revoke_exec(draw(short_text), at)
    return account
