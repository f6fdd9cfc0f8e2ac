"""``kfqmap deploy nginx``: the file it writes is what Debian's nginx accepts, its limits are the app's, the
shipped ``deploy/nginx.conf`` is its output for the defaults, and the TLS example really serves HTTPS."""
from __future__ import annotations

import subprocess
from pathlib import Path

import httpx
import pytest
from click.testing import CliRunner

from kfqmap.cli.main import cli
from kfqmap.cli.serve_cmd import MAX_HEAD_BYTES as SERVE_HEAD_BYTES
from kfqmap.deploy import MAX_HEAD_BYTES, AppLimits, NginxOptions, render_nginx
from server.settings import APISettings

from .servers import NGINX, free_port, nginx_user, start_nginx, start_worker

ROOT = Path(__file__).resolve().parents[2]


def test_limits_are_the_apps():
    app, limits = APISettings(), AppLimits()
    for name in ("max_body_bytes", "max_url_bytes", "request_timeout_s", "export_timeout_s", "export_queue",
                 "export_concurrency"):
        assert getattr(limits, name) == getattr(app, name), name
    assert MAX_HEAD_BYTES == SERVE_HEAD_BYTES
    text = render_nginx(NginxOptions(limits=AppLimits(max_body_bytes=5 * 1024 * 1024, request_timeout_s=30)))
    assert "client_max_body_size 5120k;" in text and "proxy_read_timeout 35s;" in text


def test_the_shipped_config_is_the_commands_default_output():
    result = CliRunner().invoke(cli, ["deploy", "nginx"])
    assert result.exit_code == 0, result.output
    assert result.output == (ROOT / "deploy" / "nginx.conf").read_text(encoding="utf-8") == render_nginx(
        NginxOptions(upstreams=["127.0.0.1:8001", "127.0.0.1:8002"]))


@pytest.mark.parametrize("args, word", [
    (["--upstream", "127.0.0.1:8001; evil"], "--upstream"),
    (["--tls-cert", "/etc/ssl/a.pem"], "--tls-key"),
    (["--server-name", "a}b"], "--server-name"),
    (["--tile-valid", "0"], "tile-valid"),
    (["--sticky", "cookie:a b"], "--sticky"),
])
def test_bad_options_are_one_line_errors(args, word):
    result = CliRunner().invoke(cli, ["deploy", "nginx", *args])
    assert result.exit_code == 2 and "Traceback" not in result.output
    assert word in result.output


def test_written_config_passes_nginx_t(tmp_path):
    out = tmp_path / "nginx.conf"
    result = CliRunner().invoke(cli, ["deploy", "nginx", "--workers", "3", "--first-port", "9001", "--out", str(out),
                                      "--cache-dir", str(tmp_path / "cache"), "--runtime-dir", str(tmp_path),
                                      "--pid-file", str(tmp_path / "nginx.pid"), "--log-dir", str(tmp_path),
                                      "--user", nginx_user() or "", "--listen", f"127.0.0.1:{free_port()}"])
    assert result.exit_code == 0, result.output
    text = out.read_text(encoding="utf-8")
    assert all(f"server 127.0.0.1:{p} " in text for p in (9001, 9002, 9003))
    assert "least_conn;" in text
    check = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(out), "-e", str(tmp_path / "e.log")],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_tls_example_serves_https_with_hsts_and_redirects_http(tmp_path):
    tmp_path.chmod(0o755)
    cert, key = tmp_path / "cert.pem", tmp_path / "key.pem"
    subprocess.run(["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "1", "-subj",
                    "/CN=localhost", "-keyout", str(key), "-out", str(cert)], check=True, capture_output=True,
                   timeout=60)
    port, http_port, tls_port = free_port(), free_port(), free_port()
    worker = start_worker(port, {}, tmp_path)
    nginx = None
    try:
        conf = tmp_path / "nginx.conf"
        conf.write_text(render_nginx(NginxOptions(
            upstreams=[f"127.0.0.1:{port}"], listen=f"127.0.0.1:{http_port}", tls_listen=f"127.0.0.1:{tls_port}",
            tls_cert=str(cert), tls_key=str(key), server_name="localhost", cache_dir=str(tmp_path / "cache"),
            runtime_dir=str(tmp_path), pid_file=str(tmp_path / "nginx.pid"), log_dir=str(tmp_path),
            user=nginx_user(), worker_processes="1")), encoding="utf-8")
        nginx = start_nginx(conf, tmp_path, http_port)      # answers on HTTP with the redirect
        r = httpx.get(f"http://127.0.0.1:{http_port}/collections", follow_redirects=False, timeout=10)
        assert r.status_code == 301 and r.headers["location"].startswith("https://")
        with httpx.Client(verify=False, timeout=30) as client:
            r = client.get(f"https://127.0.0.1:{tls_port}/collections")
            assert r.status_code == 200 and r.json()["collections"]
            assert r.headers["strict-transport-security"] == "max-age=31536000"
            assert r.headers["x-content-type-options"] == "nosniff"
            tile = client.get(f"https://127.0.0.1:{tls_port}/tiles/plan/12/3431/1665.mvt")
            assert tile.status_code in (200, 204) and "strict-transport-security" in tile.headers
    finally:
        if nginx is not None:
            nginx.stop()
        worker.stop()


@pytest.mark.parametrize("sticky, line", [("ip", "hash $binary_remote_addr consistent;"),
                                          ("cookie:kfqmap_session", "hash $cookie_kfqmap_session consistent;")])
def test_sticky_routing_is_valid_nginx(tmp_path, sticky, line):
    out = tmp_path / "nginx.conf"
    out.write_text(render_nginx(NginxOptions(
        upstreams=["127.0.0.1:9001", "127.0.0.1:9002"], listen=f"127.0.0.1:{free_port()}", sticky=sticky,
        cache_dir=str(tmp_path / "cache"), runtime_dir=str(tmp_path), pid_file=str(tmp_path / "nginx.pid"),
        log_dir=str(tmp_path), user=nginx_user())), encoding="utf-8")
    text = out.read_text(encoding="utf-8")
    assert line in text and "least_conn" not in text
    check = subprocess.run([NGINX, "-t", "-p", str(tmp_path), "-c", str(out), "-e", str(tmp_path / "e.log")],
                           capture_output=True, text=True, timeout=30)
    assert check.returncode == 0, check.stderr


def test_nginx_serves_a_seeded_pmtiles_archive_with_byte_ranges(tmp_path):
    import os
    import sys

    tmp_path.chmod(0o755)
    archives = tmp_path / "pmtiles"
    archives.mkdir()
    seed = subprocess.run([sys.executable, "-m", "kfqmap.cli.main", "tiles", "seed", "--zooms", "9-10", "--quiet",
                           "--processes", "1", "--out", str(archives / "plan.pmtiles")],
                          env={**os.environ, "PYTHONPATH": str(ROOT), "KFQMAP_STORE": "files"}, capture_output=True,
                          text=True, timeout=300)
    assert seed.returncode == 0, seed.stderr[-2000:]
    data = (archives / "plan.pmtiles").read_bytes()
    listen = free_port()
    conf = tmp_path / "nginx.conf"
    conf.write_text(render_nginx(NginxOptions(
        upstreams=[f"127.0.0.1:{free_port()}"], listen=f"127.0.0.1:{listen}", pmtiles_dir=str(archives),
        cache_dir=str(tmp_path / "cache"), runtime_dir=str(tmp_path), pid_file=str(tmp_path / "nginx.pid"),
        log_dir=str(tmp_path), user=nginx_user(), worker_processes="1")), encoding="utf-8")
    nginx = start_nginx(conf, tmp_path, listen, ready="/pmtiles/plan.pmtiles")
    try:
        with httpx.Client(base_url=f"http://127.0.0.1:{listen}", timeout=30) as client:
            head = client.get("/pmtiles/plan.pmtiles", headers={"Range": "bytes=0-126"})
            assert head.status_code == 206 and head.content == data[:127] and head.content[:7] == b"PMTiles"
            assert head.headers["content-type"] == "application/vnd.pmtiles"
            assert head.headers["content-range"] == f"bytes 0-126/{len(data)}"
            tail = client.get("/pmtiles/plan.pmtiles", headers={"Range": f"bytes={len(data) - 100}-"})
            assert tail.status_code == 206 and tail.content == data[-100:]
            etag = head.headers["etag"]
            assert client.get("/pmtiles/plan.pmtiles", headers={"If-None-Match": etag}).status_code == 304
            outside = client.get("/pmtiles/../nginx.conf")            # nothing outside the folder is served
            assert outside.status_code != 200 and "worker_processes" not in outside.text
    finally:
        nginx.stop()
