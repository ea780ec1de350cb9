"""The console's own routes (sign-in, sign-out, the start page) and how it is mounted.

:class:`ConsoleRoute` turns every failure into a page: no session sends the browser to the
sign-in page (a form post without a session gets 401), a missing role or CSRF token is 403,
a refused action shows facegate's message. Every console answer carries the security headers
(no framing, no other origins, no caching of pages, no referrer).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import secrets
import uuid
from collections.abc import Callable, Coroutine
from importlib import resources
from typing import Any

from fastapi import APIRouter, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.routing import APIRoute
from fastapi.staticfiles import StaticFiles

from facegate.api.rest.errors import record_unrecorded
from facegate.audit.log import records_written
from facegate.errors import FacegateError, InternalServerError, InvalidParameterException
from facegate.web.accounts import SignInRefused
from facegate.web.console import (
    COOKIE,
    PREFIX,
    SIGNIN_COOKIE,
    ConsolePageError,
    SignInRequired,
    Who,
    accounts_of,
    form_of,
    redirect,
    refused_page,
    render,
    sign_in_url,
    signed_in,
)

log = logging.getLogger("facegate.web")

SECURITY_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        "object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'self'"
    ),
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-store",
}


class ConsoleRoute(APIRoute):
    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            request.state.request_id = str(uuid.uuid4())
            with records_written() as written:
                return await _answered(request, written)

        async def _answered(request: Request, written: list[int]) -> Response:
            try:
                response = await handler(request)
            except SignInRequired:
                if request.method == "GET":
                    response = RedirectResponse(sign_in_url(request), status_code=303)
                else:
                    response = render(
                        request,
                        "error.html",
                        None,
                        status=401,
                        title="Signed out",
                        message="Your session has ended. Sign in again.",
                    )
            except ConsolePageError as error:
                response = render(
                    request,
                    "error.html",
                    _who_or_none(request),
                    status=error.status,
                    title=error.title,
                    message=error.message,
                )
            except FacegateError as error:
                who = _who_or_none(request)
                await _record_refusal(request, who, error, written)
                response = refused_page(request, who, error)
            except RequestValidationError:
                who = _who_or_none(request)
                malformed = InvalidParameterException(
                    "The form or address was incomplete or malformed."
                )
                await _record_refusal(request, who, malformed, written)
                response = render(
                    request,
                    "error.html",
                    who,
                    status=400,
                    title="Not done",
                    message=malformed.message,
                )
            except Exception:
                log.exception("console request %s failed", request.state.request_id)
                error = InternalServerError("The console failed to answer; see the server log.")
                response = refused_page(request, None, error)
            for name, value in SECURITY_HEADERS.items():
                response.headers.setdefault(name, value)
            return response

        return answer


async def _record_refusal(
    request: Request, who: Who | None, error: FacegateError, written: list[int]
) -> None:
    """A signed-in person's request refused before anything recorded it (a malformed form or
    address, a value the database refuses): on the record like any refusal."""
    if who is not None:
        await record_unrecorded(request, who.principal, error, written)


def _who_or_none(request: Request) -> Who | None:
    try:
        return signed_in(request)
    except Exception:
        return None


router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)


def _secure(request: Request) -> bool:
    return request.url.scheme == "https"


def _safe_next(target: str | None) -> str:
    """Only a console path (never another site) after signing in."""
    if target and target.startswith(PREFIX + "/") and not target.startswith("//"):
        return target
    return PREFIX


@router.get("/sign-in", response_class=HTMLResponse)
async def sign_in_page(request: Request, next: str | None = None) -> Response:
    token = secrets.token_urlsafe(32)
    response = render(request, "sign_in.html", None, form_token=token, next=_safe_next(next))
    response.set_cookie(
        SIGNIN_COOKIE,
        token,
        httponly=True,
        samesite="strict",
        secure=_secure(request),
        path=PREFIX,
    )
    return response


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
        response.set_cookie(
            SIGNIN_COOKIE,
            fresh,
            httponly=True,
            samesite="strict",
            secure=_secure(request),
            path=PREFIX,
        )
        return response
    response = redirect(target)
    response.set_cookie(
        COOKIE, token, httponly=True, samesite="strict", secure=_secure(request), path=PREFIX
    )
    response.delete_cookie(SIGNIN_COOKIE, path=PREFIX)
    return response


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


def install(app: FastAPI) -> None:
    """Mount the console on ``app``: its routes, its pages and its static files."""
    from facegate.web.pages import PAGE_ROUTERS

    app.include_router(router)
    for page_router in PAGE_ROUTERS:
        app.include_router(page_router)
    app.mount(
        f"{PREFIX}/static",
        StaticFiles(directory=str(resources.files("facegate.web") / "static")),
        name="console-static",
    )
