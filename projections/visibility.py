"""Role visibility over the DuckDB read models (SPEC §7), in one place for every read path.

``sales:<agent>`` sees the customers that agent owns, ``director:<agent>`` the customers
owned by the agents of their team, ``exec`` everything; an agent also sees every customer
whose first-response escalation was addressed to them (they are the one who must act).
Read paths load the visible ids into a temporary table (``visible_customers``) and join it,
so a customer outside the role is indistinguishable from one that does not exist.
"""

from __future__ import annotations

import re
from collections.abc import Collection
from dataclasses import dataclass
from typing import Final

import duckdb

ROLE_KINDS: Final = ("sales", "director", "exec")
VISIBLE_TABLE: Final = "visible_customers"
_AGENT_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$")


@dataclass(frozen=True, slots=True)
class Role:
    kind: str  # one of ROLE_KINDS
    agent_id: str | None = None  # None only for exec

    def __str__(self) -> str:
        return self.kind if self.agent_id is None else f"{self.kind}:{self.agent_id}"

    @property
    def sees_everything(self) -> bool:
        return self.kind == "exec"


EXEC: Final = Role("exec")


def parse_role(text: str) -> Role:
    """``sales:<agent>``, ``director:<agent>`` or ``exec``; raises RoleError saying why not."""
    kind, _, agent_id = text.strip().partition(":")
    if kind not in ROLE_KINDS:
        raise RoleError(f"role {text!r}: expected sales:<agent>, director:<agent> or exec")
    if kind == "exec":
        if agent_id:
            raise RoleError(f"role {text!r}: exec takes no agent id")
        return EXEC
    if not _AGENT_ID.match(agent_id):
        raise RoleError(f"role {text!r}: {kind} needs an agent id, e.g. {kind}:a-wang")
    return Role(kind, agent_id)


def owner_condition(role: Role, team: Collection[str] = ()) -> tuple[str, list[str]]:
    """A SQL condition on ``owner_agent_id`` (with its parameters) selecting what ``role`` sees.

    ``team`` is the director's team roster (agent ids, the director included or not);
    it is ignored for the other roles.
    """
    if role.sees_everything:
        return "TRUE", []
    assert role.agent_id is not None
    # Whoever a first-response escalation was addressed to must be able to act on it.
    escalated = (
        "CAST(customer_id AS VARCHAR) IN (SELECT CAST(customer_id AS VARCHAR) FROM sla_breaches "
        "WHERE escalated_to = ? OR escalated_to LIKE '%:' || ?)"
    )
    if role.kind == "sales":
        return f"(owner_agent_id = ? OR {escalated})", [role.agent_id, role.agent_id, role.agent_id]
    members = sorted({*team, role.agent_id} - {""})
    placeholders = ", ".join("?" for _ in members)
    return f"(owner_agent_id IN ({placeholders}) OR {escalated})", [*members, role.agent_id, role.agent_id]


def load_visible_customers(
    connection: duckdb.DuckDBPyConnection, role: Role, team: Collection[str] = ()
) -> int:
    """(Re)creates the temp table ``visible_customers(customer_id VARCHAR)`` from
    ``customer_360`` and returns how many customers the role sees."""
    condition, parameters = owner_condition(role, team)
    connection.execute(
        f"CREATE OR REPLACE TEMP TABLE {VISIBLE_TABLE} AS "
        f"SELECT CAST(customer_id AS VARCHAR) AS customer_id FROM customer_360 WHERE {condition}",
        parameters,
    )
    row = connection.execute(f"SELECT count(*) FROM {VISIBLE_TABLE}").fetchone()
    return int(row[0]) if row else 0


def visible_customer_ids(
    connection: duckdb.DuckDBPyConnection, role: Role, team: Collection[str] = ()
) -> set[str]:
    load_visible_customers(connection, role, team)
    return {row[0] for row in connection.execute(f"SELECT customer_id FROM {VISIBLE_TABLE}").fetchall()}


class RoleError(ValueError):
    """A role string that is not ``sales:<agent>``, ``director:<agent>`` or ``exec``."""
