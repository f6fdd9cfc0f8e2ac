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
