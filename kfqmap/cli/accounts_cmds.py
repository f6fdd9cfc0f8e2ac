"""``kfqmap users …`` and ``kfqmap tokens …``: accounts kept in the embedded store (``kfqmap.accounts``), or in
the PostgreSQL database with ``KFQMAP_STORE=postgis`` (``kfqmap.accounts_pg``).

The store is the one ``kfqmap serve`` uses (``KFQMAP_DATA_DIR``, ``KFQMAP_GEODATA_DIR``, ``KFQMAP_STORE_DSN``); a running server
sees a change at its next request. Passwords are read without echo (or one line from stdin with
``--password-stdin``) and never printed; a token is printed once, on stdout, and only its hash is stored.
"""
from __future__ import annotations

import sys

import click

from ..accounts import ROLES, AccountStore, parse_duration
from ..accounts_pg import open_accounts as accounts_for
from ..errors import InvalidParameter
from ..settings import CatalogSettings


def open_accounts() -> AccountStore:
    """The accounts ``kfqmap serve`` uses with the same settings (PostgreSQL when ``KFQMAP_STORE=postgis``)."""
    return accounts_for(CatalogSettings())


def _password(from_stdin: bool) -> str:
    if from_stdin:
        line = sys.stdin.readline()
        if not line:
            raise InvalidParameter("标准输入中没有密码（no password on stdin）", parameter="password")
        return line.rstrip("\r\n")
    return click.prompt("密码", hide_input=True, confirmation_prompt="再输入一次")


def _layers(value: str | None) -> list[str]:
    return [p.strip() for p in (value or "").split(",") if p.strip()]


@click.group("users")
def users_group():
    """用户与角色：查看（viewer）、编辑（editor，可限定图层）、管理（admin）。"""


@users_group.command("add")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([*ROLES, *ROLES.values()]),
              help="viewer/查看、editor/编辑、admin/管理")
@click.option("--layers", default=None, help="编辑者可编辑的图层，逗号分隔（默认：全部可写图层）")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取一行作为密码（脚本用）")
@click.option("--no-password", is_flag=True, help="不设密码（只用 API 令牌登录）")
def users_add(name: str, role: str, layers: str | None, password_stdin: bool, no_password: bool):
    """添加用户。"""
    password = None if no_password else _password(password_stdin)
    open_accounts().add_user(name, role, password=password, layers=_layers(layers))
    click.echo(f"已添加用户 {name}（{role}）", err=True)


@users_group.command("list")
def users_list():
    """列出用户：名称、角色、可编辑图层、是否停用。"""
    for u in open_accounts().users():
        layers = ",".join(u["layers"]) or ("全部" if u["role"] != "viewer" else "-")
        state = "停用" if u["disabled"] else "启用"
        click.echo(f"{u['name']}\t{u['role']}（{u['role_zh']}）\t{layers}\t{state}")


@users_group.command("passwd")
@click.argument("name")
@click.option("--password-stdin", is_flag=True, help="从标准输入读取一行作为新密码")
def users_passwd(name: str, password_stdin: bool):
    """设置或修改用户密码。"""
    open_accounts().set_password(name, _password(password_stdin))
    click.echo(f"已修改 {name} 的密码", err=True)


@users_group.command("disable")
@click.argument("name")
@click.option("--enable", is_flag=True, help="重新启用")
def users_disable(name: str, enable: bool):
    """停用用户（立即结束其会话，其令牌失效）；--enable 重新启用。"""
    open_accounts().set_disabled(name, not enable)
    click.echo(f"已{'启用' if enable else '停用'}用户 {name}", err=True)


@users_group.command("role")
@click.argument("name")
@click.option("--role", required=True, type=click.Choice([*ROLES, *ROLES.values()]), help="新角色")
@click.option("--layers", default=None, help="编辑者可编辑的图层，逗号分隔")
def users_role(name: str, role: str, layers: str | None):
    """修改用户的角色与可编辑图层。"""
    open_accounts().set_role(name, role, _layers(layers))
    click.echo(f"已修改 {name} 的角色", err=True)


@click.group("tokens")
def tokens_group():
    """API 令牌（Authorization: Bearer …）：创建（只显示一次）、列出、吊销。"""


@tokens_group.command("create")
@click.option("--user", required=True, help="令牌代表的用户")
@click.option("--expires", default="90d", show_default=True, help="有效期，如 90d、12h、2w")
@click.option("--note", default=None, help="备注（用途）")
def tokens_create(user: str, expires: str, note: str | None):
    """创建 API 令牌，令牌只在标准输出上显示这一次。"""
    token_id, secret = open_accounts().create_token(user, expires=parse_duration(expires), note=note)
    click.echo(f"令牌 {token_id}（用户 {user}，有效期 {expires}）；请妥善保存，下面的值不会再显示：", err=True)
    click.echo(secret)


@tokens_group.command("list")
@click.option("--user", default=None, help="只列出此用户的令牌")
def tokens_list(user: str | None):
    """列出令牌（不含令牌值）：id、用户、创建、到期、吊销时间。"""
    for t in open_accounts().tokens(user):
        click.echo(f"{t['id']}\t{t['user']}\t{t['created_at']}\t到期 {t['expires_at'] or '-'}\t"
                   f"{'已吊销 ' + t['revoked_at'] if t['revoked_at'] else '有效'}\t{t['note'] or ''}")


@tokens_group.command("revoke")
@click.argument("token_id")
def tokens_revoke(token_id: str):
    """吊销令牌（按 tokens list 中的 id）。"""
    open_accounts().revoke_token(token_id)
    click.echo(f"已吊销令牌 {token_id}", err=True)
