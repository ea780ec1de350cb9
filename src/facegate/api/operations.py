"""The operations behind both front doors: validated parameters in, a response body out.

A handler never sees HTTP or policy: a front door authenticates, parses and validates, and
hands the operation to :func:`facegate.api.governed.execute`, which asks the policy decision
point, shapes the parameters (threshold floors, caps) and only then calls one handler here.
Image work runs in the inference pool; gallery work (SQL and
FAISS) in a thread, so the event loop never blocks. A collection is looked up before its
image is analysed, so a request for a missing collection costs no inference.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from facegate.api.inference import InferencePool
from facegate.audit.log import Record
from facegate.config import Settings
from facegate.errors import InvalidParameterException
from facegate.gallery.faces import Enrollment
from facegate.gallery.idempotency import Idempotency
from facegate.gallery.store import Gallery
from facegate.policy.point import SERVED_OPERATIONS, Inputs
from facegate.policy.registry import Principal
from facegate.video.jobs import Located, VideoJobs
from facegate.vision import workers
from facegate.vision.engine import DEFAULT_SIMILARITY_THRESHOLD

DEFAULT_MAX_FACES_SEARCH = 80  # Rekognition's SearchFaces default
DEFAULT_MAX_USERS = 10
DEFAULT_LIST_FACES = 1000
DEFAULT_LIST_USERS = 500
DEFAULT_LIST_COLLECTIONS = 1000
USER_MATCH_THRESHOLD_ASSOCIATE = 75.0
DEFAULT_VIDEO_MATCHES = 20  # collection faces returned per person (capped by MaxFaces caps)
DEFAULT_VIDEO_RESULTS = 1000


@dataclass
class Context:
    settings: Settings
    pool: InferencePool
    request_id: str
    caller: Principal
    gallery: Gallery
    idempotency: Idempotency
    inputs: Inputs = field(default_factory=Inputs)
    # HUMAN-REVIEW: keep face crops (the policy point decided that reviewers will need them).
    keep_crops: bool = False
    probe_crop: bytes | None = None
    # Appends the request's audit record inside the transaction of the change it makes.
    record: Record | None = None
    # RETENTION: the deadline of faces enrolled by this request (None: no use case).
    delete_by: datetime | None = None
    # Video jobs: the job service, the video a Start request names (read before the policy
    # decided), the job an earlier request with the same ClientRequestToken started, and
    # what the decision said about thresholds and review.
    jobs: VideoJobs | None = None
    video: Located | None = None
    earlier_job: str | None = None
    request_digest: str = ""
    requested_threshold: float | None = None
    review_required: bool = False
    max_matches: int = DEFAULT_VIDEO_MATCHES


Handler = Callable[[dict[str, Any], Context], Awaitable[dict[str, Any]]]


def image_bytes(params: dict[str, Any], name: str) -> bytes:
    """The bytes of an ``Image`` parameter; facegate has no S3 and fetches nothing."""
    image = params[name]
    if "S3Object" in image:
        raise InvalidParameterException(
            f"{name}.S3Object is not supported: facegate does not fetch images from storage or "
            f"URLs. Send the image itself in {name}.Bytes."
        )
    if "Bytes" not in image:
        raise InvalidParameterException(f"{name} needs Bytes (base64-encoded JPEG or PNG).")
    return image["Bytes"]


async def _gallery(fn: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
    return await asyncio.to_thread(fn, *args, **kwargs)


# --- detection and comparison ------------------------------------------------------------------


async def detect_faces(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await ctx.pool.run(workers.detect_faces, image_bytes(p, "Image"))


async def compare_faces(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await ctx.pool.run(
        workers.compare_faces,
        image_bytes(p, "SourceImage"),
        image_bytes(p, "TargetImage"),
        float(p.get("SimilarityThreshold", DEFAULT_SIMILARITY_THRESHOLD)),
        p.get("QualityFilter", "NONE"),
    )


# --- collections -------------------------------------------------------------------------------


async def create_collection(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    g, org = ctx.gallery, ctx.caller.organization_id
    return await _gallery(
        g.create_collection,
        org,
        p["CollectionId"],
        p.get("Tags") or {},
        keeps_review_crops=ctx.keep_crops,
        record=ctx.record,
    )


async def describe_collection(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.describe_collection, ctx.caller.organization_id, p["CollectionId"]
    )


async def list_collections(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.list_collections,
        ctx.caller.organization_id,
        p.get("MaxResults", DEFAULT_LIST_COLLECTIONS),
        p.get("NextToken"),
    )


async def delete_collection(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.delete_collection,
        ctx.caller.organization_id,
        p["CollectionId"],
        ctx.record,
    )


# --- faces -------------------------------------------------------------------------------------


async def index_faces(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    org, name = ctx.caller.organization_id, p["CollectionId"]
    await _gallery(ctx.gallery.collection_exists, org, name)
    data = image_bytes(p, "Image")
    selected = await ctx.pool.run(
        workers.index_candidates,
        data,
        p.get("MaxFaces", 100),
        p.get("QualityFilter", "AUTO"),
        None,
        ctx.keep_crops,
    )
    return await _gallery(
        ctx.gallery.index_faces,
        org,
        name,
        Enrollment(
            image_sha256=hashlib.sha256(data).hexdigest(),
            external_image_id=p.get("ExternalImageId"),
            indexed=selected["indexed"],
            unindexed=selected["unindexed"],
            legal_basis=ctx.inputs.basis or None,
            provenance=ctx.inputs.provenance or None,
            keep_crops=ctx.keep_crops,
            use_case_id=ctx.caller.use_case_id,
            delete_by=ctx.delete_by,
        ),
        ctx.record,
    )


async def list_faces(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.list_faces,
        ctx.caller.organization_id,
        p["CollectionId"],
        p.get("MaxResults", DEFAULT_LIST_FACES),
        p.get("NextToken"),
        p.get("UserId"),
        p.get("FaceIds"),
    )


async def delete_faces(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.delete_faces,
        ctx.caller.organization_id,
        p["CollectionId"],
        p["FaceIds"],
        ctx.record,
    )


async def search_faces(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.search_faces,
        ctx.caller.organization_id,
        p["CollectionId"],
        p["FaceId"],
        p.get("MaxFaces", DEFAULT_MAX_FACES_SEARCH),
        float(p.get("FaceMatchThreshold", DEFAULT_SIMILARITY_THRESHOLD)),
    )


async def _probe(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    await _gallery(ctx.gallery.collection_exists, ctx.caller.organization_id, p["CollectionId"])
    probe = await ctx.pool.run(
        workers.probe, image_bytes(p, "Image"), p.get("QualityFilter", "NONE"), None, ctx.keep_crops
    )
    ctx.probe_crop = probe.pop("crop", None)
    return probe


async def search_faces_by_image(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    probe = await _probe(p, ctx)
    return await _gallery(
        ctx.gallery.search_faces_by_vector,
        ctx.caller.organization_id,
        p["CollectionId"],
        probe,
        p.get("MaxFaces", DEFAULT_MAX_FACES_SEARCH),
        float(p.get("FaceMatchThreshold", DEFAULT_SIMILARITY_THRESHOLD)),
    )


# --- users -------------------------------------------------------------------------------------


def _idempotent(operation: str, change: Callable[[dict[str, Any], Context], Awaitable[dict]]):
    """Wrap a handler so that a repeated ClientRequestToken returns the first answer."""

    async def handler(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
        token = p.get("ClientRequestToken")
        if not token:
            return await change(p, ctx)
        digest = request_digest(p)
        org = ctx.caller.organization_id
        earlier = await _gallery(ctx.idempotency.recall, org, operation, token, digest)
        if earlier is not None:
            return earlier
        result = await change(p, ctx)
        await _gallery(ctx.idempotency.remember, org, operation, token, digest, result)
        return result

    return handler


async def _create_user(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.create_user,
        ctx.caller.organization_id,
        p["CollectionId"],
        p["UserId"],
        ctx.record,
    )


async def _delete_user(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.delete_user,
        ctx.caller.organization_id,
        p["CollectionId"],
        p["UserId"],
        ctx.record,
    )


async def _associate_faces(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.associate_faces,
        ctx.caller.organization_id,
        p["CollectionId"],
        p["UserId"],
        p["FaceIds"],
        float(p.get("UserMatchThreshold", USER_MATCH_THRESHOLD_ASSOCIATE)),
        ctx.record,
    )


async def _disassociate_faces(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.disassociate_faces,
        ctx.caller.organization_id,
        p["CollectionId"],
        p["UserId"],
        p["FaceIds"],
        ctx.record,
    )


async def list_users(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.list_users,
        ctx.caller.organization_id,
        p["CollectionId"],
        p.get("MaxResults", DEFAULT_LIST_USERS),
        p.get("NextToken"),
    )


async def search_users(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _gallery(
        ctx.gallery.search_users,
        ctx.caller.organization_id,
        p["CollectionId"],
        user_id=p.get("UserId"),
        face_id=p.get("FaceId"),
        max_users=p.get("MaxUsers", DEFAULT_MAX_USERS),
        threshold=float(p.get("UserMatchThreshold", DEFAULT_SIMILARITY_THRESHOLD)),
    )


async def search_users_by_image(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    probe = await _probe(p, ctx)
    return await _gallery(
        ctx.gallery.search_users_by_vector,
        ctx.caller.organization_id,
        p["CollectionId"],
        probe,
        p.get("MaxUsers", DEFAULT_MAX_USERS),
        float(p.get("UserMatchThreshold", DEFAULT_SIMILARITY_THRESHOLD)),
    )


# --- video ------------------------------------------------------------------------------------


def request_digest(p: dict[str, Any]) -> str:
    """What a ClientRequestToken stands for: the request's other parameters."""
    return hashlib.sha256(
        json.dumps(
            {k: v for k, v in p.items() if k != "ClientRequestToken"}, sort_keys=True, default=str
        ).encode()
    ).hexdigest()


async def _start_job(p: dict[str, Any], ctx: Context, kind: str) -> dict[str, Any]:
    assert ctx.jobs is not None and ctx.video is not None
    if ctx.earlier_job is not None:
        return {"JobId": ctx.earlier_job}
    collection = p.get("CollectionId")
    if collection is not None:
        await _gallery(ctx.gallery.collection_exists, ctx.caller.organization_id, collection)
    return await _gallery(
        ctx.jobs.start,
        ctx.caller,
        kind,
        ctx.video,
        collection=collection,
        requested_threshold=ctx.requested_threshold,
        effective_threshold=float(p["FaceMatchThreshold"]) if kind == "search" else None,
        review_required=ctx.review_required,
        case_reference=ctx.inputs.case,
        warrant_reference=ctx.inputs.warrant,
        job_tag=p.get("JobTag", ""),
        token=p.get("ClientRequestToken", ""),
        digest=ctx.request_digest,
        max_matches=ctx.max_matches,
        record=ctx.record,
    )


async def start_face_detection(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _start_job(p, ctx, "detection")


async def start_face_search(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _start_job(p, ctx, "search")


async def _job_results(p: dict[str, Any], ctx: Context, kind: str, sort: str) -> dict[str, Any]:
    assert ctx.jobs is not None
    return await _gallery(
        ctx.jobs.results,
        ctx.caller.organization_id,
        p["JobId"],
        kind,
        p.get("MaxResults", DEFAULT_VIDEO_RESULTS),
        p.get("NextToken"),
        sort,
    )


async def get_face_detection(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _job_results(p, ctx, "detection", "TIMESTAMP")


async def get_face_search(p: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await _job_results(p, ctx, "search", p.get("SortBy", "TIMESTAMP"))


OPERATIONS: dict[str, Handler] = {
    "DetectFaces": detect_faces,
    "CompareFaces": compare_faces,
    "CreateCollection": create_collection,
    "DescribeCollection": describe_collection,
    "ListCollections": list_collections,
    "DeleteCollection": delete_collection,
    "IndexFaces": index_faces,
    "ListFaces": list_faces,
    "DeleteFaces": delete_faces,
    "SearchFaces": search_faces,
    "SearchFacesByImage": search_faces_by_image,
    "CreateUser": _idempotent("CreateUser", _create_user),
    "DeleteUser": _idempotent("DeleteUser", _delete_user),
    "ListUsers": list_users,
    "AssociateFaces": _idempotent("AssociateFaces", _associate_faces),
    "DisassociateFaces": _idempotent("DisassociateFaces", _disassociate_faces),
    "SearchUsers": search_users,
    "SearchUsersByImage": search_users_by_image,
    "StartFaceDetection": start_face_detection,
    "GetFaceDetection": get_face_detection,
    "StartFaceSearch": start_face_search,
    "GetFaceSearch": get_face_search,
}
if OPERATIONS.keys() != SERVED_OPERATIONS:  # one list of the operations served: the policy's
    raise ImportError(
        "facegate.api.operations.OPERATIONS and facegate.policy.point.SERVED_OPERATIONS name "
        f"different operations: {sorted(OPERATIONS.keys() ^ SERVED_OPERATIONS)}"
    )
