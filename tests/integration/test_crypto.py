"""The encrypting mapper and the key store on a real store: what is sealed, what stays
clear, how keys are created under races, and that a sealed field cannot be moved."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from cryptography.exceptions import InvalidTag
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from adapters.crypto import SEALED, ErasedCustomerError, KeyError_, KeyStore, new_kek, parse_kek
from application.event_chain import EventChain
from domain.customer import Customer, IdentityIndex
from tests.projection_support import T0, envelope

KEK = parse_kek(new_kek())
# Han characters only: a four-character name cannot appear by chance in base64 or JSON keys.
HAN = st.characters(min_codepoint=0x4E00, max_codepoint=0x62FF)
HAN_NAMES = st.text(alphabet=HAN, min_size=4, max_size=8)


@pytest.fixture(scope="module")
def sealed_app(tmp_path_factory: pytest.TempPathFactory) -> EventChain:
    return EventChain.from_url(f"sqlite:///{tmp_path_factory.mktemp('crypto') / 'events.db'}", kek=KEK)


def touched(name: str, phone: str = "13811112222", touchpoint_id: str = "tp-1") -> Customer:
    customer = Customer.start(touchpoint_id, T0)
    customer.record_touchpoint(envelope(touchpoint_id, "web_form", T0, phone, contact={"name": name}), T0)
    return customer


@hypothesis_settings(max_examples=25)
@given(name=HAN_NAMES)
def test_personal_fields_are_sealed_structure_stays_clear_and_the_key_opens_them(
    sealed_app: EventChain, name: str
) -> None:
    event = touched(name).collect_events()[1]
    stored = sealed_app.mapper.to_stored_event(event)
    text = stored.state.decode()
    assert name not in text and "13811112222" not in text and SEALED in text
    assert "web_form" in text and "tp-1" in text  # channel and ids are structure, not personal
    again = sealed_app.mapper.to_domain_event(stored)
    assert again.contact == event.contact and again.identity_keys == event.identity_keys
    assert again.summary == event.summary


def test_a_sealed_field_moved_to_another_event_does_not_open(sealed_app: EventChain) -> None:
    first = sealed_app.mapper.to_stored_event(touched("欧阳娜娜").collect_events()[1])
    other = sealed_app.mapper.to_stored_event(touched("韩梅梅", "13922223333", "tp-2").collect_events()[1])
    # the other customer's envelope with this customer's sealed blob: bound to id and version
    forged = type(other)(other.originator_id, other.originator_version, other.topic, first.state)
    with pytest.raises(InvalidTag):
        sealed_app.mapper.to_domain_event(forged)


def test_two_writers_creating_the_same_customers_key_agree_on_one(store_url: str) -> None:
    first, second = EventChain.from_url(store_url, kek=KEK), EventChain.from_url(store_url, kek=KEK)
    assert first.keys is not None and second.keys is not None
    ids = [f"customer-{n}" for n in range(5)]
    first.keys.prepare(ids[:3])
    second.keys.prepare(ids)  # loads the three that exist, creates two
    stale = KeyStore(first.recorder, KEK)  # a third process that saw nothing yet
    nonce = b"\0" * 12
    for customer_id in ids:
        sealed = second.keys.key(customer_id).encrypt(nonce, b"probe", None)  # type: ignore[union-attr]
        assert stale.key(customer_id).decrypt(nonce, sealed, None) == b"probe"  # type: ignore[union-attr]


def test_erasing_keys_makes_events_read_as_erased_while_others_still_open(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    app = EventChain.from_url(url, kek=KEK)
    app.record([envelope("a", "web_form", T0, "13500000001", contact={"name": "欧阳娜娜"})])
    app.record([envelope("b", "web_form", T0, "13500000002", contact={"name": "韩梅梅"})])
    gone, kept = app.find_customer("phone:13500000001"), app.find_customer("phone:13500000002")
    assert app.keys is not None and app.keys.shred([str(gone.id)]) == 1
    reader = EventChain.from_url(url, kek=KEK)
    erased = reader.get_customer(gone.id)
    assert erased.profile_value("name") is None
    assert {f.summary for f in erased.touchpoints.values()} == {"[erased]"}
    assert reader.get_customer(kept.id).profile_value("name") == "韩梅梅"


def test_the_identity_index_stores_a_keyed_hash_not_the_phone(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'events.db'}"
    app = EventChain.from_url(url, kek=KEK)
    app.record([envelope("a", "web_form", T0, "13500000001")])
    key = "phone:+8613500000001"
    index = app.repository.get(app.index_id(key))
    assert isinstance(index, IdentityIndex) and index.key.startswith("h:") and "13500000001" not in index.key
    other_store = EventChain.from_url(f"sqlite:///{tmp_path / 'other.db'}", kek=parse_kek(new_kek()))
    assert other_store.index_id(key) != app.index_id(key)  # the hash is keyed: no dictionary across stores
    with sqlite3.connect(tmp_path / "events.db") as connection:
        rows = connection.execute("SELECT state FROM stored_events").fetchall()
    assert not [row for row in rows if b"13500000001" in bytes(row[0])]


def test_an_erased_customer_never_gets_a_new_key_but_still_takes_structural_events(store_url: str) -> None:
    app = EventChain.from_url(store_url, kek=KEK)
    app.record([envelope("a", "web_form", T0, "13500000001", contact={"name": "欧阳娜娜"})])
    customer = app.find_customer("phone:13500000001")
    assert app.keys is not None and app.keys.shred([str(customer.id)]) == 1
    later = EventChain.from_url(store_url, kek=KEK)  # another process: the tombstone is in the store
    erased = later.get_customer(customer.id)
    erased.correct("name", "欧阳娜娜", "typo", "ops", T0)
    with pytest.raises(ErasedCustomerError, match="was erased"):
        later.save(erased)
    untouched = later.get_customer(customer.id)
    assert untouched.change_tags(["vip"], [], T0, "rule", T0)  # no personal field: no key needed
    later.save(untouched)
    assert later.keys is not None and later.keys.key(str(customer.id)) is None


def test_a_rotated_kek_opens_every_live_key_and_index_entry_and_the_old_one_is_refused(
    store_url: str,
) -> None:
    old, new = parse_kek(new_kek()), parse_kek(new_kek())
    app = EventChain.from_url(store_url, kek=old)
    app.record_batch([envelope("tp-r", "web_form", T0, "13811113333", contact={"name": "欧阳锋锋"})])
    before = app.find_customer("phone:13811113333")
    assert app.keys is not None
    with pytest.raises(KeyError_, match="the one in force"):
        app.keys.rotate(old)
    assert app.keys.rotate(new) >= 1
    rotated = EventChain.from_url(store_url, kek=new)
    after = rotated.find_customer("phone:13811113333")  # index ids survive: the index key is stored
    assert after.id == before.id and after.profile_value("name") == "欧阳锋锋"
    with pytest.raises(KeyError_, match="does not match"):
        EventChain.from_url(store_url, kek=old)
