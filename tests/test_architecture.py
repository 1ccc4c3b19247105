"""The layers of docs/architecture.md hold in the code: imports point only to the same or a
lower layer, only the wire imports httpx, there are no import cycles, no module is over 400
lines."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
SRC = ROOT / "src"
PAGE = ROOT / "docs" / "architecture.md"
HTTP_LIBRARIES = ("httpx", "httpcore", "h11", "h2", "urllib.request", "http.client",
                  "requests", "aiohttp")


def layers() -> dict[str, int]:
    """Module prefix -> layer number, from the page's table."""
    table = PAGE.read_text(encoding="utf-8").split("## Layers", 1)[1].split("\n## ", 1)[0]
    out: dict[str, int] = {}
    for line in table.splitlines():
        m = re.match(r"\| (\d+) \w+ \| (.+?) \|", line)
        if m:
            for name in re.findall(r"`([\w.]+)`", m.group(2)):
                out[name] = int(m.group(1))
    return out


def module_name(path: Path) -> str:
    parts = list(path.relative_to(SRC).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted((SRC / "talkline").rglob("*.py"))}


def _type_checking_lines(tree: ast.Module) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def imports(name: str, path: Path, *, typing_too: bool = True) -> set[str]:
    """Every module `name` imports (module level or inside functions)."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = set() if typing_too else _type_checking_lines(tree)
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(tree):
        if getattr(node, "lineno", None) in skip:
            continue
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            # `from . import submodule` names the submodule; `from x import name`, x itself
            found.update(f"{target}\0{alias.name}" for alias in node.names)
    return found


def layer_of(name: str, table: dict[str, int]) -> int | None:
    best = None
    for prefix, number in table.items():
        if (name == prefix or name.startswith(prefix + ".")) and (
            best is None or len(prefix) > len(best[0])
        ):
            best = (prefix, number)
    return best[1] if best else None


def resolve(target: str, known: dict[str, Path]) -> str | None:
    """The talkline module an import names (`from x import y` may name a symbol)."""
    if "\0" in target:
        base, name = target.split("\0")
        return f"{base}.{name}" if f"{base}.{name}" in known else resolve(base, known)
    while target:
        if target in known:
            return target
        target = target.rpartition(".")[0]
    return None


def test_the_page_names_every_module() -> None:
    table = layers()
    assert len(set(table.values())) >= 10, table
    missing = [m for m in modules() if m != "talkline" and layer_of(m, table) is None]
    assert not missing, f"add these to the table in {PAGE.name}: {missing}"


def test_imports_point_down_the_layers() -> None:
    table, known = layers(), modules()
    wrong = []
    for name, path in known.items():
        mine = layer_of(name, table)
        if mine is None:
            continue
        for target in imports(name, path):
            other = resolve(target, known)
            if other is None or other == "talkline":
                continue
            theirs = layer_of(other, table)
            if theirs is not None and theirs > mine:
                wrong.append(f"{name} (layer {mine}) imports {other} (layer {theirs})")
    assert not wrong, "imports that point up:\n" + "\n".join(sorted(wrong))


def test_only_the_wire_speaks_http() -> None:
    wrong = []
    for name, path in modules().items():
        if name == "talkline.wire" or name.startswith("talkline.wire.") or (
            name.startswith("talkline.testing")
        ):
            continue
        for target in imports(name, path):
            target = target.replace("\0", ".")
            if any(target == lib or target.startswith(lib + ".") for lib in HTTP_LIBRARIES) or (
                target.startswith("talkline.wire._httpx")
            ):
                wrong.append(f"{name} imports {target}")
    assert not wrong, "HTTP outside talkline.wire:\n" + "\n".join(sorted(wrong))


def test_no_import_cycles() -> None:
    known = modules()
    graph: dict[str, set[str]] = {}
    for name, path in known.items():
        edges = set()
        for target in imports(name, path, typing_too=False):
            other = resolve(target, known)
            if other and other != name and other != "talkline":
                edges.add(other)
        graph[name] = edges
    cycles: list[list[str]] = []
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(node: str) -> None:
        state[node] = 1
        stack.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                cycles.append(stack[stack.index(nxt):] + [nxt])
            elif nxt not in state:
                visit(nxt)
        stack.pop()
        state[node] = 2

    for node in sorted(graph):
        if node not in state:
            visit(node)
    assert not cycles, "import cycles:\n" + "\n".join(" -> ".join(c) for c in cycles[:20])


@pytest.mark.parametrize("folder", ["src/talkline"])
def test_no_module_over_400_lines(folder: str) -> None:
    big = []
    for path in sorted((ROOT / folder).rglob("*.py")):
        count = len(path.read_text(encoding="utf-8").splitlines())
        if count > 400:
            big.append(f"{path.relative_to(ROOT)}: {count} lines")
    assert not big, "split these by concept:\n" + "\n".join(big)


def test_the_checks_catch_what_they_are_for(tmp_path: Path) -> None:
    """The import reader sees relative, lazy and `from . import` imports."""
    pkg = tmp_path / "talkline" / "cli"
    pkg.mkdir(parents=True)
    source = pkg / "x.py"
    source.write_text("from ..wire import chat\nfrom . import y\n"
                      "def f():\n    import httpx\n    from ..store._store import S\n")
    known = {m: source for m in ("talkline.wire", "talkline.wire.chat", "talkline.cli",
                                 "talkline.cli.y", "talkline.store._store")}
    got = {resolve(t, known) or t for t in imports("talkline.cli.x", source)}
    assert {"talkline.wire.chat", "talkline.cli.y", "httpx", "talkline.store._store"} <= got
    assert layer_of("talkline.cli.output.terminal", layers()) == max(layers().values()) - 1
