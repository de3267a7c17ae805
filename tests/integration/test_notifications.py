"""Notifications on a real nats-server: the outbox publishes every decision once, in order,
with the documented subject, headers and body; the WeCom bridge posts the robot's JSON to a
real local HTTP server and retries while it fails."""

from __future__ import annotations

import json
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import pytest

from adapters.nats import wait_until
from application.event_chain import EventChain
from followers.notifier import CUSTOMER_HEADER, POSITION_HEADER, NotificationNames, Notifier
from followers.router import route_pending
from followers.sla_watcher import check_sla
from followers.wecom import WecomBridge
from tests.integration.test_followers import staffed
from tests.nats_support import stream_messages
from tests.projection_support import T0, envelope

pytestmark = pytest.mark.nats


def private_names() -> NotificationNames:
    tag = uuid.uuid4().hex[:8]
    return NotificationNames(stream=f"NOTE_{tag}", prefix=f"note{tag}")


def messages(url: str, names: NotificationNames) -> list[tuple[str, dict[str, str], dict[str, Any]]]:
    return [
        (subject, headers, json.loads(data)) for subject, data, headers in stream_messages(url, names.stream)
    ]


@contextmanager
def notifying(app: EventChain, url: str, names: NotificationNames) -> Iterator[Notifier]:
    notifier = Notifier(app, url, names)
    stop = threading.Event()
    thread = threading.Thread(target=notifier.run, args=(stop, 0.05), daemon=True)
    thread.start()
    try:
        yield notifier
    finally:
        stop.set()
        thread.join(timeout=10)


def decided(tmp_path: Path) -> tuple[EventChain, str]:
    """A store with two assigned leads (one named 李雷) and one escalation of the unnamed one."""
    url = f"sqlite:///{tmp_path / 'events.db'}"
    app = staffed(url)
    app.record(
        [
            envelope(
                "named", "web_form", T0, "13800000011", contact={"name": "李雷", "company": "杭州某公司"}
            ),
            envelope("quiet", "douyin_dm", T0, "13800000012"),
            envelope(
                "reply",
                "wecom_msg",
                T0 + timedelta(minutes=5),
                "13800000011",
                direction="outbound",
                actor="a-one",
            ),
        ]
    )
    assert route_pending(app) == 2
    assert len(check_sla(app, T0 + timedelta(minutes=16))) == 1
    return app, url


def published(tmp_path: Path, url: str) -> tuple[EventChain, NotificationNames]:
    """The decided store's three notifications, published to a stream of the test's own."""
    app, _ = decided(tmp_path)
    names = private_names()
    with notifying(app, url, names) as notifier:
        assert wait_until(lambda: notifier.stats.published == 3, timeout=15)
    return app, names


def test_every_decision_is_published_once_with_the_documented_subject_headers_and_body(
    nats_server: str, tmp_path: Path
) -> None:
    app, names = published(tmp_path, nats_server)
    found = messages(nats_server, names)
    subjects = [subject for subject, _, _ in found]
    assert subjects == [
        f"{names.prefix}.lead_assigned.a-one",
        f"{names.prefix}.lead_assigned.a-one",
        f"{names.prefix}.first_response_overdue.m-boss",
    ]
    named = app.find_customer("phone:13800000011")
    first_headers, first_body = found[0][1], found[0][2]
    assert first_headers["Nats-Msg-Id"] == first_body["event_id"]
    assert first_headers[CUSTOMER_HEADER] == first_body["customer_id"]
    assert int(first_headers[POSITION_HEADER]) == first_body["position"]
    by_customer = {body["customer_id"]: body for _, _, body in found if body["kind"] == "lead_assigned"}
    body = by_customer[str(named.id)]
    assert (body["customer_name"], body["company"], body["channel"]) == ("李雷", "杭州某公司", "web_form")
    assert body["lead_at"] == T0.isoformat()
    assert body["deadline_at"] == (T0 + timedelta(minutes=15)).isoformat()
    assert body["rule_version"] == 1 and body["agent_id"] == "a-one"
    overdue = found[2][2]
    assert (overdue["step"], overdue["role"], overdue["agent_id"]) == (1, "manager", "m-boss")
    assert overdue["observed_at"] == (T0 + timedelta(minutes=16)).isoformat()

    # A restarted notifier publishes nothing again; a new decision is published once.
    with notifying(EventChain.from_url(f"sqlite:///{tmp_path / 'events.db'}"), nats_server, names) as again:
        assert wait_until(lambda: again.stats.position >= found[-1][2]["position"], timeout=15)
        assert check_sla(app, T0 + timedelta(minutes=31))  # step 2 for the quiet lead
        assert wait_until(lambda: again.stats.published == 1, timeout=15)
    assert len(messages(nats_server, names)) == 4


class Robot(BaseHTTPRequestHandler):
    """A WeCom group robot: answers 500 to the first ``failures`` posts, then errcode 0."""

    posts: list[dict[str, Any]]
    failures: int

    def do_POST(self) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.posts.append(body)  # type: ignore[attr-defined]
        if self.server.failures > 0:  # type: ignore[attr-defined]
            self.server.failures -= 1  # type: ignore[attr-defined]
            self.send_response(502)
            self.end_headers()
            return
        answer = json.dumps({"errcode": 0, "errmsg": "ok"}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(answer)))
        self.end_headers()
        self.wfile.write(answer)

    def log_message(self, *args: Any) -> None:
        pass


@contextmanager
def robot(failures: int) -> Iterator[ThreadingHTTPServer]:
    server = ThreadingHTTPServer(("127.0.0.1", 0), Robot)
    server.posts = []  # type: ignore[attr-defined]
    server.failures = failures  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()


def test_the_wecom_bridge_posts_the_robot_json_and_retries_on_5xx_until_it_is_taken(
    nats_server: str, tmp_path: Path
) -> None:
    _, names = published(tmp_path, nats_server)
    with robot(failures=2) as server:
        webhook = f"http://127.0.0.1:{server.server_address[1]}/cgi-bin/webhook/send?key=test"
        bridge = WecomBridge(
            nats_server, webhook, names, durable=f"wecom{uuid.uuid4().hex[:6]}", first_backoff=0.05
        )
        stop = threading.Event()
        thread = threading.Thread(target=bridge.run, args=(stop,), daemon=True)
        thread.start()
        try:
            assert wait_until(lambda: bridge.stats.delivered == 3, timeout=20)
        finally:
            stop.set()
            thread.join(timeout=10)
        posts = server.posts  # type: ignore[attr-defined]
    assert bridge.stats.retries == 2 and len(posts) == 5  # the first message was posted three times
    assert posts[0] == posts[1] == posts[2]
    assert all(post["msgtype"] == "markdown" and set(post) == {"msgtype", "markdown"} for post in posts)
    contents = [post["markdown"]["content"] for post in posts[2:]]
    assert any("李雷" in c and "新线索分配 → a-one" in c for c in contents)
    assert any("首次响应超时 → m-boss" in c and "第 1 级" in c for c in contents)
