"""Refusals before the decision point, on the record: every door's one way to write them.

A request refused before any policy was asked (authentication, an unknown operation,
unreadable or invalid parameters, a form or address FastAPI's own validation refuses) leaves
one ``deny`` record like every other request (:func:`record_refusal`). The REST and the
console route classes also see to it that a refusal nothing else recorded is recorded once
(:func:`record_unrecorded`, with :func:`facegate.audit.log.records_written`).
"""

from __future__ import annotations

import asyncio
from typing import Protocol

from starlette.requests import Request

from facegate.audit.log import AuditLog, Entry, entry_for
from facegate.errors import FacegateError
from facegate.policy.registry import Principal


class Recording(Protocol):
    """The services, as far as a refusal's record needs them."""

    @property
    def audit(self) -> AuditLog: ...


def record_refusal(
    services: Recording,
    principal: Principal | None,
    operation: str,
    error: FacegateError,
    request_id: str,
    claimed_key: str = "",
) -> None:
    """Record a request refused before the decision point: authentication, unknown operation,
    unreadable or invalid parameters (who asked is recorded when known)."""
    if principal is not None:
        entry = entry_for(principal, operation or "Unknown", request_id=request_id)
    else:
        entry = Entry(
            operation=operation or "Unknown",
            decision="deny",
            access_key_id=claimed_key[:32],
            request_id=request_id,
        )
    entry.decision = "deny"
    entry.error_type, entry.reasons = error.type_name, error.message
    services.audit.append(entry)


def operation_of(request: Request) -> str:
    """What a request's record names as its operation: the route's operation id or path."""
    route = request.scope.get("route")
    return str(getattr(route, "operation_id", None) or getattr(route, "path", "REST"))


async def record_unrecorded(
    request: Request, caller: Principal | None, error: FacegateError, written: list[int]
) -> None:
    """Record a refusal of ``request`` unless something already recorded it (``written``:
    :func:`facegate.audit.log.records_written`): FastAPI's own validation of the path, query
    or body, a body that cannot be read. Used by the REST and the console route classes."""
    if written:
        return
    await asyncio.to_thread(
        record_refusal,
        request.app.state.services,
        caller,
        operation_of(request),
        error,
        request.state.request_id,
    )
