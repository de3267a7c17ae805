"""``eventchain import / merge / export`` as an operator runs them."""

from __future__ import annotations

import csv
from pathlib import Path

from tests.cli import eventchain
from tests.import_files import HEADERS


def test_import_reports_rejects_then_export_neutralises_formulas(tmp_path: Path) -> None:
    sheet = tmp_path / "客户.csv"
    sheet.write_bytes(
        "\r\n".join(
            [
                ",".join(HEADERS),
                '"=HYPERLINK(""http://x"")",13800138000,li@example.cn,杭州某智能硬件有限公司,杭州,智能硬件,a-wang',
                "韩梅梅,13905712345,han@example.cn,华为,成都,医疗设备,a-li",
                "王芳,１３９５２９９２３１２,wang@example.cn,北京某新能源有限公司,北京,新能源,a-li",
            ]
        ).encode("gbk")
    )
    result = eventchain(tmp_path, "import", str(sheet))
    assert result.returncode == 1, result.stderr
    assert "3 rows read = 1 accepted + 2 rejected" in result.stdout
    with (tmp_path / "客户.csv.rejects.csv").open(encoding="utf-8-sig") as handle:
        rejects = {row[0]: row for row in csv.reader(handle)}
    assert set(rejects) == {"row", "2", "3"}
    assert rejects["2"][1] == "姓名" and "formula" in rejects["2"][2]
    assert rejects["3"][1] == "公司"
    assert eventchain(tmp_path, "replay", "rebuild").returncode == 0  # projects the import into the views
    exported = eventchain(tmp_path, "export", "--out", str(tmp_path / "out.csv"), "--as", "exec")
    assert exported.returncode == 0, exported.stderr
    with (tmp_path / "out.csv").open(encoding="utf-8-sig") as handle:
        rows = list(csv.DictReader(handle))
    assert [r["display_name"] for r in rows] == ["王芳"]
    again = eventchain(tmp_path, "import", str(sheet))
    assert "0 new touchpoints" in again.stdout and "imported before" in again.stdout


def test_merge_protection_is_one_line_and_suggests_force(tmp_path: Path) -> None:
    sheet = tmp_path / "a.csv"
    sheet.write_text(
        "姓名,手机,统一社会信用代码,公司\n"
        "李雷,13800138000,91350100M000100Y43,杭州某智能硬件有限公司\n"
        "李雷,13800138001,91110108551385082Q,杭州某智能硬件有限公司\n",
        encoding="utf-8",
    )
    assert eventchain(tmp_path, "import", str(sheet)).returncode == 0
    refused = eventchain(tmp_path, "merge", "phone:13800138000", "phone:13800138001", "--reason", "same")
    assert refused.returncode == 1 and "--force" in refused.stderr and "Traceback" not in refused.stderr
    forced = eventchain(
        tmp_path, "merge", "phone:13800138000", "phone:13800138001", "--reason", "same group", "--force"
    )
    assert forced.returncode == 0, forced.stderr
