"""The REST front door (/v1) against a real server, on SQLite and on PostgreSQL."""

from __future__ import annotations

import base64
from collections.abc import Iterator

import httpx
import pytest

from tests.conftest import DATA, read
from tests.server import BASIS, Server

pytestmark = pytest.mark.models

LONDON = DATA / "london"
LIMIT = 3_000_000  # FACEGATE_MAX_IMAGE_BYTES of the server under test
MAIN = "rest-london"


def subjects() -> list[str]:
    return sorted(p.stem.split("_")[0] for p in (LONDON / "neutral_front").glob("*.jpg"))


def front(subject: str, smiling: bool = False) -> bytes:
    view, n = ("smiling_front", "08") if smiling else ("neutral_front", "03")
    return (LONDON / view / f"{subject}_{n}.jpg").read_bytes()


def b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def jpeg(data: bytes, name: str = "image") -> dict[str, tuple[str, bytes, str]]:
    return {name: (f"{name}.jpg", data, "image/jpeg")}


def assert_error(response: httpx.Response, status: int, error_type: str) -> str:
    """Check the REST error shape; returns the message."""
    assert response.status_code == status, response.text
    body = response.json()
    assert body["error"]["type"] == error_type, body
    assert body["error"]["message"]
    assert body["requestId"] == response.headers["x-request-id"]
    return body["error"]["message"]


@pytest.fixture(scope="module")
def server(tmp_path_factory, backend) -> Iterator[Server]:
    srv = Server(tmp_path_factory.mktemp("rest"), FACEGATE_MAX_IMAGE_BYTES=str(LIMIT), **backend)
    yield srv
    srv.stop()


def rest_client(server: Server, key: tuple[str, str] | None = None) -> httpx.Client:
    """A REST client with a key of an approved photo-organization use case."""
    key_id, secret = key or server.governed_keys("rest-org")
    return httpx.Client(
        base_url=f"{server.url}/v1",
        headers={"X-Api-Key": f"{key_id}:{secret}", **BASIS},
        timeout=120,
    )


@pytest.fixture(scope="module")
def api(server) -> Iterator[httpx.Client]:
    with rest_client(server) as client:
        yield client


@pytest.fixture(scope="module")
def london(api) -> dict[str, str]:
    """Five subjects indexed (three by multipart, two by JSON): subject -> FaceId."""
    created = api.post("/collections", json={"CollectionId": MAIN, "Tags": {"suite": "rest"}})
    assert created.status_code == 201, created.text
    assert created.json()["StatusCode"] == 200 and created.headers["x-request-id"]
    faces = {}
    for i, subject in enumerate(subjects()[:5]):
        if i % 2 == 0:
            response = api.post(
                f"/collections/{MAIN}/faces",
                files=jpeg(front(subject)),
                data={"ExternalImageId": subject, "MaxFaces": "1", "QualityFilter": "AUTO"},
            )
        else:
            response = api.post(
                f"/collections/{MAIN}/faces",
                json={"Image": {"Bytes": b64(front(subject))}, "ExternalImageId": subject},
            )
        assert response.status_code == 200, response.text
        records = response.json()["FaceRecords"]
        assert len(records) == 1 and records[0]["Face"]["ExternalImageId"] == subject
        faces[subject] = records[0]["Face"]["FaceId"]
    return faces


def test_collection_is_created_described_and_listed(api, london):
    described = api.get(f"/collections/{MAIN}")
    assert described.status_code == 200
    assert described.json()["FaceCount"] == 5
    assert described.json()["FaceModelVersion"] == "dlib-resnet-v1"
    assert MAIN in api.get("/collections").json()["CollectionIds"]


def test_list_faces_with_pagination_and_filters(api, london):
    seen, token = [], None
    while True:
        params: dict[str, str | int] = {"max_results": 2}
        if token:
            params["next_token"] = token
        page = api.get(f"/collections/{MAIN}/faces", params=params).json()
        assert len(page["Faces"]) <= 2
        seen += [face["FaceId"] for face in page["Faces"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(london.values())
    wanted = sorted(london.values())[:2]
    only = api.get(f"/collections/{MAIN}/faces", params=[("face_id", f) for f in wanted])
    assert sorted(face["FaceId"] for face in only.json()["Faces"]) == wanted


def test_search_by_image_finds_the_right_subject(api, london):
    for subject in london:
        response = api.post(
            f"/collections/{MAIN}/search",
            files=jpeg(front(subject, smiling=True)),
            data={"FaceMatchThreshold": "80", "MaxFaces": "1"},
        )
        assert response.status_code == 200, response.text
        matches = response.json()["FaceMatches"]
        assert len(matches) == 1
        assert matches[0]["Face"]["ExternalImageId"] == subject
        assert matches[0]["Face"]["FaceId"] == london[subject]


def test_search_by_image_as_json_and_by_face_id(api, london):
    subject = next(iter(london))
    by_json = api.post(
        f"/collections/{MAIN}/search",
        json={"Image": {"Bytes": b64(front(subject, True))}, "MaxFaces": 1},
    )
    assert by_json.json()["FaceMatches"][0]["Face"]["FaceId"] == london[subject]
    by_face = api.post(
        f"/collections/{MAIN}/faces/{london[subject]}/search",
        json={"FaceMatchThreshold": 0, "MaxFaces": 10},
    )
    assert by_face.status_code == 200, by_face.text
    assert by_face.json()["SearchedFaceId"] == london[subject]
    found = {m["Face"]["FaceId"] for m in by_face.json()["FaceMatches"]}
    assert found == set(london.values()) - {london[subject]}
    strict = api.post(f"/collections/{MAIN}/faces/{london[subject]}/search")
    assert strict.status_code == 200 and strict.json()["FaceMatches"] == []


def test_users(api):
    a = subjects()[5]
    assert api.post("/collections", json={"CollectionId": "rest-people"}).status_code == 201
    ids = []
    for smiling in (False, True):
        response = api.post(
            "/collections/rest-people/faces", files=jpeg(front(a, smiling)), data={"MaxFaces": "1"}
        )
        ids.append(response.json()["FaceRecords"][0]["Face"]["FaceId"])
    users = "/collections/rest-people/users"
    assert (
        api.post(users, json={"UserId": "person-a", "ClientRequestToken": "t-a"}).status_code == 201
    )
    again = api.post(users, json={"UserId": "person-a", "ClientRequestToken": "t-a"})
    assert again.status_code == 201
    assert_error(api.post(users, json={"UserId": "person-a"}), 409, "ConflictException")
    assert_error(
        api.post(users, json={"UserId": "other", "ClientRequestToken": "t-a"}),
        400,
        "IdempotentParameterMismatchException",
    )
    associated = api.post(f"{users}/person-a/faces", json={"FaceIds": ids})
    assert associated.status_code == 200, associated.text
    assert {f["FaceId"] for f in associated.json()["AssociatedFaces"]} == set(ids)
    assert associated.json()["UserStatus"] == "ACTIVE"

    three_quarter = LONDON / "neutral_left_3quarter" / f"{a}_02.jpg"
    probe = three_quarter.read_bytes() if three_quarter.exists() else front(a, smiling=True)
    by_image = api.post(
        f"{users}/search", files=jpeg(probe), data={"UserMatchThreshold": "80", "MaxUsers": "3"}
    )
    assert by_image.status_code == 200, by_image.text
    assert [m["User"]["UserId"] for m in by_image.json()["UserMatches"]] == ["person-a"]
    by_face = api.post(f"{users}/search", json={"FaceId": ids[1]})
    assert by_face.status_code == 200, by_face.text
    assert by_face.json()["UserMatches"][0]["User"]["UserId"] == "person-a"
    listed = api.get("/collections/rest-people/faces", params={"user_id": "person-a"})
    assert {f["FaceId"] for f in listed.json()["Faces"]} == set(ids)
    assert [u["UserId"] for u in api.get(users).json()["Users"]] == ["person-a"]

    gone = api.request("DELETE", f"{users}/person-a/faces", json={"FaceIds": [ids[1]]})
    assert gone.json()["DisassociatedFaces"] == [{"FaceId": ids[1]}]
    assert api.delete(f"{users}/person-a").status_code == 200
    assert_error(api.delete(f"{users}/person-a"), 404, "ResourceNotFoundException")
    assert api.get(users).json()["Users"] == []
    assert api.delete("/collections/rest-people").json()["StatusCode"] == 200


def test_deleted_face_is_never_returned_again(api):
    subject = subjects()[6]
    assert api.post("/collections", json={"CollectionId": "rest-deletions"}).status_code == 201
    faces = "/collections/rest-deletions/faces"
    face_id = api.post(faces, files=jpeg(front(subject))).json()["FaceRecords"][0]["Face"]["FaceId"]
    probe = jpeg(front(subject, smiling=True))
    search = "/collections/rest-deletions/search"
    assert api.post(search, files=probe).json()["FaceMatches"]
    deleted = api.request("DELETE", faces, json={"FaceIds": [face_id]})
    assert deleted.status_code == 200 and deleted.json()["DeletedFaces"] == [face_id]
    assert api.post(search, files=probe).json()["FaceMatches"] == []
    assert api.get(faces).json()["Faces"] == []
    assert_error(api.post(f"{faces}/{face_id}/search"), 400, "InvalidParameterException")
    again = api.delete(f"{faces}/{face_id}")
    assert again.status_code == 200
    assert again.json()["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    api.delete("/collections/rest-deletions")


def test_detect_and_compare(api):
    two = read("face_recognition/two_people.jpg")
    detected = api.post("/detect", files=jpeg(two))
    assert detected.status_code == 200, detected.text
    assert len(detected.json()["FaceDetails"]) == 2
    as_json = api.post("/detect", json={"Image": {"Bytes": b64(two)}})
    assert len(as_json.json()["FaceDetails"]) == 2
    compared = api.post(
        "/compare",
        files={
            "source": ("obama.jpg", read("face_recognition/obama.jpg"), "image/jpeg"),
            "target": ("two.jpg", two, "image/jpeg"),
        },
        data={"SimilarityThreshold": "80"},
    )
    assert compared.status_code == 200, compared.text
    assert len(compared.json()["FaceMatches"]) == 1
    assert len(compared.json()["UnmatchedFaces"]) == 1
    assert_error(
        api.post("/detect", files=jpeg(two), data={"Attributes": "ALL"}),
        403,
        "AccessDeniedException",
    )


def test_not_found_and_already_exists(api, london):
    message = assert_error(api.get("/collections/no-such"), 404, "ResourceNotFoundException")
    assert "no-such" in message
    assert_error(
        api.post("/collections/no-such/faces", files=jpeg(front("001"))),
        404,
        "ResourceNotFoundException",
    )
    assert_error(
        api.post("/collections", json={"CollectionId": MAIN}), 409, "ResourceAlreadyExistsException"
    )


def test_authentication_errors(server, api):
    url = f"{server.url}/v1/collections"
    key_id, secret = server.operator_keys()
    missing = httpx.get(url)
    assert_error(missing, 401, "MissingAuthenticationTokenException")
    assert "X-Api-Key" in missing.headers["www-authenticate"]
    assert_error(httpx.get(url, headers={"X-Api-Key": key_id}), 401, "IncompleteSignatureException")
    assert_error(
        httpx.get(url, headers={"X-Api-Key": f"FGUNKNOWNKEY0000000A:{secret}"}),
        401,
        "UnrecognizedClientException",
    )
    wrong = secret[:-1] + ("A" if secret[-1] != "A" else "B")
    forged = httpx.get(url, headers={"X-Api-Key": f"{key_id}:{wrong}"})
    assert_error(forged, 401, "InvalidSignatureException")
    # recorded once, with the key id it named (never the secret)
    recorded = server.query(
        "SELECT access_key_id, decision, error_type FROM audit_records WHERE request_id = :id",
        id=forged.headers["x-request-id"],
    )
    assert [tuple(r) for r in recorded] == [(key_id, "deny", "InvalidSignatureException")]
    # Authentication comes before the body is read or the collection is looked up.
    assert_error(
        httpx.post(f"{server.url}/v1/detect", files=jpeg(b"x" * 100)),
        401,
        "MissingAuthenticationTokenException",
    )
    temporary = server.governed_keys("rest-short-lived")
    with rest_client(server, temporary) as client:
        assert client.get("/collections").json()["CollectionIds"] == []
        server.cli("key", "revoke", temporary[0])
        assert_error(client.get("/collections"), 401, "UnrecognizedClientException")


def test_invalid_parameters(server, api, london):
    probe = front(next(iter(london)), smiling=True)
    message = assert_error(
        api.post(
            f"/collections/{MAIN}/search", files=jpeg(probe), data={"FaceMatchThreshold": "150"}
        ),
        400,
        "InvalidParameterException",
    )
    assert "FaceMatchThreshold" in message
    assert_error(
        api.post(
            f"/collections/{MAIN}/search",
            json={"Image": {"Bytes": b64(probe)}, "FaceMatchThreshold": 150},
        ),
        400,
        "InvalidParameterException",
    )
    assert_error(
        api.post("/collections", json={"CollectionId": "spaces are not allowed"}),
        400,
        "InvalidParameterException",
    )
    cases = [
        api.get("/collections", params={"max_results": "many"}),  # FastAPI's own 422, as a 400
        api.get(f"/collections/{MAIN}/faces", params={"max_results": 5000}),
        api.post(f"/collections/{MAIN}/search", files=jpeg(probe), data={"MaxFaces": "two"}),
        api.post(f"/collections/{MAIN}/search", files=jpeg(probe), data={"Unknown": "1"}),
        api.post(f"/collections/{MAIN}/search", data={"MaxFaces": "1"}, files={"x": ("", b"")}),
        api.post(
            "/collections", content=b"{not json", headers={"Content-Type": "application/json"}
        ),
        api.post("/collections", json=["not", "an", "object"]),
        api.post("/collections", json={"CollectionId": "x", "Extra": 1}),
        api.post(f"/collections/{MAIN}/users", json={"UserId": "u", "CollectionId": "other"}),
        api.post("/detect", json={"Image": {"S3Object": {"Bucket": "b", "Name": "face.jpg"}}}),
        api.post("/detect", json={"Image": {"Bytes": "%%%"}}),
    ]
    for response in cases:
        assert_error(response, 400, "InvalidParameterException")
    # each refusal is on the record once, with who asked (FastAPI's own refusals too)
    ids = [response.headers["x-request-id"] for response in cases]
    recorded = server.query(
        "SELECT request_id, organization, decision, error_type FROM audit_records "
        f"WHERE request_id IN ({', '.join(repr(i) for i in ids)})"
    )
    assert sorted(r.request_id for r in recorded) == sorted(ids)
    assert {(r.organization, r.decision, r.error_type) for r in recorded} == {
        ("rest-org", "deny", "InvalidParameterException")
    }
    assert_error(
        api.get(f"/collections/{MAIN}/faces", params={"next_token": "forged.token"}),
        400,
        "InvalidPaginationTokenException",
    )
    unsupported = api.post("/detect", content=probe, headers={"Content-Type": "image/jpeg"})
    assert_error(unsupported, 415, "InvalidParameterException")


def test_images_too_large_and_not_images(api):
    obama = read("face_recognition/obama.jpg")
    too_big = obama + b"\0" * LIMIT  # under the body cap, over the image limit
    message = assert_error(api.post("/detect", files=jpeg(too_big)), 413, "ImageTooLargeException")
    assert str(LIMIT) in message
    assert_error(
        api.post("/detect", json={"Image": {"Bytes": b64(too_big)}}), 413, "ImageTooLargeException"
    )
    body_cap = 2 * ((LIMIT + 2) // 3 * 4) + 64 * 1024
    huge = api.post("/detect", files=jpeg(b"\0" * (body_cap + 1024 * 1024)))
    assert_error(huge, 413, "ImageTooLargeException")
    assert_error(
        api.post("/detect", files=jpeg(b"this is not an image, just text" * 10)),
        400,
        "InvalidImageFormatException",
    )


def test_tenants_are_isolated(server, api, london):
    with rest_client(server, server.governed_keys("rest-second-org")) as other:
        assert MAIN not in other.get("/collections").json()["CollectionIds"]
        face_id = next(iter(london.values()))
        attempts = [
            other.get(f"/collections/{MAIN}"),
            other.get(f"/collections/{MAIN}/faces"),
            other.post(f"/collections/{MAIN}/search", files=jpeg(front(subjects()[0], True))),
            other.post(f"/collections/{MAIN}/faces/{face_id}/search"),
            other.delete(f"/collections/{MAIN}/faces/{face_id}"),
            other.delete(f"/collections/{MAIN}"),
        ]
        for response in attempts:
            assert_error(response, 404, "ResourceNotFoundException")
    assert api.get(f"/collections/{MAIN}").json()["FaceCount"] == 5


def test_one_implementation_behind_both_doors(server, api, london):
    key_id, secret = api.headers["X-Api-Key"].split(":")
    client = server.client((key_id, secret), headers=BASIS)
    assert client.describe_collection(CollectionId=MAIN)["FaceCount"] == 5
    through_boto3 = {f["FaceId"] for f in client.list_faces(CollectionId=MAIN)["Faces"]}
    assert through_boto3 == set(london.values())
    client.create_collection(CollectionId="made-by-boto3")
    assert api.get("/collections/made-by-boto3").json()["FaceCount"] == 0
    assert api.delete("/collections/made-by-boto3").status_code == 200
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_collection(CollectionId="made-by-boto3")
    # The AWS JSON door keeps its own error shape.
    unsigned = httpx.post(f"{server.url}/", content=b"{}")
    assert "__type" in unsigned.json() and unsigned.headers["x-amzn-RequestId"]


def test_openapi_documents_the_rest_door(server):
    spec = httpx.get(f"{server.url}/openapi.json").json()
    for path in (
        "/v1/collections",
        "/v1/collections/{collection_id}",
        "/v1/collections/{collection_id}/faces",
        "/v1/collections/{collection_id}/search",
        "/v1/collections/{collection_id}/users/search",
        "/v1/detect",
        "/v1/compare",
    ):
        assert path in spec["paths"], path
    scheme = spec["components"]["securitySchemes"]["ApiKey"]
    assert scheme == {**scheme, "type": "apiKey", "in": "header", "name": "X-Api-Key"}
    index = spec["paths"]["/v1/collections/{collection_id}/faces"]["post"]
    assert index["security"] == [{"ApiKey": []}]
    content = index["requestBody"]["content"]
    assert content["multipart/form-data"]["schema"]["properties"]["image"]["format"] == "binary"
    assert "Image" in content["application/json"]["schema"]["properties"]
    assert (
        "FaceRecords"
        in index["responses"]["200"]["content"]["application/json"]["schema"]["properties"]
    )
    assert "404" in index["responses"] and "422" not in index["responses"]
    assert "/" not in spec["paths"]


def test_unknown_paths_and_methods_answer_in_the_error_shape(api):
    for method, path, status in (
        ("GET", "/no-such-thing", 404),
        ("PUT", "/collections", 405),
    ):
        response = api.request(method, path)
        assert response.status_code == status, (response.request.url, response.text)
        assert response.json()["error"]["type"] in (
            "ResourceNotFoundException",
            "InvalidParameterException",
        )
        assert response.headers["x-request-id"]


def test_text_with_a_nul_character_is_refused_on_every_database(server):
    """PostgreSQL text cannot hold NUL (U+0000): such text is a parameter error on both
    databases, never a server error, and nothing is stored; the refusal is on the record."""
    with rest_client(server, server.operator_keys()) as operator:
        made = operator.post(
            "/admin/organizations", json={"name": "nul\x00org", "sector": "commercial"}
        )
        message = assert_error(made, 400, "InvalidParameterException")
        assert "NUL" in message
        listed = operator.get("/admin/organizations").json()["organizations"]
        assert not any("nul" in o["name"] for o in listed)
        filtered = operator.get("/audit/records", params={"operation": "Detect\x00Faces"})
        assert_error(filtered, 400, "InvalidParameterException")
    recorded = server.query(
        "SELECT operation, decision, error_type FROM audit_records WHERE request_id = :id",
        id=made.headers["x-request-id"],
    )
    assert [tuple(r) for r in recorded] == [
        ("Admin.CreateOrganization", "error", "InvalidParameterException")
    ]
