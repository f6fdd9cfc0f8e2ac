"""Real processes for the scale tests: ``kfqmap serve`` workers and Debian's nginx with a config from
``kfqmap deploy nginx`` (run as the user the tests run as: ``user root`` under root, as on CI)."""
from __future__ import annotations

import os
import pwd
import shutil
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx

ROOT = Path(__file__).resolve().parents[2]
NGINX = shutil.which("nginx") or "/usr/sbin/nginx"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Process:
    def __init__(self, name: str, cmd: list[str], env: dict, log: Path):
        self.name, self.log = name, log
        self._out = open(log, "wb")
        self.proc = subprocess.Popen(cmd, env=env, stdout=self._out, stderr=subprocess.STDOUT, cwd=ROOT,
                                     start_new_session=True)

    def wait_http(self, url: str, timeout: float = 90.0) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            if self.proc.poll() is not None:
                raise RuntimeError(f"{self.name} exited ({self.proc.returncode}):\n{self.tail()}")
            try:
                if httpx.get(url, timeout=2).status_code < 500:
                    return
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"{self.name} did not answer {url} within {timeout:g} s:\n{self.tail()}")

    def tail(self) -> str:
        self._out.flush()
        return self.log.read_text(errors="replace")[-3000:]

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)       # only this process (its own session)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        self._out.close()


def start_worker(port: int, env_extra: dict, workdir: Path, name: str = "worker", workers: int = 1) -> Process:
    env = {**os.environ, "PYTHONPATH": str(ROOT), "KFQMAP_STORE": "files", "KFQMAP_DATA_DIR": str(workdir / "data"),
           "KFQMAP_SCRATCH_DIR": str(workdir / "scratch"), "KFQMAP_API_WARM_UP": "false",
           "KFQMAP_TILE_WARM_UP": "false", **env_extra}
    proc = Process(name, [sys.executable, "-m", "kfqmap.cli.main", "serve", "--host", "127.0.0.1", "--port",
                          str(port), "--workers", str(workers), "--log-level", "warning"], env, workdir / f"{name}.log")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}/conformance")
    except BaseException:
        proc.stop()
        raise
    return proc


def nginx_user() -> str | None:
    """``user`` line for a test nginx: the tests' own user when root (workers would be ``nobody`` otherwise)."""
    return pwd.getpwuid(os.geteuid()).pw_name if os.geteuid() == 0 else None


def start_nginx(conf: Path, prefix: Path, port: int, ready: str = "/conformance") -> Process:
    if not Path(NGINX).exists():
        raise RuntimeError("nginx not found: run `bash scripts/install-system.sh` (Debian package nginx)")
    check = subprocess.run([NGINX, "-t", "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log")],
                           capture_output=True, text=True, timeout=30)
    if check.returncode != 0:
        raise RuntimeError(f"nginx -t failed:\n{check.stderr}")
    proc = Process("nginx", [NGINX, "-p", str(prefix), "-c", str(conf), "-e", str(prefix / "error.log"),
                             "-g", "daemon off;"], dict(os.environ), prefix / "nginx.out")
    try:
        proc.wait_http(f"http://127.0.0.1:{port}{ready}")
    except BaseException:
        proc.stop()
        raise
    return proc
