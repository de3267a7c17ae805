"""The seed scenarios as touchpoint envelopes (what the demo and tests feed in).

Deterministic for a given seed. Response delays follow seed 000's "before" figures
(web form 2.1 h, Douyin 5.3 h, expo 8.9 h on average), so the demo's CTRE lands near
the article's 4.7 h.
"""

from __future__ import annotations

import random
from datetime import datetime, timedelta, timezone
from typing import Any

CST = timezone(timedelta(hours=8))
START = datetime(2026, 3, 2, 9, 0, tzinfo=CST)
MEAN_RESPONSE_HOURS = {"web_form": 2.1, "douyin_dm": 5.3, "expo_scan": 8.9, "call_400": 1.0}
CITIES = ["杭州", "成都", "上海", "深圳", "北京", "苏州"]
INDUSTRIES = ["智能硬件", "医疗设备", "工业自动化", "新能源"]
SURNAMES = "王李张刘陈杨赵黄周吴"
GIVEN = ["伟", "芳", "娜", "敏", "静", "磊", "洋", "艳", "勇", "军"]
PHONE_PREFIXES = ["138", "139", "186", "135", "177", "150"]
AGENTS = ["a-wang", "a-li", "a-zhang", "a-chen"]
Envelope = dict[str, Any]


def seed_touchpoints(customers: int = 40, seed: int = 7) -> list[Envelope]:
    """The hand-written seed stories followed by ``customers`` generated ones."""
    rng = random.Random(seed)
    envelopes = _li_lei_story() + _douyin_to_wecom_story() + _entered_again_story()
    for number in range(customers):
        envelopes.extend(_generated_customer(rng, number))
    return envelopes


def _at(hours: float) -> str:
    return (START + timedelta(hours=hours)).isoformat()


def _li_lei_story() -> list[Envelope]:
    """Seed 000: one buyer, six channels, one chain."""
    phone = {"kind": "phone", "value": "13800138000"}
    email = {"kind": "email", "value": "li.lei@hzhw.example.cn"}
    contact = {
        "name": "李雷",
        "company": "杭州某智能硬件有限公司",
        "city": "杭州",
        "industry": "智能硬件",
        "budget_cny": 500000,
    }
    return [
        {
            "touchpoint_id": "wf-2026-000123",
            "channel": "web_form",
            "occurred_at": _at(0.25),
            "direction": "inbound",
            "actor": None,
            "identities": [phone, email],
            "contact": contact,
            "payload": {
                "form_id": "contact-us",
                "page_url": "https://www.example.cn/contact",
                "fields": {"需求": "产线质检设备，今天需要报价"},
                "utm": {"source": "baidu", "medium": "cpc", "campaign": "spring2026"},
            },
        },
        {
            "touchpoint_id": "wc-out-000123",
            "channel": "wecom_msg",
            "occurred_at": _at(1.4),
            "direction": "outbound",
            "actor": "a-wang",
            "identities": [phone],
            "payload": {
                "external_userid": "wm-lilei",
                "agent_userid": "a-wang",
                "text": "李总您好，我是王工，参数表稍后发您。",
            },
        },
        {
            "touchpoint_id": "dy-000456",
            "channel": "douyin_dm",
            "occurred_at": _at(26.0),
            "direction": "inbound",
            "identities": [phone],
            "payload": {
                "open_id": "dy-open-lilei",
                "nickname": "硬件老李",
                "text": "直播里那款能替代进口型号吗？",
            },
        },
        {
            "touchpoint_id": "call-400-0789",
            "channel": "call_400",
            "occurred_at": _at(30.5),
            "direction": "inbound",
            "identities": [phone],
            "payload": {
                "call_id": "0789",
                "caller": "13800138000",
                "agent_id": "a-wang",
                "duration_s": 420,
                "summary": "询问招标参数，预算50万，竞品为某进口品牌",
                "entities": {
                    "product": "视觉质检",
                    "budget_cny": 500000,
                    "decision_role": "技术负责人",
                    "competitor": "进口品牌",
                },
            },
        },
        {
            "touchpoint_id": "expo-cd-0042",
            "channel": "expo_scan",
            "occurred_at": _at(50.0),
            "direction": "inbound",
            "identities": [phone],
            "payload": {
                "expo_id": "cd-industry-2026",
                "booth": "A12",
                "badge_id": "B-77812",
                "lat": 30.5728,
                "lon": 104.0668,
                "device_id": "pad-03",
            },
        },
        {
            "touchpoint_id": "log-T-5531",
            "channel": "engineer_log",
            "occurred_at": _at(74.0),
            "direction": "outbound",
            "actor": "e-zhou",
            "identities": [phone],
            "payload": {
                "ticket_id": "T-5531",
                "engineer_id": "e-zhou",
                "device_serial": "SN-20931",
                "log_uri": "s3://logs/T-5531/diag.tar.gz",
                "sha256": "9f2c4a1be5d0c3f7a8e6b4d2c1f0e9d8c7b6a5f4e3d2c1b0a9f8e7d6c5b4a3f2",
                "size_bytes": 1843200,
                "diagnosis": "相机曝光参数异常，已远程调整",
            },
        },
        {
            "touchpoint_id": "wc-in-000124",
            "channel": "wecom_msg",
            "occurred_at": _at(75.0),
            "direction": "inbound",
            "identities": [phone],
            "payload": {"external_userid": "wm-lilei", "text": "调整后良率正常了，请发正式合同。"},
        },
    ]


def _douyin_to_wecom_story() -> list[Envelope]:
    """Seed 001: a Douyin lead later known by phone on WeCom — the chain must not break."""
    return [
        {
            "touchpoint_id": "dy-000901",
            "channel": "douyin_dm",
            "occurred_at": _at(3.0),
            "direction": "inbound",
            "identities": [],
            "payload": {"open_id": "dy-open-hanmei", "nickname": "梅梅", "text": "价格多少？急"},
        },
        {
            "touchpoint_id": "dy-000902",
            "channel": "douyin_dm",
            "occurred_at": _at(8.2),
            "direction": "outbound",
            "actor": "a-li",
            "identities": [],
            "payload": {"open_id": "dy-open-hanmei", "text": "您好，方便留个电话吗？"},
        },
        {
            "touchpoint_id": "wc-in-000903",
            "channel": "wecom_msg",
            "occurred_at": _at(9.0),
            "direction": "inbound",
            "identities": [
                {"kind": "phone", "value": "139 0571 2345"},
                {"kind": "douyin_open_id", "value": "dy-open-hanmei"},
            ],
            "contact": {
                "name": "韩梅梅",
                "company": "成都某医疗设备有限公司",
                "city": "成都",
                "industry": "医疗设备",
            },
            "payload": {"external_userid": "wm-hanmei", "text": "我是抖音上问价的，电话13905712345"},
        },
    ]


def _entered_again_story() -> list[Envelope]:
    """Seed 001: the same buyer entered again by another rep, with her office phone and the
    company written another way — no identity joins them: a duplicate candidate to merge."""
    return [
        {
            "touchpoint_id": "expo-000903",
            "channel": "expo_scan",
            "occurred_at": _at(30.0),
            "direction": "inbound",
            "identities": [{"kind": "phone", "value": "028-8555-0199"}],
            "contact": {"name": "韩梅梅", "company": "成都市某医疗设备有限责任公司", "city": "成都"},
            "payload": {"expo_id": "cd-industry-2026", "booth": "A12"},
        }
    ]


def _generated_customer(rng: random.Random, number: int) -> list[Envelope]:
    channel = rng.choices(["web_form", "douyin_dm", "expo_scan", "call_400"], [4, 3, 2, 1])[0]
    phone = f"{rng.choice(PHONE_PREFIXES)}{rng.randrange(10**8):08d}"
    name = rng.choice(SURNAMES) + rng.choice(GIVEN)
    city = rng.choice(CITIES)
    lead_hours = rng.uniform(0, 24 * 14)
    identities = [{"kind": "phone", "value": phone}]
    contact = {
        "name": name,
        "company": f"{city}某{rng.choice(INDUSTRIES)}有限公司",
        "city": city,
        "industry": rng.choice(INDUSTRIES),
        "budget_cny": rng.choice([100000, 300000, 800000]),
    }
    base = {
        "occurred_at": _at(lead_hours),
        "direction": "inbound",
        "identities": identities,
        "contact": contact,
    }
    lead: Envelope
    if channel == "web_form":
        lead = {
            **base,
            "touchpoint_id": f"wf-gen-{number}",
            "channel": "web_form",
            "payload": {"form_id": "trial", "utm": {"source": "baidu", "medium": "cpc"}},
        }
    elif channel == "douyin_dm":
        lead = {
            **base,
            "touchpoint_id": f"dy-gen-{number}",
            "channel": "douyin_dm",
            "payload": {"open_id": f"dy-open-{number}", "text": "有样品吗？"},
        }
    elif channel == "expo_scan":
        lead = {
            **base,
            "touchpoint_id": f"expo-gen-{number}",
            "channel": "expo_scan",
            "payload": {
                "expo_id": "cd-industry-2026",
                "booth": "A12",
                "lat": 30.57 + rng.uniform(-0.02, 0.02),
                "lon": 104.07 + rng.uniform(-0.02, 0.02),
            },
        }
    else:
        lead = {
            **base,
            "touchpoint_id": f"call-gen-{number}",
            "channel": "call_400",
            "payload": {"call_id": f"gen-{number}", "caller": phone, "summary": "咨询参数和交期"},
        }
    envelopes = [lead]
    if rng.random() < 0.85:  # some leads are never answered (seed 000: 41% untouched in 48 h)
        delay = rng.expovariate(1 / MEAN_RESPONSE_HOURS[channel])
        agent = rng.choice(AGENTS)
        envelopes.append(
            {
                "touchpoint_id": f"resp-gen-{number}",
                "channel": "wecom_msg",
                "occurred_at": _at(lead_hours + delay),
                "direction": "outbound",
                "actor": agent,
                "identities": identities,
                "payload": {
                    "external_userid": f"wm-gen-{number}",
                    "agent_userid": agent,
                    "text": "您好，已收到您的需求。",
                },
            }
        )
    return envelopes
