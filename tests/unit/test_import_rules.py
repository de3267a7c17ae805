"""No lower layer imports an upper one (docs/architecture.md):

    domain  ←  adapters  ←  projections, replay, eventchain.report  ←  eventchain, eventchain.web

``eventchain/report`` is the read side's presentation (it selects from the views, like
``projections``); ``eventchain/web`` is an entry point served by ``eventchain serve``, like the
CLI. Every ``import`` in every module counts, deferred ones inside functions included.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("domain", "adapters", "projections", "replay", "eventchain")
# The most specific prefix decides a module's layer.
LAYERS = {
    "domain": 0,
    "adapters": 1,
    "projections": 2,
    "replay": 2,
    "eventchain.report": 2,
    "eventchain": 3,
    "eventchain.web": 3,
}


def layer_of(module: str) -> int | None:
    matches = [p for p in LAYERS if module == p or module.startswith(p + ".")]
    return LAYERS[max(matches, key=len)] if matches else None


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports_of(path: Path) -> list[tuple[int, str]]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
    return found


def sources() -> list[Path]:
    return sorted(p for package in PACKAGES for p in (ROOT / package).rglob("*.py"))


def test_the_rule_sees_every_package() -> None:
    assert {module_name(p).split(".")[0] for p in sources()} == set(PACKAGES)


@pytest.mark.parametrize("path", sources(), ids=lambda p: str(p.relative_to(ROOT)))
def test_no_module_imports_a_higher_layer(path: Path) -> None:
    own = layer_of(module_name(path))
    assert own is not None
    upward = [
        f"{path.relative_to(ROOT)}:{line} imports {target}"
        for line, target in imports_of(path)
        if (layer := layer_of(target)) is not None and layer > own
    ]
    assert not upward
