"""Runtime configuration (SPEC §2.2): environment variables, each with a CLI flag."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class Settings:
    data_dir: Path
    store_url: str
    nats_url: str | None  # None: start a local nats-server under data_dir
    views_path: Path
    snapshot_path: Path
    web_addr: str = "127.0.0.1:8710"  # the web workspace's host:port (loopback unless told)
    kek: bytes | None = None  # from EVENTCHAIN_KEK only (a secret: never a flag, never a file in the repo)

    @classmethod
    def load(
        cls,
        environ: Mapping[str, str] | None = None,
        *,
        data_dir: str | None = None,
        store_url: str | None = None,
        nats_url: str | None = None,
        views_path: str | None = None,
        snapshot_path: str | None = None,
        web_addr: str | None = None,
    ) -> Settings:
        """Flags win over environment variables, which win over defaults."""
        env = os.environ if environ is None else environ
        root = Path(data_dir or env.get("EVENTCHAIN_DATA_DIR") or "./data")
        return cls(
            data_dir=root,
            store_url=store_url or env.get("EVENTCHAIN_STORE_URL") or f"sqlite:///{root / 'events.db'}",
            nats_url=nats_url or env.get("EVENTCHAIN_NATS_URL") or None,
            views_path=Path(views_path or env.get("EVENTCHAIN_VIEWS_PATH") or root / "views.duckdb"),
            snapshot_path=Path(
                snapshot_path or env.get("EVENTCHAIN_SNAPSHOT_PATH") or root / "analytics.duckdb"
            ),
            web_addr=web_addr or env.get("EVENTCHAIN_WEB_ADDR") or "127.0.0.1:8710",
            kek=_kek(env.get("EVENTCHAIN_KEK")),
        )


def _kek(text: str | None) -> bytes | None:
    if not text:
        return None
    from adapters.crypto import parse_kek

    return parse_kek(text)
