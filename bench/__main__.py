"""`make bench`: run every bench/bench_*.py, print one table, write bench/results.json.

python -m bench [NAME ...]     # e.g. python -m bench ingest
EVENTCHAIN_BENCH_SCALE=0.1 python -m bench   # a quick, smaller run
"""

from __future__ import annotations

import importlib
import json
import platform
import shutil
import sys
import time
import traceback
from pathlib import Path

from rich.console import Console
from rich.table import Table

from bench.harness import BenchContext, Figure

HERE = Path(__file__).parent


def main(selected: list[str]) -> int:
    modules = sorted(p.stem for p in HERE.glob("bench_*.py"))
    if selected:
        modules = [m for m in modules if any(s in m for s in selected)]
    workdir = HERE / ".work"
    shutil.rmtree(workdir, ignore_errors=True)
    workdir.mkdir(parents=True)
    ctx = BenchContext(workdir)
    figures: list[Figure] = []
    failures: list[str] = []
    console = Console(width=200)
    try:
        for name in modules:
            console.print(f"[bold]bench[/] {name} …")
            try:
                figures.extend(importlib.import_module(f"bench.{name}").run(ctx))
            except Exception:  # a broken bench must not hide the others' figures
                failures.append(name)
                traceback.print_exc()
    finally:
        ctx.close()
    table = Table(title=f"eventchain bench (scale {ctx.scale})")
    for column in ("figure", "value", "baseline (same run)", "ratio", "target", "notes"):
        table.add_column(column)
    for f in figures:
        baseline = "" if f.baseline_value is None else f"{f.baseline_name}: {f.baseline_value:,.0f}"
        ratio = "" if f.ratio is None else f"{f.ratio:,.1f}×"
        table.add_row(f.name, f"{f.value:,.1f} {f.unit}", baseline, ratio, f.target, f.notes)
    console.print(table)
    results = {
        "when": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "machine": {"python": platform.python_version(), "cpus": __import__("os").cpu_count()},
        "scale": ctx.scale,
        "figures": [f.as_dict() for f in figures],
        "failed": failures,
    }
    (HERE / "results.json").write_text(json.dumps(results, indent=2, ensure_ascii=False))
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
