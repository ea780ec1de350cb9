"""Self-service: an organization's admins register its use cases (``/v1/use-cases``).

A registration is pending until the operator approves it (``facegate usecase approve`` or
``/v1/admin/use-cases/{id}/decision``); the ORG-ADMIN policy lets only keys held by the
organization's admins register or list. Every request is recorded.
"""

from __future__ import annotations

import asyncio
from typing import Any

from fastapi import APIRouter, Request

from facegate.actions.administration import parse_instant
from facegate.api.rest.admin import NewUseCase
from facegate.api.rest.bodies import services_of
from facegate.api.rest.caller import CallerDep
from facegate.api.rest.errors import RestRoute
from facegate.api.rest.guard import guarded, read
from facegate.api.rest.openapi import ERROR_RESPONSES
from facegate.audit.log import Recorder
from facegate.errors import InvalidParameterException

router = APIRouter(prefix="/v1/use-cases", route_class=RestRoute, responses=ERROR_RESPONSES)


class Registration(NewUseCase):
    organization: str = ""  # always the caller's own; a different name is refused


@router.post(
    "",
    status_code=201,
    tags=["use cases"],
    summary="Register a use case (organization admins)",
    description="Registers a use case of your own organization; it is pending until the "
    "operator approves it. Same body as the admin API (`organization` may be left out).",
)
async def register(request: Request, caller: CallerDep, body: Registration) -> dict[str, Any]:
    if body.organization and body.organization != caller.organization:
        raise InvalidParameterException("You can register use cases of your own organization.")
    services = services_of(request)
    fields = body.model_dump(exclude={"organization", "expires"})
    fields["expires"] = parse_instant(body.expires, "expires")
    by = caller.member or f"key:{caller.access_key_id}"

    def work(record: Recorder) -> dict[str, Any]:
        return services.registry.register_use_case(
            caller.organization, registered_by=by, record=record, **fields
        )

    return await asyncio.to_thread(guarded, request, caller, "RegisterUseCase", work, "use-cases")


@router.get("", tags=["use cases"], summary="Your organization's use cases")
async def listing(request: Request, caller: CallerDep) -> dict[str, Any]:
    registry = services_of(request).registry
    return await read(
        request,
        caller,
        "ListUseCases",
        "use-cases",
        lambda: {"use_cases": registry.use_cases(caller.organization)},
    )
