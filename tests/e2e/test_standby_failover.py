"""A hot standby, not a refusal: two `serve --only route` on one store (PostgreSQL from two data
dirs, SQLite from one), the active one SIGKILLed while leads arrive; the standby takes the
router's lease over and resumes from its checkpoint, and every lead is owned exactly once."""

from __future__ import annotations

import os
import signal
import threading
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.crypto import parse_kek
from adapters.local_servers import LocalNats
from adapters.log_reader import log_events
from adapters.nats import wait_until
from application.event_chain import EventChain
from application.rules import apply_rules, join
from domain.customer import Customer
from tests.conftest import fresh_database
from tests.e2e.test_serve_status import KEK, Serve, status
from tests.integration.test_followers import RULES, TEAM
from tests.projection_support import T0, envelope

pytestmark = pytest.mark.nats
LEADS = 60
TAKEOVER_S = 10.0  # the bound: the standby runs the part within this of the death


def owners(app: EventChain) -> Counter[str]:
    return Counter(customer for _, _, customer, _ in log_events(app, [Customer.LeadAssigned]))


@pytest.mark.parametrize("store", ["sqlite", "postgres"])
def test_the_standby_router_takes_over_a_killed_one_and_every_lead_is_owned_once(
    store: str, tmp_path: Path, local_nats: LocalNats, request: pytest.FixtureRequest
) -> None:
    if store == "sqlite":
        url = f"sqlite:///{tmp_path / 'host-a' / 'events.db'}"
        dirs = (tmp_path / "host-a", tmp_path / "host-a")  # one machine, one data dir
    else:
        url = fresh_database(request.getfixturevalue("postgres_server"))
        dirs = (tmp_path / "host-a", tmp_path / "host-b")
    env = {
        **os.environ,
        "EVENTCHAIN_NATS_URL": local_nats.url,
        "EVENTCHAIN_STORE_URL": url,
        "EVENTCHAIN_KEK": KEK,
    }
    app = EventChain.from_url(url, kek=parse_kek(KEK))
    for agent in TEAM:
        join(app, agent, "ops")
    apply_rules(app, RULES, "ops", "test rules")

    active = Serve(dirs[0], env, "--only", "route", "--metrics-addr", "off")
    standby: Serve | None = None
    try:
        assert wait_until(lambda: any("serving route" in line for line in active.lines), 60)
        standby = Serve(dirs[1], env, "--only", "route", "--metrics-addr", "off")
        assert wait_until(lambda: any("standing by for route" in line for line in standby.lines), 60)

        def arrive(first: int, last: int) -> None:
            for n in range(first, last):
                app.record([envelope(f"lead-{n}", "web_form", T0 + timedelta(seconds=n), f"139{n:08d}")])
                time.sleep(0.02)

        arrive(0, LEADS // 3)
        assert wait_until(lambda: sum(owners(app).values()) >= LEADS // 6, 30)  # the active one routes
        arriving = threading.Thread(target=arrive, args=(LEADS // 3, LEADS))
        arriving.start()
        active.process.send_signal(signal.SIGKILL)
        killed_at = time.monotonic()
        took_over = wait_until(lambda: any("took over route" in line for line in standby.lines), TAKEOVER_S)
        takeover_s = time.monotonic() - killed_at
        arriving.join(timeout=60)
        assert took_over, f"no takeover within {TAKEOVER_S} s: {standby.lines[-5:]}"
        print(f"takeover after SIGKILL on {store}: {takeover_s:.2f} s")

        assert wait_until(lambda: sum(owners(app).values()) >= LEADS, 60), owners(app)
        counts = owners(app)
        assert len(counts) == LEADS and set(counts.values()) == {1}
        code, found, stderr = status(dirs[1], env, "--only", "route")
        assert (0, {"route": standby.process.pid}) == (code, found["active"]), stderr
    finally:
        if standby is not None:
            standby.stop()
        if active.process.poll() is None:
            active.stop()
