"""Account-level REST routes under the policies (audit, self-service use cases)."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Any

from fastapi import Request

from facegate.actions import acting as guard
from facegate.api.rest.bodies import services_of
from facegate.audit.log import Recorder
from facegate.policy.point import FootageFacts, Resource
from facegate.policy.registry import Principal


def guarded(
    request: Request,
    caller: Principal,
    operation: str,
    work: Callable[[Recorder], Any],
    resource: str = "account",
    footage: FootageFacts | None = None,
) -> Any:
    """:func:`facegate.actions.acting.guarded` on the caller's own account. From a thread."""
    return guard.guarded(
        services_of(request),
        caller,
        operation,
        Resource("Account", resource, caller.organization_id, caller.organization),
        work,
        request_id=request.state.request_id,
        resource=resource,
        footage=footage,
    )


async def read(
    request: Request, caller: Principal, operation: str, resource: str, fetch: Callable[[], Any]
) -> Any:
    """A guarded read on the caller's own account: ``fetch()`` changes nothing, so the
    request's record is written on the way out. From the event loop."""
    return await asyncio.to_thread(
        guarded, request, caller, operation, lambda _record: fetch(), resource
    )
