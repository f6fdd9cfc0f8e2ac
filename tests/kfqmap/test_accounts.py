"""kfqmap.accounts on a real store file: hashes at rest, token and session lifetimes, one answer for every failed
login, the rate limit, permissions."""
from __future__ import annotations

import sqlite3

import pytest

from kfqmap.accounts import ANONYMOUS, AccountStore, check_csrf, parse_duration, require_role
from kfqmap.errors import CSRFRejected, Forbidden, InvalidParameter, LoginFailed, TooManyAttempts


@pytest.fixture()
def accounts(tmp_path):
    store = AccountStore.open(tmp_path / "store.gpkg")
    store.add_user("王工", "编辑", password="correct-horse", layers=["low_efficiency_land"])
    store.add_user("admin", "admin", password="admin-pass-1")
    yield store
    store.close()


def test_users_roles_and_names(accounts):
    users = {u["name"]: u for u in accounts.users()}
    assert users["王工"]["role"] == "editor" and users["王工"]["layers"] == ["low_efficiency_land"]
    with pytest.raises(InvalidParameter):
        accounts.add_user("ADMIN", "viewer", password="another-pass")     # names are case-insensitive
    with pytest.raises(InvalidParameter):
        accounts.add_user("x", "superuser", password="another-pass")
    with pytest.raises(InvalidParameter):
        accounts.add_user("bad/name", "viewer", password="another-pass")
    with pytest.raises(InvalidParameter):
        accounts.add_user("short", "viewer", password="short")
    assert {u["name"] for u in accounts.users()} == {"王工", "admin"}


def test_secrets_are_stored_hashed(accounts, tmp_path):
    _, token = accounts.create_token("王工", expires=parse_duration("2w"))
    with sqlite3.connect(tmp_path / "store.gpkg") as conn:
        dump = "\n".join(conn.iterdump())
    assert "correct-horse" not in dump and token not in dump and "$argon2id$" in dump


def test_every_failed_login_is_the_same_answer_and_then_rate_limited(accounts):
    accounts.set_disabled("admin")
    messages = set()
    for name, password in (("nobody", "correct-horse"), ("王工", "wrong-pass"), ("admin", "admin-pass-1")):
        with pytest.raises(LoginFailed) as info:
            accounts.login(name, password, "10.0.0.1")
        messages.add(info.value.message)
    assert len(messages) == 1
    for _ in range(4):
        with pytest.raises(LoginFailed):
            accounts.login("王工", "wrong-pass", "10.0.0.2", max_failures=5)
    secret, principal = accounts.login("王工", "correct-horse", "10.0.0.2", max_failures=5)   # 4 < 5: still fine
    assert principal.name == "王工" and principal.csrf and accounts.session_principal(secret).name == "王工"
    for _ in range(3):
        with pytest.raises(LoginFailed):
            accounts.login("王工", "wrong-pass", "10.0.0.3", max_failures=3)
    with pytest.raises(TooManyAttempts) as info:
        accounts.login("王工", "correct-horse", "10.0.0.3", max_failures=3)
    assert 0 < info.value.retry_after <= 901


def test_tokens_and_sessions_end(accounts):
    token_id, token = accounts.create_token("王工", expires=parse_duration("1h"))
    assert accounts.token_principal(token).role == "editor"
    accounts.revoke_token(token_id)
    assert accounts.token_principal(token) is None
    with pytest.raises(InvalidParameter):
        accounts.revoke_token(token_id)
    secret, _ = accounts.login("王工", "correct-horse", "127.0.0.1", session_hours=1e-9)
    assert accounts.session_principal(secret) is None                 # expired at once
    secret, _ = accounts.login("王工", "correct-horse", "127.0.0.1")
    accounts.logout(secret)
    assert accounts.session_principal(secret) is None
    secret, _ = accounts.login("王工", "correct-horse", "127.0.0.1")
    accounts.set_password("王工", "new-horse-battery")               # a new password ends the sessions
    assert accounts.session_principal(secret) is None
    with pytest.raises(InvalidParameter):
        parse_duration("forever")
    with pytest.raises(InvalidParameter):
        accounts.create_token("nobody", expires=None)


def test_permissions_and_csrf(accounts):
    _, editor = accounts.login("王工", "correct-horse", "127.0.0.1")
    require_role(editor, layer="low_efficiency_land")
    with pytest.raises(Forbidden):
        require_role(editor, layer="cores")
    with pytest.raises(Forbidden):
        require_role(editor, admin=True)
    with pytest.raises(Forbidden):
        require_role(ANONYMOUS, edit=True)
    check_csrf(editor, editor.csrf)
    for header in (None, "", editor.csrf + "x"):
        with pytest.raises(CSRFRejected):
            check_csrf(editor, header)


def test_sessions_are_shared_by_every_connection_to_the_store(accounts, tmp_path):
    """Two AccountStores on one file (as two server worker processes have): a session made by one is known to
    the other, and a logout in one ends it for both."""
    other = AccountStore.open(tmp_path / "store.gpkg")
    try:
        secret, _ = accounts.login("王工", "correct-horse", "127.0.0.1")
        assert other.session_principal(secret).name == "王工"
        other.logout(secret)
        assert accounts.session_principal(secret) is None
    finally:
        other.close()


def test_one_address_guessing_across_user_names_is_limited_too(accounts):
    for i in range(8):
        with pytest.raises(LoginFailed):
            accounts.login(f"guess{i}", "whatever-1", "10.9.9.9", max_failures=2)    # 2 × 4 across names
    with pytest.raises(TooManyAttempts):
        accounts.login("王工", "correct-horse", "10.9.9.9", max_failures=2)
    assert accounts.login("王工", "correct-horse", "10.9.9.8", max_failures=2)[1].name == "王工"


def test_users_and_tokens_commands(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from kfqmap.cli.main import cli
    from server.testing import MINI_GEODATA

    monkeypatch.setenv("KFQMAP_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("KFQMAP_GEODATA_DIR", str(MINI_GEODATA))
    run = CliRunner().invoke
    assert run(cli, ["users", "add", "李四", "--role", "viewer", "--password-stdin"], input="first-pass\n").exit_code == 0
    assert run(cli, ["users", "add", "李四", "--role", "viewer", "--no-password"]).exit_code == 2   # exists
    assert run(cli, ["users", "passwd", "李四", "--password-stdin"], input="second-pass\n").exit_code == 0
    assert run(cli, ["users", "role", "李四", "--role", "编辑", "--layers", "cores"]).exit_code == 0
    listed = run(cli, ["users", "list"])
    assert "李四\teditor（编辑）\tcores\t启用" in listed.output
    created = run(cli, ["tokens", "create", "--user", "李四", "--expires", "12h", "--note", "QGIS"])
    assert created.exit_code == 0
    secret = created.stdout.strip().splitlines()[-1]
    assert secret.startswith("kfq_")
    assert secret not in run(cli, ["tokens", "list"]).output
    bad = run(cli, ["tokens", "create", "--user", "李四", "--expires", "soon"])
    assert bad.exit_code == 2 and "有效期" in bad.output
    from kfqmap.settings import CatalogSettings
    store = AccountStore.open(CatalogSettings().store_path())
    try:
        assert store.token_principal(secret).layers == ("cores",)
        assert store.login("李四", "second-pass", "127.0.0.1")[1].role == "editor"
    finally:
        store.close()
