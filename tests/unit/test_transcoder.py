"""adapters/transcoder.py writes exactly the library JSONTranscoder's bytes (the projector
reads stored JSON directly), and the library reads them back to equal events."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any
from uuid import UUID

from eventsourcing.application import Application
from eventsourcing.persistence import JSONTranscoder, Mapper
from hypothesis import given, settings
from hypothesis import strategies as st

from adapters.transcoder import FastJSONTranscoder
from application.event_chain import EventChain
from domain.customer import Customer, IdentityIndex
from domain.touchpoints import accept
from tests.strategies import touchpoint_histories


def library_transcoder() -> JSONTranscoder:
    transcoder = JSONTranscoder()
    Application.register_transcodings(Application, transcoder)  # type: ignore[arg-type]
    return transcoder


def fast_transcoder() -> FastJSONTranscoder:
    transcoder = FastJSONTranscoder()
    Application.register_transcodings(Application, transcoder)  # type: ignore[arg-type]
    return transcoder


LIBRARY = library_transcoder()
FAST = fast_transcoder()

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),  # beyond 64 bits too
    st.floats(),  # nan, ±inf, -0.0, 1e16, 5e-324…
    st.text(),  # control characters, quotes, backslashes, U+2028, lone surrogates…
    st.characters().map(lambda c: c * 3),
    st.datetimes(timezones=st.none() | st.timezones()),
    st.uuids(),
    st.decimals(allow_nan=False),
    st.sets(st.integers(), max_size=2),  # not JSON, not registered: the library raises
    st.frozensets(st.text(max_size=2), max_size=2),
)
keys = st.one_of(st.text(), st.integers(), st.floats(), st.booleans(), st.none(), st.uuids())
values = st.recursive(
    scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.tuples(children, children),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
        st.dictionaries(keys, children, max_size=3),
    ),
    max_leaves=12,
)


def outcome(transcoder: JSONTranscoder, obj: Any) -> bytes | type[BaseException]:
    try:
        return transcoder.encode(obj)
    except Exception as error:  # the same error as the library's, or the test fails
        return type(error)


@settings(max_examples=400)
@given(st.dictionaries(st.text(max_size=12), values, max_size=6))
def test_the_fast_encoder_writes_the_library_transcoders_bytes_or_raises_its_error(
    obj: dict[str, Any],
) -> None:
    assert outcome(LIBRARY, obj) == outcome(FAST, obj)


def test_every_basic_plane_character_is_escaped_as_the_library_escapes_it() -> None:
    characters = [chr(c) for c in range(0x10000) if not 0xD800 <= c <= 0xDFFF] + ["\U0001f600"]
    for start in range(0, len(characters), 512):
        text = '"\\'.join(characters[start : start + 512])
        assert LIBRARY.encode({"s": text, text: [text]}) == FAST.encode({"s": text, text: [text]})


def test_values_the_library_refuses_are_refused_the_same_way() -> None:
    for refused in ({"a": {1, 2}}, {"a": object()}, {"a": b"bytes"}):
        assert outcome(LIBRARY, refused) == outcome(FAST, refused)
        assert isinstance(outcome(FAST, refused), type)


def test_a_circular_structure_fails_as_in_the_library() -> None:
    circular: dict[str, Any] = {}
    circular["self"] = circular
    assert outcome(LIBRARY, circular) is outcome(FAST, circular) is ValueError


def test_datetimes_and_uuids_are_written_in_the_librarys_tagged_form() -> None:
    at = datetime(2026, 3, 2, 1, 15, tzinfo=UTC)
    customer_id = UUID("0d9c2b8e-6a47-4f1b-8a53-7c1e9f04d2a6")
    expected = {
        "at": {"_type_": "datetime_iso", "_data_": "2026-03-02T01:15:00+00:00"},
        "id": {"_type_": "uuid_hex", "_data_": customer_id.hex},
        "amount": {"_type_": "decimal_str", "_data_": "1.50"},
    }
    encoded = FAST.encode({"at": at, "id": customer_id, "amount": Decimal("1.50")})
    assert expected == json.loads(encoded)
    assert {"at": at, "id": customer_id, "amount": Decimal("1.50")} == LIBRARY.decode(encoded)


def test_the_application_uses_the_fast_transcoder() -> None:
    app = EventChain(env={"PERSISTENCE_MODULE": "eventsourcing.popo"})
    assert isinstance(app.mapper.transcoder, FastJSONTranscoder)


@settings(max_examples=60)
@given(touchpoint_histories(max_size=6))
def test_stored_events_read_back_with_the_library_mapper_as_equal_events(history: list[Any]) -> None:
    recorded_at = datetime(2026, 11, 1, tzinfo=UTC)
    fast_mapper: Mapper[UUID] = Mapper(transcoder=FAST)
    library_mapper: Mapper[UUID] = Mapper(transcoder=LIBRARY)
    events: list[Any] = []
    for touchpoint in history:
        accepted = accept(touchpoint)
        customer = Customer.start(accepted.touchpoint_id, recorded_at)
        customer.record_touchpoint(accepted, recorded_at)
        index = IdentityIndex.claim(accepted.identity_keys[0], customer.id, recorded_at)
        events += [*customer.collect_events(), *index.collect_events()]
    for event in events:
        stored = fast_mapper.to_stored_event(event)
        assert library_mapper.to_stored_event(event) == stored
        assert event == library_mapper.to_domain_event(stored)
