"""The AWS JSON 1.1 front door: ``POST /`` with ``X-Amz-Target: RekognitionService.<Op>``.

An unmodified boto3 Rekognition client talks to this route when only ``endpoint_url``
changes. Errors are ``{"__type": ..., "message": ...}`` so boto3 raises
``client.exceptions.<Name>``; every response carries ``x-amzn-RequestId``.
"""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid

from fastapi import APIRouter, Request
from fastapi.responses import Response

from facegate.actions.refusals import record_refusal
from facegate.api.governed import execute, inputs_from, refuse_unserved
from facegate.api.operations import OPERATIONS, Context
from facegate.api.validation import operation_model, validate
from facegate.auth.sigv4 import SignedRequest, verify
from facegate.errors import (
    FacegateError,
    ImageTooLargeException,
    InternalServerError,
    InvalidParameterException,
    UnknownOperationException,
)
from facegate.service import Services

CONTENT_TYPE = "application/x-amz-json-1.1"
OPERATION_NAME = re.compile(r"[A-Za-z]{1,64}")  # what may be recorded as an operation
TARGET_PREFIX = "RekognitionService."

router = APIRouter()
log = logging.getLogger("facegate.api")


def aws_response(
    body: dict, request_id: str, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    return Response(
        content=json.dumps(body, separators=(",", ":")),
        status_code=status,
        media_type=CONTENT_TYPE,
        headers={"x-amzn-RequestId": request_id, **(headers or {})},
    )


def aws_error(error: FacegateError, request_id: str) -> Response:
    return aws_response(error.to_dict(), request_id, error.status, error.headers)


async def read_capped(request: Request, limit: int) -> bytes:
    """The request body, refused as soon as it passes ``limit`` bytes (never read whole)."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise ImageTooLargeException(
            f"The request body is {int(declared)} bytes; the limit is {limit} bytes."
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise ImageTooLargeException(f"The request body exceeds the limit of {limit} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


def _claimed_key(authorization: str) -> str:
    """The access key id a SigV4 Authorization header names (for the record), or ""."""
    _, _, rest = authorization.partition("Credential=")
    return rest.split("/", 1)[0].strip()[:32] if rest else ""


@router.post("/", include_in_schema=False)
async def aws_json(request: Request) -> Response:
    request_id = str(uuid.uuid4())
    state = request.app.state
    services: Services = state.services
    caller, name, recorded = None, "", False
    try:
        claimed = request.headers.get("x-amz-target", "").removeprefix(TARGET_PREFIX)
        name = claimed if OPERATION_NAME.fullmatch(claimed) else "Unknown"
        body = await read_capped(request, state.settings.max_body_bytes)
        # Key look-ups touch the database: off the event loop.
        identity = await asyncio.to_thread(
            verify,
            SignedRequest(request.method, str(request.url), request.headers, body),
            services.accounts.secret_for,
        )
        caller = await asyncio.to_thread(services.registry.principal, identity.access_key_id)
        target = request.headers.get("x-amz-target", "")
        if not target.startswith(TARGET_PREFIX):
            raise UnknownOperationException(
                f"X-Amz-Target must be RekognitionService.<Operation>, got {target!r}."
            )
        requested = target[len(TARGET_PREFIX) :]
        model = operation_model(requested)
        handler = OPERATIONS.get(requested)
        if model is not None and handler is None:
            recorded = True  # refuse_unserved records its own denial
            await refuse_unserved(services, name, caller, request_id)
            recorded = False
        if model is None or handler is None:
            raise UnknownOperationException(
                f"facegate does not serve the operation {requested[:64]!r}."
            )
        try:
            raw = json.loads(body or b"{}")
        except (json.JSONDecodeError, UnicodeDecodeError):
            raise InvalidParameterException("The request body is not valid JSON.") from None
        params = validate(model, raw, max_image_bytes=state.settings.decode.max_bytes)
        context = Context(
            settings=state.settings,
            pool=state.pool,
            request_id=request_id,
            caller=caller,
            gallery=services.gallery,
            idempotency=state.idempotency,
            inputs=inputs_from(request.headers),
        )
        recorded = True  # execute records the request, whatever happens in it
        outcome = await execute(services, name, params, context)
        return aws_response(outcome.body, request_id, headers=outcome.headers())
    except FacegateError as error:
        if not recorded:
            claimed = _claimed_key(request.headers.get("authorization", ""))
            await asyncio.to_thread(
                record_refusal, services, caller, name, error, request_id, claimed
            )
        return aws_error(error, request_id)
    except Exception:  # a defect: answer in the protocol's shape, keep the trace in the log
        log.exception("request %s failed", request_id)
        return aws_error(
            InternalServerError(f"The request failed inside facegate (request {request_id})."),
            request_id,
        )
