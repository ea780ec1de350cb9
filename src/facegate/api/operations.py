"""The operations behind both front doors: validated parameters in, a response body out.

A handler never sees HTTP: the AWS JSON door (and later the REST door) parse and validate,
call one handler, and shape the answer. Handlers run the engine in the worker pool.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from facegate.api.inference import InferencePool
from facegate.config import Settings
from facegate.errors import AccessDeniedException, InvalidParameterException
from facegate.vision import workers
from facegate.vision.engine import DEFAULT_SIMILARITY_THRESHOLD

# NO-ATTRIBUTES (policy-rules.md): no inference of age, gender, emotion or other traits.
ALLOWED_ATTRIBUTES = {"DEFAULT"}


@dataclass
class Context:
    settings: Settings
    pool: InferencePool
    request_id: str


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


async def detect_faces(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    asked = set(params.get("Attributes") or ["DEFAULT"])
    refused = sorted(asked - ALLOWED_ATTRIBUTES)
    if refused:
        raise AccessDeniedException(
            f"Denied by NO-ATTRIBUTES: facegate never infers age, gender, emotion or other "
            f"personal traits, so Attributes {refused} cannot be served. Ask for DEFAULT "
            "(bounding box, confidence, landmarks, pose, quality)."
        )
    return await ctx.pool.run(workers.detect_faces, image_bytes(params, "Image"))


async def compare_faces(params: dict[str, Any], ctx: Context) -> dict[str, Any]:
    return await ctx.pool.run(
        workers.compare_faces,
        image_bytes(params, "SourceImage"),
        image_bytes(params, "TargetImage"),
        float(params.get("SimilarityThreshold", DEFAULT_SIMILARITY_THRESHOLD)),
        params.get("QualityFilter", "NONE"),
    )


OPERATIONS: dict[str, Handler] = {
    "DetectFaces": detect_faces,
    "CompareFaces": compare_faces,
}
