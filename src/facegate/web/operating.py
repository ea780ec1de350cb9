"""What the operator's pages share: the section navigation, acting through Administration,
reading their forms.

Every read and every action of an operator's page is an
:class:`~facegate.actions.administration.Administration` call made as the signed-in operator
(``console:<username>``, access key ``console``), after the decision point allowed
``Administer`` for that person (:func:`administer`, the guard of the admin REST API): a
denial is recorded, and each action or read leaves its ``Admin.*`` record exactly as the same
call through ``/v1/admin`` does.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, TypeVar
from urllib.parse import urlencode

from fastapi import Depends, Request
from fastapi.responses import HTMLResponse

from facegate.actions.administration import Administration, authorized
from facegate.errors import InvalidParameterException
from facegate.web.console import PREFIX, Who, render, request_id, requires, services_of

BASE = f"{PREFIX}/operator"
Operator = Annotated[Who, Depends(requires("operator"))]
SECTIONS = (  # the operator's sub-navigation
    ("Overview", ""),
    ("Organizations", "/organizations"),
    ("Use cases", "/use-cases"),
    ("Exemptions", "/exemptions"),
    ("Keys", "/keys"),
    ("Policies", "/policies"),
    ("Health", "/health"),
)
DONE = {  # the notice after an action, by the ``done`` query parameter (never echoed text)
    "created": "The organization was created.",
    "sector": "The sector was changed; it binds from the next request on.",
    "member": "The member was added.",
    "approve": "The use case was approved: its keys may now do what it lists.",
    "reject": "The use case was rejected.",
    "revoke": "The use case was revoked: its keys lost every gated operation at once.",
    "granted": "The exemption was granted.",
    "revoked": "Revoked: from the next request on.",
}

T = TypeVar("T")


def page(request: Request, template: str, who: Who, **context: Any) -> HTMLResponse:
    """An operator's page (``templates/operator/<template>``) with the sections and the
    notice of the action just done."""
    done = DONE.get(request.query_params.get("done", ""))
    return render(
        request, f"operator/{template}", who, sections=SECTIONS, base=BASE, done=done, **context
    )


async def administer(request: Request, who: Who, work: Callable[[Administration], T]) -> T:
    """``work`` with the signed-in operator's Administration, once the decision point has
    allowed ``Administer`` for them (a denial is recorded and answered as a page)."""
    services, rid, path = services_of(request), request_id(request), request.url.path

    def run() -> T:
        actor = f"console:{who.person.username}"
        return work(authorized(services, who.principal, actor, resource=path, request_id=rid))

    return await asyncio.to_thread(run)


def text(form: dict[str, Any], name: str, limit: int = 2000) -> str:
    """A form field's text, stripped and at most ``limit`` characters ('' when absent)."""
    value = form.get(name, "")
    return value.strip()[:limit] if isinstance(value, str) else ""


def number(value: str, what: str) -> int | None:
    """A whole number (None when not given)."""
    if not value:
        return None
    try:
        return int(value)
    except ValueError:
        raise InvalidParameterException(f"{what} must be a whole number.") from None


def within(value: str, what: str, high: float) -> float | None:
    """A number from 0 to ``high`` (None when not given), as the REST body checks it."""
    if not value:
        return None
    try:
        found = float(value)
    except ValueError:
        found = -1.0
    if not 0 <= found <= high:
        raise InvalidParameterException(f"{what} must be a number from 0 to {high:g}.")
    return found


def listed(form: dict[str, Any], name: str) -> list[str]:
    """A field sent several times (checkboxes), as a list."""
    value = form.get(name, [])
    return [value] if isinstance(value, str) else list(value)


def query(**params: str) -> str:
    """A query string of the parameters given (empty ones left out)."""
    return urlencode({k: v for k, v in params.items() if v})
