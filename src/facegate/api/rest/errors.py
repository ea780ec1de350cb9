"""The REST door's error answers: statuses, the error document, the route class."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Callable, Coroutine
from typing import Any

from fastapi import Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from starlette.requests import ClientDisconnect

from facegate.actions.refusals import record_unrecorded
from facegate.audit.log import records_written
from facegate.auth.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from facegate.errors import (
    AccessDeniedException,
    ConflictException,
    FacegateError,
    IdempotentParameterMismatchException,
    ImageTooLargeException,
    InternalServerError,
    InvalidImageFormatException,
    InvalidPaginationTokenException,
    InvalidParameterException,
    LimitExceededException,
    ProvisionedThroughputExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ThrottlingException,
    UnknownOperationException,
)

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-Api-Key"
REQUEST_ID_HEADER = "x-request-id"
MAX_FORM_PARTS = 64

# The HTTP status each error type answers with on this door (the AWS JSON door keeps AWS's).
REST_STATUS: dict[type[FacegateError], int] = {
    ResourceNotFoundException: 404,
    ResourceAlreadyExistsException: 409,
    ConflictException: 409,
    AccessDeniedException: 403,
    MissingAuthenticationTokenException: 401,
    IncompleteSignatureException: 401,
    UnrecognizedClientException: 401,
    InvalidSignatureException: 401,
    InvalidParameterException: 400,
    InvalidPaginationTokenException: 400,
    IdempotentParameterMismatchException: 400,
    InvalidImageFormatException: 400,
    UnknownOperationException: 400,
    ImageTooLargeException: 413,
    ProvisionedThroughputExceededException: 429,
    ThrottlingException: 429,
    ServiceQuotaExceededException: 400,
    LimitExceededException: 400,
    InternalServerError: 500,
}
AUTH_ERRORS = (
    MissingAuthenticationTokenException,
    IncompleteSignatureException,
    UnrecognizedClientException,
    InvalidSignatureException,
)


class UnsupportedContentType(InvalidParameterException):
    """A body in a content type the route does not read: an InvalidParameterException, 415."""

    status = 415

    @property
    def type_name(self) -> str:
        """Reported as InvalidParameterException, the AWS type clients already handle."""
        return InvalidParameterException.__name__


def rest_status(error: FacegateError) -> int:
    """The HTTP status for ``error`` on the REST door."""
    return REST_STATUS.get(type(error), error.status)


def error_response(error: FacegateError, request_id: str) -> JSONResponse:
    """The REST error document for ``error``."""
    headers = dict(error.headers)
    if isinstance(error, AUTH_ERRORS):
        headers["WWW-Authenticate"] = f'ApiKey header="{API_KEY_HEADER}"'
    detail: dict[str, Any] = {"type": error.type_name, "message": error.message}
    if error.rules:
        detail["rules"] = list(error.rules)
    return JSONResponse(
        {"error": detail, "requestId": request_id},
        status_code=rest_status(error),
        headers=headers,
    )


def invalid_request(error: RequestValidationError) -> InvalidParameterException:
    """FastAPI's own validation failure (path or query), worded like ``validate``'s errors."""
    problems = list(error.errors())
    if not problems:
        return InvalidParameterException("The request is not valid.")
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return InvalidParameterException(
        f"{len(problems)} validation error(s) detected: Value at '{where}' failed to satisfy "
        f"constraint: {first.get('msg', 'invalid value')}"
    )


INTERNAL = InternalServerError("facegate failed to answer; the error is in its log.")


async def _refused(
    request: Request, error: FacegateError, request_id: str, written: list[int]
) -> Response:
    """The error's answer, once the request is on the record: a refusal that nothing recorded
    (none of the front door's paths reached the log) is recorded here."""
    try:  # authentication runs first, so the caller is known when there is one
        await record_unrecorded(request, getattr(request.state, "caller", None), error, written)
    except Exception:  # no answer goes out without its record
        logger.exception("request %s: its refusal could not be recorded", request_id)
        return error_response(INTERNAL, request_id)
    return error_response(error, request_id)


class RestRoute(APIRoute):
    """A route that answers every error in the REST error shape and tags each response, and
    sees that every refused request is on the record (``audit.log.records_written``).

    Scoping this to the ``/v1`` router keeps FastAPI's 422 handling and the JSON error shape
    away from the AWS JSON door, which answers its own errors.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler wrapped with the request id and the error translation."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            request_id = str(uuid.uuid4())
            request.state.request_id = request_id
            with records_written() as written:
                try:
                    response = await handler(request)
                except FacegateError as error:
                    response = await _refused(request, error, request_id, written)
                except RequestValidationError as error:
                    response = await _refused(request, invalid_request(error), request_id, written)
                except ClientDisconnect:
                    disconnected = InvalidParameterException(
                        "The client disconnected during the request."
                    )
                    response = await _refused(request, disconnected, request_id, written)
                except Exception:
                    logger.exception("request %s failed", request_id)
                    response = error_response(INTERNAL, request_id)
            response.headers[REQUEST_ID_HEADER] = request_id
            return response

        return answer
