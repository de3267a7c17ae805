"""Followers resume from their checkpoints on real stores: a restart reads only the tail of the
log after the checkpoint and decides as a fold from the start would; a checkpoint of other
code (a changed fold) or an unreadable one is rebuilt from the log, saying why."""

from __future__ import annotations

import logging
import pickle
import threading
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import pytest

from adapters.crypto import new_kek, parse_kek
from adapters.log_reader import log_events
from adapters.store import store_execute
from application.event_chain import EventChain
from domain.customer import Customer
from domain.routing import replay_decisions
from followers.checkpoints import Checkpoints
from followers.router import ROUTED_EVENTS, ROUTER_NAME, Router
from followers.silence import SilenceTagger
from followers.sla_watcher import SlaWatcher
from tests.integration.test_followers import Clock, staffed
from tests.projection_support import T0, envelope


def leads(app: EventChain, *numbers: int) -> None:
    app.record(
        [envelope(f"lead-{n}", "web_form", T0 + timedelta(minutes=n), f"1380000{n:04d}") for n in numbers]
    )


def owners(app: EventChain) -> list[tuple[str, str]]:
    return [(c, f["agent_id"]) for _, _, c, f in log_events(app, [Customer.LeadAssigned])]


def test_a_restarted_router_reads_only_the_tail_and_decides_as_a_full_fold_would(store_url: str) -> None:
    app = staffed(store_url)
    leads(app, 1, 2, 3)
    first = Router(EventChain.from_url(store_url))
    assert first.resumed.note == "no checkpoint yet"
    assert first.tick() == 3
    first.checkpoint()
    checkpointed = first.position

    leads(app, 4)
    restarted = Router(EventChain.from_url(store_url))
    assert (restarted.resumed.note, restarted.resumed.position) == ("checkpoint", checkpointed)
    tail = list(restarted.tail.read())
    assert tail and all(notification_id > checkpointed for notification_id, *_ in tail)
    restarted.tail.position = checkpointed

    assert restarted.tick() == 1
    assert Router(EventChain.from_url(store_url)).tick() == 0
    replayed = replay_decisions((k, c, f) for _, k, c, f in log_events(app, ROUTED_EVENTS))
    assert sorted(owners(app)) == sorted((d.customer_id, d.agent_id) for d in replayed)
    assert len(owners(app)) == 4


@pytest.mark.parametrize("stored", ["other fold", "unreadable"])
def test_a_checkpoint_the_code_cannot_use_is_rebuilt_from_the_log_with_a_reason(
    store_url: str, stored: str, caplog: pytest.LogCaptureFixture
) -> None:
    app = staffed(store_url)
    leads(app, 1, 2)
    router = Router(EventChain.from_url(store_url))
    router.tick()
    version = "0123456789abcdef" if stored == "other fold" else router.checkpoints.version
    Checkpoints(app).save(ROUTER_NAME, version, router.position, b"not a fold")
    if stored == "unreadable":  # pickled bytes, but not of a fold
        from adapters.store import store_execute

        store_execute(
            app.recorder,
            "UPDATE follower_checkpoints SET state = ? WHERE name = ?",
            (b"\x80junk", ROUTER_NAME),
        )
    leads(app, 3)
    with caplog.at_level(logging.INFO, logger="eventchain.followers"):
        restarted = Router(EventChain.from_url(store_url))
    assert restarted.resumed.position == 0
    assert "rebuilding" in restarted.resumed.note
    assert any("folds the log from the start" in r.getMessage() for r in caplog.records)
    assert restarted.tick() == 1
    assert len(owners(app)) == 3


def test_the_sla_watcher_and_silence_tagger_resume_from_their_checkpoints(store_url: str) -> None:
    app = staffed(store_url)
    leads(app, 1)
    Router(app).tick()
    clock = Clock(T0 + timedelta(minutes=17))
    watcher = SlaWatcher(EventChain.from_url(store_url), clock=clock)
    assert [e.step for e in watcher.escalate()] == [1]
    watcher.tick()  # reads its own escalation back
    watcher.checkpoint()
    tagger = SilenceTagger(EventChain.from_url(store_url), clock=Clock(T0 + timedelta(days=1)))
    assert tagger.apply() == (0, 0)
    tagger.checkpoint()

    clock.now = T0 + timedelta(minutes=40)
    watcher = SlaWatcher(EventChain.from_url(store_url), clock=clock)
    assert watcher.resumed.note == "checkpoint"
    assert [e.step for e in watcher.escalate()] == [2]  # step 1 is in the checkpoint: not again
    tagger = SilenceTagger(EventChain.from_url(store_url), clock=Clock(T0 + timedelta(days=3)))
    assert tagger.resumed.note == "checkpoint"
    assert tagger.apply() == (1, 0)
    steps = [int(f["step"]) for _, _, _, f in log_events(app, [Customer.FirstResponseOverdue])]
    assert steps == [1, 2]


def test_followers_starting_together_on_a_fresh_store_all_get_their_checkpoint_table(store_url: str) -> None:
    staffed(store_url)
    makers = [
        lambda: Router(EventChain.from_url(store_url)),
        lambda: SlaWatcher(EventChain.from_url(store_url)),
        lambda: SilenceTagger(EventChain.from_url(store_url)),
    ] * 2
    errors: list[BaseException] = []

    def start(make: Callable[[], object]) -> None:
        try:
            make()
        except BaseException as error:
            errors.append(error)

    threads = [threading.Thread(target=start, args=(make,)) for make in makers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert errors == []


class _Canary:
    """A pickle that, if ever unpickled, touches a file: what a forged checkpoint could run."""

    def __init__(self, path: str) -> None:
        self.path = path

    def __reduce__(self) -> tuple[Callable[..., object], tuple[str, str]]:
        return (_touch, (self.path, "ran"))


def _touch(path: str, text: str) -> object:
    with open(path, "w", encoding="utf-8") as file:
        file.write(text)
    return object()


def test_a_checkpoint_written_without_the_key_is_never_unpickled(store_url: str, tmp_path: Path) -> None:
    kek = parse_kek(new_kek())
    app = staffed(store_url)
    leads(app, 1)
    keyed = EventChain.from_url(store_url, kek=kek)
    router = Router(keyed)
    router.tick()
    router.checkpoint(force=True)
    canary = tmp_path / "canary"
    forged = pickle.dumps(_Canary(str(canary)))
    store_execute(  # someone with write access to the store's tables, but not the key
        app.recorder,
        "UPDATE follower_checkpoints SET state = ? WHERE name = ?",
        (forged, ROUTER_NAME),
    )
    restarted = Router(EventChain.from_url(store_url, kek=kek))
    assert "not authentic" in restarted.resumed.note
    assert not canary.exists()
    assert restarted.resumed.position == 0
