"""A realistic mixed workload: leads on every channel, replies from agents, follow-ups.

Deterministic for a seed; used by the projection/replay benches and the large tests.
"""

from __future__ import annotations

import json
import random
from datetime import datetime, timedelta

from domain.touchpoints import AcceptedTouchpoint, decode_touchpoint

START = datetime.fromisoformat("2026-01-05T08:00:00+08:00")
CHANNELS = ("web_form", "douyin_dm", "expo_scan", "call_400", "engineer_log", "wecom_msg")
CITIES = ("杭州", "成都", "北京", "上海", "深圳")
INDUSTRIES = ("智能硬件", "医疗设备", "新能源", "机械制造")
AGENTS = ("a-wang", "a-li", "a-zhao", "a-chen")


def _payload(channel: str, number: int) -> dict[str, object]:
    return {
        "web_form": {"form_id": "contact-us", "fields": {"需求": "参数表"}},
        "douyin_dm": {"open_id": f"dy-{number}", "text": "今天能报价吗？急"},
        "expo_scan": {"expo_id": "cd-2026", "booth": "A12", "lat": 30.57, "lon": 104.07},
        "call_400": {"call_id": f"c-{number}", "summary": "询问招标参数"},
        "engineer_log": {"ticket_id": f"t-{number}", "log_uri": f"s3://logs/{number}.tgz"},
        "wecom_msg": {"external_userid": f"wm-{number}", "text": "您好，请问交期？"},
    }[channel]


def touchpoint_envelopes(count: int, customers: int, seed: int = 1, prefix: str = "w") -> list[bytes]:
    """``count`` envelopes over ``customers`` customers, in time order per customer."""
    rng = random.Random(seed)
    result: list[bytes] = []
    clocks: dict[int, datetime] = {}
    for number in range(count):
        customer = rng.randrange(customers)
        first = customer not in clocks
        at = clocks.get(customer) or START + timedelta(minutes=rng.randrange(60 * 24 * 90))
        at += timedelta(minutes=rng.randrange(5, 60 * 30))
        clocks[customer] = at
        outbound = not first and rng.random() < 0.45
        channel = "wecom_msg" if outbound else rng.choice(CHANNELS)
        envelope = {
            "touchpoint_id": f"{prefix}-{number}",
            "channel": channel,
            "occurred_at": at.isoformat(),
            "direction": "outbound" if outbound else "inbound",
            "actor": AGENTS[customer % len(AGENTS)] if outbound else None,
            "identities": [{"kind": "phone", "value": f"139{customer:08d}"}],
            "contact": None
            if outbound
            else {
                "name": f"客户{customer}",
                "company": f"{CITIES[customer % 5]}某{INDUSTRIES[customer % 4]}有限公司",
                "city": CITIES[customer % 5],
                "industry": INDUSTRIES[customer % 4],
            },
            "payload": _payload(channel, customer),
        }
        result.append(json.dumps(envelope, ensure_ascii=False).encode())
    return result


def accepted_touchpoints(
    count: int, customers: int, seed: int = 1, prefix: str = "w"
) -> list[AcceptedTouchpoint]:
    return [decode_touchpoint(e) for e in touchpoint_envelopes(count, customers, seed, prefix)]
