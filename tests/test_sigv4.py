"""SigV4 verification against requests signed by the real botocore signer, and secrets at rest.

No mocks: every signed request comes from ``botocore.auth.SigV4Auth`` as boto3 uses it for an
AWS JSON 1.1 call, and the end-to-end test sends real boto3 calls to a real uvicorn server.
"""

from __future__ import annotations

import hashlib
import json
import os
import socket
import stat
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import boto3
import pytest
import uvicorn
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.client import BaseClient
from botocore.config import Config
from botocore.credentials import Credentials
from cryptography.fernet import Fernet
from fastapi import FastAPI, Request, Response

from facegate.auth.errors import (
    IncompleteSignatureException,
    InvalidSignatureException,
    MissingAuthenticationTokenException,
    UnrecognizedClientException,
)
from facegate.auth.secrets import (
    SecretBox,
    load_or_create_master_key,
    new_access_key_id,
    new_secret_access_key,
)
from facegate.auth.sigv4 import SignedRequest, VerifiedIdentity, verify
from facegate.errors import FacegateError

KEY_ID = "FGTESTKEY000000000001"
SECRET = "test-secret-0123456789abcdefghijklmnopqr"
URL = "http://127.0.0.1:8080/"
BODY = json.dumps({"Image": {"Bytes": "eA=="}}).encode()
KEYS = {KEY_ID: SECRET}


def sign(
    *,
    key_id: str = KEY_ID,
    secret: str = SECRET,
    body: bytes = BODY,
    url: str = URL,
    service: str = "rekognition",
) -> tuple[SignedRequest, datetime]:
    """A DetectFaces request signed by botocore exactly as boto3 signs it, and its signing time.

    The prepared request carries no Host header (urllib3 adds it on the wire); verify derives
    the signed host from the URL as botocore does, and the end-to-end test covers the real one.
    """
    request = AWSRequest(
        method="POST",
        url=url,
        data=body,
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "RekognitionService.DetectFaces",
        },
    )
    SigV4Auth(Credentials(key_id, secret), service, "us-east-1").add_auth(request)
    prepared = request.prepare()
    signed_at = datetime.strptime(request.context["timestamp"], "%Y%m%dT%H%M%SZ")
    received = SignedRequest(prepared.method, prepared.url, dict(prepared.headers), prepared.body)
    return received, signed_at.replace(tzinfo=UTC)


def with_headers(request: SignedRequest, **changes: str | None) -> SignedRequest:
    """``request`` with headers replaced (``name=value``) or removed (``name=None``)."""
    names = {name.replace("_", "-").lower(): value for name, value in changes.items()}
    headers = {k: v for k, v in request.headers.items() if k.lower() not in names}
    headers.update({k: v for k, v in names.items() if v is not None})
    return SignedRequest(request.method, request.url, headers, request.body)


def test_valid_request_verifies() -> None:
    request, signed_at = sign()
    identity = verify(request, KEYS.get)
    assert identity == VerifiedIdentity(KEY_ID, "us-east-1", "rekognition", signed_at)


def test_host_header_as_sent_on_the_wire_verifies() -> None:
    request, _ = sign()
    assert verify(with_headers(request, host="127.0.0.1:8080"), KEYS.get).access_key_id == KEY_ID


def test_host_header_changed_is_refused() -> None:
    request, _ = sign()
    with pytest.raises(InvalidSignatureException, match="does not match"):
        verify(with_headers(request, host="evil.example:8080"), KEYS.get)


def test_query_string_is_signed() -> None:
    request, _ = sign(url="http://127.0.0.1:8080/?b=2&a=1")
    assert verify(request, KEYS.get).region == "us-east-1"
    altered = SignedRequest(request.method, URL + "?b=3&a=1", request.headers, request.body)
    with pytest.raises(InvalidSignatureException):
        verify(altered, KEYS.get)


def test_wrong_secret_is_refused() -> None:
    request, _ = sign(secret="not-the-secret")
    with pytest.raises(InvalidSignatureException, match="signature") as caught:
        verify(request, KEYS.get)
    assert caught.value.status == 403


def test_body_altered_after_signing_is_refused() -> None:
    request, _ = sign()
    altered = SignedRequest(request.method, request.url, request.headers, BODY + b" ")
    with pytest.raises(InvalidSignatureException):
        verify(altered, KEYS.get)


def test_target_altered_after_signing_is_refused() -> None:
    request, _ = sign()
    altered = with_headers(request, x_amz_target="RekognitionService.DeleteCollection")
    with pytest.raises(InvalidSignatureException):
        verify(altered, KEYS.get)


def test_signed_header_removed_is_refused() -> None:
    request, _ = sign()
    with pytest.raises(InvalidSignatureException, match="x-amz-target"):
        verify(with_headers(request, x_amz_target=None), KEYS.get)


def test_unknown_key_is_refused_naming_the_key() -> None:
    request, _ = sign(key_id="FGUNKNOWN")
    with pytest.raises(UnrecognizedClientException, match="FGUNKNOWN") as caught:
        verify(request, KEYS.get)
    assert caught.value.type_name == "UnrecognizedClientException"


def test_missing_authorization_is_refused() -> None:
    request, _ = sign()
    with pytest.raises(MissingAuthenticationTokenException, match="no Authorization"):
        verify(with_headers(request, authorization=None), KEYS.get)


def test_non_sigv4_authorization_is_missing_authentication_token() -> None:
    """An Authorization header of another scheme (or plain garbage) is not SigV4 at all."""
    request, _ = sign()
    for value in ("garbage", "Bearer abc.def", "AWS AKID:sig"):
        with pytest.raises(MissingAuthenticationTokenException, match="AWS4-HMAC-SHA256"):
            verify(with_headers(request, authorization=value), KEYS.get)


@pytest.mark.parametrize(
    "value",
    [
        "AWS4-HMAC-SHA256 garbage",
        "AWS4-HMAC-SHA256 Credential=a/b/c, SignedHeaders=host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/rekognition/aws4_request, "
        "SignedHeaders=host",
        "AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/rekognition/aws4_request, "
        "SignedHeaders=x-amz-date;host, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/rekognition/aws4_request, "
        "SignedHeaders=x-amz-date, Signature=" + "0" * 64,
        "AWS4-HMAC-SHA256 Credential=K/20260101/us-east-1/rekognition/aws4_request, "
        "SignedHeaders=host, Signature=xyz",
    ],
)
def test_malformed_sigv4_authorization_is_incomplete_signature(value: str) -> None:
    """An ``AWS4-HMAC-SHA256`` header that is malformed is an IncompleteSignatureException."""
    request, _ = sign()
    with pytest.raises(IncompleteSignatureException):
        verify(with_headers(request, authorization=value), KEYS.get)


def test_missing_or_malformed_date_is_incomplete_signature() -> None:
    request, _ = sign()
    with pytest.raises(IncompleteSignatureException, match="X-Amz-Date"):
        verify(with_headers(request, x_amz_date=None), KEYS.get)
    with pytest.raises(IncompleteSignatureException, match="X-Amz-Date"):
        verify(with_headers(request, x_amz_date="yesterday"), KEYS.get)


def test_credential_day_must_match_request_date() -> None:
    request, signed_at = sign()
    other_day = (signed_at + timedelta(days=1)).strftime("%Y%m%dT%H%M%SZ")
    with pytest.raises(InvalidSignatureException, match="Credential scope"):
        verify(with_headers(request, x_amz_date=other_day), KEYS.get, now=signed_at)


def test_other_service_is_refused() -> None:
    request, _ = sign(service="s3")
    with pytest.raises(InvalidSignatureException, match="rekognition"):
        verify(request, KEYS.get)


def test_request_signed_16_minutes_ago_is_refused_mentioning_the_clock() -> None:
    request, signed_at = sign()
    with pytest.raises(InvalidSignatureException, match="clock") as caught:
        verify(request, KEYS.get, now=signed_at + timedelta(minutes=16))
    assert "Signature expired" in caught.value.message
    assert signed_at.strftime("%Y%m%dT%H%M%SZ") in caught.value.message
    assert "15 minutes" in caught.value.message


def test_request_dated_16_minutes_ahead_is_refused() -> None:
    request, signed_at = sign()
    with pytest.raises(InvalidSignatureException, match=r"not yet current.*clock"):
        verify(request, KEYS.get, now=signed_at - timedelta(minutes=16))


def test_request_within_14_minutes_verifies() -> None:
    request, signed_at = sign()
    for offset in (timedelta(minutes=14), timedelta(minutes=-14)):
        assert verify(request, KEYS.get, now=signed_at + offset).access_key_id == KEY_ID


def test_replay_outside_the_window_is_refused() -> None:
    """The same valid request, verified again 20 minutes later, is refused."""
    request, signed_at = sign()
    verify(request, KEYS.get, now=signed_at + timedelta(seconds=1))
    with pytest.raises(InvalidSignatureException, match="clock"):
        verify(request, KEYS.get, now=signed_at + timedelta(minutes=20))


def test_clock_is_checked_before_the_key() -> None:
    request, signed_at = sign(key_id="FGUNKNOWN")
    with pytest.raises(InvalidSignatureException, match="clock"):
        verify(request, KEYS.get, now=signed_at + timedelta(hours=1))


@pytest.mark.parametrize(
    ("claimed", "problem"),
    [
        (hashlib.sha256(BODY).hexdigest(), None),
        (hashlib.sha256(b"another body").hexdigest(), "changed after signing"),
        ("UNSIGNED-PAYLOAD", "requires the body to be signed"),
    ],
)
def test_signed_content_sha256_must_be_the_body_hash(claimed: str, problem: str | None) -> None:
    """Other SDKs may sign X-Amz-Content-SHA256; its value must then be the body's hash."""
    signed = AWSRequest(
        method="POST", url=URL, data=BODY, headers={"X-Amz-Content-SHA256": claimed}
    )
    SigV4Auth(Credentials(KEY_ID, SECRET), "rekognition", "us-east-1").add_auth(signed)
    prepared = signed.prepare()
    request = SignedRequest("POST", URL, dict(prepared.headers), BODY)
    if problem is None:
        assert verify(request, KEYS.get).access_key_id == KEY_ID
        return
    with pytest.raises(InvalidSignatureException, match=problem):
        verify(request, KEYS.get)


# --- secrets at rest ---------------------------------------------------------------------


def test_secret_box_round_trip() -> None:
    box = SecretBox(Fernet.generate_key())
    token = box.seal(SECRET)
    assert SECRET.encode() not in token
    assert box.open(token) == SECRET


def test_secret_box_wrong_key_or_tampered_token_fails() -> None:
    token = SecretBox(Fernet.generate_key()).seal(SECRET)
    with pytest.raises(ValueError, match="different master key"):
        SecretBox(Fernet.generate_key()).open(token)
    box = SecretBox(Fernet.generate_key())
    token = bytearray(box.seal(SECRET))
    token[-5] = ord("A") if token[-5] != ord("A") else ord("B")
    with pytest.raises(ValueError):
        box.open(bytes(token))


def test_master_key_file_is_created_owner_only_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    key = load_or_create_master_key(data_dir, None)
    path = data_dir / "master.key"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_master_key(data_dir, None) == key
    assert SecretBox(key).open(SecretBox(key).seal("x")) == "x"


def test_group_readable_master_key_file_is_refused(tmp_path: Path) -> None:
    load_or_create_master_key(tmp_path, None)
    os.chmod(tmp_path / "master.key", 0o644)
    with pytest.raises(ValueError, match="chmod 600"):
        load_or_create_master_key(tmp_path, None)


def test_corrupt_master_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "master.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"not a key")
    os.close(fd)
    with pytest.raises(ValueError, match="not a valid master key"):
        load_or_create_master_key(tmp_path, None)


def test_master_key_from_environment_value(tmp_path: Path) -> None:
    key = Fernet.generate_key()
    assert load_or_create_master_key(tmp_path, key.decode() + "\n") == key
    assert not (tmp_path / "master.key").exists()
    for bad in ("", "short", "x" * 44, "é" * 44):
        with pytest.raises(ValueError, match="FACEGATE_MASTER_KEY"):
            load_or_create_master_key(tmp_path, bad)


def test_new_access_key_ids() -> None:
    ids = {new_access_key_id() for _ in range(50)}
    assert len(ids) == 50
    for key_id in ids:
        assert len(key_id) == 20 and key_id.startswith("FG")
        assert set(key_id[2:]) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZ234567")


def test_new_secret_access_keys() -> None:
    secrets = {new_secret_access_key() for _ in range(50)}
    assert len(secrets) == 50
    alphabet = set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_")
    for secret in secrets:
        assert len(secret) == 40 and set(secret) <= alphabet


# --- end to end: real boto3 against a real HTTP server --------------------------------------


def _app() -> FastAPI:
    """A minimal AWS JSON 1.1 endpoint: POST / verifies the signature and answers ``{}``."""
    app = FastAPI()

    @app.post("/")
    async def root(request: Request) -> Response:
        received = SignedRequest(
            request.method, str(request.url), request.headers, await request.body()
        )
        try:
            verify(received, KEYS.get)
        except FacegateError as error:
            return _json(error.to_dict(), error.status)
        return _json({}, 200)

    return app


def _json(content: dict[str, str], status: int) -> Response:
    """An AWS JSON 1.1 response, as boto3 expects it."""
    return Response(json.dumps(content), status, media_type="application/x-amz-json-1.1")


def _free_port() -> int:
    """A TCP port on 127.0.0.1 that is free right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    """The URL of the app, served by uvicorn in a background thread."""
    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(_app(), host="127.0.0.1", port=port, log_level="error"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 10
    while not server.started:
        if time.monotonic() > deadline or not thread.is_alive():
            raise RuntimeError("uvicorn did not start")
        time.sleep(0.02)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _client(endpoint: str, key_id: str, secret: str) -> BaseClient:
    """A real boto3 Rekognition client for ``endpoint``, without retries."""
    return boto3.client(
        "rekognition",
        endpoint_url=endpoint,
        aws_access_key_id=key_id,
        aws_secret_access_key=secret,
        region_name="us-east-1",
        config=Config(retries={"total_max_attempts": 1}),
    )


def test_boto3_with_the_right_secret_is_accepted(endpoint: str) -> None:
    response = _client(endpoint, KEY_ID, SECRET).detect_faces(Image={"Bytes": b"x"})
    assert response["ResponseMetadata"]["HTTPStatusCode"] == 200


@pytest.mark.parametrize(
    ("key_id", "secret", "code"),
    [
        (KEY_ID, "wrong-secret", "InvalidSignatureException"),
        ("FGUNKNOWNKEY00000000", SECRET, "UnrecognizedClientException"),
    ],
)
def test_boto3_with_bad_credentials_is_refused(
    endpoint: str, key_id: str, secret: str, code: str
) -> None:
    client = _client(endpoint, key_id, secret)
    with pytest.raises(client.exceptions.ClientError) as caught:
        client.detect_faces(Image={"Bytes": b"x"})
    assert caught.value.response["Error"]["Code"] == code
    assert caught.value.response["ResponseMetadata"]["HTTPStatusCode"] == 403
