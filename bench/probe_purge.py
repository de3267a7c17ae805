"""A by-hand probe of the erasure stream purge (docs/performance.md): N envelopes in a
file-store stream on a local nats-server, one purge, messages per second. Not part of
`make bench` (no baseline to compare with yet).

    python -m bench.probe_purge 100000
"""

from __future__ import annotations

import asyncio
import json
import shutil
import sys
import tempfile
import time
import uuid
from pathlib import Path

import nats

from adapters.local_servers import LocalNats
from application.stream_purge import PurgeTarget, erased_party, purge_streams


async def _seed(url: str, count: int) -> None:
    nc = await nats.connect(url)
    js = nc.jetstream()
    await js.add_stream(name="PROBE", subjects=["probe.>"])
    for i in range(count):
        envelope = {
            "touchpoint_id": f"t{i}",
            "identities": [{"kind": "phone", "value": f"1391234{i:04d}"[-11:]}],
            "contact": {"name": f"客户{i}", "company": "某某有限公司"},
        }
        await js.publish("probe.web_form", json.dumps(envelope, ensure_ascii=False).encode())
    await nc.close()


def main(count: int) -> None:
    directory = Path(tempfile.mkdtemp(prefix="probe-purge-"))
    server = LocalNats(directory / "nats").start()
    try:
        asyncio.run(_seed(server.url, count))
        party = erased_party([str(uuid.uuid4())], ["phone:+8613912340042"], ["客户42"], ["t42"])
        started = time.perf_counter()
        [purge] = purge_streams(server.url, [PurgeTarget("PROBE")], party)
        elapsed = time.perf_counter() - started
        print(
            f"{purge.scanned} messages scanned in {elapsed:.2f} s "
            f"({purge.scanned / elapsed:,.0f} msg/s), {len(purge.deleted)} deleted, "
            f"{len(purge.quarantined)} quarantined"
        )
    finally:
        server.stop()
        shutil.rmtree(directory, ignore_errors=True)


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 20_000)
