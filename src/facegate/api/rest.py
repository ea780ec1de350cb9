"""The REST front door: the same operations as resources under ``/v1``.

Each route is thin: it authenticates the ``X-Api-Key`` header, reads the body under the same
cap as the AWS JSON door, turns path, query, form and JSON input into the AWS-shaped
parameters (images as base64 text), validates them against botocore's Rekognition model with
the same :func:`~facegate.api.validation.validate`, and calls the same handler from
:data:`~facegate.api.operations.OPERATIONS`. Both doors therefore share one implementation,
one set of limits and one set of error types.

Images arrive either as ``multipart/form-data`` file fields (``image``; ``source`` and
``target`` for comparison) or as JSON exactly like AWS JSON (``{"Image": {"Bytes": "<base64>"}}``).
facegate never fetches an image from a URL or a server path.

Errors are ``{"error": {"type": <AWS __type>, "message": ...}, "requestId": ...}`` with a
REST-style HTTP status (see :data:`REST_STATUS`); every response carries ``x-request-id``.
"""

from __future__ import annotations

import base64
import hmac
import json
import logging
import math
import uuid
from collections.abc import Callable, Coroutine, Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from typing import Annotated, Any

from botocore.model import ListShape, MapShape, Shape, StructureShape
from fastapi import APIRouter, Depends, Path, Query, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from fastapi.routing import APIRoute
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, Field
from starlette.requests import ClientDisconnect

from facegate.api.awsjson import read_capped
from facegate.api.operations import OPERATIONS, Context
from facegate.api.validation import operation_model, validate
from facegate.auth.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from facegate.errors import (
    AccessDeniedException,
    ConflictException,
    FacegateError,
    IdempotentParameterMismatchException,
    ImageTooLargeException,
    InternalServerError,
    InvalidImageFormatException,
    InvalidPaginationTokenException,
    InvalidParameterException,
    LimitExceededException,
    ProvisionedThroughputExceededException,
    ResourceAlreadyExistsException,
    ResourceNotFoundException,
    ServiceQuotaExceededException,
    ThrottlingException,
    UnknownOperationException,
)
from facegate.gallery.accounts import Caller
from facegate.service import Services

logger = logging.getLogger(__name__)

API_KEY_HEADER = "X-Api-Key"
REQUEST_ID_HEADER = "x-request-id"
MAX_FORM_PARTS = 64

# The HTTP status each error type answers with on this door (the AWS JSON door keeps AWS's).
REST_STATUS: dict[type[FacegateError], int] = {
    ResourceNotFoundException: 404,
    ResourceAlreadyExistsException: 409,
    ConflictException: 409,
    AccessDeniedException: 403,
    MissingAuthenticationTokenException: 401,
    IncompleteSignatureException: 401,
    UnrecognizedClientException: 401,
    InvalidSignatureException: 401,
    InvalidParameterException: 400,
    InvalidPaginationTokenException: 400,
    IdempotentParameterMismatchException: 400,
    InvalidImageFormatException: 400,
    UnknownOperationException: 400,
    ImageTooLargeException: 413,
    ProvisionedThroughputExceededException: 429,
    ThrottlingException: 429,
    ServiceQuotaExceededException: 400,
    LimitExceededException: 400,
    InternalServerError: 500,
}
AUTH_ERRORS = (
    MissingAuthenticationTokenException,
    IncompleteSignatureException,
    UnrecognizedClientException,
    InvalidSignatureException,
)


class UnsupportedContentType(InvalidParameterException):
    """A body in a content type the route does not read: an InvalidParameterException, 415."""

    status = 415

    @property
    def type_name(self) -> str:
        """Reported as InvalidParameterException, the AWS type clients already handle."""
        return InvalidParameterException.__name__


def rest_status(error: FacegateError) -> int:
    """The HTTP status for ``error`` on the REST door."""
    return REST_STATUS.get(type(error), error.status)


def error_response(error: FacegateError, request_id: str) -> JSONResponse:
    """The REST error document for ``error``."""
    headers = {}
    if isinstance(error, AUTH_ERRORS):
        headers["WWW-Authenticate"] = f'ApiKey header="{API_KEY_HEADER}"'
    return JSONResponse(
        {"error": {"type": error.type_name, "message": error.message}, "requestId": request_id},
        status_code=rest_status(error),
        headers=headers,
    )


def invalid_request(error: RequestValidationError) -> InvalidParameterException:
    """FastAPI's own validation failure (path or query), worded like ``validate``'s errors."""
    problems = list(error.errors())
    if not problems:
        return InvalidParameterException("The request is not valid.")
    first = problems[0]
    where = ".".join(str(part) for part in first.get("loc", ()))
    return InvalidParameterException(
        f"{len(problems)} validation error(s) detected: Value at '{where}' failed to satisfy "
        f"constraint: {first.get('msg', 'invalid value')}"
    )


class RestRoute(APIRoute):
    """A route that answers every error in the REST error shape and tags each response.

    Scoping this to the ``/v1`` router keeps FastAPI's 422 handling and the JSON error shape
    away from the AWS JSON door, which answers its own errors.
    """

    def get_route_handler(self) -> Callable[[Request], Coroutine[Any, Any, Response]]:
        """FastAPI's handler wrapped with the request id and the error translation."""
        handler = super().get_route_handler()

        async def answer(request: Request) -> Response:
            request_id = str(uuid.uuid4())
            request.state.request_id = request_id
            try:
                response = await handler(request)
            except FacegateError as error:
                response = error_response(error, request_id)
            except RequestValidationError as error:
                response = error_response(invalid_request(error), request_id)
            except ClientDisconnect:
                response = error_response(
                    InvalidParameterException("The client disconnected during the request."),
                    request_id,
                )
            except Exception:
                logger.exception("request %s failed", request_id)
                response = error_response(
                    InternalServerError("facegate failed to answer; the error is in its log."),
                    request_id,
                )
            response.headers[REQUEST_ID_HEADER] = request_id
            return response

        return answer


# --- OpenAPI documentation ---------------------------------------------------------------------


class ErrorDetail(BaseModel):
    """What went wrong."""

    type: str = Field(
        description="The AWS error type (the `__type` a boto3 client would see).",
        examples=["ResourceNotFoundException"],
    )
    message: str = Field(
        description="What was wrong and, where possible, what to do.",
        examples=["Collection 'staff' does not exist."],
    )


class ErrorResponse(BaseModel):
    """The body of every error answer under ``/v1``."""

    error: ErrorDetail
    requestId: str = Field(
        description="Also in the `x-request-id` header.",
        examples=["7c1a9f5e-3f0e-4c61-9a59-0f7a9d1c2b11"],
    )


REQUEST_ID_DOC = {
    REQUEST_ID_HEADER: {
        "description": "The request's id, also in error bodies and the server log.",
        "schema": {"type": "string"},
    }
}


def _error(description: str) -> dict[str, Any]:
    return {"model": ErrorResponse, "description": description, "headers": REQUEST_ID_DOC}


ERROR_RESPONSES: dict[int | str, dict[str, Any]] = {
    400: _error(
        "InvalidParameterException, InvalidImageFormatException, "
        "InvalidPaginationTokenException, IdempotentParameterMismatchException, "
        "LimitExceededException or ServiceQuotaExceededException."
    ),
    401: _error(
        "MissingAuthenticationTokenException (no X-Api-Key), IncompleteSignatureException "
        "(not `<access_key_id>:<secret_access_key>`), UnrecognizedClientException (unknown or "
        "revoked key) or InvalidSignatureException (wrong secret)."
    ),
    403: _error("AccessDeniedException: refused by a responsible-use rule."),
    413: _error("ImageTooLargeException: the body or an image is over the configured limit."),
    429: _error("ProvisionedThroughputExceededException or ThrottlingException: retry later."),
    500: _error("InternalServerError."),
    "default": _error("Any other error, in the same shape."),
}
NOT_FOUND = {404: _error("ResourceNotFoundException: no such collection, face or user.")}
CONFLICT = {409: _error("ResourceAlreadyExistsException or ConflictException: it exists already.")}


def shape_schema(shape: Shape, seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """A JSON Schema for a botocore shape (names, types, lengths, ranges, patterns, enums)."""
    kind, meta = shape.type_name, shape.metadata
    if isinstance(shape, StructureShape):
        if shape.name in seen:
            return {"type": "object", "title": shape.name}
        schema: dict[str, Any] = {
            "type": "object",
            "title": shape.name,
            "properties": {
                name: shape_schema(member, (*seen, shape.name))
                for name, member in shape.members.items()
            },
        }
        if shape.required_members:
            schema["required"] = list(shape.required_members)
        return schema
    if isinstance(shape, ListShape):
        schema = {"type": "array", "items": shape_schema(shape.member, seen)}
        _limits(schema, meta, "minItems", "maxItems")
        return schema
    if isinstance(shape, MapShape):
        schema = {"type": "object", "additionalProperties": shape_schema(shape.value, seen)}
        _limits(schema, meta, "minProperties", "maxProperties")
        return schema
    if kind == "string":
        schema = {"type": "string"}
        _limits(schema, meta, "minLength", "maxLength")
        if shape.enum:
            schema["enum"] = list(shape.enum)
        if "pattern" in meta:
            schema["pattern"] = meta["pattern"]
        return schema
    if kind in ("integer", "long", "float", "double"):
        schema = {"type": "integer" if kind in ("integer", "long") else "number"}
        _limits(schema, meta, "minimum", "maximum")
        return schema
    if kind == "boolean":
        return {"type": "boolean"}
    if kind == "blob":
        return {"type": "string", "format": "byte", "description": "base64"}
    if kind == "timestamp":
        return {"type": "number", "description": "Seconds since 1970-01-01T00:00:00Z."}
    return {}


def _limits(schema: dict[str, Any], meta: Mapping[str, Any], low: str, high: str) -> None:
    if "min" in meta:
        schema[low] = meta["min"]
    if "max" in meta:
        schema[high] = meta["max"]


def _input_schema(operation: str, leave_out: Iterable[str]) -> dict[str, Any]:
    """The operation's input schema without the members the URL path carries."""
    model = operation_model(operation)
    assert model is not None and model.input_shape is not None
    schema = shape_schema(model.input_shape)
    gone = set(leave_out)
    schema["properties"] = {k: v for k, v in schema["properties"].items() if k not in gone}
    required = [name for name in schema.get("required", []) if name not in gone]
    if required:
        schema["required"] = required
    else:
        schema.pop("required", None)
    return schema


def _form_schema(operation: str, leave_out: Iterable[str], files: Mapping[str, str]) -> dict:
    """The multipart form: file fields for the images, the other members as fields."""
    schema = _input_schema(operation, [*leave_out, *files.values()])
    properties = {
        field: {
            "type": "string",
            "format": "binary",
            "description": f"The {member} (JPEG or PNG file).",
        }
        for field, member in files.items()
    }
    for name, member in schema["properties"].items():
        if member.get("type") == "object":
            member = {"type": "string", "description": f"{name} as JSON text."}
        properties[name] = member
    schema["properties"] = properties
    schema["required"] = [*files, *schema.get("required", [])]
    schema["title"] = f"{operation}Form"
    return schema


def json_body(operation: str, path: Iterable[str] = (), *, required: bool = True) -> dict:
    """``openapi_extra`` documenting an ``application/json`` body for ``operation``."""
    return {
        "requestBody": {
            "required": required,
            "content": {"application/json": {"schema": _input_schema(operation, path)}},
        }
    }


def upload_body(
    operation: str,
    files: Mapping[str, str],
    path: Iterable[str] = (),
    *,
    alternative: str | None = None,
) -> dict:
    """``openapi_extra`` documenting an image upload, as multipart or as AWS-style JSON.

    ``alternative`` is a second operation the same route serves from a JSON body.
    """
    path = list(path)
    schema = _input_schema(operation, path)
    if alternative:
        schema = {"oneOf": [schema, _input_schema(alternative, path)]}
    return {
        "requestBody": {
            "required": True,
            "content": {
                "multipart/form-data": {"schema": _form_schema(operation, path, files)},
                "application/json": {"schema": schema},
            },
        }
    }


def _output_schema(operation: str) -> dict[str, Any]:
    model = operation_model(operation)
    assert model is not None and model.output_shape is not None
    return shape_schema(model.output_shape)


def answers(
    operation: str,
    status: int = 200,
    *extra: Mapping[int | str, Any],
    alternative: str | None = None,
) -> dict:
    """``responses`` documenting the Rekognition-shaped result (of either operation) and errors."""
    schema = _output_schema(operation)
    name = operation
    if alternative:
        schema = {"oneOf": [schema, _output_schema(alternative)]}
        name = f"{operation} or {alternative}"
    documented: dict[int | str, Any] = {
        status: {
            "description": f"The {name} result, shaped as Amazon Rekognition shapes it.",
            "headers": REQUEST_ID_DOC,
            "content": {"application/json": {"schema": schema}},
        }
    }
    for more in extra:
        documented.update(more)
    return documented


# --- authentication ----------------------------------------------------------------------------

API_KEY = APIKeyHeader(
    name=API_KEY_HEADER,
    scheme_name="ApiKey",
    description="`<access_key_id>:<secret_access_key>`: a key pair issued by "
    "`facegate admin key create` (the same pair boto3 signs with on the AWS JSON door).",
    auto_error=False,
)


def authenticate(request: Request, api_key: Annotated[str | None, Security(API_KEY)]) -> Caller:
    """The caller whose key pair is in ``X-Api-Key``, or an authentication error (401)."""
    if not api_key:
        raise MissingAuthenticationTokenException(
            f"Missing {API_KEY_HEADER} header: send {API_KEY_HEADER}: "
            "<access_key_id>:<secret_access_key>."
        )
    key_id, colon, secret = api_key.strip().partition(":")
    if not colon or not key_id or not secret:
        raise IncompleteSignatureException(
            f"The {API_KEY_HEADER} header must be <access_key_id>:<secret_access_key>."
        )
    accounts = _services(request).accounts
    expected = accounts.secret_for(key_id)
    if expected is None:
        raise UnrecognizedClientException(
            f"The access key id {key_id[:40]!r} is unknown or has been revoked."
        )
    if not hmac.compare_digest(secret.encode(), expected.encode()):
        raise InvalidSignatureException(
            f"The secret access key in {API_KEY_HEADER} does not match the access key id "
            f"{key_id[:40]!r}."
        )
    return accounts.caller(key_id)


CallerDep = Annotated[Caller, Depends(authenticate)]


def _services(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


# --- reading the input -------------------------------------------------------------------------


@dataclass(frozen=True)
class FormPart:
    """One part of a ``multipart/form-data`` body."""

    name: str
    data: bytes
    filename: str | None


@dataclass(frozen=True)
class Body:
    """A request body, read under the cap: a JSON object or the parts of a multipart form."""

    document: dict[str, Any] | None = None
    parts: tuple[FormPart, ...] | None = None

    def has_file(self, field: str, member: str) -> bool:
        """Whether the image ``member`` was sent (as ``field`` when multipart)."""
        if self.parts is not None:
            return any(part.name == field for part in self.parts)
        return member in (self.document or {})

    def params(self, operation: str, files: Mapping[str, str] | None = None) -> dict[str, Any]:
        """The AWS-shaped parameters this body carries for ``operation``."""
        if self.parts is None:
            return dict(self.document or {})
        return form_params(self.parts, operation, files or {})


def _content_type(request: Request) -> Message:
    message = Message()
    message["content-type"] = request.headers.get("content-type", "application/json")
    return message


def _is_json(message: Message) -> bool:
    subtype = message.get_content_subtype()
    return message.get_content_maintype() == "application" and (
        subtype == "json" or subtype.endswith("+json")
    )


async def read_body(request: Request, *, uploads: bool = False) -> Body:
    """The body under the same byte cap as the AWS JSON door (refused before it is all read)."""
    message = _content_type(request)
    multipart = uploads and message.get_content_type() == "multipart/form-data"
    if not multipart and not _is_json(message):
        accepted = "multipart/form-data or application/json" if uploads else "application/json"
        raise UnsupportedContentType(
            f"This route reads {accepted}, not {message.get_content_type()}."
        )
    data = await read_capped(request, _services(request).settings.max_body_bytes)
    if multipart:
        return Body(parts=tuple(parse_multipart(data, message)))
    return Body(document=parse_json(data))


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a number")


def parse_json(data: bytes) -> dict[str, Any]:
    """A JSON object (an empty body is ``{}``); NaN and Infinity are not JSON numbers."""
    if not data.strip():
        return {}
    try:
        value = json.loads(data, parse_constant=_refuse_constant)
    except ValueError:
        raise InvalidParameterException("The request body is not valid JSON.") from None
    if not isinstance(value, dict):
        raise InvalidParameterException("The request body must be a JSON object.")
    return value


def parse_multipart(data: bytes, content_type: Message) -> list[FormPart]:
    """The parts of a ``multipart/form-data`` body held in memory (RFC 7578)."""
    boundary = content_type.get_boundary()
    if not boundary:
        raise InvalidParameterException("A multipart/form-data body needs a boundary parameter.")
    chunks = (b"\r\n" + data).split(b"\r\n--" + boundary.encode("latin-1"))
    parts: list[FormPart] = []
    for chunk in chunks[1:]:
        if chunk.startswith(b"--"):
            return parts
        if len(parts) == MAX_FORM_PARTS:
            raise InvalidParameterException(f"A form may have at most {MAX_FORM_PARTS} fields.")
        head, blank, content = chunk.partition(b"\r\n\r\n")
        _, _, header_block = head.partition(b"\r\n")
        if not blank:
            raise InvalidParameterException("A multipart/form-data part has no header end.")
        headers = BytesParser().parsebytes(header_block + b"\r\n\r\n", headersonly=True)
        name = headers.get_param("name", header="content-disposition")
        if headers.get_content_disposition() != "form-data" or not name:
            raise InvalidParameterException(
                "Every multipart part needs Content-Disposition: form-data with a name."
            )
        filename = headers.get_filename()
        parts.append(FormPart(collapse_rfc2231_value(name), content, filename))
    raise InvalidParameterException("The multipart/form-data body is truncated.")


def form_params(
    parts: Iterable[FormPart], operation: str, files: Mapping[str, str]
) -> dict[str, Any]:
    """Form fields as AWS parameters: images base64-encoded, values typed by the input shape."""
    model = operation_model(operation)
    assert model is not None and model.input_shape is not None
    members = model.input_shape.members
    params: dict[str, Any] = {}
    fields: dict[str, list[str]] = {}
    for part in parts:
        if part.name in files:
            member = files[part.name]
            if member in params:
                raise InvalidParameterException(f"The file field {part.name!r} is given twice.")
            params[member] = {"Bytes": base64.b64encode(part.data).decode("ascii")}
        elif part.filename is not None:
            raise InvalidParameterException(
                f"Unexpected file field {part.name!r}; images go in {', '.join(files) or 'none'}."
            )
        else:
            try:
                fields.setdefault(part.name, []).append(part.data.decode("utf-8"))
            except UnicodeDecodeError:
                raise InvalidParameterException(
                    f"The form field {part.name!r} is not UTF-8 text."
                ) from None
    for name, values in fields.items():
        if name in params:
            raise InvalidParameterException(f"{name} is given twice.")
        params[name] = _typed(members.get(name), name, values)
    return params


def _typed(shape: Shape | None, name: str, values: list[str]) -> Any:
    """Form text converted by the botocore type; what does not convert is left for validate."""
    if isinstance(shape, ListShape):
        return [_scalar(shape.member, value) for value in values]
    if len(values) > 1:
        raise InvalidParameterException(f"The form field {name!r} is given more than once.")
    return values[0] if shape is None else _scalar(shape, values[0])


def _scalar(shape: Shape, text: str) -> Any:
    kind = shape.type_name
    try:
        if kind in ("integer", "long"):
            return int(text)
        if kind in ("float", "double"):
            number = float(text)
            return number if math.isfinite(number) else text
        if kind == "boolean" and text.lower() in ("true", "false"):
            return text.lower() == "true"
        if kind in ("structure", "map", "list"):
            return json.loads(text, parse_constant=_refuse_constant)
    except ValueError:
        return text
    return text


def with_path(params: dict[str, Any], **path: Any) -> dict[str, Any]:
    """``params`` plus the members the URL path gives, which the body may not repeat."""
    for name in path:
        if name in params:
            raise InvalidParameterException(
                f"{name} is taken from the URL path; leave it out of the body."
            )
    return {**params, **path}


def query(**values: Any) -> dict[str, Any]:
    """Query parameters as AWS members, leaving out those not given."""
    return {name: value for name, value in values.items() if value is not None}


# --- running an operation ----------------------------------------------------------------------


async def run(
    request: Request, caller: Caller, operation: str, params: dict[str, Any], status: int = 200
) -> JSONResponse:
    """Validate ``params`` as the AWS JSON door does and answer the handler's result."""
    state = request.app.state
    model = operation_model(operation)
    assert model is not None
    valid = validate(model, params, max_image_bytes=state.settings.decode.max_bytes)
    services = _services(request)
    context = Context(
        settings=state.settings,
        pool=state.pool,
        request_id=request.state.request_id,
        caller=caller,
        gallery=services.gallery,
        idempotency=state.idempotency,
    )
    return JSONResponse(await OPERATIONS[operation](valid, context), status_code=status)


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
