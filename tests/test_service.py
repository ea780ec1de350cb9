"""The HTTP service with an unmodified boto3 Rekognition client, against a live server."""

from __future__ import annotations

import base64
import json
import time
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
from botocore.credentials import Credentials

from tests.conftest import read
from tests.server import Server

pytestmark = pytest.mark.models

LIMIT = 2_000_000  # the server under test refuses images over this many bytes


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    srv = Server(
        tmp_path_factory.mktemp("svc"),
        FACEGATE_WORKERS="1",
        FACEGATE_MAX_QUEUE="2",
        FACEGATE_MAX_IMAGE_BYTES=str(LIMIT),
    )
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client(server.analyst_keys())


def test_health(server):
    body = httpx.get(f"{server.url}/health").json()
    assert body["status"] == "ok" and body["model"]["version"] == "dlib-resnet-v1"


def test_detect_faces_through_boto3(client):
    response = client.detect_faces(Image={"Bytes": read("face_recognition/two_people.jpg")})
    faces = response["FaceDetails"]
    assert len(faces) == 2
    assert {"BoundingBox", "Confidence", "Landmarks", "Pose", "Quality"} == set(faces[0])
    assert response["ResponseMetadata"]["RequestId"]


def test_compare_faces_through_boto3(client):
    response = client.compare_faces(
        SourceImage={"Bytes": read("face_recognition/obama.jpg")},
        TargetImage={"Bytes": read("face_recognition/two_people.jpg")},
        SimilarityThreshold=80,
    )
    assert len(response["FaceMatches"]) == 1 and len(response["UnmatchedFaces"]) == 1
    assert response["FaceMatches"][0]["Similarity"] >= 80
    assert response["SourceImageFace"]["Confidence"] > 90


def test_errors_arrive_as_boto3_exception_classes(client):
    obama = read("face_recognition/obama.jpg")
    with pytest.raises(client.exceptions.InvalidImageFormatException):
        client.detect_faces(Image={"Bytes": b"this is not an image, just text" * 10})
    with pytest.raises(client.exceptions.ImageTooLargeException):
        client.detect_faces(Image={"Bytes": obama + b"\0" * LIMIT})
    with pytest.raises(client.exceptions.InvalidParameterException, match="no usable face"):
        client.compare_faces(
            SourceImage={"Bytes": read("deepface/no_face_crop.jpg")}, TargetImage={"Bytes": obama}
        )
    with pytest.raises(client.exceptions.InvalidParameterException, match="SimilarityThreshold"):
        client.compare_faces(
            SourceImage={"Bytes": obama}, TargetImage={"Bytes": obama}, SimilarityThreshold=150
        )
    with pytest.raises(client.exceptions.InvalidParameterException, match="S3Object"):
        client.detect_faces(Image={"S3Object": {"Bucket": "photos", "Name": "face.jpg"}})
    with pytest.raises(client.exceptions.AccessDeniedException, match="NO-ATTRIBUTES"):
        client.detect_faces(Image={"Bytes": obama}, Attributes=["ALL"])


def _post(server, target: str | None, body: bytes) -> httpx.Response:
    """A request signed with a photo-organization key, as boto3 would sign it."""
    headers = {"Content-Type": "application/x-amz-json-1.1"}
    if target:
        headers["X-Amz-Target"] = target
    request = AWSRequest(method="POST", url=f"{server.url}/", data=body, headers=headers)
    SigV4Auth(Credentials(*server.analyst_keys()), "rekognition", "us-east-1").add_auth(request)
    return httpx.post(f"{server.url}/", content=body, headers=dict(request.headers), timeout=60)


def test_wire_errors_have_type_message_and_request_id(server):
    cases = [
        ("RekognitionService.NoSuchOperation", b"{}", 400, "UnknownOperationException"),
        (None, b"{}", 400, "UnknownOperationException"),
        ("RekognitionService.DetectFaces", b"{not json", 400, "InvalidParameterException"),
        ("RekognitionService.DetectFaces", b"{}", 400, "InvalidParameterException"),
        (
            "RekognitionService.DetectFaces",
            b'{"Image": {"Bytes": "%%%"}}',
            400,
            "InvalidParameterException",
        ),
        (
            "RekognitionService.DetectFaces",
            b'{"Image": {}, "Extra": 1}',
            400,
            "InvalidParameterException",
        ),
        ("RekognitionService.DetectFaces", b"x" * (3 * LIMIT), 400, "ImageTooLargeException"),
    ]
    for target, body, status, error in cases:
        response = _post(server, target, body)
        assert response.status_code == status, (target, body[:40], response.text)
        assert response.json()["__type"] == error
        assert response.json()["message"]
        assert response.headers["x-amzn-RequestId"]


def test_many_clients_get_answers_and_health_stays_responsive(server):
    """One worker, queue of two: a burst gets results or 429s, never a hang; /health answers."""
    body = json.dumps(
        {
            "SourceImage": {"Bytes": base64.b64encode(read("deepface/couple.jpg")).decode()},
            "TargetImage": {
                "Bytes": base64.b64encode(read("deepface/selfie-many-people.jpg")).decode()
            },
        }
    ).encode()

    def call(_: int) -> int:
        return _post(server, "RekognitionService.CompareFaces", body).status_code

    with ThreadPoolExecutor(8) as pool:
        futures = [pool.submit(call, i) for i in range(8)]
        time.sleep(0.5)
        started = time.monotonic()
        health = httpx.get(f"{server.url}/health", timeout=10)
        health_seconds = time.monotonic() - started
        statuses = [f.result(timeout=300) for f in futures]
    assert health.status_code == 200 and health_seconds < 2.0
    assert set(statuses) <= {200, 429}
    assert statuses.count(200) >= 3 and statuses.count(429) >= 1
