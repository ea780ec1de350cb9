"""OpenAPI documentation of the REST door, generated from botocore's shapes."""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping
from typing import Any

from botocore.model import ListShape, MapShape, Shape, StructureShape
from pydantic import BaseModel, Field

from facegate.api.rest.errors import REQUEST_ID_HEADER
from facegate.api.validation import operation_model

logger = logging.getLogger(__name__)

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
    rules: list[str] | None = Field(
        default=None,
        description="For a denial: the ids of the policy rules that denied the request.",
        examples=[["MORATORIUM"]],
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
NOT_FOUND: dict[int | str, dict[str, Any]] = {
    404: _error("ResourceNotFoundException: no such collection, face or user.")
}
CONFLICT: dict[int | str, dict[str, Any]] = {
    409: _error("ResourceAlreadyExistsException or ConflictException: it exists already.")
}


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
    *extra: Mapping[Any, Any],
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
