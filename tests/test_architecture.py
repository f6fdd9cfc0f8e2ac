"""The folder layout is the design: geodata → kfqmap → server → web. These tests keep it that way."""
from __future__ import annotations

import ast
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


def test_server_never_opens_geodata_files():
    for p in (ROOT / "server").rglob("*.py"):
        text = p.read_text(encoding="utf-8")
        assert "geodata/" not in text and "read_dataframe" not in text and "gpd.read_file" not in text, (
            f"{p.relative_to(ROOT)} reads data directly; go through kfqmap.catalog")


def test_every_file_is_utf8():
    for p in ROOT.rglob("*"):
        if p.is_file() and p.suffix in {".py", ".json", ".geojson", ".md", ".html", ".js", ".css", ".csv", ".toml"} \
                and ".venv" not in p.parts and "node_modules" not in p.parts and ".git" not in p.parts:
            p.read_bytes().decode("utf-8")
