"""A deferred purge: the erased customers' messages ingest had not recorded yet."""

from __future__ import annotations

from datetime import UTC, datetime
from uuid import uuid4

import pytest

from domain.erasure_purges import DeferredPurge, InvalidDeferredPurgeError

AT = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)


def deferred(messages: dict[int, str]) -> DeferredPurge:
    return DeferredPurge.defer(
        uuid4(),
        customer_id="c-1",
        stream="TOUCHPOINTS",
        consumer="eventchain-ingest",
        dead_letters="TOUCHPOINTS_DLQ",
        messages=messages,
        deferred_at=AT,
    )


def test_a_purge_is_pending_until_every_message_it_names_is_purged() -> None:
    purge = deferred({7: "a-2", 9: "a-3"})
    purge.record_purged({"7": "deleted", "8": "deleted"}, AT)  # 8 was never named: ignored
    assert (purge.pending, purge.done) == ({9: "a-3"}, False)
    purge.record_purged({"9": "gone"}, AT)

    created, first, second = purge.collect_events()
    assert isinstance(created, DeferredPurge.Created) and created.messages == {"7": "a-2", "9": "a-3"}
    assert isinstance(first, DeferredPurge.Purged) and isinstance(second, DeferredPurge.Purged)
    assert (purge.done, purge.purged) == (True, {"7": "deleted", "9": "gone"})


def test_a_purge_names_at_least_one_stream_sequence() -> None:
    with pytest.raises(InvalidDeferredPurgeError, match="at least one"):
        deferred({})
    with pytest.raises(InvalidDeferredPurgeError, match="not a stream sequence"):
        deferred({0: "a-1"})
