"""Seed 004's plan end to end: real `serve` (ingest, router, SLA + follow-ups, notifier), real
NATS, the service's clock injected through a file. A lead is answered; the manual comes due at
+24 h, is on the rep's notifications once; an outbound DM meets it; the demo invite comes due
48 h after that DM; a 静默 tag pauses the plan and an inbound message resumes it; the unmet
demo step escalates to the manager once; a restart adds nothing twice."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from adapters.crypto import new_kek, parse_kek
from adapters.local_servers import LocalNats
from adapters.log_reader import log_events
from adapters.nats import IngestConfig, wait_until
from application.event_chain import CustomerNotFoundError, EventChain
from application.rules import apply_rules, join
from domain.customer import FOLLOW_UP_EVENTS
from eventchain.bootstrap import TEST_CLOCK_ENV
from followers.notifier import NotificationNames
from tests.integration.test_follow_up_follower import SEED_STORY
from tests.integration.test_followers import RULES, TEAM
from tests.nats_support import publish_raw, stream_messages
from tests.unit.test_follow_ups import EXAMPLE

pytestmark = pytest.mark.nats
KEK = new_kek()
PLAN = EXAMPLE[EXAMPLE.index("[plans.first_contact]") :]
BASE = datetime.now(UTC).replace(second=0, microsecond=0) - timedelta(days=20)
PHONE = "13800000088"


class Service:
    """`eventchain serve --only ingest,route,sla,notify` on the test's store, NATS and clock."""

    def __init__(self, data_dir: Path, nats_url: str) -> None:
        self.data_dir, self.nats_url = data_dir, nats_url
        self.clock_file = data_dir / "clock"
        self.log = data_dir / "serve.log"

    def set_clock(self, instant: datetime) -> None:
        self.clock_file.write_text(instant.isoformat())

    @contextmanager
    def running(self) -> Iterator[subprocess.Popen[bytes]]:
        parts = [p for part in ("ingest", "route", "sla", "notify") for p in ("--only", part)]
        env = {
            **os.environ,
            "EVENTCHAIN_NATS_URL": self.nats_url,
            "EVENTCHAIN_KEK": KEK,
            TEST_CLOCK_ENV: str(self.clock_file),
        }
        command = [sys.executable, "-m", "eventchain", "--data-dir", str(self.data_dir), "serve"]
        with self.log.open("ab") as log:
            process = subprocess.Popen([*command, *parts, "--metrics-addr", "off"], env=env, stderr=log)
        try:
            yield process
        finally:
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)


def touchpoint(
    touchpoint_id: str, channel: str, at: datetime, direction: str = "inbound", phone: str = PHONE
) -> tuple[str, bytes, str]:
    payload = {"wecom_msg": {"external_userid": f"wm-{phone}"}, "douyin_dm": {"open_id": f"dy-{phone}"}}
    envelope = {
        "touchpoint_id": touchpoint_id,
        "channel": channel,
        "occurred_at": at.isoformat(),
        "direction": direction,
        "actor": "a-one" if direction == "outbound" else None,
        "identities": [{"kind": "phone", "value": phone}],
        "payload": payload[channel],
    }
    return channel, json.dumps(envelope, ensure_ascii=False).encode(), touchpoint_id


def decisions(app: EventChain, phone: str = PHONE) -> list[tuple[str, str]]:
    kinds = {cls.__qualname__: kind for kind, cls in FOLLOW_UP_EVENTS.items()}
    events = log_events(app, FOLLOW_UP_EVENTS.values(), personal=False)
    customer = str(app.find_customer(f"phone:{phone}").id)
    return [(kinds[k], f["step"]) for _, k, c, f in events if c == customer]


def notified(url: str) -> list[str]:
    names = NotificationNames()
    return [subject for subject, _, _ in stream_messages(url, names.stream) if ".follow_up" in subject]


def soon(predicate: Callable[[], bool], log: Path) -> None:
    assert wait_until(predicate, timeout=60, interval=0.2), log.read_text()[-3000:]


def test_seed_004s_plan_runs_in_serve_on_the_injected_clock_once_across_a_restart(
    local_nats: LocalNats, tmp_path: Path
) -> None:
    app = EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}", kek=parse_kek(KEK))
    for agent in TEAM:
        join(app, agent, "ops")
    apply_rules(app, RULES + PLAN, "ops", "seed 004's plan")
    service, url = Service(tmp_path, local_nats.url), local_nats.url

    def publish(*messages: tuple[str, bytes, str]) -> None:
        publish_raw(url, IngestConfig(), list(messages))

    service.set_clock(BASE)
    answered = BASE + timedelta(minutes=5)
    with service.running():
        publish(touchpoint("lead", "wecom_msg", BASE))
        soon(lambda: _owned(app, PHONE), service.log)
        service.set_clock(answered)
        publish(touchpoint("answer", "wecom_msg", answered, "outbound"))
        soon(lambda: [("started", "")] == decisions(app), service.log)
        service.set_clock(answered + timedelta(hours=23, minutes=59))
        service.set_clock(answered + timedelta(hours=24, seconds=1))  # only the clock moves
        soon(lambda: ("due", "manual") in decisions(app), service.log)
        soon(lambda: ["notifications.follow_up.a-one"] == notified(url), service.log)
        sent = answered + timedelta(hours=25)
        service.set_clock(sent + timedelta(seconds=1))
        publish(touchpoint("manual-dm", "douyin_dm", sent, "outbound"))
        soon(lambda: ("met", "manual") in decisions(app), service.log)
        service.set_clock(sent + timedelta(hours=48, seconds=1))  # the demo: 48 h after the DM
        soon(lambda: ("due", "demo_invite") in decisions(app), service.log)
    quiet = sent + timedelta(hours=50)
    customer = app.find_customer(f"phone:{PHONE}")
    customer.change_tags(["静默-3个月"], [], quiet, "客户暂不考虑", app.clock())
    app.save(customer)
    service.set_clock(quiet + timedelta(days=30))  # paused for a month: nothing escalates
    with service.running():  # restarted while paused
        soon(lambda: "paused" in [k for k, _ in decisions(app)], service.log)
        back = quiet + timedelta(days=30)
        publish(touchpoint("back", "wecom_msg", back))
        soon(lambda: "resumed" in [k for k, _ in decisions(app)], service.log)
        service.set_clock(back + timedelta(days=3))
        soon(lambda: ("escalated", "demo_invite") in decisions(app), service.log)
        soon(lambda: 3 == len(notified(url)), service.log)
    recorded = decisions(app)
    other, later = "13800000099", back + timedelta(days=3)
    with service.running():  # a restart at the end: another plan starting proves it caught up
        publish(touchpoint("other-lead", "wecom_msg", later, phone=other))
        soon(lambda: _owned(app, other), service.log)
        service.set_clock(later + timedelta(minutes=2))
        publish(
            touchpoint("other-answer", "wecom_msg", later + timedelta(minutes=1), "outbound", phone=other)
        )
        soon(lambda: [("started", "")] == decisions(app, other), service.log)
    assert SEED_STORY == recorded == decisions(app)
    assert [
        "notifications.follow_up.a-one",
        "notifications.follow_up.a-one",
        "notifications.follow_up_escalated.m-boss",
    ] == notified(url)


def _owned(app: EventChain, phone: str) -> bool:
    try:
        return app.find_customer(f"phone:{phone}").owner_agent_id is not None
    except CustomerNotFoundError:  # not recorded yet
        return False
