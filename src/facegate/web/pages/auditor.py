"""The auditor's pages: the audit log, a record, verifying the chain, exports, reports and the
latest demographic audit.

For members with the ``auditor`` role (their own organization's records) and the operator
(every record), exactly as ``/v1/audit``: every page asks the decision point as the signed-in
member (AUDIT-ACCESS) and leaves one audit record.

- ``GET /console/audit``: the log, newest first, 50 a page, filtered by time, organization
  (operators), operation, decision and rule (ReadAudit);
- ``GET /console/audit/records/{seq}``: one record, every field and its hashes (ReadAudit);
- ``GET|POST /console/audit/verify``: verify the chain now; names the first record that was
  altered, removed, inserted or reordered (VerifyAudit);
- ``GET /console/audit/export``: the JSON Lines export of a period (ExportAudit);
- ``GET /console/audit/reports``, ``POST .../reports/transparency|accountability``,
  ``GET .../reports/{id}`` and ``.../reports/{id}/{file}``: make, read and download the
  transparency and accountability reports (MakeReport, ViewReports; an auditor sees only the
  accountability reports of their own organization's use cases);
- ``GET /console/audit/fairness``: the latest recorded demographic audit, with its DET curves
  and score distributions (ViewReports).

Reports are written under ``<data dir>/reports/<id>/`` by :mod:`facegate.reports`
(the same files as ``facegate report``), with a small ``.console.json`` saying who made it and
whose it is.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import re
import secrets
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, Response, StreamingResponse

from facegate.audit.export import FILENAME, MEDIA_TYPE, download, record_dict, selection
from facegate.audit.log import Recorder
from facegate.audit.tables import AuditRecord
from facegate.audit.verify import verify_database
from facegate.errors import InvalidParameterException, ResourceNotFoundException
from facegate.fairness.html import det_chart, score_histograms
from facegate.policy.administration import parse_instant
from facegate.policy.point import RULE_ORDER
from facegate.reports.accountability import accountability
from facegate.reports.demographic import demographic_audit
from facegate.reports.period import operation_classes
from facegate.reports.transparency import transparency
from facegate.web.console import (
    PREFIX,
    Who,
    acted,
    form_of,
    redirect,
    render,
    requires,
    services_of,
)
from facegate.web.console import (
    when as console_when,
)
from facegate.web.routes import ConsoleRoute

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
Auditor = Annotated[Who, Depends(requires("auditor", "operator"))]
HOME = f"{PREFIX}/audit"
PAGE = 50
DECISIONS = ("allow", "deny", "error")
JSON_FIELDS = ("roles", "policies", "face_ids", "detail")
REPORT_ID = re.compile(r"(transparency|accountability)-\d{8}T\d{6}Z-[0-9a-f]{8}")
REPORT_FILE = re.compile(r"[a-z_]{1,64}\.(html|json|csv)")
META = ".console.json"  # beside the report's files: who made it, and whose it is
FILE_TYPES = {"html": "text/html", "json": "application/json", "csv": "text/csv"}
STYLE = re.compile(r"<style>(.*?)</style>", re.S)


def when(moment: datetime | str | None) -> str:
    return console_when(moment, seconds=True)


def _instant(value: str | None, name: str) -> datetime | None:
    return parse_instant(value, name) if value else None


def _scope(who: Who, organization: str | None = None) -> str | None:
    """Whose records: an auditor's own organization; the operator's choice (None: all)."""
    if who.principal.operator:
        return organization or None
    return who.principal.organization


def _shown(row: AuditRecord) -> dict[str, Any]:
    """A record for a page: the export's fields, the JSON texts read, the time in words."""
    out = record_dict(row)
    for name in JSON_FIELDS:
        with contextlib.suppress(TypeError, ValueError):  # else shown as stored
            out[name] = json.loads(out[name]) if out[name] else None
    out["when"] = when(row.at)
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
    start, end = _instant(since, "From"), _instant(until, "Until")
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
        organization=_scope(who, organization),
        since=start,
        until=end,
        operation=operation,
        decision=decision,
        rule=rule,
    )

    def work(record: Recorder) -> dict[str, Any]:
        with services.audit.sessions() as s:
            if after is not None:  # the page of newer records: read upwards, shown newest first
                rows = s.scalars(
                    query.where(AuditRecord.seq > after).order_by(AuditRecord.seq).limit(PAGE + 1)
                ).all()
                more_newer, rows = len(rows) > PAGE, rows[:PAGE][::-1]
                more_older = bool(rows) and s.scalar(
                    query.where(AuditRecord.seq < rows[-1].seq).limit(1)
                )
            else:
                paged = query.where(AuditRecord.seq < before) if before else query
                rows = s.scalars(paged.order_by(AuditRecord.seq.desc()).limit(PAGE + 1)).all()
                more_older, rows = len(rows) > PAGE, rows[:PAGE]
                more_newer = before is not None
            shown = [_shown(r) for r in rows]
        record.entry.result_count = len(shown)
        return {
            "records": shown,
            "older": shown[-1]["seq"] if shown and more_older else None,
            "newer": shown[0]["seq"] if shown and more_newer else None,
        }

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
        query = selection(organization=_scope(who)).where(AuditRecord.seq == seq)
        with services.audit.sessions() as s:
            row = s.scalars(query).first()
            if row is None:  # another organization's record is "not found", as missing ones
                raise ResourceNotFoundException(f"No audit record {seq} for you to read.")
            record.entry.result_count = 1
            return _shown(row)

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
        checked=when(datetime.now(UTC)),
    )


@router.get("/audit/export")
async def export_log(
    request: Request, who: Auditor, since: str | None = None, until: str | None = None
) -> Response:
    services = services_of(request)
    start, end = _instant(since, "From"), _instant(until, "Until")

    def work(record: Recorder) -> Iterator[str]:
        return download(services.audit, since=start, until=end, organization=_scope(who))

    chunks = await acted(request, who, "ExportAudit", work, resource="audit")
    return StreamingResponse(  # read from the database as it is sent: memory stays flat
        chunks,
        media_type=MEDIA_TYPE,
        headers={"Content-Disposition": f'attachment; filename="{FILENAME}"'},
    )


# --- reports ---------------------------------------------------------------------------------


def _reports_dir(request: Request) -> Path:
    return services_of(request).settings.data_dir / "reports"


def _meta(folder: Path) -> dict[str, Any] | None:
    try:
        return json.loads((folder / META).read_text())
    except (OSError, ValueError):
        return None


def _visible(who: Who, meta: dict[str, Any]) -> bool:
    """The operator sees every report; an auditor the transparency reports (aggregates) and
    the accountability reports of their own organization's use cases."""
    owner = meta.get("organization")
    return who.principal.operator or owner is None or owner == who.principal.organization


def _report(request: Request, who: Who, report_id: str) -> tuple[Path, dict[str, Any]]:
    folder = _reports_dir(request) / report_id
    meta = _meta(folder) if REPORT_ID.fullmatch(report_id) else None
    if meta is None or not _visible(who, meta):
        raise ResourceNotFoundException(f"No report {report_id[:80]!r} for you to read.")
    return folder, meta


def _files(folder: Path) -> list[dict[str, Any]]:
    return [
        {"name": p.name, "kind": p.suffix[1:].upper(), "bytes": p.stat().st_size}
        for p in sorted(folder.iterdir(), key=lambda p: (p.suffix != ".html", p.name))
        if REPORT_FILE.fullmatch(p.name)
    ]


def _new_report(request: Request, kind: str) -> tuple[str, Path]:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report_id = f"{kind}-{stamp}-{secrets.token_hex(4)}"
    return report_id, _reports_dir(request) / report_id


def _written(folder: Path, meta: dict[str, Any], result: dict[str, Any]) -> None:
    """The report's own summary, without the server's paths, and whose it is."""
    summary = {k: v for k, v in result.items() if k not in ("html", "json", "csv")}
    (folder / META).write_text(json.dumps({**meta, "summary": summary}, default=str))


@router.get("/audit/reports", response_class=HTMLResponse)
async def reports_page(request: Request, who: Auditor) -> Response:
    services = services_of(request)
    base = _reports_dir(request)

    def work(record: Recorder) -> dict[str, Any]:
        found = []
        if base.is_dir():
            for folder in base.iterdir():
                meta = _meta(folder) if REPORT_ID.fullmatch(folder.name) else None
                if meta is not None and _visible(who, meta):
                    found.append({"id": folder.name, **meta, "made": when(meta.get("made_at"))})
        found.sort(key=lambda m: m.get("made_at", ""), reverse=True)
        record.entry.result_count = len(found)
        mine = None if who.principal.operator else who.principal.organization
        return {"reports": found, "use_cases": services.registry.use_cases(mine)}

    listing = await acted(request, who, "ViewReports", work, resource="reports")
    today = datetime.now(UTC).date()
    first = today.replace(day=1)
    return render(
        request,
        "auditor/reports.html",
        who,
        title="Reports",
        start=(first - timedelta(days=1)).replace(day=1).isoformat(),
        end=first.isoformat(),
        **listing,
    )


@router.post("/audit/reports/transparency")
async def make_transparency(request: Request, who: Auditor) -> Response:
    form = await form_of(request, who)
    services = services_of(request)
    start = parse_instant(str(form.get("start", "")), "From")
    end = parse_instant(str(form.get("end", "")), "To")
    report_id, folder = _new_report(request, "transparency")

    def work(record: Recorder) -> None:
        result = transparency(services, start, end, folder)
        result["period"] = f"{start.isoformat()} to {end.isoformat()} (end exclusive)"
        meta = {
            "kind": "transparency",
            "organization": None,  # aggregates: every auditor may read them
            "made_by": who.principal.member,
            "made_at": datetime.now(UTC).isoformat(),
            "title": f"Transparency report, {start.date()} to {end.date()}",
        }
        _written(folder, meta, result)
        record.entry.detail = {"report": report_id, "from": str(start), "to": str(end)}

    await acted(request, who, "MakeReport", work, resource=f"reports/{report_id}")
    return redirect(f"{HOME}/reports/{report_id}")


@router.post("/audit/reports/accountability")
async def make_accountability(request: Request, who: Auditor) -> Response:
    form = await form_of(request, who)
    services = services_of(request)
    try:
        use_case_id = int(str(form.get("use_case", "")))
    except ValueError:
        raise InvalidParameterException("Choose a use case.") from None
    report_id, folder = _new_report(request, "accountability")

    def work(record: Recorder) -> None:
        use_case = services.registry.use_case(use_case_id)
        if not who.principal.operator and use_case["organization"] != who.principal.organization:
            raise ResourceNotFoundException(f"No use case {use_case_id}.")  # as a missing one
        result = accountability(services, use_case_id, folder)
        meta = {
            "kind": "accountability",
            "organization": use_case["organization"],
            "made_by": who.principal.member,
            "made_at": datetime.now(UTC).isoformat(),
            "title": f"Accountability report, use case {use_case_id} "
            f"({use_case['purpose']}, {use_case['organization']})",
        }
        _written(folder, meta, result)
        record.entry.detail = {"report": report_id, "use_case": use_case_id}

    await acted(request, who, "MakeReport", work, resource=f"reports/{report_id}")
    return redirect(f"{HOME}/reports/{report_id}")


@router.get("/audit/reports/{report_id}", response_class=HTMLResponse)
async def report_page(request: Request, who: Auditor, report_id: str) -> Response:
    def work(record: Recorder) -> dict[str, Any]:
        folder, meta = _report(request, who, report_id)
        return {**meta, "id": report_id, "files": _files(folder), "made": when(meta["made_at"])}

    report = await acted(request, who, "ViewReports", work, resource=f"reports/{report_id}")
    return render(request, "auditor/report.html", who, title=report["title"], report=report)


def _report_headers(html: str) -> dict[str, str]:
    """A report's page shown in the console's frame: its own style block (by its hash),
    images as data: URIs, nothing else (no scripts, no forms, no other origins)."""
    hashes = " ".join(
        "'sha256-" + base64.b64encode(hashlib.sha256(s.encode()).digest()).decode() + "'"
        for s in STYLE.findall(html)
    )
    return {
        "Content-Security-Policy": f"default-src 'none'; img-src data:; style-src {hashes}; "
        "base-uri 'none'; form-action 'none'; frame-ancestors 'self'",
        "X-Frame-Options": "SAMEORIGIN",
    }


@router.get("/audit/reports/{report_id}/{name}")
async def report_file(
    request: Request, who: Auditor, report_id: str, name: str, download: bool = False
) -> Response:
    def work(record: Recorder) -> bytes:
        folder, _meta = _report(request, who, report_id)
        path = folder / name
        if not REPORT_FILE.fullmatch(name) or not path.is_file():
            raise ResourceNotFoundException(f"No file {name[:80]!r} in report {report_id}.")
        record.entry.detail = {"file": name, "download": download}
        return path.read_bytes()

    body = await acted(request, who, "ViewReports", work, resource=f"reports/{report_id}")
    kind = name.rsplit(".", 1)[1]
    headers: dict[str, str] = {}
    if download or kind != "html":
        headers["Content-Disposition"] = f'attachment; filename="{report_id}-{name}"'
    else:
        headers.update(_report_headers(body.decode("utf-8", "replace")))
    media = FILE_TYPES[kind] + ("; charset=utf-8" if kind != "json" else "")
    return Response(body, media_type=media, headers=headers)


# --- the demographic audit -------------------------------------------------------------------


@router.get("/audit/fairness", response_class=HTMLResponse)
async def fairness_page(request: Request, who: Auditor) -> Response:
    services = services_of(request)

    def work(record: Recorder) -> dict[str, Any]:
        summary = demographic_audit(services)  # as the transparency report gives it
        latest = services.fairness.latest() if summary["status"] == "on record" else None
        charts = []
        groups = (latest or {}).get("groups") or {}
        try:
            target = float((latest or {}).get("target_fmr") or 0) or None
        except ValueError:
            target = None
        try:
            if groups:
                names = ", ".join(groups)
                charts = [
                    {
                        "title": "DET curves per group",
                        "png": det_chart(groups, target),
                        "alt": "DET curves: false non-match rate against false match rate "
                        f"(log scale) for each group ({names})"
                        + (f"; the dotted line is the target FMR {target:g}." if target else "."),
                    },
                    {
                        "title": "Score distributions per group",
                        "png": score_histograms(groups),
                        "alt": "Histograms of genuine and impostor similarity scores (log "
                        f"counts) for each group ({names}).",
                    },
                ]
        except (KeyError, TypeError, ValueError):  # an audit recorded without curves
            charts = []
        record.entry.detail = {"audit_id": summary.get("audit_id")}
        return {"audit": summary, "charts": charts}

    shown = await acted(request, who, "ViewReports", work, resource="fairness")
    return render(request, "auditor/fairness.html", who, title="Demographic audit", **shown)
