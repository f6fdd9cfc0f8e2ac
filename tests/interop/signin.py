"""Signing a browser page in as a user of a test server's store (writes need an editor; KFQMap has no anonymous
writes). ``ensure_user`` creates the account once; ``login`` goes through the viewer's own 登录 dialog."""
from __future__ import annotations

from kfqmap.accounts import AccountStore
from kfqmap.errors import InvalidParameter

PASSWORD = "测试-编辑-2026"


def ensure_user(accounts: AccountStore, name: str, role: str = "editor", layers=(), password: str = PASSWORD) -> None:
    try:
        accounts.add_user(name, role, password=password, layers=list(layers))
    except InvalidParameter as exc:          # already there (a module-scoped server, a re-run)
        if "已存在" not in exc.message:
            raise


def login(page, user: str, password: str = PASSWORD) -> None:
    if not page.locator("#dlg-login").is_visible():
        page.locator("#btn-login").click()
    page.locator("#dlg-login input[name=username]").fill(user)
    page.locator("#dlg-login input[name=password]").fill(password)
    page.locator("#btn-login-go").click()
    # a locator, not wait_for_function: pages under the viewer's CSP cannot evaluate strings
    page.locator("#user-box").wait_for(state="visible", timeout=10_000)
