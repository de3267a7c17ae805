"""Role visibility over a real DuckDB customer_360 table (SPEC §7)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from projections.visibility import EXEC, Role, RoleError, parse_role, visible_customer_ids

AGENTS = ["a-wang", "a-li", "a-zhang"]
owners = st.lists(st.sampled_from([*AGENTS, None]), max_size=25)


@pytest.fixture(scope="module")
def connection() -> Iterator[duckdb.DuckDBPyConnection]:
    # Module-scoped (each example refills the table): hypothesis reruns a test body many times.
    with duckdb.connect(":memory:") as connection:
        connection.execute("CREATE TABLE customer_360 (customer_id UUID, owner_agent_id VARCHAR)")
        connection.execute("CREATE TABLE sla_breaches (customer_id UUID, escalated_to VARCHAR)")
        yield connection


def fill(connection: duckdb.DuckDBPyConnection, owner_of: list[str | None]) -> dict[str, str | None]:
    connection.execute("DELETE FROM customer_360")
    connection.execute("DELETE FROM sla_breaches")
    rows = {str(uuid.uuid4()): owner for owner in owner_of}
    if rows:
        connection.executemany("INSERT INTO customer_360 VALUES (?, ?)", list(rows.items()))
    return rows


@settings(max_examples=25)
@given(owner_of=owners, agent=st.sampled_from(AGENTS))
def test_a_sales_rep_sees_exactly_the_customers_they_own(
    connection: duckdb.DuckDBPyConnection, owner_of: list[str | None], agent: str
) -> None:
    rows = fill(connection, owner_of)

    visible = visible_customer_ids(connection, parse_role(f"sales:{agent}"))

    assert {customer for customer, owner in rows.items() if owner == agent} == visible


@settings(max_examples=25)
@given(owner_of=owners)
def test_exec_sees_every_customer_including_unowned_ones(
    connection: duckdb.DuckDBPyConnection, owner_of: list[str | None]
) -> None:
    rows = fill(connection, owner_of)

    assert set(rows) == visible_customer_ids(connection, EXEC)


@settings(max_examples=25)
@given(owner_of=owners, team=st.sets(st.sampled_from(AGENTS), max_size=2))
def test_a_director_sees_their_own_and_their_teams_customers(
    connection: duckdb.DuckDBPyConnection, owner_of: list[str | None], team: set[str]
) -> None:
    rows = fill(connection, [*owner_of, "d-boss"])

    visible = visible_customer_ids(connection, parse_role("director:d-boss"), team=team)

    assert {c for c, owner in rows.items() if owner in team | {"d-boss"}} == visible


@settings(max_examples=25)
@given(
    owner_of=owners,
    escalations=st.lists(st.tuples(st.integers(0, 24), st.sampled_from(AGENTS)), max_size=10),
    kind=st.sampled_from(["sales", "director"]),
    agent=st.sampled_from(AGENTS),
)
def test_an_agent_a_lead_was_escalated_to_sees_that_customer_too(
    connection: duckdb.DuckDBPyConnection,
    owner_of: list[str | None],
    escalations: list[tuple[int, str]],
    kind: str,
    agent: str,
) -> None:
    rows = fill(connection, owner_of)
    ids = list(rows)
    escalated = [(ids[i], target) for i, target in escalations if i < len(ids)]
    if escalated:
        connection.executemany("INSERT INTO sla_breaches VALUES (?, ?)", escalated)

    visible = visible_customer_ids(connection, parse_role(f"{kind}:{agent}"))

    owned = {c for c, owner in rows.items() if owner == agent}
    assert owned | {c for c, target in escalated if target == agent} == visible


def test_an_agent_id_that_tries_to_inject_sql_is_not_a_role(connection: duckdb.DuckDBPyConnection) -> None:
    fill(connection, ["a-wang"])

    with pytest.raises(RoleError, match="needs an agent id"):
        parse_role("sales:x' OR 1=1 --")


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("sales", "sales needs an agent id"),
        ("sales:", "sales needs an agent id"),
        ("director:", "director needs an agent id"),
        ("exec:a-wang", "exec takes no agent id"),
        ("admin", "expected sales:<agent>, director:<agent> or exec"),
    ],
)
def test_a_malformed_role_is_rejected_with_the_reason(text: str, reason: str) -> None:
    with pytest.raises(RoleError, match=reason):
        parse_role(text)


def test_roles_read_back_as_they_are_written() -> None:
    assert [Role("sales", "a-wang"), Role("director", "d-boss"), EXEC] == [
        parse_role("sales:a-wang"),
        parse_role(" director:d-boss "),
        parse_role("exec"),
    ]
    assert "sales:a-wang" == str(parse_role("sales:a-wang"))
