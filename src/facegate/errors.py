"""The error types facegate raises, named as Amazon Rekognition names them.

Every error carries the AWS ``__type`` name (its class name), an HTTP status and a message
written for the person who sent the request: what was wrong and, where possible, what to do.
The front doors turn them into ``{"__type": ..., "message": ...}`` bodies (AWS JSON) or
``{"error": {"type": ..., "message": ...}, "requestId": ...}`` (REST); the CLI prints them.
"""

from __future__ import annotations


class FacegateError(Exception):
    """Base of every error a client may see. ``status`` is the HTTP status to answer with."""

    status: int = 400

    def __init__(self, message: str, rules: tuple[str, ...] = ()) -> None:
        super().__init__(message)
        self.message = message
        # The policy rules that denied the request (empty for errors that are not denials).
        self.rules = tuple(rules)
        # Extra response headers (a denial's X-Facegate-* headers).
        self.headers: dict[str, str] = {}

    def __reduce__(self):  # pickles across the worker pool with its rules
        return (type(self), (self.message, self.rules))

    @property
    def type_name(self) -> str:
        """The ``__type`` that boto3 maps to ``client.exceptions.<Name>``."""
        return type(self).__name__

    def to_dict(self) -> dict[str, str]:
        return {"__type": self.type_name, "message": self.message}


class InvalidImageFormatException(FacegateError):
    """Not an image, a truncated image, or a format other than JPEG and PNG."""


class ImageTooLargeException(FacegateError):
    """The image exceeds the byte or pixel limit."""


class InvalidParameterException(FacegateError):
    """A parameter is missing, of the wrong type, out of range, or the image has no face."""


class ResourceNotFoundException(FacegateError):
    pass


class AccessDeniedException(FacegateError):
    status = 403


class ProvisionedThroughputExceededException(FacegateError):
    status = 429


class ThrottlingException(FacegateError):
    status = 429


class InternalServerError(FacegateError):
    status = 500


class UnknownOperationException(FacegateError):
    """An ``X-Amz-Target`` that names no operation facegate serves."""


class ResourceAlreadyExistsException(FacegateError):
    pass


class InvalidPaginationTokenException(FacegateError):
    pass


class IdempotentParameterMismatchException(FacegateError):
    pass


class ConflictException(FacegateError):
    status = 409


class ServiceQuotaExceededException(FacegateError):
    pass


class LimitExceededException(FacegateError):
    pass


class VideoTooLargeException(FacegateError):
    """The video exceeds the upload or duration limit."""

    status = 413


class InvalidS3ObjectException(FacegateError):
    """A ``Video.S3Object`` that names no video facegate holds (or may read)."""
