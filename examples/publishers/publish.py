"""Minimal eventchain publisher (Python, nats-py): one touchpoint, JetStream ack, retry on no ack."""

from __future__ import annotations

import asyncio
import json

import nats

ENVELOPE = {
    "touchpoint_id": "wf-2026-000123",
    "channel": "web_form",
    "occurred_at": "2026-03-02T09:15:00+08:00",
    "direction": "inbound",
    "actor": None,
    "identities": [{"kind": "phone", "value": "13800138000"}],
    "payload": {"form_id": "contact-us"},
}


async def main(url: str = "nats://127.0.0.1:4222") -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    data = json.dumps(ENVELOPE, ensure_ascii=False).encode()
    subject = f"touchpoints.{ENVELOPE['channel']}"
    headers = {"Nats-Msg-Id": ENVELOPE["touchpoint_id"]}
    while True:  # no ack: publish again; the Nats-Msg-Id makes repeats harmless
        try:
            ack = await js.publish(subject, data, headers=headers, timeout=5)
            print(f"stored as seq {ack.seq} (duplicate={ack.duplicate})")
            break
        except nats.errors.TimeoutError:
            await asyncio.sleep(1)
    await nc.close()


if __name__ == "__main__":
    asyncio.run(main())
