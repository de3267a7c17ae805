"""The WeCom (企业微信) group-robot bridge: ``eventchain notify wecom --webhook URL``.

A durable JetStream consumer on the notification subjects (``followers.notifier``) posts each
notification to a group robot's webhook — the robot's documented JSON, ``{"msgtype":
"markdown", "markdown": {"content": …}}`` (or ``text``) — and acks the message only after the
robot answered ``{"errcode": 0}``. Network errors, HTTP 5xx and the robot's rate limit
(errcode 45009) are retried with exponential backoff while JetStream is told the message is
still in progress, so nothing is dropped while the robot is down; an answer that can never
succeed (HTTP 4xx, another errcode) is logged and the message terminated, so one bad message
cannot block the rest. The consumer's pending and redelivered counts show in
``eventchain status``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from typing import Any, Final, Literal

import nats
from nats.js import api

from adapters.jetstream_pull import BatchFetcher
from followers.notifier import NotificationNames, ensure_notification_stream

WECOM_DURABLE: Final = "eventchain-notify-wecom"
RATE_LIMITED: Final = 45009  # 接口调用超过限制 (a robot takes 20 messages a minute)
MAX_CONTENT_BYTES: Final = 4096  # the robot's limit for markdown and text content
log = logging.getLogger("eventchain.wecom")
MessageType = Literal["markdown", "text"]


class RetryableError(Exception):
    """The robot did not take the message now (network, 5xx, rate limit): try again later."""


class RejectedError(Exception):
    """The robot will never take this message (4xx, a permanent errcode)."""


@dataclass
class BridgeStats:
    delivered: int = 0
    retries: int = 0
    rejected: int = 0
    last_error: str | None = None


@dataclass
class WecomBridge:
    nats_url: str
    webhook: str
    names: NotificationNames = field(default_factory=NotificationNames)
    durable: str = WECOM_DURABLE
    subjects: str = ""  # default: every notification subject
    msgtype: MessageType = "markdown"
    timeout: float = 10.0
    first_backoff: float = 1.0
    max_backoff: float = 60.0
    stats: BridgeStats = field(default_factory=BridgeStats)

    def run(self, stop: threading.Event) -> None:
        asyncio.run(self.run_async(stop))

    async def run_async(self, stop: threading.Event) -> None:
        nc = await nats.connect(
            self.nats_url, name="eventchain-notify-wecom", max_reconnect_attempts=-1, reconnect_time_wait=0.5
        )
        try:
            js = nc.jetstream()
            await ensure_notification_stream(js, self.names)
            await js.add_consumer(
                self.names.stream,
                api.ConsumerConfig(
                    durable_name=self.durable,
                    ack_policy=api.AckPolicy.EXPLICIT,
                    ack_wait=max(30.0, self.timeout * 3),
                    filter_subject=self.subjects or f"{self.names.prefix}.>",
                    deliver_policy=api.DeliverPolicy.ALL,
                ),
            )
            fetcher = await BatchFetcher.bind(nc, self.names.stream, self.durable)
            while not stop.is_set():
                try:
                    messages = await fetcher.fetch(20, timeout=1.0)
                except (nats.errors.Error, nats.js.errors.APIError) as error:
                    log.warning("fetch failed (%s); retrying", error)
                    await asyncio.sleep(0.5)
                    continue
                for message in messages:
                    if stop.is_set():
                        return  # unacked: redelivered to the next bridge after AckWait
                    await self.deliver(message, stop)
        finally:
            await nc.close()

    async def deliver(self, message: Any, stop: threading.Event) -> None:
        body = json.loads(message.data)
        payload = robot_message(body, self.msgtype)
        backoff = self.first_backoff
        while True:
            try:
                await asyncio.to_thread(self.post, payload)
            except RetryableError as error:
                self.stats.retries += 1
                self.stats.last_error = str(error)
                log.warning(
                    "WeCom robot did not take %s (retrying in %.0f s): %s",
                    body.get("event_id"),
                    backoff,
                    error,
                )
                await message.in_progress()
                if stop.wait(0) or await _sleep_or_stop(backoff, stop):
                    return
                backoff = min(backoff * 2, self.max_backoff)
                continue
            except RejectedError as error:
                self.stats.rejected += 1
                self.stats.last_error = str(error)
                log.error("WeCom robot rejected %s for good: %s", body.get("event_id"), error)
                await message.term()
                return
            await message.ack()
            self.stats.delivered += 1
            return

    def post(self, payload: dict[str, Any]) -> None:
        request = urllib.request.Request(
            self.webhook,
            data=json.dumps(payload, ensure_ascii=False).encode(),
            headers={"Content-Type": "application/json; charset=utf-8"},
            method="POST",
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout) as response:
                answer = json.loads(response.read() or b"{}")
        except urllib.error.HTTPError as error:
            if error.code >= 500 or error.code == 429:
                raise RetryableError(f"HTTP {error.code}") from None
            raise RejectedError(f"HTTP {error.code}") from None
        except (urllib.error.URLError, TimeoutError, OSError) as error:
            raise RetryableError(f"{type(error).__name__}: {error}") from None
        except json.JSONDecodeError:
            raise RetryableError("the robot's answer is not JSON") from None
        code = answer.get("errcode", 0)
        if code == RATE_LIMITED:
            raise RetryableError(f"errcode {code}: {answer.get('errmsg', '')}")
        if code != 0:
            raise RejectedError(f"errcode {code}: {answer.get('errmsg', '')}")


async def _sleep_or_stop(seconds: float, stop: threading.Event) -> bool:
    end = asyncio.get_running_loop().time() + seconds
    while asyncio.get_running_loop().time() < end:
        if stop.is_set():
            return True
        await asyncio.sleep(min(0.2, seconds))
    return stop.is_set()


KIND_TITLES: Final = {
    "lead_assigned": "新线索分配",
    "handover": "客户交接",
    "first_response_overdue": "首次响应超时",
    "read_alert": "客户数据读取告警",
    "follow_up": "跟进步骤到期",
    "follow_up_escalated": "跟进步骤逾期",
}


def robot_message(body: dict[str, Any], msgtype: MessageType = "markdown") -> dict[str, Any]:
    """The group robot's JSON for one notification body (Chinese, as the team reads it)."""
    kind = body.get("kind", "")
    customer = body.get("customer_name") or "(未留姓名)"
    if body.get("company"):
        customer += f"（{body['company']}）"
    lines = [f"客户：{customer}"]
    if body.get("channel"):
        lines.append(f"渠道：{body['channel']} · 线索时间 {body.get('lead_at') or '—'}")
    if body.get("deadline_at"):
        lines.append(f"首次响应截止：{body['deadline_at']}")
    if kind in ("follow_up", "follow_up_escalated"):
        step = f"{body.get('plan')} · {body.get('step')}"
        lines.append(f"跟进计划 {step}：{body.get('action')} · 到期 {body.get('due_at')}")
    if kind == "first_response_overdue":
        lines.append(f"第 {body.get('step')} 级（{body.get('role') or '—'}）· {body.get('reason') or ''}")
    elif body.get("reason"):
        lines.append(f"原因：{body['reason']}")
    lines.append(f"规则 v{body.get('rule_version')} · {body.get('link') or body.get('reference')}")
    title = f"{KIND_TITLES.get(kind, kind)} → {body.get('agent_id')}"
    if msgtype == "text":
        content = "\n".join([f"【{title}】", *lines])
        return {"msgtype": "text", "text": {"content": _clip(content)}}
    colour = "warning" if kind in ("first_response_overdue", "follow_up_escalated") else "info"
    content = "\n".join([f'**<font color="{colour}">{title}</font>**', *(f"> {line}" for line in lines)])
    return {"msgtype": "markdown", "markdown": {"content": _clip(content)}}


def _clip(content: str) -> str:
    data = content.encode()
    if len(data) <= MAX_CONTENT_BYTES:
        return content
    return data[: MAX_CONTENT_BYTES - 3].decode(errors="ignore") + "…"
