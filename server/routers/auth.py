"""``POST /auth/login``, ``POST /auth/logout``, ``GET /auth/me``: browser sessions (``server/auth.py`` identifies
requests; ``kfqmap/accounts.py`` keeps users, sessions and failed-login counts in the store).

Login answers the same 401 for an unknown user, a wrong password and a disabled account, and 429 (Retry-After)
after too many failures of one user name from one address. The session cookie is ``HttpOnly``,
``SameSite=Strict``, ``Path=/`` and ``Secure`` when the request came over HTTPS (directly, or through
``KFQMAP_API_PUBLIC_URL=https://…``); the body carries the ``csrf`` token the viewer sends back in
``X-CSRF-Token`` on every state-changing request.
"""
from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Body, Depends, Request
from pydantic import BaseModel, Field
from starlette.concurrency import run_in_threadpool
from starlette.responses import Response

from kfqmap.accounts import Principal
from kfqmap.errors import LoginFailed, TooManyAttempts

from .. import auth
from ..responses import JSONResponse

router = APIRouter(tags=["账户与会话 Accounts"])
log = logging.getLogger("kfqmap.auth")


class Login(BaseModel):
    username: str = Field(min_length=1, max_length=64)
    password: str = Field(min_length=1, max_length=1024)


def _me(principal: Principal, anonymous_policy: str) -> dict:
    return {**principal.as_json(), "csrf": principal.csrf, "anonymous_access": anonymous_policy}


@router.post("/auth/login", name="login", summary="登录（用户名 + 密码），设置会话 Cookie")
async def login(request: Request, body: Annotated[Login, Body()]):
    settings = request.app.state.settings.auth
    address = request.client.host if request.client else "-"
    try:
        secret, principal = await run_in_threadpool(
            request.app.state.accounts.login, body.username, body.password, address,
            max_failures=settings.login_max_failures, window_s=settings.login_window_s,
            session_hours=settings.session_hours)
    except (LoginFailed, TooManyAttempts) as exc:      # the name tried and the address, never the password
        log.warning("login refused (%s) for %r from %s", type(exc).__name__, body.username[:64], address)
        raise
    log.info("login: %s (%s) from %s", principal.name, principal.role, address)
    response = JSONResponse(_me(principal, settings.anonymous))
    response.set_cookie(auth.SESSION_COOKIE, secret, max_age=int(settings.session_hours * 3600), path="/",
                        httponly=True, samesite="strict", secure=request.url.scheme == "https")
    response.headers["Cache-Control"] = "no-store"
    return response


@router.post("/auth/logout", name="logout", summary="退出登录（结束会话）", status_code=204)
async def logout(request: Request):
    secret = request.cookies.get(auth.SESSION_COOKIE)
    if secret:
        await run_in_threadpool(request.app.state.accounts.logout, secret)
    response = Response(status_code=204)
    response.delete_cookie(auth.SESSION_COOKIE, path="/", httponly=True, samesite="strict",
                           secure=request.url.scheme == "https")
    return response


@router.get("/auth/me", name="me", summary="当前用户：名称、角色、可编辑图层、CSRF 令牌")
async def me(request: Request, principal: Annotated[Principal, Depends(auth.current)]):
    response = JSONResponse(_me(principal, request.app.state.settings.auth.anonymous))
    response.headers["Cache-Control"] = "no-store"
    return response
