"""Request validation against botocore's own Rekognition service model.

The model (shipped inside ``botocore``) is the authority on member names, types, required
members, lengths, ranges, patterns and enums. This module walks a parsed JSON request against
an operation's input shape, decodes base64 blobs, and raises ``InvalidParameterException``
with AWS's wording ("Value at 'X' failed to satisfy constraint: ...") on the first violation.
Image bytes are checked against facegate's own (configurable) limit, not the model's 5 MB,
and answer ``ImageTooLargeException``.
"""

from __future__ import annotations

import base64
import binascii
import math
import re
from functools import cache
from typing import Any

from botocore.loaders import Loader
from botocore.model import OperationModel, ServiceModel, Shape

from facegate.errors import ImageTooLargeException, InvalidParameterException

SERVICE = "rekognition"


@cache
def service_model() -> ServiceModel:
    """botocore's Rekognition model (loaded once)."""
    return ServiceModel(Loader().load_service_model(SERVICE, "service-2"), SERVICE)


def operation_model(name: str) -> OperationModel | None:
    model = service_model()
    return model.operation_model(name) if name in model.operation_names else None


@cache
def _pattern(expr: str) -> re.Pattern[str] | None:
    try:
        return re.compile(expr)
    except re.error:
        return None  # a Java-only construct: the other constraints still apply


def _fail(path: str, constraint: str) -> InvalidParameterException:
    return InvalidParameterException(
        f"1 validation error detected: Value at '{path}' failed to satisfy constraint: {constraint}"
    )


def validate(operation: OperationModel, params: Any, *, max_image_bytes: int) -> dict[str, Any]:
    """Check ``params`` against ``operation``'s input shape; return them with blobs decoded."""
    shape = operation.input_shape
    if shape is None:
        return {}
    if not isinstance(params, dict):
        raise InvalidParameterException("The request body must be a JSON object.")
    return _walk(shape, params, "", max_image_bytes)


def _walk(shape: Shape, value: Any, path: str, max_image_bytes: int) -> Any:
    kind = shape.type_name
    meta = shape.metadata
    label = path or shape.name
    if kind == "structure":
        if not isinstance(value, dict):
            raise _fail(label, "Member must be an object")
        members = shape.members
        unknown = sorted(set(value) - set(members))
        if unknown:
            raise InvalidParameterException(
                f"Unknown parameter(s) {', '.join(unknown)} at '{label}'; valid parameters: "
                f"{', '.join(members)}"
            )
        for required in shape.required_members:
            if value.get(required) is None:
                raise _fail(_join(path, required), "Member must not be null")
        return {
            name: _walk(members[name], item, _join(path, name), max_image_bytes)
            for name, item in value.items()
            if item is not None
        }
    if kind == "list":
        if not isinstance(value, list):
            raise _fail(label, "Member must be a list")
        _check_length(len(value), meta, label)
        member = shape.member
        return [
            _walk(member, item, f"{label}.{i + 1}", max_image_bytes) for i, item in enumerate(value)
        ]
    if kind == "map":
        if not isinstance(value, dict):
            raise _fail(label, "Member must be a map")
        _check_length(len(value), meta, label)
        return {
            _walk(shape.key, k, f"{label}.key", max_image_bytes):
            _walk(shape.value, v, f"{label}.{k}", max_image_bytes)
            for k, v in value.items()
        }
    if kind == "string":
        if not isinstance(value, str):
            raise _fail(label, "Member must be a string")
        _check_length(len(value), meta, label)
        if shape.enum and value not in shape.enum:
            raise _fail(label, f"Member must satisfy enum value set: [{', '.join(shape.enum)}]")
        pattern = _pattern(meta["pattern"]) if "pattern" in meta else None
        if pattern is not None and not pattern.fullmatch(value):
            raise _fail(label, f"Member must satisfy regular expression pattern: {meta['pattern']}")
        return value
    if kind in ("integer", "long"):
        if isinstance(value, bool) or not isinstance(value, int):
            raise _fail(label, "Member must be a whole number")
        _check_range(value, meta, label)
        return value
    if kind in ("float", "double"):
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise _fail(label, "Member must be a number")
        if not math.isfinite(value):
            raise _fail(label, "Member must be a finite number")
        _check_range(value, meta, label)
        return float(value)
    if kind == "boolean":
        if not isinstance(value, bool):
            raise _fail(label, "Member must be true or false")
        return value
    if kind == "blob":
        return _blob(shape, value, label, max_image_bytes)
    if kind == "timestamp":
        if isinstance(value, bool) or not isinstance(value, int | float | str):
            raise _fail(label, "Member must be a timestamp")
        return value
    raise _fail(label, f"Unsupported member type {kind}")


def _blob(shape: Shape, value: Any, label: str, max_image_bytes: int) -> bytes:
    if not isinstance(value, str):
        raise _fail(label, "Member must be base64-encoded bytes")
    # Refuse before decoding when even the encoded text is too long.
    if shape.name == "ImageBlob" and len(value) > (max_image_bytes + 2) // 3 * 4 + 4:
        raise ImageTooLargeException(
            f"The image at '{label}' is larger than the limit of {max_image_bytes} bytes."
        )
    try:
        data = base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise _fail(label, "Member must be valid base64") from None
    if shape.name == "ImageBlob":
        if len(data) > max_image_bytes:
            raise ImageTooLargeException(
                f"The image at '{label}' is {len(data)} bytes; the limit is {max_image_bytes}."
            )
        if not data:
            raise _fail(label, "Member must have length greater than or equal to 1")
        return data
    _check_length(len(data), shape.metadata, label)
    return data


def _check_length(n: int, meta: dict[str, Any], label: str) -> None:
    if "min" in meta and n < meta["min"]:
        raise _fail(label, f"Member must have length greater than or equal to {meta['min']}")
    if "max" in meta and n > meta["max"]:
        raise _fail(label, f"Member must have length less than or equal to {meta['max']}")


def _check_range(v: float, meta: dict[str, Any], label: str) -> None:
    if "min" in meta and v < meta["min"]:
        raise _fail(label, f"Member must have value greater than or equal to {meta['min']}")
    if "max" in meta and v > meta["max"]:
        raise _fail(label, f"Member must have value less than or equal to {meta['max']}")


def _join(path: str, name: str) -> str:
    return f"{path}.{name}" if path else name
