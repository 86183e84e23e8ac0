"""The import rules of the house, enforced: each part of ``bench`` may import only the parts below it (and
itself). A new arrow that runs back up fails here with the file and the import, so the layering drawn in
docs/architecture.md cannot drift from the code. Imports inside functions count too."""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "bench"

#: From the ground up. A part is a folder of bench, or a group of root modules.
LAYERS = (
    ("base", {"bench", "errors", "digests", "atomic", "hub", "config", "commands"}),
    ("scoring", {"scoring"}),
    ("tasks", {"tasks"}),
    ("models", {"models"}),
    ("encoding", {"encoding"}),
    ("results", {"results"}),
    ("evaluators", {"evaluators"}),
    ("pipeline", {"plan", "identity", "preflight", "run"}),
    ("reports", {"reports"}),
    ("launch", {"launch"}),
    ("api", {"api"}),
    ("train", {"train"}),
    ("cross", {"cross"}),
    ("entry", {"__main__"}),
)
LEVEL = {name: level for level, (_, names) in enumerate(LAYERS) for name in names}
LAYER_NAME = {name: layer for layer, names in LAYERS for name in names}


def part_of(module: str) -> str:
    """``bench.encoding.cache`` -> ``encoding``; ``bench.run`` -> ``run``; ``bench`` -> ``bench``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "bench"


def bench_imports(path: Path) -> list[tuple[int, str]]:
    """Every ``bench`` module this file imports (at the top or inside a function), with its line."""
    out = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bench":
            if node.module == "bench":
                out += [(node.lineno, f"bench.{alias.name}") for alias in node.names
                        if (PACKAGE / alias.name).is_dir() or (PACKAGE / f"{alias.name}.py").is_file()]
                out += [(node.lineno, "bench")] if any(not ((PACKAGE / a.name).is_dir() or (PACKAGE / f"{a.name}.py").is_file())
                                                       for a in node.names) else []
            else:
                out.append((node.lineno, node.module))
        elif isinstance(node, ast.Import):
            out += [(node.lineno, alias.name) for alias in node.names if alias.name.split(".")[0] == "bench"]
    return out


def modules() -> list[tuple[str, Path]]:
    return [(".".join(path.relative_to(PACKAGE.parent).with_suffix("").parts).removesuffix(".__init__"), path)
            for path in sorted(PACKAGE.rglob("*.py")) if "conf" not in path.relative_to(PACKAGE).parts]


def test_every_module_has_a_layer():
    unplaced = sorted({part_of(module) for module, _ in modules()} - set(LEVEL))
    assert not unplaced, f"place these in LAYERS (and in docs/architecture.md): {unplaced}"


@pytest.mark.parametrize("module,path", modules(), ids=lambda value: str(value) if isinstance(value, str) else "")
def test_imports_run_down_only(module, path):
    source = part_of(module)
    if path.name == "__main__.py":  # a command's entry point (python -m bench.train) stands above everything
        return
    upward = [f"{path.relative_to(PACKAGE.parent)}:{line} imports {target} ({LAYER_NAME[part_of(target)]}, above "
              f"{LAYER_NAME[source]})" for line, target in bench_imports(path)
              if LEVEL[part_of(target)] > LEVEL[source]]
    assert not upward, "\n".join(upward)


def test_the_rule_catches_an_arrow_back_up(tmp_path):
    """The check itself can fail: an encoding module that imports the results store is an arrow back up."""
    sample = tmp_path / "sample.py"
    sample.write_text("def f():\n    from bench.results.store import ResultsStore\n")
    (line, target), = bench_imports(sample)
    assert (line, target) == (2, "bench.results.store")
    assert LEVEL[part_of(target)] > LEVEL["encoding"]


def module_graph() -> dict[str, set[str]]:
    """Which bench modules each module imports at run time (``from pkg import module`` counts as that module;
    imports under ``if TYPE_CHECKING:`` do not run, so they do not count)."""
    known = dict(modules())
    graph = {}
    for module, path in known.items():
        tree = ast.parse(path.read_text(), str(path))
        typing_only = {id(n) for node in ast.walk(tree) if isinstance(node, ast.If)
                       and getattr(node.test, "id", getattr(node.test, "attr", "")) == "TYPE_CHECKING"
                       for n in ast.walk(node)}
        targets = set()
        for node in ast.walk(tree):
            if id(node) in typing_only:
                continue
            if isinstance(node, ast.ImportFrom) and node.module and node.module.split(".")[0] == "bench":
                names = [f"{node.module}.{alias.name}" for alias in node.names]
                targets |= {n for n in names if n in known} or {node.module}
                targets |= {node.module} if any(n not in known for n in names) else set()
            elif isinstance(node, ast.Import):
                targets |= {alias.name for alias in node.names if alias.name.split(".")[0] == "bench"}
        graph[module] = {t for t in targets if t in known and t != module}
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []

    def visit(v):
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_itself_in_a_circle():
    """Within a part too the imports form no circle (a lazy import inside a function counts: it hides one)."""
    assert cycles(module_graph()) == []


def test_the_circle_check_can_fail():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
