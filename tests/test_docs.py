"""Docs that tests keep honest: every CLI command has help; the README names the two set-up commands."""
from __future__ import annotations

from pathlib import Path

import click
from click.testing import CliRunner

from kfqmap.cli.main import cli

ROOT = Path(__file__).resolve().parent.parent


def _commands(group: click.Group, prefix=()):
    for name, cmd in group.commands.items():
        yield (*prefix, name), cmd
        if isinstance(cmd, click.Group):
            yield from _commands(cmd, (*prefix, name))


def test_every_cli_command_has_help_text():
    runner = CliRunner()
    for path, cmd in _commands(cli):
        assert (cmd.help or "").strip(), f"kfqmap {' '.join(path)} has no help text"
        result = runner.invoke(cli, [*path, "--help"])
        assert result.exit_code == 0, result.output


def test_readme_holds_the_two_setup_commands():
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    assert "make run" in readme and "make test" in readme
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in ci


def test_command_list_shows_a_summary_for_every_command():
    """`kfqmap --help` lists each command with a readable summary, not a bare '...'."""
    for path, cmd in _commands(cli):
        summary = cmd.get_short_help_str(limit=120)
        assert summary and summary.strip(". ") and not summary.startswith("..."), f"kfqmap {' '.join(path)}: {summary!r}"


def test_readme_python_example_runs(tmp_path, monkeypatch):
    """The README's Python block runs as written against the embedded geodata — in a store of its own: the example
    edits a parcel, and the process's shared store is read by other tests (the PostGIS reader compares against it)."""
    import contextlib
    import io
    import re

    monkeypatch.setenv("KFQMAP_DATA_DIR", str(tmp_path / "data"))

    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    blocks = re.findall(r"```python\n(.*?)```", readme, flags=re.S)
    assert blocks, "the README has a Python example"
    out = io.StringIO()
    with contextlib.redirect_stdout(out):
        for block in blocks:
            exec(compile(block, "README.md", "exec"), {})
    assert "青阳港城市客厅" in out.getvalue()
