"""The auditor's pages: the audit log, a record, verifying the chain, exports.

For members with the ``auditor`` role (their own organization's records) and the operator
(every record), exactly as ``/v1/audit``: every page asks the decision point as the signed-in
member (AUDIT-ACCESS) and leaves one audit record. Whose records and the pages are
:mod:`facegate.audit.paging`'s, as for the REST door; the reports and the demographic audit
are in :mod:`.auditor_reports`.

- ``GET /console/audit``: the log, newest first, 50 a page, filtered by time, organization
  (operators), operation, decision and rule (ReadAudit);
- ``GET /console/audit/records/{seq}``: one record, every field and its hashes (ReadAudit);
- ``GET|POST /console/audit/verify``: verify the chain now; names the first record that was
  altered, removed, inserted or reordered (VerifyAudit);
- ``GET /console/audit/export``: the JSON Lines export of a period (ExportAudit).
"""

from __future__ import annotations

import contextlib
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from facegate.actions.administration import parse_optional_instant
from facegate.audit import paging
from facegate.audit.export import FILENAME, MEDIA_TYPE, download, record_dict, selection
from facegate.audit.log import Recorder
from facegate.audit.tables import AuditRecord
from facegate.audit.verify import verify_database
from facegate.errors import InvalidParameterException, ResourceNotFoundException
from facegate.policy.point import RULE_ORDER
from facegate.reports.period import operation_classes
from facegate.web.console import PREFIX, Who, acted, form_of, render, requires, services_of
from facegate.web.format import when_seconds
from facegate.web.route import ConsoleRoute

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
Auditor = Annotated[Who, Depends(requires("auditor", "operator"))]
PAGE = 50
DECISIONS = ("allow", "deny", "error")
JSON_FIELDS = ("roles", "policies", "face_ids", "detail")


def _shown(row: AuditRecord) -> dict[str, Any]:
    """A record for a page: the export's fields, the JSON texts read, the time in words."""
    out = record_dict(row)
    for name in JSON_FIELDS:
        with contextlib.suppress(TypeError, ValueError):  # else shown as stored
            out[name] = json.loads(out[name]) if out[name] else None
    out["when"] = when_seconds(row.at)
    return out


# --- the log ---------------------------------------------------------------------------------


@router.get("/audit", response_class=HTMLResponse)
async def audit_log(
    request: Request,
    who: Auditor,
    since: str | None = None,
    until: str | None = None,
    organization: str | None = None,
    operation: str | None = None,
    decision: str | None = None,
    rule: str | None = None,
    before: Annotated[int | None, Query(ge=1)] = None,
    after: Annotated[int | None, Query(ge=0)] = None,
) -> Response:
    services = services_of(request)
    start, end = parse_optional_instant(since, "From"), parse_optional_instant(until, "Until")
    if decision and decision not in DECISIONS:
        raise InvalidParameterException("The decision is allow, deny or error.")
    filters = {
        "since": since or "",
        "until": until or "",
        "organization": organization or "",
        "operation": operation or "",
        "decision": decision or "",
        "rule": rule or "",
    }
    query = selection(
        organization=paging.scope(who.principal, organization),
        since=start,
        until=end,
        operation=operation,
        decision=decision,
        rule=rule,
    )

    def work(record: Recorder) -> dict[str, Any]:
        found = paging.newest_first(
            services.audit.sessions, query, _shown, before=before, after=after, size=PAGE
        )
        record.entry.result_count = len(found.records)
        return {"records": found.records, "older": found.older, "newer": found.newer}

    page = await acted(request, who, "ReadAudit", work, resource="audit")
    known = sorted(operation_classes(services))
    return render(
        request,
        "auditor/log.html",
        who,
        title="Audit log",
        filters=filters,
        links={k: v for k, v in filters.items() if v},
        decisions=DECISIONS,
        operations=known,
        rules=RULE_ORDER,
        page_size=PAGE,
        **page,
    )


@router.get("/audit/records/{seq}", response_class=HTMLResponse)
async def audit_record(
    request: Request, who: Auditor, seq: Annotated[int, PathParam(ge=1)]
) -> Response:
    services = services_of(request)

    def work(record: Recorder) -> dict[str, Any]:
        query = selection(organization=paging.scope(who.principal))
        shown = paging.record_at(services.audit.sessions, query, seq, _shown)
        if shown is None:  # another organization's record is "not found", as missing ones
            raise ResourceNotFoundException(f"No audit record {seq} for you to read.")
        record.entry.result_count = 1
        return shown

    shown = await acted(request, who, "ReadAudit", work, resource=f"audit/{seq}")
    return render(request, "auditor/record.html", who, title=f"Record {seq}", r=shown)


# --- verifying and exporting -----------------------------------------------------------------


@router.get("/audit/verify", response_class=HTMLResponse)
async def verify_page(request: Request, who: Auditor) -> Response:
    return render(request, "auditor/verify.html", who, title="Verify the audit log", result=None)


@router.post("/audit/verify", response_class=HTMLResponse)
async def verify_now(request: Request, who: Auditor) -> Response:
    """Verify the whole chain now (nothing changes: the result is shown, not redirected)."""
    await form_of(request, who)
    services = services_of(request)

    def work(record: Recorder) -> dict[str, Any]:
        assert services.audit.signer is not None
        found = verify_database(services.audit.sessions, services.audit.signer.public_pem)
        record.entry.detail = {"ok": found.ok, "records": found.records}
        return found.to_dict()

    result = await acted(request, who, "VerifyAudit", work, resource="audit")
    return render(
        request,
        "auditor/verify.html",
        who,
        title="Verify the audit log",
        result=result,
        checked=when_seconds(datetime.now(UTC)),
    )


@router.get("/audit/export")
async def export_log(
    request: Request, who: Auditor, since: str | None = None, until: str | None = None
) -> Response:
    services = services_of(request)
    start, end = parse_optional_instant(since, "From"), parse_optional_instant(until, "Until")

    def work(record: Recorder) -> Iterator[str]:
        scope = paging.scope(who.principal)
        return download(services.audit, since=start, until=end, organization=scope)

    chunks = await acted(request, who, "ExportAudit", work, resource="audit")
    return StreamingResponse(  # read from the database as it is sent: memory stays flat
        chunks,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{FILENAME}"'},
    )
