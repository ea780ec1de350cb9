"""The console's own routes: signing in and out, and the start page.

The sign-in form carries a double-submit CSRF token (a cookie and a hidden field); a
successful sign-in sets the session cookie (HttpOnly, SameSite=Strict, Secure over HTTPS) and
goes on to the console page asked for (never to another site). Sign-ins and sign-outs are
recorded by :class:`~facegate.policy.console_users.ConsoleAccounts`.
"""

from __future__ import annotations

import asyncio
import hmac
import secrets

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse, Response

from facegate.policy.console_users import SignInRefused
from facegate.web.console import (
    COOKIE,
    PREFIX,
    SIGNIN_COOKIE,
    ConsolePageError,
    accounts_of,
    form_of,
    redirect,
    render,
    signed_in,
)
from facegate.web.route import ConsoleRoute

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    """Only a console path (never another site) after signing in."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX


def _with_form_token(request: Request, response: Response, token: str) -> Response:
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=PREFIX,
    )
    return response


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", None, form_token=token, next=_safe_next(next))
    return _with_form_token(request, response, token)


@router.post("/sign-in", response_class=HTMLResponse)
async def sign_in(request: Request) -> Response:
    form = await request.form()
    sent, expected = form.get("csrf"), request.cookies.get(SIGNIN_COOKIE)
    if not (isinstance(sent, str) and expected and hmac.compare_digest(sent, expected)):
        raise ConsolePageError(
            403, "Form refused", "The sign-in form expired or was not sent from this page."
        )
    username, password = str(form.get("username", "")), str(form.get("password", ""))
    target = _safe_next(str(form.get("next") or ""))
    try:
        token, _who = await asyncio.to_thread(
            accounts_of(request).sign_in, username, password, request.state.request_id
        )
    except SignInRefused as refused:
        fresh = secrets.token_urlsafe(32)
        response = render(
            request,
            "sign_in.html",
            None,
            status=401,
            form_token=fresh,
            next=target,
            error=str(refused),
            username=username[:64],
        )
        return _with_form_token(request, response, fresh)
    signed = redirect(target)
    signed.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path=PREFIX
    )
    signed.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return signed


@router.post("/sign-out")
async def sign_out(request: Request) -> Response:
    who = signed_in(request)
    await form_of(request, who)
    await asyncio.to_thread(
        accounts_of(request).sign_out, request.cookies.get(COOKIE), request.state.request_id
    )
    response = redirect(f"{PREFIX}/sign-in")
    response.delete_cookie(COOKIE, path=PREFIX)
    return response


@router.get("", response_class=HTMLResponse)
async def home(request: Request) -> Response:
    who = signed_in(request)
    return render(request, "home.html", who)
