"""The folder layout is the design: geodata → kfqmap → server → web. These tests keep it that way."""
from __future__ import annotations

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def _imports(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


def test_library_knows_nothing_about_http():
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & {"fastapi", "starlette", "uvicorn", "server"})
                 for p in (ROOT / "kfqmap").rglob("*.py")
                 if p.name != "serve_cmd.py"}  # `kfqmap serve` is the one place that starts the server
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"kfqmap/ must not import HTTP frameworks or server/: {offenders}"


# ------------------------------------------------------------------ the import graph
def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _project_modules() -> dict[str, Path]:
    return {_module_name(p): p for pkg in ("kfqmap", "server") for p in (ROOT / pkg).rglob("*.py")}


def _known(name: str, modules) -> str | None:
    """The longest prefix of a dotted name that is a project module (``kfqmap.export.LayerSelection`` →
    ``kfqmap.export``), or None for third-party names."""
    parts = name.split(".")
    for i in range(len(parts), 0, -1):
        if ".".join(parts[:i]) in modules:
            return ".".join(parts[:i])
    return None


def import_graph(modules: dict[str, Path] | None = None) -> dict[str, dict[str, int]]:
    """``{module: {imported project module: line}}`` over every ``import``/``from`` statement, at module level
    and inside functions alike, relative imports resolved. ``importlib.import_module(f"{__name__}.…")`` in a
    package (how ``kfqmap.export`` loads its writers) counts as importing every sub-module of that package."""
    modules = modules if modules is not None else _project_modules()
    graph: dict[str, dict[str, int]] = {}
    for mod, path in modules.items():
        package = mod if path.name == "__init__.py" else mod.rpartition(".")[0]
        edges: dict[str, int] = {}

        def add(target: str | None, line: int) -> None:
            if target is not None and target != mod:
                edges.setdefault(target, line)

        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.Import):
                for alias in node.names:
                    add(_known(alias.name, modules), node.lineno)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = ".".join(package.split(".")[:len(package.split(".")) - (node.level - 1)])
                    base = f"{base}.{node.module}" if node.module else base
                else:
                    base = node.module or ""
                subs = [f"{base}.{alias.name}" for alias in node.names]
                # ``from . import csv`` imports the sub-module kfqmap.export.csv; the package itself counts only
                # when a name is not a sub-module (``from . import LayerSelection`` reads the package's __init__)
                if node.module or not all(sub in modules for sub in subs):
                    add(_known(base, modules), node.lineno)
                for sub in subs:
                    add(_known(sub, modules), node.lineno)
            elif (isinstance(node, ast.Call) and ast.unparse(node.func) in ("importlib.import_module", "import_module")
                  and node.args):
                arg = node.args[0]
                if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                    add(_known(arg.value, modules), node.lineno)
                elif isinstance(arg, ast.JoinedStr) and ast.unparse(arg).startswith("f'{__name__}."):
                    for other in modules:
                        if other.rpartition(".")[0] == mod:
                            add(other, node.lineno)
        graph[mod] = edges
    return graph


def find_cycles(graph: dict[str, dict[str, int]], prefix: str = "kfqmap") -> list[list[str]]:
    """One cycle (as a path a → b → … → a) per strongly connected group of ``prefix`` modules."""
    nodes = {m for m in graph if m == prefix or m.startswith(prefix + ".")}
    succ = {m: sorted(t for t in graph[m] if t in nodes) for m in nodes}
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[list[str]] = []

    def visit(v: str) -> None:          # Tarjan; the graph is small enough for recursion
        index[v] = low[v] = len(index)
        stack.append(v)
        on_stack.add(v)
        for w in succ[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on_stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            group = []
            while True:
                w = stack.pop()
                on_stack.discard(w)
                group.append(w)
                if w == v:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for v in sorted(nodes):
        if v not in index:
            visit(v)
    cycles = []
    for group in groups:                # a shortest way back to the start, for a readable message
        start, members = group[0], set(group)
        paths = {start: [start]}
        queue = [start]
        while queue:
            v = queue.pop(0)
            for w in succ[v]:
                if w == start:
                    cycles.append(paths[v] + [start])
                    queue = []
                    break
                if w in members and w not in paths:
                    paths[w] = paths[v] + [w]
                    queue.append(w)
    return cycles


def _describe(cycle: list[str], graph) -> str:
    return " → ".join(f"{a} (line {graph[a][b]})" for a, b in zip(cycle, cycle[1:])) + f" → {cycle[-1]}"


def test_no_import_cycles_between_kfqmap_modules():
    """Counting lazy (function-level) imports too: a lazy import that only dodges a cycle still couples the
    modules both ways; move the shared thing into a lower module instead."""
    graph = import_graph()
    assert "kfqmap.catalog" in graph and graph["kfqmap.stats"], "the import graph missed the library's modules"
    cycles = find_cycles(graph)
    assert not cycles, "import cycles between kfqmap modules:\n" + "\n".join(_describe(c, graph) for c in cycles)


def test_cycle_check_sees_lazy_relative_and_dynamic_imports(tmp_path):
    """The check itself: a cycle made only of a function-level relative import, or through importlib in a
    package, is found and named."""
    pkg = tmp_path / "kfqmap"
    (pkg / "sub").mkdir(parents=True)
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import thing\n")
    (pkg / "b.py").write_text("def thing():\n    from . import a\n    return a\n")
    (pkg / "sub" / "__init__.py").write_text("import importlib\n\ndef load(n):\n"
                                             "    return importlib.import_module(f'{__name__}.{n}')\n")
    (pkg / "sub" / "w.py").write_text("def f():\n    from . import load\n")
    (pkg / "c.py").write_text("import kfqmap.a\n")
    modules = {".".join(p.relative_to(tmp_path).with_suffix("").parts).removesuffix(".__init__"): p
               for p in pkg.rglob("*.py")}
    cycles = sorted(sorted(c) for c in find_cycles(import_graph(modules)))
    assert cycles == [["kfqmap.a", "kfqmap.a", "kfqmap.b"], ["kfqmap.sub", "kfqmap.sub", "kfqmap.sub.w"]], cycles


def test_server_does_no_geometry_work():
    """The server is HTTP only: geometry (numpy, shapely, pyproj, geopandas) happens in kfqmap, which it calls."""
    heavy = {"numpy", "shapely", "pyproj", "geopandas"}
    offenders = {str(p.relative_to(ROOT)): sorted(_imports(p) & heavy) for p in (ROOT / "server").rglob("*.py")}
    offenders = {k: v for k, v in offenders.items() if v}
    assert not offenders, f"server/ must not import geometry libraries (move that code into kfqmap): {offenders}"


def _code_strings_and_calls(path: Path) -> tuple[list[str], set[str]]:
    """String literals that are not docstrings, and the dotted names of everything called."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docstrings = {id(node.body[0].value) for node in ast.walk(tree)
                  if isinstance(node, (ast.Module, ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))
                  and node.body and isinstance(node.body[0], ast.Expr)
                  and isinstance(node.body[0].value, ast.Constant)}
    strings = [n.value for n in ast.walk(tree)
               if isinstance(n, ast.Constant) and isinstance(n.value, str) and id(n) not in docstrings]
    calls = {ast.unparse(n.func) for n in ast.walk(tree) if isinstance(n, ast.Call)}
    return strings, calls


def test_server_never_opens_geodata_files():
    readers = {"read_dataframe", "read_file", "read_parquet", "open_dataset"}
    for p in (ROOT / "server").rglob("*.py"):
        strings, calls = _code_strings_and_calls(p)
        assert not [s for s in strings if re.search(r"(^|/)geodata(/|$)", s)], f"{p.relative_to(ROOT)} names geodata/; use kfqmap.catalog"
        assert not [c for c in calls if c.split(".")[-1] in readers], (
            f"{p.relative_to(ROOT)} reads data files directly; go through kfqmap.catalog")


def test_every_file_is_utf8():
    for p in ROOT.rglob("*"):
        if p.is_file() and p.suffix in {".py", ".json", ".geojson", ".md", ".html", ".js", ".css", ".csv", ".toml"} \
                and ".venv" not in p.parts and "node_modules" not in p.parts and ".git" not in p.parts:
            p.read_bytes().decode("utf-8")
