"""The organization's pages for its admins and analysts: collections, faces, erasures, video
jobs.

Every read is the operation an API client would send, decided by the decision point as the
signed-in member and recorded once (ROLES: an analyst or admin; TENANT: their own
organization):

- ``GET /console/collections``: the collections (ListCollections) with their face and user
  counts (DescribeCollection, one per collection shown);
- ``GET /console/collections/c/{name}``: a collection's faces, 50 a page (DescribeCollection,
  ListFaces) with their external ids, users, enrollment times and deletion deadlines;
- ``GET /console/collections/c/{name}/faces/{face_id}``: one face (ListFaces with its id):
  legal basis, provenance, use case, enrolled, last interaction, deletion deadline;
- ``GET /console/collections/erasures``: the organization's deletion receipts, retention
  purges and erasures (ListDeletionReceipts), and for admins the erasure form;
- ``POST /console/collections/erasures``: erase a subject (EraseSubject: ORG-ADMIN lets only
  admins, TENANT only in their own organization), through :func:`facegate.actions.maintenance.erase`
  as ``/v1/admin/erasures`` does; the receipt's id and hash go into the record;
- ``GET /console/collections/jobs``: the organization's video jobs (ListVideoJobs), a running
  job's progress kept live by console.js from
- ``GET /console/collections/jobs/{id}.json``: the job's status (GetVideoJob), as
  ``GET /v1/video/jobs/{id}`` answers it.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from fastapi import Path as PathParam
from fastapi.responses import HTMLResponse, JSONResponse, Response

from facegate.actions.maintenance import erase
from facegate.audit.log import Recorder
from facegate.errors import InvalidParameterException, ResourceNotFoundException
from facegate.gallery.retention import receipts as deletion_receipts
from facegate.policy.point import Resource
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
Member = Annotated[Who, Depends(requires("admin", "analyst"))]
Admin = Annotated[Who, Depends(requires("admin"))]
CollectionName = Annotated[str, PathParam(min_length=1, max_length=255)]
FaceId = Annotated[str, PathParam(min_length=1, max_length=36)]
JobId = Annotated[str, PathParam(min_length=1, max_length=64)]
HOME = f"{PREFIX}/collections"
COLLECTIONS_PAGE = 25
FACES_PAGE = 50
RECEIPTS = 100


def _collection(who: Who, name: str) -> Resource:
    """The resource a collection operation is decided on (as the API's ``resource_of``)."""
    p = who.principal
    return Resource("Collection", name, p.organization_id, p.organization)


async def _on_collection(request: Request, who: Who, operation: str, name: str, work) -> Any:
    target = _collection(who, name)
    return await acted(request, who, operation, work, target=target, resource=target.describe())


async def _describe(request: Request, who: Who, name: str) -> dict[str, Any]:
    """DescribeCollection: its face and user counts (and when it was made, in words)."""
    gallery, org = services_of(request).gallery, who.principal.organization_id
    described = await _on_collection(
        request, who, "DescribeCollection", name, lambda r: gallery.describe_collection(org, name)
    )
    made = datetime.fromtimestamp(described["CreationTimestamp"], UTC)
    return {**described, "created": when(made)}


def _counted(record: Recorder, answer: dict[str, Any], key: str) -> dict[str, Any]:
    record.entry.result_count = len(answer.get(key, []))
    return answer


# --- collections and faces -------------------------------------------------------------------


@router.get("/collections", response_class=HTMLResponse)
async def collections(request: Request, who: Member, token: str | None = None) -> Response:
    services = services_of(request)
    org = who.principal.organization_id

    def listing(record: Recorder) -> dict[str, Any]:
        answer = services.gallery.list_collections(org, COLLECTIONS_PAGE, token or None)
        return _counted(record, answer, "CollectionIds")

    page = await acted(request, who, "ListCollections", listing, resource="account")
    shown = [
        {"name": name, **await _describe(request, who, name)} for name in page["CollectionIds"]
    ]
    return render(
        request,
        "organization/collections.html",
        who,
        title="Collections",
        collections=shown,
        next_token=page.get("NextToken"),
        first_page=not token,
    )


def _face_rows(faces: list[dict[str, Any]], meta: dict[str, dict]) -> list[dict[str, Any]]:
    rows = []
    for face in faces:
        m = meta.get(face["FaceId"], {})
        rows.append(
            {
                **face,
                **m,
                "enrolled_at": when(m.get("enrolled")),
                "last_used": when(m.get("last_interaction")),
                "deadline": when(m.get("delete_by")),
            }
        )
    return rows


def _faces(request: Request, org: int, name: str, token: str | None, face_ids=None):
    """ListFaces as the API answers it, with what facegate keeps about each face."""
    gallery = services_of(request).gallery

    def work(record: Recorder) -> dict[str, Any]:
        answer = gallery.list_faces(org, name, FACES_PAGE, token, None, face_ids)
        meta = gallery.face_metadata(org, name, [f["FaceId"] for f in answer["Faces"]])
        _counted(record, answer, "Faces")
        record.entry.face_ids = [f["FaceId"] for f in answer["Faces"]]
        return {**answer, "Faces": _face_rows(answer["Faces"], meta)}

    return work


@router.get("/collections/c/{name}", response_class=HTMLResponse)
async def collection(
    request: Request, who: Member, name: CollectionName, token: str | None = None
) -> Response:
    org = who.principal.organization_id
    described = await _describe(request, who, name)
    faces = await _on_collection(request, who, "ListFaces", name, _faces(request, org, name, token))
    return render(
        request,
        "organization/collection.html",
        who,
        title=f"Collection {name}",
        name=name,
        described=described,
        faces=faces["Faces"],
        next_token=faces.get("NextToken"),
        first_page=not token,
    )


@router.get("/collections/c/{name}/faces/{face_id}", response_class=HTMLResponse)
async def face(request: Request, who: Member, name: CollectionName, face_id: FaceId) -> Response:
    org = who.principal.organization_id
    found = await _on_collection(
        request, who, "ListFaces", name, _faces(request, org, name, None, [face_id])
    )
    if not found["Faces"]:
        raise ResourceNotFoundException(f"No face {face_id} in collection {name}.")
    return render(
        request,
        "organization/face.html",
        who,
        title=f"Face {face_id}",
        name=name,
        face=found["Faces"][0],
    )


# --- erasures and receipts -------------------------------------------------------------------


def _receipt_view(r: dict[str, Any]) -> dict[str, Any]:
    body = r["body"]
    return {
        "id": r["id"],
        "kind": r["kind"],
        "subject": r["subject"],
        "requested_by": r["requested_by"],
        "at": when(body.get("at") or r["at"]),
        "as_of": when(r["at"]),
        "faces_deleted": body.get("faces_deleted"),
        "users_deleted": body.get("users_deleted"),
        "collections": body.get("collections", []),
        "face_ids": body.get("face_ids", []),
        "sha256": r["sha256"],
    }


@router.get("/collections/erasures", response_class=HTMLResponse)
async def erasures(request: Request, who: Member, receipt: str | None = None) -> Response:
    services = services_of(request)
    organization = who.principal.organization

    def work(record: Recorder) -> list[dict[str, Any]]:
        rows = deletion_receipts(services.gallery.sessions, organization, RECEIPTS)
        found = [_receipt_view(r) for r in rows]
        record.entry.result_count = len(found)
        return found

    receipts = await acted(request, who, "ListDeletionReceipts", work, resource="receipts")
    return render(
        request,
        "organization/erasures.html",
        who,
        title="Erasures and receipts",
        receipts=receipts,
        fresh=receipt,
        limit=RECEIPTS,
    )


@router.post("/collections/erasures")
async def erase_subject(request: Request, who: Admin) -> Response:
    form = await form_of(request, who)
    subject = str(form.get("subject", "")).strip()
    if not subject or len(subject) > 255:
        raise InvalidParameterException("The subject is an ExternalImageId or UserId (1-255).")
    services = services_of(request)
    organization = who.principal.organization

    def work(record: Recorder) -> dict[str, Any]:
        return erase(
            services,
            organization,
            subject,
            requested_by=who.principal.member,
            recorder=record,
        )

    done = await acted(request, who, "EraseSubject", work, resource=f"subject/{organization}")
    return redirect(f"{HOME}/erasures?receipt={done['receipt_id']}#receipt-{done['receipt_id']}")


# --- video jobs ------------------------------------------------------------------------------


@router.get("/collections/jobs", response_class=HTMLResponse)
async def jobs(request: Request, who: Member) -> Response:
    services = services_of(request)
    org = who.principal.organization_id

    def work(record: Recorder) -> list[dict[str, Any]]:
        found = services.jobs.listing(org)
        record.entry.result_count = len(found)
        return found

    listed = await acted(request, who, "ListVideoJobs", work, resource="video-jobs")
    return render(request, "organization/jobs.html", who, title="Video jobs", jobs=listed)


@router.get("/collections/jobs/{job_id}.json")
async def job_status(request: Request, who: Member, job_id: JobId) -> Response:
    services = services_of(request)
    org = who.principal.organization_id
    status = await acted(
        request,
        who,
        "GetVideoJob",
        lambda record: services.jobs.describe(org, job_id),
        resource=f"video-jobs/{job_id[:64]}",
    )
    return JSONResponse(status)
