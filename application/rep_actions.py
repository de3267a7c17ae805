"""What a signed-in agent does from the workspace, each recorded as an event with the
agent as actor: a logged call, SMS, e-mail, visit or channel reply is the outbound
touchpoint it is (the first one after a lead stops its first-response SLA clock); a
mistaken one is retracted by an event with actor and reason; a stage move goes through the
stage gate.

Messages of ``ActionError`` are shown to the agent as they are: they are Chinese and say
what to do."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime
from typing import Final
from uuid import UUID

from application.event_chain import EventChain
from application.rules import change_stage
from domain.customer import Customer
from domain.touchpoints import decode_touchpoint, summarise

# What a rep can log, the channel it is recorded on and the identity kinds it needs (the
# first the customer holds links the touchpoint to them). A reply goes out on the channel
# the lead came from where a connector exists (WeCom, Douyin).
LOGGABLE: Final[dict[str, tuple[str, tuple[str, ...]]]] = {
    "call": ("call_400", ("phone",)),
    "sms": ("sms", ("phone",)),
    "email": ("email", ("email",)),
    "visit": ("visit", ("phone", "email", "uscc", "wecom_external_id", "douyin_open_id", "xhs_id")),
    "wecom": ("wecom_msg", ("wecom_external_id",)),
    "douyin": ("douyin_dm", ("douyin_open_id",)),
}
KIND_NAMES: Final = {
    "call": "电话",
    "sms": "短信",
    "email": "邮件",
    "visit": "拜访",
    "wecom": "企业微信回复",
    "douyin": "抖音回复",
}
# How the contact went; part of the record, so a "no answer" is not mistaken for a talk.
OUTCOMES: Final = {
    "reached": "已沟通",
    "no_answer": "未接通",
    "callback": "约定回访",
    "sent": "已发送",
    "not_interested": "暂无意向",
    "wrong_contact": "联系方式有误",
}
NOTE_LIMIT: Final = 2000
_KEY: Final = re.compile(r"^[0-9A-Za-z-]{8,64}$")


@dataclass(frozen=True, slots=True)
class Logged:
    """The touchpoint a logged contact recorded (what the page shows at once)."""

    touchpoint_id: str
    customer_id: str
    channel: str
    direction: str
    occurred_at: datetime
    actor: str
    summary: str


def available_kinds(customer: Customer) -> list[str]:
    """What can be logged on this customer, given the identities it holds."""
    return kinds_for({kind for kind, _ in _identities(customer)})


def kinds_for(identity_kinds: set[str]) -> list[str]:
    """What can be logged on a customer holding identities of these kinds."""
    return [kind for kind, (_, needs) in LOGGABLE.items() if identity_kinds & set(needs)]


def log_contact(
    app: EventChain,
    customer_id: UUID,
    kind: str,
    note: str,
    agent_id: str,
    *,
    outcome: str = "",
    request_key: str = "",
) -> Logged:
    """Records an outbound touchpoint to the customer, by ``agent_id``, at the service's clock.

    ``request_key`` (a random token the form carries) makes the touchpoint id, so a submit
    sent twice records once and answers the same. Raises ActionError when it cannot be
    recorded."""
    if kind == "reply":  # the JSON API's older word: the first channel with a connector
        available = available_kinds(app.get_customer(customer_id))
        kind = next((k for k in ("wecom", "douyin") if k in available), "wecom")
    if kind not in LOGGABLE:
        raise ActionError(f"请选择记录类型（{'、'.join(KIND_NAMES.values())}）")
    text = note.strip()
    if not text:
        raise ActionError(f"请填写{KIND_NAMES[kind]}备注：说了什么、客户的回应")
    if outcome not in OUTCOMES:
        raise ActionError("请选择沟通结果")
    if len(text) > NOTE_LIMIT:
        raise ActionError(f"备注最多 {NOTE_LIMIT} 字，请精简后再提交")
    if request_key and not _KEY.match(request_key):
        raise ActionError("表单已失效，请刷新页面后重试")
    customer = app.get_customer(customer_id)
    channel, needs = LOGGABLE[kind]
    identity = next(((k, v) for k, v in _identities(customer) if k in needs), None)
    if identity is None:
        raise ActionError(_cannot(kind))
    touchpoint_id = f"web-{kind}-{request_key}" if request_key else f"web-{kind}-{_token()}"
    recorded = customer.touchpoints.get(touchpoint_id)
    if recorded is not None:  # the same submit again: answer what was recorded
        return Logged(
            touchpoint_id,
            str(customer.id),
            recorded.channel,
            recorded.direction,
            recorded.occurred_at,
            recorded.actor or agent_id,
            recorded.summary,
        )
    summary = f"【{OUTCOMES[outcome]}】{text}"
    payloads: dict[str, dict[str, object]] = {
        "call": {"call_id": touchpoint_id, "agent_id": agent_id, "summary": summary},
        "sms": {"message_id": touchpoint_id, "agent_id": agent_id, "text": summary},
        "email": {"message_id": touchpoint_id, "agent_id": agent_id, "text": summary},
        "visit": {"visit_id": touchpoint_id, "agent_id": agent_id, "summary": summary},
        "wecom": {"external_userid": identity[1], "agent_userid": agent_id, "text": summary},
        "douyin": {"open_id": identity[1], "text": summary},
    }
    occurred_at = app.clock()
    envelope = {
        "touchpoint_id": touchpoint_id,
        "channel": channel,
        "occurred_at": occurred_at.isoformat(),
        "direction": "outbound",
        "actor": agent_id,
        "identities": [{"kind": identity[0], "value": identity[1]}],
        "payload": payloads[kind],
    }
    accepted = decode_touchpoint(json.dumps(envelope, ensure_ascii=False))
    app.record([accepted])
    return Logged(
        touchpoint_id,
        str(customer.id),
        channel,
        "outbound",
        occurred_at,
        agent_id,
        summarise(accepted.touchpoint),
    )


def retract_contact(
    app: EventChain, customer_id: UUID, touchpoint_id: str, reason: str, agent_id: str
) -> None:
    """Declares an outbound touchpoint a mistake (``Customer.TouchpointRetracted``): it stays in
    the history, the figures stop counting it."""
    if not reason.strip():
        raise ActionError("请填写更正原因（例如：记错了客户、并未联系）")
    customer = app.get_customer(customer_id)
    facts = customer.touchpoints.get(touchpoint_id)
    if facts is None or facts.direction != "outbound":
        raise ActionError("只能更正我方记录的触点")
    if touchpoint_id in customer.retracted:
        raise ActionError("这条记录已经更正过")
    customer.retract_touchpoint(touchpoint_id, reason[:500], agent_id, app.clock())
    app.save(customer)


def move_stage(
    app: EventChain, customer_id: UUID, stage: str, evidence: str, reason: str, agent_id: str
) -> None:
    change_stage(app, str(customer_id), stage, [evidence] if evidence else [], agent_id, reason)


def _cannot(kind: str) -> str:
    needs = {
        "call": "电话号码",
        "sms": "电话号码",
        "email": "邮箱",
        "visit": "任何联系方式",
        "wecom": "企业微信身份",
        "douyin": "抖音身份",
    }[kind]
    return f"该客户没有{needs}，无法记录{KIND_NAMES[kind]}；请选择其他方式（电话、短信、邮件或拜访）"


def _token() -> str:
    import secrets

    return secrets.token_hex(8)


def _identities(customer: Customer) -> list[tuple[str, str]]:
    pairs = (key.partition(":") for key in sorted(customer.identity_keys))
    return [(kind, value) for kind, _, value in pairs if value]


class ActionError(ValueError):
    """An action the workspace cannot record; the message (Chinese) is shown to the agent."""
