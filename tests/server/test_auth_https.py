"""The session cookie over HTTPS (Secure) and CORS for token clients, in-process (``TestClient`` speaks the
scheme it is given)."""
from __future__ import annotations

from fastapi.testclient import TestClient

from kfqmap.settings import CatalogSettings
from server.app import create_app
from server.settings import APISettings
from server.testing import MINI_GEODATA


def test_cookie_is_secure_over_https_and_cors_allows_token_headers(tmp_path):
    app = create_app(APISettings(catalog=CatalogSettings(geodata_dir=MINI_GEODATA, data_dir=tmp_path, extra_layers=""),
                                 cors_origins="https://gis.example.cn", warm_up=False))
    app.state.accounts.add_user("https_user", "editor", password="https-pass-1")
    client = TestClient(app, base_url="https://testserver")
    r = client.post("/auth/login", json={"username": "https_user", "password": "https-pass-1"})
    assert r.status_code == 200
    cookie = r.headers["set-cookie"]
    assert "Secure" in cookie and "HttpOnly" in cookie and "samesite=strict" in cookie.lower()
    preflight = client.options("/collections/low_efficiency_land/items/lel_0", headers={
        "Origin": "https://gis.example.cn", "Access-Control-Request-Method": "PATCH",
        "Access-Control-Request-Headers": "authorization, if-match, content-type"})
    assert preflight.status_code == 200
    allowed = preflight.headers["access-control-allow-headers"].lower()
    assert "authorization" in allowed and "if-match" in allowed
    assert "PATCH" in preflight.headers["access-control-allow-methods"]
    assert "access-control-allow-credentials" not in preflight.headers      # tokens, not cookies, cross-origin
    other = client.options("/collections", headers={"Origin": "https://evil.example",
                                                    "Access-Control-Request-Method": "GET"})
    assert "access-control-allow-origin" not in other.headers
