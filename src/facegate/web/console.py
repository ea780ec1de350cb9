"""What every console page shares: who is signed in, role checks, CSRF, rendering, acting.

Pages are server-rendered (Jinja2, autoescaped) with a hand-written stylesheet and one small
script; nothing is loaded from another origin (the Content-Security-Policy says so). Every
page a signed-in person opens, and every action they take, goes through the same policy
decision point as the API (as the member they are) and leaves an audit record.

Page modules use:

- ``who: Who = Depends(signed_in)`` -- the person and their principal; a request without a
  valid session is sent to the sign-in page (a form post gets 401);
- ``Depends(requires("reviewer"))`` -- a page of one or more roles; anyone else gets 403;
- ``await form_of(request, who)`` -- the posted form, refused (403) without the session's
  CSRF token;
- ``render(request, "reviewer/queue.html", who, ...)`` -- a page in the layout;
- ``act(request, who, "DecideReview", work, resource=...)`` -- decide, run, record.
"""

from __future__ import annotations

import asyncio
import hmac
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from importlib import resources
from typing import Any
from urllib.parse import quote

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from facegate.actions.acting import guarded
from facegate.audit.log import Recorder
from facegate.errors import FacegateError
from facegate.policy.console_users import ConsoleAccounts, SignedIn
from facegate.policy.point import Resource
from facegate.policy.registry import Principal
from facegate.service import Services

COOKIE = "facegate_console"
SIGNIN_COOKIE = "facegate_signin"  # double-submit CSRF token of the sign-in form
PREFIX = "/console"
ROLE_PAGES = {  # the section each role works in, in the order the navigation shows them
    "operator": ("Operator", f"{PREFIX}/operator"),
    "reviewer": ("Reviews", f"{PREFIX}/reviews"),
    "auditor": ("Audit", f"{PREFIX}/audit"),
    "admin": ("Collections", f"{PREFIX}/collections"),
    "analyst": ("Collections", f"{PREFIX}/collections"),
    "owner": ("Cameras", f"{PREFIX}/cameras"),
}

templates = Jinja2Templates(directory=str(resources.files("facegate.web") / "templates"))


@dataclass(frozen=True)
class Who:
    """The signed-in person, and the principal the policies see for them."""

    person: SignedIn
    principal: Principal

    @property
    def roles(self) -> tuple[str, ...]:
        return self.person.role_names

    def has(self, *roles: str) -> bool:
        return any(r in self.roles for r in roles)


class SignInRequired(Exception):
    """No valid session: pages redirect to the sign-in page, posts answer 401."""


class ConsolePageError(Exception):
    """An answer page with a status: 403 (role, CSRF), 404, or a refused action."""

    def __init__(self, status: int, title: str, message: str):
        super().__init__(message)
        self.status, self.title, self.message = status, title, message


def services_of(request: Request) -> Services:
    return request.app.state.services


def accounts_of(request: Request) -> ConsoleAccounts:
    return request.app.state.console_accounts


def request_id(request: Request) -> str:
    rid = getattr(request.state, "request_id", None)
    if rid is None:
        rid = request.state.request_id = str(uuid.uuid4())
    return rid


def signed_in(request: Request) -> Who:
    person = accounts_of(request).session(request.cookies.get(COOKIE))
    if person is None:
        raise SignInRequired
    principal = services_of(request).registry.member_principal(person.member_id)
    return Who(person, principal)


def requires(*roles: str) -> Callable[[Who], Who]:
    """A dependency: the signed-in person, who must hold one of ``roles``."""

    def dependency(who: Who = Depends(signed_in)) -> Who:  # noqa: B008
        if not who.has(*roles):
            raise ConsolePageError(
                403,
                "Not your page",
                f"This page is for the {' or '.join(roles)} role; you are signed in as "
                f"{', '.join(who.roles) or 'no role'}.",
            )
        return who

    return dependency


async def form_of(request: Request, who: Who) -> dict[str, Any]:
    """The posted form, after its CSRF token was checked against the session's."""
    form = await request.form()
    token = form.get("csrf")
    if not isinstance(token, str) or not hmac.compare_digest(token, who.person.csrf):
        raise ConsolePageError(
            403,
            "Form refused",
            "The form was sent without this session's security token (CSRF). Reload the page "
            "and send it again.",
        )
    return {k: v for k, v in form.multi_items() if k != "csrf"} | {
        k: form.getlist(k) for k in form if len(form.getlist(k)) > 1
    }


def render(
    request: Request, template: str, who: Who | None, status: int = 200, **context: Any
) -> HTMLResponse:
    nav: list[tuple[str, str]] = []
    if who is not None:
        for role, (label, href) in ROLE_PAGES.items():
            if who.has(role) and (label, href) not in nav:
                nav.append((label, href))
    return templates.TemplateResponse(
        request,
        template,
        {"who": who, "nav": nav, "csrf": who.person.csrf if who else "", **context},
        status_code=status,
    )


def act(
    request: Request,
    who: Who,
    operation: str,
    work: Callable[[Recorder], Any],
    *,
    resource: str = "account",
    target: Resource | None = None,
) -> Any:
    """Decide ``operation`` for the signed-in person, run ``work``, leave one record (from a
    thread: ``await asyncio.to_thread(act, ...)``)."""
    p = who.principal
    return guarded(
        services_of(request),
        p,
        operation,
        target or Resource("Account", resource, p.organization_id, p.organization),
        work,
        request_id=request_id(request),
        resource=resource,
    )


async def acted(
    request: Request, who: Who, operation: str, work: Callable[[Recorder], Any], **kwargs: Any
) -> Any:
    return await asyncio.to_thread(act, request, who, operation, work, **kwargs)


def redirect(url: str) -> RedirectResponse:
    """After a successful post: show the result page (303, so a reload does not re-post)."""
    return RedirectResponse(url, status_code=303)


def sign_in_url(request: Request) -> str:
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"{PREFIX}/sign-in?next={quote(target)}"


def refused_page(request: Request, who: Who | None, error: FacegateError) -> Response:
    """A refused action (denied by a rule, invalid input, not found) as a page."""
    status = {"AccessDeniedException": 403, "ResourceNotFoundException": 404}.get(
        error.type_name, 400 if error.status < 500 else error.status
    )
    return render(
        request,
        "error.html",
        who,
        status=status,
        title="Refused" if status == 403 else "Not done",
        message=error.message,
        rules=list(error.rules),
    )
