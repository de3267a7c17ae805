"""`eventchain customers` / `eventchain customer` read the 360 view through a role."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import duckdb
import pytest
from click.testing import CliRunner, Result

from eventchain.cli import main
from tests.seed_views import build_seed_views

LI_LEI_PHONE = "phone:13800138000"  # seed 000's buyer, answered first by a-wang


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    work = tmp_path_factory.mktemp("read-paths")
    (work / "data").mkdir()
    build_seed_views(work, customers=12).rename(work / "data" / "analytics.duckdb")
    yield work / "data"


def eventchain(data_dir: Path, *args: str) -> Result:
    return CliRunner().invoke(main, ["--data-dir", str(data_dir), *args], prog_name="eventchain")


def owners(data_dir: Path) -> dict[str, str | None]:
    with duckdb.connect(str(data_dir / "analytics.duckdb"), read_only=True) as connection:
        rows = connection.execute("SELECT CAST(customer_id AS VARCHAR), owner_agent_id FROM customer_360")
        return dict(rows.fetchall())


def test_a_sales_rep_lists_exactly_their_own_customers(data_dir: Path) -> None:
    owner_of = owners(data_dir)
    wang = {customer for customer, owner in owner_of.items() if owner == "a-wang"}

    result = eventchain(data_dir, "customers", "--as", "sales:a-wang")

    assert 0 == result.exit_code, result.output
    assert f"{len(wang)} customers visible to sales:a-wang" in result.output
    listed = {c for c in owner_of if c in result.output}
    assert wang == listed


def test_exec_lists_every_customer(data_dir: Path) -> None:
    result = eventchain(data_dir, "customers", "--as", "exec")

    assert f"{len(owners(data_dir))} customers visible to exec" in result.output


def test_a_customer_is_shown_with_their_chain_in_event_time_order(data_dir: Path) -> None:
    result = eventchain(data_dir, "customer", LI_LEI_PHONE, "--as", "sales:a-wang")

    assert 0 == result.exit_code, result.output
    assert "display_name: 李雷" in result.output
    assert "owner_agent_id: a-wang" in result.output
    chain = result.output.split("chain", 1)[1]
    days = [line.strip()[:16] for line in chain.splitlines() if line.strip().startswith("2026-")]
    assert days and days == sorted(days)


def test_another_reps_customer_reads_exactly_like_a_missing_one(data_dir: Path) -> None:
    li_lei_as_other_rep = eventchain(data_dir, "customer", LI_LEI_PHONE, "--as", "sales:a-li")
    nobody = eventchain(data_dir, "customer", "phone:13900000000", "--as", "sales:a-li")
    li_lei_id = next(iter(eventchain(data_dir, "customer", LI_LEI_PHONE, "--as", "exec").output.split()[1:2]))
    by_id_as_other_rep = eventchain(data_dir, "customer", li_lei_id, "--as", "sales:a-li")

    assert (1, 1, 1) == (li_lei_as_other_rep.exit_code, nobody.exit_code, by_id_as_other_rep.exit_code)
    assert f"error: customer {LI_LEI_PHONE} not found\n" == li_lei_as_other_rep.stderr
    assert "error: customer phone:13900000000 not found\n" == nobody.stderr
    assert f"error: customer {li_lei_id} not found\n" == by_id_as_other_rep.stderr
    assert "李雷" not in li_lei_as_other_rep.output + by_id_as_other_rep.output


def test_read_paths_refuse_a_missing_or_malformed_role_in_one_line(data_dir: Path) -> None:
    missing = eventchain(data_dir, "customers")
    malformed = eventchain(data_dir, "customer", LI_LEI_PHONE, "--as", "sales")

    assert (2, 2) == (missing.exit_code, malformed.exit_code)
    assert ["eventchain customers: Missing option '--as'. (see eventchain customers --help)"] == (
        missing.stderr.splitlines()
    )
    assert 1 == len(malformed.stderr.splitlines())
    assert "role 'sales': sales needs an agent id" in malformed.stderr
