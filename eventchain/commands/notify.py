"""``eventchain notify wecom``: forward notifications to a WeCom group robot."""

from __future__ import annotations

import signal
import threading
from urllib.parse import urlparse

import click

from eventchain.cli_support import settings_of
from eventchain.commands.serve import configure_logging
from eventchain.nats_support import nats_url
from followers.notifier import NotificationNames
from followers.wecom import WECOM_DURABLE, WecomBridge


@click.group("notify")
def notify_group() -> None:
    """Deliver notifications (assignments, handovers, escalations) to people.

    The service publishes every decision on notifications.<kind>.<agent>
    (kind: lead_assigned, handover, first_response_overdue); these commands
    forward them. SMS or mail gateways can subscribe to the same subjects.

    \b
    Example:
      eventchain notify wecom --webhook "$WECOM_ROBOT_URL"
    """


@notify_group.command("wecom")
@click.option(
    "--webhook",
    required=True,
    envvar="EVENTCHAIN_WECOM_WEBHOOK",
    help="The group robot's webhook URL (https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=…).",
)
@click.option(
    "--subjects",
    default="",
    help="Only these notification subjects (NATS wildcards), e.g. 'notifications.first_response_overdue.>'.",
)
@click.option("--msgtype", type=click.Choice(["markdown", "text"]), default="markdown", show_default=True)
@click.option("--durable", default=WECOM_DURABLE, show_default=True, help="The JetStream consumer's name.")
@click.pass_context
def wecom_command(ctx: click.Context, webhook: str, subjects: str, msgtype: str, durable: str) -> None:
    """Post each notification to a WeCom (企业微信) group robot, until SIGINT/SIGTERM.

    Each message is acked only after the robot answered errcode 0; network errors,
    HTTP 5xx and the robot's rate limit are retried with backoff (nothing is dropped
    while it is down); a message the robot rejects for good is logged and skipped.

    \b
    Example:
      eventchain notify wecom --webhook "$WECOM_ROBOT_URL"
      eventchain notify wecom --webhook "$URL" --subjects 'notifications.first_response_overdue.>'
    """
    parsed = urlparse(webhook)
    if parsed.scheme not in ("http", "https") or not parsed.netloc:
        raise click.BadParameter(f"{webhook!r} is not an http(s) URL", param_hint="--webhook")
    configure_logging()
    stop = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    with nats_url(settings_of(ctx)) as url:
        bridge = WecomBridge(
            url,
            webhook,
            NotificationNames(),
            durable=durable,
            subjects=subjects,
            msgtype="text" if msgtype == "text" else "markdown",
        )
        bridge.run(stop)


def register(group: click.Group) -> None:
    group.add_command(notify_group)
