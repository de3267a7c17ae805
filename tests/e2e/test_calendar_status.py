"""`status` exits 1 with one line when the holiday calendar in force ends within 60 days, and
stops saying so once the operator applies the missing years as rules."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

from domain.rules import calendar_warning, parse_rules
from tests.cli import eventchain

OFFICE = '[sla]\nbusiness_hours = "09:00-18:00"\ncalendar = "cn"\n'


def arranged(*years: int) -> str:
    return OFFICE + "".join(f"[calendar.{year}]\nholidays = [{year}-01-01]\n" for year in years)


def calendar_lines(data_dir: Path, rules: str) -> list[str]:
    path = data_dir / "rules.toml"
    path.write_text(rules)
    assert 0 == eventchain(data_dir, "rules", "apply", str(path), "--note", "calendar").returncode
    result = eventchain(data_dir, "status")
    assert 1 == result.returncode  # serve is not running either: one line per problem
    return [line for line in result.stderr.splitlines() if "holiday calendar" in line]


def test_status_warns_while_the_calendar_in_force_ends_within_60_days(tmp_path: Path) -> None:
    today = datetime.now(UTC).date()
    # The package's newest year ends within 60 days in December (issue 30: it had no 2027).
    expected = calendar_warning(parse_rules(OFFICE), today)
    warned = calendar_lines(tmp_path, OFFICE)
    assert ([f"unhealthy: {expected}"] if expected else []) == warned
    assert [] == calendar_lines(tmp_path, arranged(today.year, today.year + 1))
