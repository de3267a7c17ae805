"""Crypto-shredding (SPEC §7, PIPL Art. 47 / GDPR): personal fields in stored events are
encrypted with a per-customer data key; erasing a customer deletes its key.

- Data keys (AES-256-GCM) live in a table of the store (``eventchain_data_keys``), each
  wrapped by the key-encryption key from ``EVENTCHAIN_KEK`` (never stored). A check row
  sealed under the KEK makes a wrong KEK fail at start instead of producing garbage.
- A key is committed in its own transaction *before* the events that use it: an orphan
  key is harmless, an event whose key was never stored would be data loss.
- ``EncryptingMapper`` seals the personal fields of Customer events (contact, payload,
  identity keys, summaries, profile, corrected values) into one ``_sealed`` field and
  leaves the structure (ids, channel, direction, times, actors) clear. Without the key
  (erased) the same event classes come back with those fields redacted, so aggregates,
  the projector and ``replay rebuild`` keep working and never see the data again.
- Identity index ids and keys are HMAC-SHA256 of the identity under a key derived from
  the KEK, so the index does not reveal (or let anyone enumerate) phone numbers.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
from collections.abc import Iterable
from typing import Any, Final
from uuid import UUID

import msgspec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from eventsourcing.persistence import ApplicationRecorder, Mapper, StoredEvent, Transcoder
from eventsourcing.postgres import PostgresApplicationRecorder
from eventsourcing.utils import get_topic

from adapters.store import store_execute
from domain.customer import Customer

KEK_ENV: Final = "EVENTCHAIN_KEK"
ERASED_TEXT: Final = "[erased]"
_CHECK_PLAINTEXT: Final = b"eventchain key-encryption key check v1"
SEALED: Final = "_sealed"
# Personal fields per event topic, and what each reads as once its key is gone.
PERSONAL: Final[dict[str, dict[str, Any]]] = {
    get_topic(Customer.TouchpointRecorded): {
        "contact": {},
        "payload": {},
        "identity_keys": [],
        "summary": ERASED_TEXT,
    },
    get_topic(Customer.Absorbed): {"touchpoints": [], "identity_keys": [], "profile": {}},
    get_topic(Customer.Unmerged): {"identity_keys": []},
    get_topic(Customer.Corrected): {"value": ERASED_TEXT},
    get_topic(Customer.IdentityLinkHeld): {"identity_key": ERASED_TEXT, "reason": ERASED_TEXT},
    get_topic(Customer.TouchpointRetracted): {"reason": ERASED_TEXT},
}


class KeyError_(RuntimeError):
    """A key-encryption key problem: missing, malformed or not this store's."""


class ErasedCustomerError(ValueError):
    """Personal data written for a customer whose keys were shredded."""


def parse_kek(text: str | None) -> bytes:
    if not text:
        raise KeyError_(f"{KEK_ENV} is not set (generate one with `eventchain keygen`)")
    try:
        key = base64.urlsafe_b64decode(text.strip() + "=" * (-len(text.strip()) % 4))
    except (ValueError, TypeError):
        raise KeyError_(f"{KEK_ENV} is not base64") from None
    if len(key) != 32:
        raise KeyError_(f"{KEK_ENV} must be 32 bytes (base64url), got {len(key)}")
    return key


def new_kek() -> str:
    return base64.urlsafe_b64encode(os.urandom(32)).decode().rstrip("=")


def _derive(kek: bytes, purpose: bytes) -> bytes:
    return hmac.new(kek, purpose, hashlib.sha256).digest()


class KeyStore:
    """Wrapped per-customer data keys in the store's own database."""

    def __init__(self, recorder: ApplicationRecorder, kek: bytes) -> None:
        self.recorder = recorder
        self._wrap = AESGCM(_derive(kek, b"wrap data keys"))
        self._kek = kek
        self._cache: dict[str, AESGCM | None] = {}
        self._postgres = isinstance(recorder, PostgresApplicationRecorder)
        self._create_tables()
        self._check(kek)
        self.index_key = self._index_key(kek)

    def purpose_key(self, purpose: bytes) -> bytes:
        """A key of its own for one purpose (e.g. authenticating follower checkpoints),
        derived from the key-encryption key."""
        return _derive(self._kek, purpose)

    # --- SQL ------------------------------------------------------------------------

    def _execute(self, sql: str, params: tuple[Any, ...] = (), fetch: bool = False) -> list[tuple[Any, ...]]:
        return store_execute(self.recorder, sql, params, fetch=fetch)

    def _execute_many(
        self, *statements: tuple[str, list[tuple[Any, ...]]], secure_delete: bool = False
    ) -> None:
        """Runs each statement over its rows, all in one transaction. ``secure_delete``: SQLite
        overwrites deleted rows' bytes instead of only freeing them (not guaranteed by the
        build; the KEK rotation is what makes old wrapped keys useless, on either store)."""
        with self.recorder.datastore.transaction(commit=True) as cursor:  # type: ignore[attr-defined]
            if secure_delete and not self._postgres:
                cursor.execute("PRAGMA secure_delete = ON")
            for sql, rows in statements:
                cursor.executemany(sql.replace("?", "%s") if self._postgres else sql, rows)

    def _create_tables(self) -> None:
        self._execute(
            "CREATE TABLE IF NOT EXISTS eventchain_data_keys (customer_id TEXT PRIMARY KEY, "
            "wrapped BLOB NOT NULL)"
        )
        self._execute(
            "CREATE TABLE IF NOT EXISTS eventchain_kek_check (id INTEGER PRIMARY KEY, sealed BLOB NOT NULL)"
        )
        # Tombstones of shredded customers (ids only, nothing personal): no writer may ever
        # create a fresh key for them, which would let new personal data in under an erased id.
        self._execute("CREATE TABLE IF NOT EXISTS eventchain_erased_customers (customer_id TEXT PRIMARY KEY)")
        # Secrets that must outlive a KEK rotation (the identity-index key), wrapped like data keys.
        self._execute(
            "CREATE TABLE IF NOT EXISTS eventchain_secrets (name TEXT PRIMARY KEY, wrapped BLOB NOT NULL)"
        )

    def _check(self, kek: bytes) -> None:
        rows = self._execute("SELECT sealed FROM eventchain_kek_check WHERE id = 1", fetch=True)
        if not rows:
            self._execute(
                "INSERT INTO eventchain_kek_check (id, sealed) VALUES (1, ?) ON CONFLICT DO NOTHING",
                (_seal(self._wrap, _CHECK_PLAINTEXT, b"check"),),
            )
            rows = self._execute("SELECT sealed FROM eventchain_kek_check WHERE id = 1", fetch=True)
        try:
            _open(self._wrap, bytes(rows[0][0]), b"check")
        except Exception:
            raise KeyError_(f"{KEK_ENV} does not match the key this store was created with") from None

    def _index_key(self, kek: bytes) -> bytes:
        """The identity-index hash key: stored wrapped, so a KEK rotation keeps every index id.
        A store made before the table existed derived it from its first KEK: the same bytes."""
        rows = self._execute("SELECT wrapped FROM eventchain_secrets WHERE name = 'index'", fetch=True)
        if not rows:
            self._execute(
                "INSERT INTO eventchain_secrets (name, wrapped) VALUES ('index', ?) ON CONFLICT DO NOTHING",
                (_seal(self._wrap, _derive(kek, b"identity index"), b"index key"),),
            )
            rows = self._execute("SELECT wrapped FROM eventchain_secrets WHERE name = 'index'", fetch=True)
        return _open(self._wrap, bytes(rows[0][0]), b"index key")

    def rotate(self, new_kek: bytes) -> int:
        """Re-wraps every live data key, the index key and the check row under ``new_kek``,
        in one transaction; returns the number of data keys re-wrapped.

        Once the old KEK is destroyed, every wrapped key it sealed (the rows of erased
        customers still in dead tuples, the WAL, freed pages or backups) is noise: nothing
        in force can unwrap it. Writers using the old KEK must be stopped first."""
        new_wrap = AESGCM(_derive(new_kek, b"wrap data keys"))
        if new_kek == self._kek:
            raise KeyError_("the new key-encryption key is the one in force: generate another")
        keys = self._execute("SELECT customer_id, wrapped FROM eventchain_data_keys", fetch=True)
        secrets = self._execute("SELECT name, wrapped FROM eventchain_secrets", fetch=True)
        rewrapped = [
            (_seal(new_wrap, _open(self._wrap, bytes(w), str(c).encode()), str(c).encode()), str(c))
            for c, w in keys
        ]
        resealed = [
            (_seal(new_wrap, _open(self._wrap, bytes(w), f"{n} key".encode()), f"{n} key".encode()), str(n))
            for n, w in secrets
        ]
        self._execute_many(
            ("UPDATE eventchain_data_keys SET wrapped = ? WHERE customer_id = ?", rewrapped),
            ("UPDATE eventchain_secrets SET wrapped = ? WHERE name = ?", resealed),
            (
                "UPDATE eventchain_kek_check SET sealed = ? WHERE id = 1",
                [(_seal(new_wrap, _CHECK_PLAINTEXT, b"check"),)],
            ),
        )
        self._wrap = new_wrap
        self._kek = new_kek
        return len(rewrapped)

    # --- keys -------------------------------------------------------------------------

    def prepare(self, customer_ids: Iterable[str]) -> None:
        """Makes sure every customer has a committed key (one round trip per batch)."""
        missing = [c for c in dict.fromkeys(customer_ids) if self._cache.get(c) is None]
        if not missing:
            return
        self._load(missing)
        fresh = [c for c in missing if self._cache.get(c) is None]
        if not fresh:
            return
        erased = self._erased(fresh)  # stay keyless: sealing for them is refused by the mapper
        fresh = [c for c in fresh if c not in erased]
        if not fresh:
            return
        # One transaction for the batch's new keys; a concurrent writer's key for the same
        # customer wins (DO NOTHING) and is what we read back.
        self._execute_many(
            (
                "INSERT INTO eventchain_data_keys (customer_id, wrapped) VALUES (?, ?) "
                "ON CONFLICT DO NOTHING",
                [(customer_id, self._new_wrapped_key(customer_id)) for customer_id in fresh],
            )
        )
        self._load(fresh)

    def _erased(self, customer_ids: list[str]) -> set[str]:
        return {
            str(r[0])
            for r in self._select_in("SELECT customer_id FROM eventchain_erased_customers", customer_ids)
        }

    def _select_in(self, select: str, customer_ids: list[str]) -> list[tuple[Any, ...]]:
        """``select … WHERE customer_id IN (…)``, chunked under the drivers' parameter limits."""
        rows: list[tuple[Any, ...]] = []
        for start in range(0, len(customer_ids), 500):
            chunk = customer_ids[start : start + 500]
            marks = ",".join("?" * len(chunk))
            rows += self._execute(f"{select} WHERE customer_id IN ({marks})", tuple(chunk), fetch=True)
        return rows

    def _new_wrapped_key(self, customer_id: str) -> bytes:
        return _seal(self._wrap, AESGCM.generate_key(bit_length=256), customer_id.encode())

    def _load(self, customer_ids: list[str]) -> None:
        rows = self._select_in("SELECT customer_id, wrapped FROM eventchain_data_keys", customer_ids)
        found = {str(r[0]): bytes(r[1]) for r in rows}
        for customer_id in customer_ids:
            wrapped = found.get(customer_id)
            self._cache[customer_id] = (
                None if wrapped is None else AESGCM(_open(self._wrap, wrapped, customer_id.encode()))
            )

    def load(self, customer_ids: Iterable[str]) -> None:
        """Caches the keys of these customers (erased ones as None): one query per 500,
        for readers about to open many customers' events."""
        missing = [c for c in dict.fromkeys(customer_ids) if c not in self._cache]
        if missing:
            self._load(missing)

    def cached(self, customer_id: str) -> AESGCM | None:
        return self._cache.get(customer_id)

    def key(self, customer_id: str) -> AESGCM | None:
        if customer_id not in self._cache:
            self._load([customer_id])
        return self._cache[customer_id]

    def shred(self, customer_ids: Iterable[str]) -> int:
        ids = list(dict.fromkeys(customer_ids))
        # one transaction: a survivor and its absorbed customers are shredded together
        self._execute_many(
            (
                "INSERT INTO eventchain_erased_customers (customer_id) VALUES (?) ON CONFLICT DO NOTHING",
                [(c,) for c in ids],
            ),
            ("DELETE FROM eventchain_data_keys WHERE customer_id = ?", [(c,) for c in ids]),
            secure_delete=True,
        )
        self._cache.update(dict.fromkeys(ids))
        return len(ids)

    def pseudonym(self, identity_key: str) -> str:
        """The identity as the index stores it: a keyed hash, not the phone or email."""
        return "h:" + hmac.new(self.index_key, identity_key.encode(), hashlib.sha256).hexdigest()


def _seal(aead: AESGCM, plaintext: bytes, associated: bytes) -> bytes:
    nonce = os.urandom(12)
    return nonce + aead.encrypt(nonce, plaintext, associated)


def _open(aead: AESGCM, sealed: bytes, associated: bytes) -> bytes:
    return aead.decrypt(sealed[:12], sealed[12:], associated)


class EncryptingMapper(Mapper[UUID]):
    def __init__(self, transcoder: Transcoder, keys: KeyStore) -> None:
        super().__init__(transcoder=transcoder)
        self.keys = keys

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        topic = get_topic(domain_event.__class__)
        personal = PERSONAL.get(topic)
        if personal is None:
            return super().to_stored_event(domain_event)
        state = dict(vars(domain_event))
        customer_id = str(state.pop("originator_id"))
        version = state.pop("originator_version")
        secret = {name: state.pop(name) for name in personal}
        key = self.keys.cached(customer_id)  # the batch path prepared the keys already
        if key is None:
            self.keys.prepare([customer_id])
            key = self.keys.key(customer_id)
        if key is None:
            raise ErasedCustomerError(
                f"customer {customer_id} was erased: no personal data can be added to it"
            )
        nonce = os.urandom(12)
        sealed = nonce + key.encrypt(
            nonce, self.transcoder.encode(secret), f"{customer_id}:{version}".encode()
        )
        state[SEALED] = base64.b64encode(sealed).decode()
        return StoredEvent(
            originator_id=UUID(customer_id),
            originator_version=version,
            topic=topic,
            state=self.transcoder.encode(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        personal = PERSONAL.get(stored_event.topic)
        if personal is None:
            return super().to_domain_event(stored_event)
        state = self.transcoder.decode(stored_event.state)
        sealed = state.pop(SEALED, None)
        if sealed is not None:
            customer_id = str(stored_event.originator_id)
            key = self.keys.key(customer_id)
            if key is None:  # erased: the data key is gone for good
                state.update({name: _copy(value) for name, value in personal.items()})
            else:
                raw = base64.b64decode(sealed)
                aad = f"{customer_id}:{stored_event.originator_version}".encode()
                state.update(self.transcoder.decode(key.decrypt(raw[:12], raw[12:], aad)))
        rebuilt = StoredEvent(
            originator_id=stored_event.originator_id,
            originator_version=stored_event.originator_version,
            topic=stored_event.topic,
            state=self.transcoder.encode(state),
        )
        return super().to_domain_event(rebuilt)

    def opened_state(self, customer_id: str, version: int, topic: str, state: bytes) -> bytes:
        """The stored JSON with its sealed personal fields opened into it, redacted once the
        customer's key is gone: for readers of the stored JSON such as the projector, which
        skips the mapper's event objects. ``customer_id`` is the id's canonical text."""
        personal = PERSONAL.get(topic)
        if personal is None:
            return state
        sealed = _SEALED_DECODER.decode(state).sealed
        if sealed is None:
            return state
        key = self.keys.key(customer_id)
        if key is None:  # erased
            opened = self.transcoder.encode(personal)
        else:
            raw = base64.b64decode(sealed)
            opened = key.decrypt(raw[:12], raw[12:], f"{customer_id}:{version}".encode())
        # both are JSON objects in the library's compact form: {…clear…} + {…personal…}
        return state if opened == b"{}" else state[:-1] + b"," + opened[1:]


class _Sealed(msgspec.Struct):
    sealed: str | None = msgspec.field(name=SEALED, default=None)


_SEALED_DECODER: Final = msgspec.json.Decoder(_Sealed)


def _copy(value: Any) -> Any:
    return type(value)() if isinstance(value, (dict, list)) else value


def is_encrypting(mapper: Any) -> bool:
    return isinstance(mapper, EncryptingMapper)


def store_has_kek(recorder: ApplicationRecorder) -> bool:
    """Whether this store was ever opened with a key-encryption key (it holds sealed data)."""
    postgres = isinstance(recorder, PostgresApplicationRecorder)
    sql = (
        "SELECT to_regclass('eventchain_kek_check') IS NOT NULL"
        if postgres
        else "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'eventchain_kek_check'"
    )
    with recorder.datastore.transaction(commit=False) as cursor:  # type: ignore[attr-defined]
        cursor.execute(sql)
        row = cursor.fetchone()
    value = next(iter(row.values())) if isinstance(row, dict) else row[0]
    return bool(value)
