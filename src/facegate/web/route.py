"""The console's route class: every failure of a console request answered as a page.

:class:`ConsoleRoute` turns every failure into a page: no session sends the browser to the
sign-in page (a form post without a session gets 401), a missing role or CSRF token is 403,
a refused action shows facegate's message. A signed-in person's request refused before
anything recorded it (a malformed form or address, a value the database refuses) is recorded
like any refusal. Every console answer carries the security headers (no framing, no other
origins, no caching of pages, no referrer).

Every console router is ``APIRouter(prefix=..., route_class=ConsoleRoute,
include_in_schema=False)``.
"""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import RedirectResponse, Response
from fastapi.routing import APIRoute

from facegate.actions.refusals import record_unrecorded
from facegate.audit.log import records_written
from facegate.errors import FacegateError, InternalServerError, InvalidParameterException
from facegate.web.console import (
    ConsolePageError,
    SignInRequired,
    Who,
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
            response: Response
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
                failed = InternalServerError("The console failed to answer; see the server log.")
                response = refused_page(request, None, failed)
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
