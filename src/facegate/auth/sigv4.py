"""Server-side verification of AWS Signature Version 4 (header form, ``AWS4-HMAC-SHA256``).

The expected signature is computed by botocore's own :class:`botocore.auth.SigV4Auth`, fed a
request rebuilt from what was received: the method, the URL (path and query), exactly the
headers the client listed in ``SignedHeaders`` with their received values, the body, and the
client's ``X-Amz-Date`` as the signing timestamp. The canonical request is therefore byte for
byte the one an unmodified boto3 client signed, and any change to a signed header, the body,
the path or the query makes the signatures differ.

Checks run in this order, each failing with an error that says what was wrong:

1. an ``Authorization`` header is present and is SigV4
   (:class:`MissingAuthenticationTokenException`), it is well-formed and there is an
   ``X-Amz-Date`` (:class:`IncompleteSignatureException`), and the credential scope names the
   ``X-Amz-Date`` day and this service (:class:`InvalidSignatureException`);
2. the request date is within ``max_skew`` of the server clock (:class:`InvalidSignatureException`);
3. the access key id is known (:class:`UnrecognizedClientException`);
4. the signature matches, and a signed ``X-Amz-Content-SHA256`` matches the body
   (:class:`InvalidSignatureException`).
"""

from __future__ import annotations

import hashlib
import hmac
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from botocore.auth import SIGNED_HEADERS_BLACKLIST, SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.compat import HTTPHeaders
from botocore.credentials import Credentials

from facegate.auth.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)

ALGORITHM = "AWS4-HMAC-SHA256"
TIMESTAMP_FORMAT = "%Y%m%dT%H%M%SZ"
_TIMESTAMP_RE = re.compile(r"\d{8}T\d{6}Z")
_SIGNATURE_RE = re.compile(r"[0-9a-f]{64}")
_HEADER_NAME_RE = re.compile(r"[!#$%&'*+.^_`|~0-9a-z-]+")
_CONTENT_SHA256 = "x-amz-content-sha256"
_AUTH_PARTS = ("Credential", "SignedHeaders", "Signature")
_FORMAT_HINT = (
    "expected 'AWS4-HMAC-SHA256 Credential=<access key id>/<yyyymmdd>/<region>/<service>/"
    "aws4_request, SignedHeaders=<h1;h2;...>, Signature=<64 hex digits>'"
)


@dataclass(frozen=True)
class SignedRequest:
    """An HTTP request as the server received it.

    ``url`` is the full URL including the query string, e.g. ``http://127.0.0.1:8080/``.
    ``headers`` may repeat a name with different case (``items()`` is iterated); lookups
    are case-insensitive.
    """

    method: str
    url: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class VerifiedIdentity:
    """Who signed a request that verified, and when they signed it (UTC)."""

    access_key_id: str
    region: str
    service: str
    signed_at: datetime


@dataclass(frozen=True)
class _Authorization:
    """The parsed parts of an ``AWS4-HMAC-SHA256`` Authorization header."""

    access_key_id: str
    date: str
    region: str
    service: str
    signed_headers: tuple[str, ...]
    signature: str


class _ReceivedHeadersSigV4Auth(SigV4Auth):
    """botocore's SigV4 signer, signing every header the rebuilt request holds.

    The rebuilt request holds exactly the client's ``SignedHeaders``, so the only change from
    botocore's behaviour is that headers botocore itself never signs (``user-agent``,
    ``expect``, ...) are kept when another SDK did sign them. A signed ``host`` missing from
    the received headers is derived from the URL by botocore, as it does when signing.
    """

    def headers_to_sign(self, request: AWSRequest) -> HTTPHeaders:
        """The canonical header map: botocore's, plus signed headers it would leave out."""
        header_map = super().headers_to_sign(request)
        for name, value in request.headers.items():
            if name.lower() in SIGNED_HEADERS_BLACKLIST:
                header_map[name.lower()] = value
        return header_map


def verify(
    request: SignedRequest,
    secret_for: Callable[[str], str | None],
    *,
    now: datetime | None = None,
    max_skew: timedelta = timedelta(minutes=15),
    service: str = "rekognition",
) -> VerifiedIdentity:
    """Verify ``request``'s SigV4 signature and return who signed it.

    ``secret_for`` maps an access key id to its secret access key, or ``None`` when the key is
    unknown or revoked. ``now`` defaults to the current UTC time (a naive value is taken as UTC).
    Raises a 403 :class:`~facegate.errors.FacegateError` subclass when the request is refused.
    """
    headers = _group_headers(request.headers)
    auth = _parse_authorization(headers)
    timestamp = _request_timestamp(headers)
    _check_scope(auth, timestamp, service)
    signed_at = datetime.strptime(timestamp, TIMESTAMP_FORMAT).replace(tzinfo=UTC)
    _check_clock(signed_at, _as_utc(now or datetime.now(UTC)), max_skew)
    secret = secret_for(auth.access_key_id)
    if secret is None:
        raise UnrecognizedClientException(
            "The security token included in the request is invalid: access key id "
            f"{auth.access_key_id!r} is unknown or has been revoked."
        )
    _check_signature(request, headers, auth, timestamp, secret)
    _check_payload_hash(headers, auth, request.body)
    return VerifiedIdentity(auth.access_key_id, auth.region, auth.service, signed_at)


def _group_headers(headers: Mapping[str, str]) -> dict[str, list[str]]:
    """Received headers by lowercase name, keeping every value of a repeated header."""
    grouped: dict[str, list[str]] = {}
    for name, value in headers.items():
        grouped.setdefault(name.lower(), []).append(value)
    return grouped


def _single(headers: dict[str, list[str]], name: str) -> str | None:
    """The one value of header ``name``, ``None`` when absent; refuses a repeated header."""
    values = headers.get(name, [])
    if len(values) > 1:
        raise IncompleteSignatureException(f"The request has {len(values)} {name} headers.")
    return values[0] if values else None


def _parse_authorization(headers: dict[str, list[str]]) -> _Authorization:
    """Parse the Authorization header, or say why it is missing or malformed."""
    value = (_single(headers, "authorization") or "").strip()
    if not value:
        raise MissingAuthenticationTokenException(
            "Missing Authentication Token: the request has no Authorization header. Sign it "
            "with AWS Signature Version 4 (boto3 does when given an access key id and secret)."
        )
    scheme, _, rest = value.partition(" ")
    if scheme != ALGORITHM:
        raise MissingAuthenticationTokenException(
            f"Missing Authentication Token: the Authorization header uses scheme {scheme!r}, "
            f"not AWS Signature Version 4 ({ALGORITHM}); {_FORMAT_HINT}."
        )
    parts = _authorization_parts(rest)
    access_key_id, date, region, scope_service = _parse_credential(parts["Credential"])
    return _Authorization(
        access_key_id=access_key_id,
        date=date,
        region=region,
        service=scope_service,
        signed_headers=_parse_signed_headers(parts["SignedHeaders"]),
        signature=_parse_signature(parts["Signature"]),
    )


def _authorization_parts(rest: str) -> dict[str, str]:
    """The ``Name=value`` parts after the algorithm, each of the three exactly once."""
    parts: dict[str, str] = {}
    for item in rest.split(","):
        name, sep, value = item.strip().partition("=")
        if not sep or name not in _AUTH_PARTS or name in parts:
            raise IncompleteSignatureException(
                f"Malformed Authorization header part {item.strip()!r}; {_FORMAT_HINT}."
            )
        parts[name] = value.strip()
    missing = [name for name in _AUTH_PARTS if name not in parts]
    if missing:
        raise IncompleteSignatureException(
            f"Authorization header requires {' and '.join(map(repr, missing))} "
            f"parameter(s); {_FORMAT_HINT}."
        )
    return parts


def _parse_credential(credential: str) -> tuple[str, str, str, str]:
    """Split ``key/yyyymmdd/region/service/aws4_request`` into key, date, region, service."""
    fields = credential.split("/")
    if (
        len(fields) != 5
        or fields[4] != "aws4_request"
        or not all(fields[:4])
        or not re.fullmatch(r"\d{8}", fields[1])
    ):
        raise IncompleteSignatureException(
            f"Malformed Credential {credential!r}: expected "
            "'<access key id>/<yyyymmdd>/<region>/<service>/aws4_request'."
        )
    return fields[0], fields[1], fields[2], fields[3]


def _parse_signed_headers(value: str) -> tuple[str, ...]:
    """The SignedHeaders list: lowercase header names, sorted, unique, including ``host``."""
    names = tuple(value.split(";"))
    if not all(_HEADER_NAME_RE.fullmatch(name) for name in names) or list(names) != sorted(
        set(names)
    ):
        raise IncompleteSignatureException(
            f"Malformed SignedHeaders {value!r}: expected lowercase header names, sorted and "
            "separated by ';'."
        )
    if "host" not in names:
        raise IncompleteSignatureException(f"SignedHeaders {value!r} must include 'host'.")
    return names


def _parse_signature(value: str) -> str:
    """The signature: 64 lowercase hexadecimal digits."""
    if not _SIGNATURE_RE.fullmatch(value):
        raise IncompleteSignatureException(
            f"Malformed Signature {value!r}: expected 64 lowercase hexadecimal digits."
        )
    return value


def _request_timestamp(headers: dict[str, list[str]]) -> str:
    """The client's ``X-Amz-Date`` (``yyyymmddThhmmssZ``), which is the signing time."""
    value = _single(headers, "x-amz-date")
    if value is None:
        raise IncompleteSignatureException(
            "The request has no X-Amz-Date header; facegate needs it as the signing time "
            "(the Date header is not accepted)."
        )
    value = value.strip()
    try:
        if not _TIMESTAMP_RE.fullmatch(value):
            raise ValueError(value)
        datetime.strptime(value, TIMESTAMP_FORMAT)
    except ValueError:
        raise IncompleteSignatureException(
            f"Malformed X-Amz-Date {value!r}: expected ISO 8601 basic format in UTC, "
            "e.g. 20261126T053000Z."
        ) from None
    return value


def _check_scope(auth: _Authorization, timestamp: str, service: str) -> None:
    """The credential scope must name the X-Amz-Date day and this service."""
    if auth.date != timestamp[:8]:
        raise InvalidSignatureException(
            f"Date in Credential scope ({auth.date}) does not match the day of X-Amz-Date "
            f"({timestamp}); sign with the same time you send."
        )
    if auth.service != service:
        raise InvalidSignatureException(
            f"Credential should be scoped to the correct service: {service!r} "
            f"(it names {auth.service!r})."
        )


def _as_utc(moment: datetime) -> datetime:
    """``moment`` as an aware UTC datetime; a naive value is taken to be UTC already."""
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def _check_clock(signed_at: datetime, now: datetime, max_skew: timedelta) -> None:
    """Refuse a request signed more than ``max_skew`` before or after ``now``."""
    if abs(now - signed_at) <= max_skew:
        return
    stamp, server = signed_at.strftime(TIMESTAMP_FORMAT), now.strftime(TIMESTAMP_FORMAT)
    window = _describe(max_skew)
    if signed_at < now:
        raise InvalidSignatureException(
            f"Signature expired: request date {stamp} is more than {window} before the server "
            f"time {server}; check the client's clock (a replayed old request is also refused)."
        )
    raise InvalidSignatureException(
        f"Signature not yet current: request date {stamp} is more than {window} after the "
        f"server time {server}; check the client's clock."
    )


def _describe(span: timedelta) -> str:
    """A duration in words: whole minutes when it is a whole number of minutes."""
    seconds = int(span.total_seconds())
    if seconds % 60 == 0:
        return f"{seconds // 60} minutes"
    return f"{seconds} seconds"


def _rebuild(
    request: SignedRequest, headers: dict[str, list[str]], auth: _Authorization
) -> AWSRequest:
    """An AWSRequest holding the received method, URL, body and exactly the signed headers."""
    rebuilt = AWSRequest(method=request.method, url=request.url, data=request.body)
    for name in auth.signed_headers:
        values = headers.get(name)
        if not values and name != "host":
            raise InvalidSignatureException(
                f"SignedHeaders lists {name!r} but the request has no such header; a proxy "
                "may have removed it."
            )
        for value in values or []:
            rebuilt.headers[name] = value
    return rebuilt


def _check_signature(
    request: SignedRequest,
    headers: dict[str, list[str]],
    auth: _Authorization,
    timestamp: str,
    secret: str,
) -> None:
    """Recompute the signature with botocore and compare it in constant time."""
    rebuilt = _rebuild(request, headers, auth)
    rebuilt.context["timestamp"] = timestamp
    signer = _ReceivedHeadersSigV4Auth(
        Credentials(auth.access_key_id, secret), auth.service, auth.region
    )
    canonical_request = signer.canonical_request(rebuilt)
    expected = signer.signature(signer.string_to_sign(rebuilt, canonical_request), rebuilt)
    if not hmac.compare_digest(expected, auth.signature):
        raise InvalidSignatureException(
            "The request signature we calculated does not match the signature you provided. "
            "Check the secret access key and the signing method; anything between the client "
            "and facegate must not change the Host header, the signed headers, the path or "
            "the body."
        )


def _check_payload_hash(headers: dict[str, list[str]], auth: _Authorization, body: bytes) -> None:
    """A signed ``X-Amz-Content-SHA256`` must be the body's SHA-256; unsigned bodies are refused.

    boto3 does not send this header for Rekognition: the body's hash is then part of the
    canonical request, so the signature check already covers the body.
    """
    if _CONTENT_SHA256 not in auth.signed_headers:
        return
    claimed = ",".join(headers[_CONTENT_SHA256]).strip().lower()
    if not _SIGNATURE_RE.fullmatch(claimed):
        raise InvalidSignatureException(
            f"X-Amz-Content-SHA256 {claimed!r} is not accepted: facegate requires the body to be "
            "signed (its SHA-256 in hexadecimal)."
        )
    if not hmac.compare_digest(claimed, hashlib.sha256(body).hexdigest()):
        raise InvalidSignatureException(
            "The body does not match the X-Amz-Content-SHA256 it was signed with; it was "
            "changed after signing."
        )
