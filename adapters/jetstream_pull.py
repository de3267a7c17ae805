"""Batch fetching from a JetStream pull consumer, one wake-up per batch.

nats-py's ``PullSubscription.fetch`` waits for every message of a batch with ``next_msg``:
two asyncio tasks, a ``wait_for`` and a uuid4 per message, ~25 µs each, more than
validating the message. This fetcher sends the same pull request (``$JS.API.CONSUMER.MSG.NEXT``
with ``batch``, ``expires`` and ``no_wait``: the server waits up to ``expires`` for a first
message, delivers what is available, and ends the request with a 404 or 408 status) to an
inbox whose callback collects the messages, and wakes the caller once per batch.

The messages are the ordinary JetStream messages ``fetch`` returns: ``ack``,
``in_progress``, ``term`` and ``metadata`` work the same. Messages that arrive after a
fetch returned (a late answer to an earlier request) are kept for the next fetch; if the
worker stops first, JetStream redelivers them after AckWait, as with any unacked message.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
from typing import Final

import nats
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription
from nats.js.api import Header

# The request ends with one of these: no (more) messages now, or ``expires`` reached.
_END_OF_REQUEST: Final = frozenset({"404", "408"})
_HEARTBEAT: Final = "100"
_GRACE: Final = 0.5  # seconds past the request's own expiry before the fetch gives up


class PullRequestError(nats.errors.Error):
    """The server answered a pull request with an error status (e.g. 409 consumer deleted)."""

    def __init__(self, status: str, description: str) -> None:
        super().__init__(f"pull request failed: {status} {description}")
        self.status = status
        self.description = description


class BatchFetcher:
    """Fetches batches from a durable pull consumer; create with :meth:`bind`."""

    def __init__(self, nc: Client, stream: str, durable: str, api_prefix: str = "$JS.API") -> None:
        self._nc = nc
        self._request_subject = f"{api_prefix}.CONSUMER.MSG.NEXT.{stream}.{durable}"
        self._inbox = nc.new_inbox()
        self._subscription: Subscription | None = None
        self._buffer: list[Msg] = []
        self._wanted = 0
        self._ready = asyncio.Event()
        self._error: PullRequestError | None = None

    @classmethod
    async def bind(cls, nc: Client, stream: str, durable: str) -> BatchFetcher:
        fetcher = cls(nc, stream, durable)
        fetcher._subscription = await nc.subscribe(fetcher._inbox, cb=fetcher._on_message)
        return fetcher

    async def fetch(self, batch: int, timeout: float) -> list[Msg]:
        """Up to ``batch`` messages: whatever is available, waiting at most ``timeout``
        seconds for the first one. An empty list when none came."""
        if batch < 1 or timeout <= 0:
            raise ValueError("batch and timeout must be positive")
        if not self._buffer:
            self._ready.clear()
            self._wanted = batch
            self._error = None
            request = {"batch": batch, "expires": int(timeout * 1e9), "no_wait": True}
            await self._nc.publish(self._request_subject, json.dumps(request).encode(), reply=self._inbox)
            with contextlib.suppress(TimeoutError):  # no answer at all (a reconnect lost the request)
                await asyncio.wait_for(self._ready.wait(), timeout + _GRACE)
            if self._error is not None and not self._buffer:
                raise self._error
        messages, self._buffer = self._buffer[:batch], self._buffer[batch:]
        return messages

    async def close(self) -> None:
        if self._subscription is not None:
            await self._subscription.unsubscribe()
            self._subscription = None

    async def _on_message(self, msg: Msg) -> None:
        status = msg.headers.get(Header.STATUS) if msg.headers else None
        if status is None:
            self._buffer.append(msg)
            if len(self._buffer) >= self._wanted:
                self._ready.set()
        elif status in _END_OF_REQUEST:
            self._ready.set()
        elif status != _HEARTBEAT:
            description = msg.headers.get(Header.DESCRIPTION, "") if msg.headers else ""
            self._error = PullRequestError(status, description)
            self._ready.set()
