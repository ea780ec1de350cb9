"""Videos and video jobs on the REST door: upload, jobs, progress, results, cancelling.

Uploads are the raw request body (``Content-Type: video/mp4`` or ``video/quicktime``),
streamed to disk under ``FACEGATE_VIDEO_MAX_BYTES`` and accepted only if the header says H.264
in MP4 or MOV. The job routes run the same operations as the AWS door
(StartFaceDetection, GetFaceDetection, StartFaceSearch, GetFaceSearch) under the policies.
"""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from facegate.api.rest.bodies import read_body, services_of
from facegate.api.rest.caller import CallerDep
from facegate.api.rest.errors import RestRoute
from facegate.api.rest.guard import guarded, read
from facegate.api.rest.openapi import ERROR_RESPONSES, NOT_FOUND, answers, json_body
from facegate.api.rest.routes import MaxResults, NextToken
from facegate.api.rest.running import run
from facegate.audit.log import Recorder
from facegate.policy.registry import Principal

router = APIRouter(prefix="/v1", route_class=RestRoute, responses=ERROR_RESPONSES)

VideoId = Annotated[str, Path(description="A video id returned by the upload.")]
JobId = Annotated[str, Path(description="A JobId returned by a Start operation.")]


def _by(caller: Principal) -> str:
    return caller.member or f"key:{caller.access_key_id}"


@router.post(
    "/videos",
    status_code=201,
    tags=["video"],
    summary="Upload a video",
    description="The request body is the video file itself (H.264 in MP4 or MOV). It is "
    "checked by its header, not its name, and refused past the size limit "
    "(VideoTooLargeException). The answer's `Video` names it in Start operations: "
    '`{"S3Object": {"Bucket": "facegate", "Name": "<VideoId>"}}`.',
    operation_id="UploadVideo",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "video/mp4": {"schema": {"type": "string", "format": "binary"}},
                "video/quicktime": {"schema": {"type": "string", "format": "binary"}},
            },
        }
    },
)
async def upload_video(request: Request, caller: CallerDep) -> dict[str, Any]:
    services = services_of(request)
    declared = request.headers.get("content-length")
    length = int(declared) if declared and declared.isdigit() else None
    loop = asyncio.get_running_loop()

    def work(record: Recorder) -> dict[str, Any]:
        # Runs once the policies allowed the request: only then is the body read (streamed
        # to disk on the event loop), checked and stored with this request's record.
        receiving = services.videos.receive(request.stream(), length)
        temp = asyncio.run_coroutine_threadsafe(receiving, loop).result()
        try:
            return services.videos.ingest(temp, caller.organization_id, _by(caller), record=record)
        finally:
            temp.unlink(missing_ok=True)

    return await asyncio.to_thread(guarded, request, caller, "UploadVideo", work, "videos")


@router.get("/videos", tags=["video"], summary="Your organization's videos")
async def list_videos(request: Request, caller: CallerDep) -> dict[str, Any]:
    videos = services_of(request).videos
    return await read(
        request,
        caller,
        "ListVideos",
        "videos",
        lambda: {"Videos": videos.listing(caller.organization_id)},
    )


@router.get("/videos/{video_id}", tags=["video"], summary="A video's metadata")
async def get_video(request: Request, caller: CallerDep, video_id: VideoId) -> dict[str, Any]:
    videos = services_of(request).videos
    return await read(
        request,
        caller,
        "GetVideo",
        f"videos/{video_id[:64]}",
        lambda: videos.describe(caller.organization_id, video_id),
    )


@router.delete("/videos/{video_id}", tags=["video"], summary="Delete an uploaded video")
async def delete_video(request: Request, caller: CallerDep, video_id: VideoId) -> dict[str, Any]:
    services = services_of(request)

    def work(record: Recorder) -> dict[str, Any]:
        return services.videos.delete(caller.organization_id, video_id, record)

    return await asyncio.to_thread(
        guarded, request, caller, "DeleteVideo", work, f"videos/{video_id[:64]}"
    )


# --- jobs --------------------------------------------------------------------------------------


@router.post(
    "/video/face-detections",
    status_code=202,
    tags=["video"],
    summary="Start finding faces in a video",
    description="StartFaceDetection. Body: "
    '`{"Video": {"S3Object": {"Bucket": "facegate", "Name": "<VideoId>"}}, "JobTag": "..."}` '
    "(Bucket `library` names a file inside the configured video directory).",
    operation_id="StartFaceDetection",
    responses=answers("StartFaceDetection", 202, NOT_FOUND),
    openapi_extra=json_body("StartFaceDetection"),
)
async def start_face_detection(request: Request, caller: CallerDep) -> JSONResponse:
    params = (await read_body(request)).params("StartFaceDetection")
    return await run(request, caller, "StartFaceDetection", params, status=202)


@router.get(
    "/video/face-detections/{job_id}",
    tags=["video"],
    summary="A face detection job's status and faces",
    operation_id="GetFaceDetection",
    responses=answers("GetFaceDetection", 200, NOT_FOUND),
)
async def get_face_detection(
    request: Request,
    caller: CallerDep,
    job_id: JobId,
    max_results: MaxResults = None,
    next_token: NextToken = None,
) -> JSONResponse:
    params: dict[str, Any] = {"JobId": job_id}
    if max_results is not None:
        params["MaxResults"] = max_results
    if next_token:
        params["NextToken"] = next_token
    return await run(request, caller, "GetFaceDetection", params)


@router.post(
    "/video/face-searches",
    status_code=202,
    tags=["video"],
    summary="Start searching a video for a collection's faces",
    description="StartFaceSearch. Body: "
    '`{"Video": {"S3Object": {"Bucket": "facegate", "Name": "<VideoId>"}}, '
    '"CollectionId": "missing", "FaceMatchThreshold": 90}`. The video\'s duration counts '
    "against the use case's video-hours cap; law enforcement needs WarrantReference.",
    operation_id="StartFaceSearch",
    responses=answers("StartFaceSearch", 202, NOT_FOUND),
    openapi_extra=json_body("StartFaceSearch"),
)
async def start_face_search(request: Request, caller: CallerDep) -> JSONResponse:
    params = (await read_body(request)).params("StartFaceSearch")
    return await run(request, caller, "StartFaceSearch", params, status=202)


@router.get(
    "/video/face-searches/{job_id}",
    tags=["video"],
    summary="A face search job's status and the people found",
    operation_id="GetFaceSearch",
    responses=answers("GetFaceSearch", 200, NOT_FOUND),
)
async def get_face_search(
    request: Request,
    caller: CallerDep,
    job_id: JobId,
    max_results: MaxResults = None,
    next_token: NextToken = None,
    sort_by: Annotated[
        str | None, Query(description="TIMESTAMP (default) or INDEX (by person).")
    ] = None,
) -> JSONResponse:
    params: dict[str, Any] = {"JobId": job_id}
    if max_results is not None:
        params["MaxResults"] = max_results
    if next_token:
        params["NextToken"] = next_token
    if sort_by:
        params["SortBy"] = sort_by
    return await run(request, caller, "GetFaceSearch", params)


@router.get("/video/jobs", tags=["video"], summary="Your organization's video jobs")
async def list_jobs(request: Request, caller: CallerDep) -> dict[str, Any]:
    jobs = services_of(request).jobs
    return await read(
        request,
        caller,
        "ListVideoJobs",
        "video-jobs",
        lambda: {"Jobs": jobs.listing(caller.organization_id)},
    )


@router.get("/video/jobs/{job_id}", tags=["video"], summary="A video job's status and progress")
async def get_job(request: Request, caller: CallerDep, job_id: JobId) -> dict[str, Any]:
    jobs = services_of(request).jobs
    return await read(
        request,
        caller,
        "GetVideoJob",
        f"video-jobs/{job_id[:64]}",
        lambda: jobs.describe(caller.organization_id, job_id),
    )


@router.post("/video/jobs/{job_id}/cancel", tags=["video"], summary="Cancel a video job")
async def cancel_job(request: Request, caller: CallerDep, job_id: JobId) -> dict[str, Any]:
    services = services_of(request)

    def work(record: Recorder) -> dict[str, Any]:
        return services.jobs.cancel(caller.organization_id, job_id, _by(caller), record)

    return await asyncio.to_thread(
        guarded, request, caller, "CancelVideoJob", work, f"video-jobs/{job_id[:64]}"
    )
