"""The import graph is the one docs/architecture.md draws: every arrow exists, no import goes around it."""

from __future__ import annotations

import ast
import re
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "luotuo_rpg"
_HEAVY = ("torch", "transformers", "peft")


def _declared() -> tuple[list[str], dict[str, set[str]]]:
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    block = re.search(r"```imports\n(.*?)```", text, re.S)
    assert block, "docs/architecture.md has no ```imports block"
    order: list[str] = []
    arrows: dict[str, set[str]] = {}
    for line in block.group(1).splitlines():
        source, _, targets = line.partition("→")
        order.append(source.strip())
        arrows[source.strip()] = set(targets.split())
    return order, arrows


def _package_of(module: str) -> str | None:
    """luotuo_rpg.sim.engine → sim; luotuo_rpg itself (its __version__) → None."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 and parts[0] == "luotuo_rpg" else None


def _imports() -> dict[str, dict[str, list[str]]]:
    """package → imported package → the files that import it."""
    found: dict[str, dict[str, list[str]]] = defaultdict(lambda: defaultdict(list))
    for path in sorted(PACKAGE.rglob("*.py")):
        rel = path.relative_to(PACKAGE)
        if rel == Path("__init__.py"):
            continue
        me = rel.parts[0].removesuffix(".py")
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names = [node.module]
            elif isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            for name in names:
                target = _package_of(name)
                if target is not None and target != me:
                    found[me][target].append(str(rel))
    return found


def test_every_import_follows_an_arrow_of_the_architecture_page() -> None:
    _, arrows = _declared()
    stray = [
        f"{me} → {target} ({', '.join(sorted(set(files)))})"
        for me, targets in _imports().items()
        for target, files in targets.items()
        if target not in arrows.get(me, set())
    ]
    assert not stray, "imports the architecture page does not draw:\n" + "\n".join(stray)


def test_every_arrow_of_the_architecture_page_is_an_import() -> None:
    _, arrows = _declared()
    actual = _imports()
    missing = [f"{me} → {target}" for me, targets in arrows.items() for target in targets if target not in actual[me]]
    assert not missing, "arrows with no import behind them:\n" + "\n".join(missing)


def test_layers_point_down_only_and_cover_every_package() -> None:
    order, arrows = _declared()
    upward = [f"{me} → {t}" for me, targets in arrows.items() for t in targets if order.index(t) <= order.index(me)]
    assert not upward, f"arrows to a package listed above: {upward}"
    packages = {
        p.name.removesuffix(".py") for p in PACKAGE.iterdir() if p.suffix == ".py" or (p / "__init__.py").exists()
    }
    assert packages - {"__init__"} == set(order), "every package of luotuo_rpg/ has its line on the page"


def test_torch_and_transformers_only_in_the_local_backend() -> None:
    local = PACKAGE / "llm" / "backends" / "local"
    heavy = []
    for path in PACKAGE.rglob("*.py"):
        if local in path.parents:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names = [node.module or ""] if isinstance(node, ast.ImportFrom) else []
            names += [a.name for a in node.names] if isinstance(node, ast.Import) else []
            heavy += [f"{path.relative_to(PACKAGE)}: {n}" for n in names if n.split(".")[0] in _HEAVY]
    assert not heavy, heavy
