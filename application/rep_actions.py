"""What a signed-in agent does from the workspace, each recorded as an event with the
agent as actor: a logged call or reply is an outbound touchpoint (the first one after
a lead stops its first-response SLA clock); a stage move goes through the stage gate."""

from __future__ import annotations

import json
import secrets
from typing import Final
from uuid import UUID

from application.event_chain import EventChain
from application.rules import change_stage
from domain.customer import Customer
from domain.touchpoints import decode_touchpoint

LOGGABLE: Final = ("call", "visit", "reply")
# A reply goes out on the channel the customer can be reached on, by identity kind.
REPLY_CHANNELS: Final = (("wecom_external_id", "wecom_msg"), ("douyin_open_id", "douyin_dm"))
CALL_IDENTITY_KINDS: Final = ("phone", "email", "uscc", "wecom_external_id", "douyin_open_id")


def log_contact(app: EventChain, customer_id: UUID, kind: str, note: str, agent_id: str) -> str:
    """Records an outbound touchpoint to the customer, by ``agent_id``, at the service's
    clock; returns its touchpoint id. Raises ActionError when it cannot be recorded."""
    if kind not in LOGGABLE:
        raise ActionError(f"unknown action {kind!r}: expected one of {', '.join(LOGGABLE)}")
    customer = app.get_customer(customer_id)
    identities = _identities(customer)
    touchpoint_id = f"web-{kind}-{secrets.token_hex(8)}"
    envelope: dict[str, object] = {
        "touchpoint_id": touchpoint_id,
        "occurred_at": app.clock().isoformat(),
        "direction": "outbound",
        "actor": agent_id,
    }
    summary = note.strip()[:2000] or None
    if kind in ("call", "visit"):
        kind_value = next(((k, v) for k, v in identities if k in CALL_IDENTITY_KINDS), None)
        if kind_value is None:
            raise ActionError(f"this customer has no identity a {kind} can be logged against")
        channel, id_field = ("call_400", "call_id") if kind == "call" else ("visit", "visit_id")
        envelope |= {
            "channel": channel,
            "identities": [{"kind": kind_value[0], "value": kind_value[1]}],
            "payload": {id_field: touchpoint_id, "agent_id": agent_id, "summary": summary},
        }
    else:
        reachable = dict(identities)
        found = next(((k, c) for k, c in REPLY_CHANNELS if k in reachable), None)
        if found is None:
            raise ActionError("this customer has no WeCom or Douyin identity to reply on")
        identity_kind, channel = found
        value = reachable[identity_kind]
        payload = (
            {"external_userid": value, "agent_userid": agent_id, "text": summary}
            if channel == "wecom_msg"
            else {"open_id": value, "text": summary}
        )
        envelope |= {
            "channel": channel,
            "identities": [{"kind": identity_kind, "value": value}],
            "payload": payload,
        }
    accepted = decode_touchpoint(json.dumps(envelope, ensure_ascii=False))
    app.record([accepted])
    return touchpoint_id


def move_stage(
    app: EventChain, customer_id: UUID, stage: str, evidence: str, reason: str, agent_id: str
) -> None:
    change_stage(app, str(customer_id), stage, [evidence] if evidence else [], agent_id, reason)


def _identities(customer: Customer) -> list[tuple[str, str]]:
    pairs = (key.partition(":") for key in sorted(customer.identity_keys))
    return [(kind, value) for kind, _, value in pairs if value]


class ActionError(ValueError):
    """An action the workspace cannot record; the message is shown to the agent."""
