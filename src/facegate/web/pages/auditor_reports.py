"""The auditor's report pages: making, reading and downloading the transparency and
accountability reports, and the latest demographic audit.

For members with the ``auditor`` role and the operator, as :mod:`.auditor`'s pages: every
page asks the decision point as the signed-in member and leaves one audit record.

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
import hashlib
import json
import re
import secrets
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi.responses import HTMLResponse, Response

from facegate.actions.administration import parse_instant
from facegate.audit.log import Recorder
from facegate.errors import InvalidParameterException, ResourceNotFoundException
from facegate.fairness.html import det_chart, score_histograms
from facegate.reports.accountability import accountability
from facegate.reports.demographic import demographic_audit
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
from facegate.web.format import when_seconds as when
from facegate.web.route import ConsoleRoute

router = APIRouter(prefix=PREFIX, route_class=ConsoleRoute, include_in_schema=False)
Auditor = Annotated[Who, Depends(requires("auditor", "operator"))]
HOME = f"{PREFIX}/audit"
REPORT_ID = re.compile(r"(transparency|accountability)-\d{8}T\d{6}Z-[0-9a-f]{8}")
REPORT_FILE = re.compile(r"[a-z_]{1,64}\.(html|json|csv)")
META = ".console.json"  # beside the report's files: who made it, and whose it is
FILE_TYPES = {"html": "text/html", "json": "application/json", "csv": "text/csv"}
STYLE = re.compile(r"<style>(.*?)</style>", re.S)


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
