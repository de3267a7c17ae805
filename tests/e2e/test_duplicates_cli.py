"""`eventchain duplicates` shows the links ingest held instead of fusing two companies, and
`--conflicts` the customers fused already (issue 32)."""

from __future__ import annotations

import json
from pathlib import Path

from tests.cli import eventchain
from tests.integration.test_identity_limits_ingest import STORY

OTHER_COMPANY = json.dumps(
    {
        "touchpoint_id": "c1-020",
        "channel": "web_form",
        "occurred_at": "2026-03-04T09:00:00+08:00",
        "direction": "inbound",
        "actor": None,
        "identities": [
            {"kind": "uscc", "value": "91330106MA2GL2KJ4W"},
            {"kind": "phone", "value": "13905710001"},
        ],
        "contact": {"name": "钱进", "company": "杭州云帆科技有限公司"},
        "payload": {"form_id": "contact-us"},
    },
    ensure_ascii=False,
)


def test_a_held_link_is_listed_with_its_reason_and_a_forced_merge_as_a_conflict(tmp_path: Path) -> None:
    touchpoints = tmp_path / "story.jsonl"
    touchpoints.write_text("\n".join([*(raw.decode() for raw in STORY), OTHER_COMPANY]) + "\n")
    assert eventchain(tmp_path, "ingest", str(touchpoints)).returncode == 0
    forced = eventchain(
        tmp_path,
        "merge",
        "uscc:91510100MA6C98765J",
        "uscc:91330106MA2GL2KJ4W",
        "--reason",
        "group company",
        "--force",
    )
    assert forced.returncode == 0, forced.stderr
    assert eventchain(tmp_path, "replay", "rebuild").returncode == 0

    listed = eventchain(tmp_path, "duplicates", "--as", "exec", "--json")
    assert listed.returncode == 0, listed.stderr
    held = [row for row in json.loads(listed.stdout) if row["reason"].startswith("held at ingest")]
    assert 1 == len(held)
    assert "赵敏" in {held[0]["name_a"], held[0]["name_b"]}  # and the fused 成都/杭州 customer
    assert "phone:+8613933334444: uscc allows 1 per customer" in held[0]["reason"]

    history = eventchain(tmp_path, "history", held[0]["customer_a"][:8], "--as", "exec")
    assert history.returncode == 0, history.stderr  # a unique id prefix, as `customer` takes
    assert "TouchpointRecorded" in history.stdout

    fused = eventchain(tmp_path, "duplicates", "--conflicts", "--as", "exec", "--json")
    assert fused.returncode == 0, fused.stderr
    rows = json.loads(fused.stdout)
    assert [("uscc", ["uscc:91330106MA2GL2KJ4W", "uscc:91510100MA6C98765J"])] == [
        (row["over_limit"], row["identities"]) for row in rows
    ]
