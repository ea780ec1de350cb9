"""The admin REST API under ``/v1/admin``: the operator's governance actions over HTTP.

Guarded by operator keys: every route asks the decision point (``Administer``; the
OPERATOR-ONLY policy denies every other key) and every change is recorded with the acting
key. Bodies and answers use the same snake_case fields as ``facegate ... --json``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Path, Query, Request
from pydantic import BaseModel, Field

from facegate.actions.administration import Administration, authorized, parse_instant
from facegate.api.rest.bodies import services_of
from facegate.api.rest.caller import CallerDep
from facegate.api.rest.errors import RestRoute
from facegate.api.rest.openapi import ERROR_RESPONSES
from facegate.audit.log import entry_for
from facegate.errors import InvalidParameterException
from facegate.gallery.tables import SECTORS
from facegate.policy.point import Inputs
from facegate.policy.registry import Principal
from facegate.policy.tables import EXEMPT_PURPOSES, ROLES

router = APIRouter(prefix="/v1/admin", route_class=RestRoute, responses=ERROR_RESPONSES)
Sector = Literal[SECTORS]  # type: ignore[valid-type]  # a tuple, spread at run time
Role = Literal[ROLES]  # type: ignore[valid-type]
Organization = Annotated[str, Path(description="The organization's name.")]


def _authorized(request: Request, caller: Principal) -> Administration:
    """The caller's Administration, if the policies let it administer (else a denial)."""
    return authorized(
        services_of(request),
        caller,
        f"key:{caller.access_key_id}",
        resource=request.url.path,
        request_id=request.state.request_id,
    )


async def _run(request: Request, caller: Principal, act: Callable[[Administration], Any]) -> Any:
    def work() -> Any:
        return act(_authorized(request, caller))

    return await asyncio.to_thread(work)


class NewOrganization(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    sector: Sector


class NewMember(BaseModel):
    name: str = Field(min_length=1, max_length=128)
    roles: list[Role] = Field(min_length=1)


class NewUseCase(BaseModel):
    organization: str
    purpose: str
    description: str = Field(min_length=1, max_length=2000)
    legal_basis: str = Field(min_length=1, max_length=2000)
    operations: list[str] = Field(min_length=1)
    expires: str = Field(description="ISO 8601 date or date-time.")
    human_review: bool = False
    review_quorum: Literal[1, 2] = 1
    searches_per_hour: int | None = Field(default=None, ge=0)
    searches_per_day: int | None = Field(default=None, ge=0)
    max_faces: int | None = Field(default=None, ge=0)
    video_hours_per_day: float | None = Field(default=None, ge=0)
    realtime: bool = False
    retention_years: float = Field(
        default=3.0, gt=0, le=100, description="faces are deleted this long after last use"
    )


class UseCaseDecision(BaseModel):
    decision: Literal["approve", "reject", "revoke"]
    reason: str = Field(min_length=1, max_length=2000)


class NewExemption(BaseModel):
    organization: str
    purpose: Literal[EXEMPT_PURPOSES]  # type: ignore[valid-type]
    reason: str = Field(min_length=1, max_length=2000)
    expires: str


class Revocation(BaseModel):
    reason: str = Field(min_length=1, max_length=2000)


class NewKey(BaseModel):
    organization: str
    use_case_id: int | None = None
    member: str | None = None
    description: str = Field(default="", max_length=256)


class Described(BaseModel):
    """A principal described instead of a real key's (for ``explain``)."""

    sector: Sector = "commercial"
    purpose: str = ""
    use_case_status: str = "approved"
    operations: list[str] = Field(default_factory=list)
    exemptions: list[str] = Field(default_factory=list)
    roles: list[str] = Field(default_factory=lambda: ["analyst"])
    human_review: bool = False
    caps: dict[str, int] = Field(default_factory=dict)


class Explain(BaseModel):
    operation: str
    access_key_id: str | None = None
    principal: Described | None = None
    case: str = ""
    warrant: str = ""
    basis: str = ""
    provenance: str = ""
    threshold: float | None = Field(default=None, ge=0, le=100)
    max_results: int = Field(default=0, ge=0)
    attributes: list[str] = Field(default_factory=list)
    video_seconds: int = Field(default=0, ge=0)
    at: str | None = None


@router.post("/organizations", status_code=201, tags=["admin"], summary="Create an organization")
async def create_organization(request: Request, caller: CallerDep, body: NewOrganization):
    return await _run(request, caller, lambda a: a.create_organization(body.name, body.sector))


class SectorChange(BaseModel):
    sector: Sector


@router.patch(
    "/organizations/{organization}", tags=["admin"], summary="Change an organization's sector"
)
async def set_sector(
    request: Request, caller: CallerDep, organization: Organization, body: SectorChange
):
    return await _run(request, caller, lambda a: a.set_sector(organization, body.sector))


@router.get("/organizations", tags=["admin"], summary="List organizations")
async def organizations(request: Request, caller: CallerDep):
    return {"organizations": await _run(request, caller, lambda a: a.organizations())}


@router.post(
    "/organizations/{organization}/members",
    status_code=201,
    tags=["admin"],
    summary="Add a person with roles",
)
async def add_member(
    request: Request, caller: CallerDep, organization: Organization, body: NewMember
):
    return await _run(
        request, caller, lambda a: a.add_member(organization, body.name, list(body.roles))
    )


@router.get("/organizations/{organization}/members", tags=["admin"], summary="List people")
async def members(request: Request, caller: CallerDep, organization: Organization):
    return {"members": await _run(request, caller, lambda a: a.members(organization))}


@router.post("/use-cases", status_code=201, tags=["admin"], summary="Register a use case")
async def register_use_case(request: Request, caller: CallerDep, body: NewUseCase):
    fields = body.model_dump(exclude={"organization", "expires"})
    fields["expires"] = parse_instant(body.expires, "expires")
    return await _run(request, caller, lambda a: a.register_use_case(body.organization, **fields))


@router.get("/use-cases", tags=["admin"], summary="List use-case registrations")
async def use_cases(
    request: Request,
    caller: CallerDep,
    organization: Annotated[str | None, Query(description="Only this organization's.")] = None,
):
    return {"use_cases": await _run(request, caller, lambda a: a.use_cases(organization))}


@router.post(
    "/use-cases/{use_case_id}/decision",
    tags=["admin"],
    summary="Approve, reject or revoke a use case",
)
async def decide_use_case(
    request: Request, caller: CallerDep, use_case_id: int, body: UseCaseDecision
):
    return await _run(
        request, caller, lambda a: a.decide_use_case(use_case_id, body.decision, body.reason)
    )


@router.post("/exemptions", status_code=201, tags=["admin"], summary="Grant an exemption")
async def grant_exemption(request: Request, caller: CallerDep, body: NewExemption):
    expires = parse_instant(body.expires, "expires")
    return await _run(
        request,
        caller,
        lambda a: a.grant_exemption(body.organization, body.purpose, body.reason, expires),
    )


@router.get("/exemptions", tags=["admin"], summary="List exemptions")
async def exemptions(
    request: Request, caller: CallerDep, organization: Annotated[str | None, Query()] = None
):
    return {"exemptions": await _run(request, caller, lambda a: a.exemptions(organization))}


@router.post("/exemptions/{exemption_id}/revoke", tags=["admin"], summary="Revoke an exemption")
async def revoke_exemption(
    request: Request, caller: CallerDep, exemption_id: int, body: Revocation
):
    return await _run(request, caller, lambda a: a.revoke_exemption(exemption_id, body.reason))


@router.post(
    "/keys",
    status_code=201,
    tags=["admin"],
    summary="Issue a key",
    description="A key for one approved use case (and optionally a member, whose roles it "
    "carries). The secret is in this answer only; facegate stores it encrypted.",
)
async def issue_key(request: Request, caller: CallerDep, body: NewKey):
    return await _run(
        request,
        caller,
        lambda a: a.issue_key(
            body.organization,
            use_case_id=body.use_case_id,
            member=body.member,
            description=body.description,
        ),
    )


@router.get("/keys", tags=["admin"], summary="List keys (never their secrets)")
async def keys(
    request: Request, caller: CallerDep, organization: Annotated[str | None, Query()] = None
):
    return {"keys": await _run(request, caller, lambda a: a.keys(organization))}


@router.delete("/keys/{access_key_id}", tags=["admin"], summary="Revoke a key")
async def revoke_key(request: Request, caller: CallerDep, access_key_id: str):
    return await _run(request, caller, lambda a: a.revoke_key(access_key_id))


@router.get("/policies", tags=["admin"], summary="The policy set in force")
async def policies(request: Request, caller: CallerDep):
    return await _run(request, caller, lambda a: a.policies())


@router.post(
    "/policies/explain",
    tags=["admin"],
    summary="Explain a decision without running it",
    description="Which policies allow or deny `operation` for a real key (`access_key_id`) "
    "or a described principal, with the given case, warrant, threshold and so on.",
)
async def explain(request: Request, caller: CallerDep, body: Explain):
    services = services_of(request)
    await _run(request, caller, lambda a: None)  # only operators may look keys up
    if body.access_key_id:
        principal = await asyncio.to_thread(services.registry.principal, body.access_key_id)
    elif body.principal is not None:
        d = body.principal
        principal = Principal.described(
            sector=d.sector,
            purpose=d.purpose,
            use_case_status=d.use_case_status,
            operations=d.operations,
            exemptions=d.exemptions,
            roles=d.roles,
            human_review=d.human_review,
            caps=d.caps,
        )
    else:
        raise InvalidParameterException("Name an access_key_id or describe a principal.")
    at = parse_instant(body.at, "at") if body.at else None
    return await _run(
        request,
        caller,
        lambda a: a.explain(
            principal,
            body.operation,
            inputs=Inputs(body.case, body.warrant, body.basis, body.provenance),
            threshold=body.threshold,
            max_results=body.max_results,
            attributes=tuple(body.attributes),
            video_seconds=body.video_seconds,
            at=at,
        ),
    )


class Erasure(BaseModel):
    organization: str
    subject: str = Field(
        min_length=1, max_length=255, description="The ExternalImageId or UserId to erase."
    )


@router.post(
    "/erasures",
    tags=["admin"],
    summary="Erase a subject (ERASURE)",
    description="Deletes every face of the subject (faces with that ExternalImageId, and the "
    "user with that UserId and its faces) in all the organization's collections: SQL rows, "
    "review crops and index vectors. Answers the receipt; its sha256 is in the audit log.",
)
async def erase_subject(request: Request, caller: CallerDep, body: Erasure):
    from facegate.actions.maintenance import erase

    services = services_of(request)

    def work(admin: Administration) -> dict:
        entry = entry_for(caller, "Admin.Erase", request_id=request.state.request_id)
        entry.decision = "allow"
        entry.policy_version = services.point.version
        return erase(
            services,
            body.organization,
            body.subject,
            requested_by=f"key:{caller.access_key_id}",
            entry=entry,
        )

    return await _run(request, caller, work)


@router.post(
    "/retention/run",
    tags=["admin"],
    summary="Purge faces past their deadline (RETENTION)",
    description="What the server also does on its timer: deletes every face whose deletion "
    "deadline has passed, everywhere, with one receipt per organization.",
)
async def run_retention(request: Request, caller: CallerDep):
    from facegate.actions.maintenance import purge_retention

    services = services_of(request)

    def work(admin: Administration) -> dict:
        receipts = purge_retention(services, requested_by=f"key:{caller.access_key_id}")
        return {
            "receipts": receipts,
            "faces_deleted": sum(r["faces_deleted"] for r in receipts),
        }

    return await _run(request, caller, work)
