"""A real ``kfqmap serve`` in its own process on 127.0.0.1, for tests that need uvicorn's own limits or have to
kill the server (``kill -9``). ``start(env)`` returns a ``ProcServer`` (``.url``, ``.proc``); ``stop()`` ends it."""
from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
MINI_GEODATA = REPO / "tests" / "fixtures" / "mini_geodata"
#: how long a server may take to start on a loaded 2-core machine (a bound on waiting, not a timing assertion)
START_TIMEOUT_S = 120


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@dataclass
class ProcServer:
    url: str
    port: int
    proc: subprocess.Popen
    log: Path

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(20)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(20)

    def kill9(self) -> None:
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(20)


def server_env(scratch: Path, **extra: str) -> dict:
    env = {k: v for k, v in os.environ.items() if not k.startswith("KFQMAP_")}
    env.update({"PYTHONPATH": str(REPO), "KFQMAP_GEODATA_DIR": str(MINI_GEODATA), "KFQMAP_SCRATCH_DIR": str(scratch),
                "KFQMAP_API_WARM_UP": "false", "KFQMAP_TILE_WARM_UP": "false"})
    env.update(extra)
    return env


def start(env: dict, log: Path, *args: str) -> ProcServer:
    port = free_port()
    cmd = [sys.executable, "-c", "from kfqmap.cli.main import cli; cli()", "serve", "--port", str(port),
           "--log-level", "warning", *args]
    with open(log, "ab") as out:
        proc = subprocess.Popen(cmd, env=env, stdout=out, stderr=subprocess.STDOUT, cwd=REPO,
                                start_new_session=True)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"server exited with {proc.returncode}: {log.read_text(errors='replace')[-2000:]}")
        try:
            if httpx.get(url + "/conformance", timeout=5).status_code == 200:
                return ProcServer(url, port, proc, log)
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    proc.kill()
    raise RuntimeError(f"server did not start: {log.read_text(errors='replace')[-2000:]}")
