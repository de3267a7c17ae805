"""Shared fixtures: real PostgreSQL and real NATS (JetStream), started by the suite on
free loopback ports unless EVENTCHAIN_TEST_PG_URL / EVENTCHAIN_TEST_NATS_URL name
existing servers. Each PostgreSQL test gets its own schema-free fresh database."""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from pathlib import Path

import psycopg
import pytest
from hypothesis import HealthCheck, settings

from adapters.local_servers import LocalNats, LocalPostgres

settings.register_profile("ci", deadline=None, max_examples=60, suppress_health_check=[HealthCheck.too_slow])
settings.register_profile("dev", deadline=None, max_examples=30)
settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "ci"))


@pytest.fixture(scope="session")
def postgres_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """URL of a PostgreSQL server's maintenance database."""
    existing = os.environ.get("EVENTCHAIN_TEST_PG_URL")
    if existing:
        yield existing
        return
    server = LocalPostgres(tmp_path_factory.mktemp("pg") / "data").start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture(scope="session")
def local_postgres(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalPostgres]:
    """A PostgreSQL server this suite owns (for tests that stop and restart it)."""
    server = LocalPostgres(tmp_path_factory.mktemp("pg-owned") / "data").start()
    try:
        yield server
    finally:
        server.stop()


def fresh_database(server_url: str) -> str:
    """Creates an empty database on the server and returns its URL."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(server_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    base, _, _ = server_url.rpartition("/")
    return f"{base}/{name}"


@pytest.fixture
def pg_url(postgres_server: str) -> str:
    return fresh_database(postgres_server)


@pytest.fixture
def sqlite_url(tmp_path: Path) -> str:
    return f"sqlite:///{tmp_path / 'events.db'}"


@pytest.fixture(params=["sqlite", "postgres"])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'events.db'}"
    return fresh_database(request.getfixturevalue("postgres_server"))


@pytest.fixture(scope="session")
def nats_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    existing = os.environ.get("EVENTCHAIN_TEST_NATS_URL")
    if existing:
        yield existing
        return
    server = LocalNats(tmp_path_factory.mktemp("nats")).start()
    try:
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def local_nats(tmp_path: Path) -> Iterator[LocalNats]:
    """A nats-server this test owns (for tests that restart it)."""
    server = LocalNats(tmp_path / "nats").start()
    try:
        yield server
    finally:
        server.stop()
