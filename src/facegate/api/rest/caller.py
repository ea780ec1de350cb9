"""Who calls the REST door: the key pair in ``X-Api-Key`` checked against the stored secret,
and the caller's principal; a refused authentication is recorded."""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Request, Security
from fastapi.security import APIKeyHeader

from facegate.actions.refusals import operation_of, record_refusal
from facegate.api.rest.bodies import services_of
from facegate.api.rest.errors import API_KEY_HEADER
from facegate.auth.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from facegate.errors import FacegateError
from facegate.policy.registry import Principal

API_KEY = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    description="`<access_key_id>:<secret_access_key>`: a key pair issued by "
    "`facegate key create` (the same pair boto3 signs with on the AWS JSON door).",
    auto_error=False,
)


def authenticate(request: Request, api_key: Annotated[str | None, Security(API_KEY)]) -> Principal:
    """The caller whose key pair is in ``X-Api-Key``, or an authentication error (401).

    A refusal is recorded (with the key id it named, if any).
    """
    try:
        caller = _authenticate(request, api_key)
    except FacegateError as error:
        claimed = (api_key or "").partition(":")[0]
        record_refusal(
            services_of(request),
            None,
            operation_of(request),
            error,
            request.state.request_id,
            claimed,
        )
        raise
    request.state.caller = caller  # a refusal of the parameters that follows names who asked
    return caller


def _authenticate(request: Request, api_key: str | None) -> Principal:
    if not api_key:
        raise MissingAuthenticationTokenException(
            f"Missing {API_KEY_HEADER} header: send {API_KEY_HEADER}: "
            "<access_key_id>:<secret_access_key>."
        )
    key_id, colon, secret = api_key.strip().partition(":")
    if not colon or not key_id or not secret:
        raise IncompleteSignatureException(
            f"The {API_KEY_HEADER} header must be <access_key_id>:<secret_access_key>."
        )
    accounts = services_of(request).accounts
    expected = accounts.secret_for(key_id)
    if expected is None:
        raise UnrecognizedClientException(
            f"The access key id {key_id[:40]!r} is unknown or has been revoked."
        )
    if not hmac.compare_digest(secret.encode(), expected.encode()):
        raise InvalidSignatureException(
            f"The secret access key in {API_KEY_HEADER} does not match the access key id "
            f"{key_id[:40]!r}."
        )
    return services_of(request).registry.principal(key_id)


CallerDep = Annotated[Principal, Depends(authenticate)]
