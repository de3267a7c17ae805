"""Which NATS to talk to: EVENTCHAIN_NATS_URL, or the embedded local nats-server.

When no URL is configured, eventchain runs nats-server (JetStream, file storage) itself
under ``$EVENTCHAIN_DATA_DIR/nats``. Its URL is written to ``nats/url`` while it runs, so a
second command (``publish`` or ``status`` next to a running ``serve``) talks to the same
server instead of starting another one on the same store directory.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from urllib.parse import urlparse

from adapters.local_servers import LocalNats
from eventchain.config import Settings


@contextmanager
def nats_url(settings: Settings) -> Iterator[str]:
    """Yields a NATS URL for the duration of a command, starting a local server if needed."""
    if settings.nats_url:
        yield settings.nats_url
        return
    store = settings.data_dir / "nats"
    running = running_local_url(store)
    if running:
        yield running
        return
    server = LocalNats(store).start()
    url_file = store / "url"
    url_file.write_text(server.url)
    try:
        yield server.url
    finally:
        url_file.unlink(missing_ok=True)
        server.stop()


def running_local_url(store: Path) -> str | None:
    """The URL of a local nats-server another eventchain process runs on ``store``, if alive."""
    try:
        url = (store / "url").read_text().strip()
    except FileNotFoundError:
        return None
    parsed = urlparse(url)
    try:
        with socket.create_connection((parsed.hostname or "127.0.0.1", parsed.port or 4222), timeout=0.5):
            return url
    except OSError:
        return None
