"""Reading REST input: JSON or multipart bodies under the cap, form fields typed by shape."""

from __future__ import annotations

import base64
import json
import logging
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from email.message import Message
from email.parser import BytesParser
from email.utils import collapse_rfc2231_value
from typing import Any

from botocore.model import ListShape, Shape
from fastapi import Request

from facegate.api.awsjson import read_capped
from facegate.api.rest.errors import MAX_FORM_PARTS, UnsupportedContentType
from facegate.api.validation import operation_model
from facegate.errors import (
    InvalidParameterException,
)
from facegate.service import Services

logger = logging.getLogger(__name__)


def services_of(request: Request) -> Services:
    services: Services = request.app.state.services
    return services


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
    data = await read_capped(request, services_of(request).settings.max_body_bytes)
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
