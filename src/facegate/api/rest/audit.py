"""REST routes of the audit log: ``/v1/audit``.

The public key is public (anyone may fetch it to check an export). Records, exports and
verification are for an organization's auditors (their own organization's records) and the
operator (everything), as the AUDIT-ACCESS policy says. Nothing here, or anywhere, changes or
deletes a record.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from facegate.actions.administration import parse_optional_instant
from facegate.api.rest.bodies import services_of
from facegate.api.rest.caller import CallerDep
from facegate.api.rest.errors import RestRoute
from facegate.api.rest.guard import guarded
from facegate.api.rest.openapi import ERROR_RESPONSES
from facegate.audit import paging
from facegate.audit.export import FILENAME, MEDIA_TYPE, download, record_dict, selection
from facegate.audit.log import Recorder
from facegate.audit.tables import AuditRecord
from facegate.audit.verify import verify_database
from facegate.errors import InvalidParameterException
from facegate.policy.registry import Principal

router = APIRouter(prefix="/v1/audit", route_class=RestRoute, responses=ERROR_RESPONSES)
MAX_PAGE = 1000
Instant = Annotated[str | None, Query(description="ISO 8601 date or date-time (UTC).")]


def _guarded(request: Request, caller: Principal, operation: str, work) -> Any:
    """Ask the policies, run ``work()`` and record the read (with how many records it read)."""

    def counted(record: Recorder) -> Any:
        result = work()
        if isinstance(result, dict) and "Records" in result:
            record.entry.result_count = len(result["Records"])
        return result

    return guarded(request, caller, operation, counted, resource="audit")


def _titled(row: AuditRecord) -> dict[str, Any]:
    """A record as the API answers it: the export's fields, named in TitleCase."""
    return {k.title().replace("_", ""): v for k, v in record_dict(row).items()}


@router.get(
    "/public-key",
    tags=["audit"],
    summary="The checkpoint signing key (public)",
    description="The Ed25519 public key (PEM) that signs the audit log's checkpoints, and its "
    "id. No authentication: anyone holding an export can verify it with this key.",
)
async def public_key(request: Request) -> dict[str, str]:
    signer = services_of(request).audit.signer
    assert signer is not None
    return {"KeyId": signer.key_id, "PublicKey": signer.public_pem}


@router.get(
    "/records",
    tags=["audit"],
    summary="Read audit records",
    description="Records in sequence order, a page at a time (`After` = the last `Seq` seen). "
    "Auditors see their organization's records; operators see all and may filter by "
    "`Organization`.",
)
async def records(
    request: Request,
    caller: CallerDep,
    since: Instant = None,
    until: Instant = None,
    operation: Annotated[str | None, Query()] = None,
    decision: Annotated[str | None, Query(description="allow, deny or error")] = None,
    rule: Annotated[str | None, Query(description="a deciding policy or rule id")] = None,
    organization: Annotated[str | None, Query(description="operators only")] = None,
    after: Annotated[int, Query(ge=0)] = 0,
    limit: Annotated[int, Query(ge=1, le=MAX_PAGE)] = 100,
) -> dict[str, Any]:
    services = services_of(request)
    start, end = parse_optional_instant(since, "since"), parse_optional_instant(until, "until")
    if organization and not caller.operator:
        raise InvalidParameterException("Only operators choose the organization.")
    query = selection(
        organization=paging.scope(caller, organization),
        since=start,
        until=end,
        operation=operation,
        decision=decision,
        rule=rule,
    )

    def work() -> dict[str, Any]:
        found = paging.oldest_first(
            services.audit.sessions, query, _titled, after=after, limit=limit
        )
        page: dict[str, Any] = {"Records": found.records}
        if found.newer is not None:
            page["After"] = found.newer
        return page

    return await asyncio.to_thread(_guarded, request, caller, "ReadAudit", work)


@router.get(
    "/export",
    tags=["audit"],
    summary="Export the audit log (JSON Lines)",
    description="Header, records and signed checkpoints, verifiable with "
    "`facegate audit verify --export FILE`. An auditor's export holds only their "
    "organization's records and is marked partial (its chain does not link).",
    response_class=Response,
)
async def export_log(
    request: Request, caller: CallerDep, since: Instant = None, until: Instant = None
) -> Response:
    services = services_of(request)
    start, end = parse_optional_instant(since, "since"), parse_optional_instant(until, "until")

    def work() -> Iterator[str]:
        scope = paging.scope(caller)
        return download(services.audit, since=start, until=end, organization=scope)

    chunks = await asyncio.to_thread(_guarded, request, caller, "ExportAudit", work)
    return StreamingResponse(  # read from the database as it is sent: memory stays flat
        chunks,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{FILENAME}"'},
    )


@router.get(
    "/verify",
    tags=["audit"],
    summary="Verify the audit log now",
    description="Recomputes the chain and the checkpoint signatures; names the first record "
    "that was altered, removed, inserted or reordered.",
)
async def verify(request: Request, caller: CallerDep) -> dict[str, Any]:
    services = services_of(request)

    def work() -> dict[str, Any]:
        assert services.audit.signer is not None
        return verify_database(services.audit.sessions, services.audit.signer.public_pem).to_dict()

    return await asyncio.to_thread(_guarded, request, caller, "VerifyAudit", work)
