"""The authentication errors facegate raises, named as AWS names them.

All are HTTP 403. boto3 maps the class name (the ``__type``) to the error code a
``ClientError`` carries, so the names must stay exactly as AWS spells them.
"""

from __future__ import annotations

from facegate.errors import FacegateError


class UnrecognizedClientException(FacegateError):
    """The access key id in the signature is unknown or has been revoked."""

    status = 403


class InvalidSignatureException(FacegateError):
    """The signature does not match, or the request date is too far from the server clock."""

    status = 403


class MissingAuthenticationTokenException(FacegateError):
    """No ``Authorization`` header, or one that is not AWS Signature Version 4."""

    status = 403


class IncompleteSignatureException(FacegateError):
    """An ``AWS4-HMAC-SHA256`` Authorization header that is malformed or lacks a part."""

    status = 403
