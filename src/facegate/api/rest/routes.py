"""The REST front door: the same operations as resources under ``/v1``.

Each route is thin: it authenticates the ``X-Api-Key`` header (:mod:`.caller`), reads the
body under the same cap as the AWS JSON door, turns path, query, form and JSON input into the
AWS-shaped parameters (images as base64 text), validates them against botocore's Rekognition
model with the same :func:`~facegate.api.validation.validate`, and calls the same handler from
:data:`~facegate.api.operations.OPERATIONS` (:mod:`.running`). Both doors therefore share one
implementation, one set of limits and one set of error types.

Images arrive either as ``multipart/form-data`` file fields (``image``; ``source`` and
``target`` for comparison) or as JSON exactly like AWS JSON (``{"Image": {"Bytes": "<base64>"}}``).
facegate never fetches an image from a URL or a server path.

Errors are ``{"error": {"type": <AWS __type>, "message": ...}, "requestId": ...}`` with a
REST-style HTTP status (see ``errors.REST_STATUS``); every response carries
``x-request-id``.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import JSONResponse

from facegate.api.rest.bodies import query, read_body, with_path
from facegate.api.rest.caller import CallerDep
from facegate.api.rest.errors import RestRoute
from facegate.api.rest.openapi import (
    CONFLICT,
    ERROR_RESPONSES,
    NOT_FOUND,
    answers,
    json_body,
    upload_body,
)
from facegate.api.rest.running import run

# --- routes ------------------------------------------------------------------------------------

router = APIRouter(prefix="/v1", route_class=RestRoute, responses=ERROR_RESPONSES)

CollectionId = Annotated[
    str, Path(description="The collection's id (`[a-zA-Z0-9_.-]+`).", examples=["staff"])
]
FaceId = Annotated[str, Path(description="A face id (a UUID) returned by indexing.")]
UserId = Annotated[str, Path(description="A user id (`[a-zA-Z0-9_.:-]+`).")]
MaxResults = Annotated[int | None, Query(description="Largest number of items on one page.")]
NextToken = Annotated[
    str | None, Query(description="The NextToken of the previous page, to read the next one.")
]
IMAGE = {"image": "Image"}
PAIR = {"source": "SourceImage", "target": "TargetImage"}
UPLOAD_NOTE = (
    "\n\nSend the image as `multipart/form-data` (file field `{fields}`, the other parameters "
    "as form fields) or as `application/json` exactly like AWS JSON "
    '(`{{"Image": {{"Bytes": "<base64>"}}, ...}}`). JPEG or PNG; images are never fetched from '
    "URLs or server paths."
)


def _upload(description: str, fields: str = "image") -> str:
    return description + UPLOAD_NOTE.format(fields=fields)


@router.post(
    "/collections",
    status_code=201,
    tags=["collections"],
    summary="Create a collection",
    description="Creates an empty collection for faces and users (CreateCollection). "
    'Body: `{"CollectionId": "staff", "Tags": {"team": "security"}}`.',
    operation_id="CreateCollection",
    responses=answers("CreateCollection", 201, CONFLICT),
    openapi_extra=json_body("CreateCollection"),
)
async def create_collection(request: Request, caller: CallerDep) -> JSONResponse:
    """CreateCollection."""
    params = (await read_body(request)).params("CreateCollection")
    return await run(request, caller, "CreateCollection", params, status=201)


@router.get(
    "/collections",
    tags=["collections"],
    summary="List collections",
    description="The ids of your organization's collections, a page at a time (ListCollections).",
    operation_id="ListCollections",
    responses=answers("ListCollections"),
)
async def list_collections(
    request: Request,
    caller: CallerDep,
    max_results: MaxResults = None,
    next_token: NextToken = None,
) -> JSONResponse:
    """ListCollections."""
    params = query(MaxResults=max_results, NextToken=next_token)
    return await run(request, caller, "ListCollections", params)


@router.get(
    "/collections/{collection_id}",
    tags=["collections"],
    summary="Describe a collection",
    description="Face and user counts, model version and creation time (DescribeCollection).",
    operation_id="DescribeCollection",
    responses=answers("DescribeCollection", 200, NOT_FOUND),
)
async def describe_collection(
    request: Request, caller: CallerDep, collection_id: CollectionId
) -> JSONResponse:
    """DescribeCollection."""
    return await run(request, caller, "DescribeCollection", {"CollectionId": collection_id})


@router.delete(
    "/collections/{collection_id}",
    tags=["collections"],
    summary="Delete a collection",
    description="Deletes the collection with all its faces and users (DeleteCollection).",
    operation_id="DeleteCollection",
    responses=answers("DeleteCollection", 200, NOT_FOUND),
)
async def delete_collection(
    request: Request, caller: CallerDep, collection_id: CollectionId
) -> JSONResponse:
    """DeleteCollection."""
    return await run(request, caller, "DeleteCollection", {"CollectionId": collection_id})


@router.post(
    "/collections/{collection_id}/faces",
    tags=["faces"],
    summary="Index the faces in an image",
    description=_upload(
        "Detects faces and adds them to the collection (IndexFaces); optional "
        "`ExternalImageId`, `MaxFaces`, `QualityFilter`."
    ),
    operation_id="IndexFaces",
    responses=answers("IndexFaces", 200, NOT_FOUND),
    openapi_extra=upload_body("IndexFaces", IMAGE, ["CollectionId"]),
)
async def index_faces(
    request: Request, caller: CallerDep, collection_id: CollectionId
) -> JSONResponse:
    """IndexFaces."""
    body = await read_body(request, uploads=True)
    params = with_path(body.params("IndexFaces", IMAGE), CollectionId=collection_id)
    return await run(request, caller, "IndexFaces", params)


@router.get(
    "/collections/{collection_id}/faces",
    tags=["faces"],
    summary="List faces",
    description="The faces in the collection, a page at a time, optionally only those of one "
    "user or with the given ids (ListFaces).",
    operation_id="ListFaces",
    responses=answers("ListFaces", 200, NOT_FOUND),
)
async def list_faces(
    request: Request,
    caller: CallerDep,
    collection_id: CollectionId,
    max_results: MaxResults = None,
    next_token: NextToken = None,
    user_id: Annotated[str | None, Query(description="Only this user's faces.")] = None,
    face_id: Annotated[
        list[str] | None, Query(description="Only these faces (repeatable).")
    ] = None,
) -> JSONResponse:
    """ListFaces."""
    params = query(
        CollectionId=collection_id,
        MaxResults=max_results,
        NextToken=next_token,
        UserId=user_id,
        FaceIds=face_id,
    )
    return await run(request, caller, "ListFaces", params)


@router.delete(
    "/collections/{collection_id}/faces",
    tags=["faces"],
    summary="Delete faces",
    description='Deletes faces by id (DeleteFaces). Body: `{"FaceIds": ["<uuid>", ...]}`.',
    operation_id="DeleteFaces",
    responses=answers("DeleteFaces", 200, NOT_FOUND),
    openapi_extra=json_body("DeleteFaces", ["CollectionId"]),
)
async def delete_faces(
    request: Request, caller: CallerDep, collection_id: CollectionId
) -> JSONResponse:
    """DeleteFaces."""
    params = with_path((await read_body(request)).params("DeleteFaces"), CollectionId=collection_id)
    return await run(request, caller, "DeleteFaces", params)


@router.delete(
    "/collections/{collection_id}/faces/{face_id}",
    tags=["faces"],
    summary="Delete one face",
    description="Deletes one face (DeleteFaces with a single id).",
    operation_id="DeleteFace",
    responses=answers("DeleteFaces", 200, NOT_FOUND),
)
async def delete_face(
    request: Request, caller: CallerDep, collection_id: CollectionId, face_id: FaceId
) -> JSONResponse:
    """DeleteFaces with the one face id in the path."""
    params = {"CollectionId": collection_id, "FaceIds": [face_id]}
    return await run(request, caller, "DeleteFaces", params)


@router.post(
    "/collections/{collection_id}/search",
    tags=["search"],
    summary="Search the collection with an image",
    description=_upload(
        "Finds the faces in the collection that match the largest face in the image "
        "(SearchFacesByImage); optional `FaceMatchThreshold` (0-100), `MaxFaces`, "
        "`QualityFilter`."
    ),
    operation_id="SearchFacesByImage",
    responses=answers("SearchFacesByImage", 200, NOT_FOUND),
    openapi_extra=upload_body("SearchFacesByImage", IMAGE, ["CollectionId"]),
)
async def search_faces_by_image(
    request: Request, caller: CallerDep, collection_id: CollectionId
) -> JSONResponse:
    """SearchFacesByImage."""
    body = await read_body(request, uploads=True)
    params = with_path(body.params("SearchFacesByImage", IMAGE), CollectionId=collection_id)
    return await run(request, caller, "SearchFacesByImage", params)


@router.post(
    "/collections/{collection_id}/faces/{face_id}/search",
    tags=["search"],
    summary="Search the collection with an indexed face",
    description="Finds the faces in the collection that match an indexed face (SearchFaces). "
    'Optional body: `{"FaceMatchThreshold": 90, "MaxFaces": 5}`.',
    operation_id="SearchFaces",
    responses=answers("SearchFaces", 200, NOT_FOUND),
    openapi_extra=json_body("SearchFaces", ["CollectionId", "FaceId"], required=False),
)
async def search_faces(
    request: Request, caller: CallerDep, collection_id: CollectionId, face_id: FaceId
) -> JSONResponse:
    """SearchFaces."""
    body = await read_body(request)
    params = with_path(body.params("SearchFaces"), CollectionId=collection_id, FaceId=face_id)
    return await run(request, caller, "SearchFaces", params)


@router.post(
    "/collections/{collection_id}/users",
    tags=["users"],
    summary="Create a user",
    description="Creates a user, to which faces of one person can be associated (CreateUser). "
    'Body: `{"UserId": "alice", "ClientRequestToken": "optional-idempotency-token"}`.',
    status_code=201,
    operation_id="CreateUser",
    responses=answers("CreateUser", 201, NOT_FOUND, CONFLICT),
    openapi_extra=json_body("CreateUser", ["CollectionId"]),
)
async def create_user(
    request: Request, caller: CallerDep, collection_id: CollectionId
) -> JSONResponse:
    """CreateUser."""
    params = with_path((await read_body(request)).params("CreateUser"), CollectionId=collection_id)
    return await run(request, caller, "CreateUser", params, status=201)


@router.get(
    "/collections/{collection_id}/users",
    tags=["users"],
    summary="List users",
    description="The users in the collection, a page at a time (ListUsers).",
    operation_id="ListUsers",
    responses=answers("ListUsers", 200, NOT_FOUND),
)
async def list_users(
    request: Request,
    caller: CallerDep,
    collection_id: CollectionId,
    max_results: MaxResults = None,
    next_token: NextToken = None,
) -> JSONResponse:
    """ListUsers."""
    params = query(CollectionId=collection_id, MaxResults=max_results, NextToken=next_token)
    return await run(request, caller, "ListUsers", params)


@router.post(
    "/collections/{collection_id}/users/search",
    tags=["search"],
    summary="Search users with an image, a user or a face",
    description=_upload(
        "With an image: the users whose faces match the largest face in it "
        "(SearchUsersByImage). With a JSON body naming `UserId` or `FaceId` instead: the users "
        "matching that user or face (SearchUsers). Optional `UserMatchThreshold`, `MaxUsers`."
    ),
    operation_id="SearchUsers",
    responses=answers("SearchUsersByImage", 200, NOT_FOUND, alternative="SearchUsers"),
    openapi_extra=upload_body(
        "SearchUsersByImage", IMAGE, ["CollectionId"], alternative="SearchUsers"
    ),
)
async def search_users(
    request: Request, caller: CallerDep, collection_id: CollectionId
) -> JSONResponse:
    """SearchUsersByImage when an image is sent, SearchUsers otherwise."""
    body = await read_body(request, uploads=True)
    operation = "SearchUsersByImage" if body.has_file("image", "Image") else "SearchUsers"
    params = with_path(body.params(operation, IMAGE), CollectionId=collection_id)
    return await run(request, caller, operation, params)


@router.delete(
    "/collections/{collection_id}/users/{user_id}",
    tags=["users"],
    summary="Delete a user",
    description="Deletes the user; its faces stay in the collection, unassociated (DeleteUser). "
    'Optional body: `{"ClientRequestToken": "..."}`.',
    operation_id="DeleteUser",
    responses=answers("DeleteUser", 200, NOT_FOUND),
    openapi_extra=json_body("DeleteUser", ["CollectionId", "UserId"], required=False),
)
async def delete_user(
    request: Request, caller: CallerDep, collection_id: CollectionId, user_id: UserId
) -> JSONResponse:
    """DeleteUser."""
    body = await read_body(request)
    params = with_path(body.params("DeleteUser"), CollectionId=collection_id, UserId=user_id)
    return await run(request, caller, "DeleteUser", params)


@router.post(
    "/collections/{collection_id}/users/{user_id}/faces",
    tags=["users"],
    summary="Associate faces with a user",
    description="Associates indexed faces with the user when they match its faces "
    '(AssociateFaces). Body: `{"FaceIds": [...], "UserMatchThreshold": 75, '
    '"ClientRequestToken": "..."}`.',
    operation_id="AssociateFaces",
    responses=answers("AssociateFaces", 200, NOT_FOUND, CONFLICT),
    openapi_extra=json_body("AssociateFaces", ["CollectionId", "UserId"]),
)
async def associate_faces(
    request: Request, caller: CallerDep, collection_id: CollectionId, user_id: UserId
) -> JSONResponse:
    """AssociateFaces."""
    body = await read_body(request)
    params = with_path(body.params("AssociateFaces"), CollectionId=collection_id, UserId=user_id)
    return await run(request, caller, "AssociateFaces", params)


@router.delete(
    "/collections/{collection_id}/users/{user_id}/faces",
    tags=["users"],
    summary="Disassociate faces from a user",
    description='Removes faces from the user (DisassociateFaces). Body: `{"FaceIds": [...]}`.',
    operation_id="DisassociateFaces",
    responses=answers("DisassociateFaces", 200, NOT_FOUND, CONFLICT),
    openapi_extra=json_body("DisassociateFaces", ["CollectionId", "UserId"]),
)
async def disassociate_faces(
    request: Request, caller: CallerDep, collection_id: CollectionId, user_id: UserId
) -> JSONResponse:
    """DisassociateFaces."""
    body = await read_body(request)
    params = with_path(body.params("DisassociateFaces"), CollectionId=collection_id, UserId=user_id)
    return await run(request, caller, "DisassociateFaces", params)


@router.post(
    "/detect",
    tags=["analysis"],
    summary="Detect faces",
    description=_upload(
        "The faces in an image: bounding box, confidence, landmarks, pose and quality "
        "(DetectFaces). Age, gender, emotion and other traits are never inferred."
    ),
    operation_id="DetectFaces",
    responses=answers("DetectFaces"),
    openapi_extra=upload_body("DetectFaces", IMAGE),
)
async def detect_faces(request: Request, caller: CallerDep) -> JSONResponse:
    """DetectFaces."""
    params = (await read_body(request, uploads=True)).params("DetectFaces", IMAGE)
    return await run(request, caller, "DetectFaces", params)


@router.post(
    "/compare",
    tags=["analysis"],
    summary="Compare faces",
    description=_upload(
        "Compares the largest face in the source image with each face in the target image "
        "(CompareFaces); optional `SimilarityThreshold`, `QualityFilter`. As JSON, the images "
        "are `SourceImage` and `TargetImage`.",
        "source` and `target",
    ),
    operation_id="CompareFaces",
    responses=answers("CompareFaces"),
    openapi_extra=upload_body("CompareFaces", PAIR),
)
async def compare_faces(request: Request, caller: CallerDep) -> JSONResponse:
    """CompareFaces."""
    params = (await read_body(request, uploads=True)).params("CompareFaces", PAIR)
    return await run(request, caller, "CompareFaces", params)
