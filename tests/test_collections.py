"""Collections, faces and users through a real boto3 client, on SQLite and on PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.conftest import DATA, read
from tests.server import BASIS, Server

pytestmark = pytest.mark.models

LONDON = DATA / "london"


def subjects() -> list[str]:
    return sorted(p.stem.split("_")[0] for p in (LONDON / "neutral_front").glob("*.jpg"))


def front(subject: str, smiling: bool = False) -> bytes:
    view, n = ("smiling_front", "08") if smiling else ("neutral_front", "03")
    return (LONDON / view / f"{subject}_{n}.jpg").read_bytes()


@pytest.fixture(scope="module")
def server(tmp_path_factory, backend):
    srv = Server(tmp_path_factory.mktemp("gallery"), **backend)
    yield srv
    srv.stop()


@pytest.fixture(scope="module")
def client(server):
    return server.client(server.governed_keys("acme"), headers=BASIS)


@pytest.fixture(scope="module")
def london(client) -> dict[str, str]:
    """The neutral frontal photo of 50 London subjects, indexed: subject -> FaceId."""
    client.create_collection(CollectionId="london")
    faces = {}
    for subject in subjects():
        response = client.index_faces(
            CollectionId="london", Image={"Bytes": front(subject)}, ExternalImageId=subject
        )
        assert len(response["FaceRecords"]) == 1, subject
        faces[subject] = response["FaceRecords"][0]["Face"]["FaceId"]
    return faces


def test_fifty_people_are_found_by_another_photo(client, london):
    assert len(london) == 50
    right = 0
    for subject in subjects():
        matches = client.search_faces_by_image(
            CollectionId="london", Image={"Bytes": front(subject, smiling=True)}, MaxFaces=5
        )["FaceMatches"]
        right += bool(matches) and matches[0]["Face"]["ExternalImageId"] == subject
    assert right >= 48, f"top match right for {right} of 50"


def test_a_person_never_indexed_gets_no_match_at_99(client, london):
    for photo in ("face_recognition/obama.jpg", "face_recognition/biden.jpg", "deepface/img1.jpg"):
        response = client.search_faces_by_image(
            CollectionId="london", Image={"Bytes": read(photo)}, FaceMatchThreshold=99
        )
        assert response["FaceMatches"] == [], photo


def test_indexing_the_same_image_again_makes_no_duplicate(client, london):
    subject = subjects()[0]
    again = client.index_faces(
        CollectionId="london", Image={"Bytes": front(subject)}, ExternalImageId=subject
    )
    assert [r["Face"]["FaceId"] for r in again["FaceRecords"]] == [london[subject]]
    assert client.describe_collection(CollectionId="london")["FaceCount"] == 50


def test_describe_list_and_paginate(client, london):
    described = client.describe_collection(CollectionId="london")
    assert described["FaceCount"] == 50 and described["FaceModelVersion"] == "dlib-resnet-v1"
    seen, token = [], None
    while True:
        page = client.list_faces(
            CollectionId="london", MaxResults=7, **({"NextToken": token} if token else {})
        )
        seen += [f["FaceId"] for f in page["Faces"]]
        token = page.get("NextToken")
        if not token:
            break
    assert sorted(seen) == sorted(london.values())
    assert "london" in client.list_collections()["CollectionIds"]


def test_forged_and_foreign_tokens_are_refused(client, london):
    token = client.list_faces(CollectionId="london", MaxResults=2)["NextToken"]
    body, mac = token.split(".")
    forged = body[:-2] + ("AA" if body[-2:] != "AA" else "BB") + "." + mac
    with pytest.raises(client.exceptions.InvalidPaginationTokenException):
        client.list_faces(CollectionId="london", NextToken=forged)
    client.create_collection(CollectionId="other-listing")
    with pytest.raises(client.exceptions.InvalidPaginationTokenException):
        client.list_faces(CollectionId="other-listing", NextToken=token)
    client.delete_collection(CollectionId="other-listing")


def test_deleted_face_is_never_returned_again(client):
    client.create_collection(CollectionId="deletions")
    subject = subjects()[1]
    face_id = client.index_faces(CollectionId="deletions", Image={"Bytes": front(subject)})[
        "FaceRecords"
    ][0]["Face"]["FaceId"]
    probe = {"Bytes": front(subject, smiling=True)}
    assert client.search_faces_by_image(CollectionId="deletions", Image=probe)["FaceMatches"]
    deleted = client.delete_faces(CollectionId="deletions", FaceIds=[face_id])
    assert deleted["DeletedFaces"] == [face_id]
    assert client.search_faces_by_image(CollectionId="deletions", Image=probe)["FaceMatches"] == []
    assert client.list_faces(CollectionId="deletions")["Faces"] == []
    again = client.delete_faces(CollectionId="deletions", FaceIds=[face_id])
    assert again["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["FACE_NOT_FOUND"]
    client.delete_collection(CollectionId="deletions")


def test_users_with_several_faces(client):
    client.create_collection(CollectionId="people")
    a, b = subjects()[2], subjects()[3]
    ids = {}
    for subject in (a, b):
        for smiling in (False, True):
            record = client.index_faces(
                CollectionId="people",
                Image={"Bytes": front(subject, smiling)},
                ExternalImageId=f"{subject}-{int(smiling)}",
            )["FaceRecords"][0]
            ids[(subject, smiling)] = record["Face"]["FaceId"]
    client.create_user(CollectionId="people", UserId="person-a", ClientRequestToken="t-a")
    client.create_user(CollectionId="people", UserId="person-a", ClientRequestToken="t-a")
    with pytest.raises(client.exceptions.IdempotentParameterMismatchException):
        client.create_user(CollectionId="people", UserId="someone-else", ClientRequestToken="t-a")
    with pytest.raises(client.exceptions.ConflictException):
        client.create_user(CollectionId="people", UserId="person-a")
    done = client.associate_faces(
        CollectionId="people",
        UserId="person-a",
        FaceIds=[ids[(a, False)], ids[(a, True)], ids[(b, False)]],
    )
    assert {f["FaceId"] for f in done["AssociatedFaces"]} == {ids[(a, False)], ids[(a, True)]}
    refused = done["UnsuccessfulFaceAssociations"][0]
    assert refused["FaceId"] == ids[(b, False)] and refused["Reasons"] == ["LOW_MATCH_CONFIDENCE"]
    assert done["UserStatus"] == "ACTIVE"

    three_quarter = LONDON / "neutral_left_3quarter" / f"{a}_02.jpg"
    probe = three_quarter.read_bytes() if three_quarter.exists() else front(a, smiling=True)
    found = client.search_users_by_image(
        CollectionId="people", Image={"Bytes": probe}, UserMatchThreshold=80
    )
    assert [m["User"]["UserId"] for m in found["UserMatches"]] == ["person-a"]
    by_face = client.search_users(CollectionId="people", FaceId=ids[(a, True)])
    assert by_face["UserMatches"][0]["User"]["UserId"] == "person-a"
    listed = client.list_faces(CollectionId="people", UserId="person-a")["Faces"]
    assert {f["FaceId"] for f in listed} == {ids[(a, False)], ids[(a, True)]}
    blocked = client.delete_faces(CollectionId="people", FaceIds=[ids[(a, True)]])
    assert blocked["UnsuccessfulFaceDeletions"][0]["Reasons"] == ["ASSOCIATED_TO_AN_EXISTING_USER"]
    client.create_user(CollectionId="people", UserId="person-b")
    taken = client.associate_faces(
        CollectionId="people", UserId="person-b", FaceIds=[ids[(a, True)]]
    )
    assert taken["UnsuccessfulFaceAssociations"][0]["Reasons"] == ["ASSOCIATED_TO_A_DIFFERENT_USER"]
    gone = client.disassociate_faces(
        CollectionId="people", UserId="person-a", FaceIds=[ids[(a, True)]]
    )
    assert gone["DisassociatedFaces"] == [{"FaceId": ids[(a, True)]}]
    client.delete_user(CollectionId="people", UserId="person-a")
    assert [u["UserId"] for u in client.list_users(CollectionId="people")["Users"]] == ["person-b"]
    assert client.list_faces(CollectionId="people", UserId="person-a")["Faces"] == []
    client.delete_collection(CollectionId="people")


def test_errors_arrive_as_boto3_exceptions(client, london):
    with pytest.raises(client.exceptions.ResourceAlreadyExistsException):
        client.create_collection(CollectionId="london")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.describe_collection(CollectionId="no-such-collection")
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.index_faces(CollectionId="no-such-collection", Image={"Bytes": front("001")})
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.create_collection(CollectionId="spaces are not allowed")
    with pytest.raises(client.exceptions.InvalidParameterException):
        client.search_faces_by_image(
            CollectionId="london", Image={"Bytes": read("deepface/no_face_crop.jpg")}
        )
    with pytest.raises(client.exceptions.ResourceNotFoundException):
        client.delete_user(CollectionId="london", UserId="nobody")


def test_tenants_cannot_see_each_other(server, client, london):
    other = server.client(server.governed_keys("second-org"), headers=BASIS)
    assert "london" not in other.list_collections()["CollectionIds"]
    face_id = next(iter(london.values()))
    attempts = [
        lambda: other.describe_collection(CollectionId="london"),
        lambda: other.list_faces(CollectionId="london"),
        lambda: other.list_users(CollectionId="london"),
        lambda: other.search_faces(CollectionId="london", FaceId=face_id),
        lambda: other.search_faces_by_image(
            CollectionId="london", Image={"Bytes": front(subjects()[0], True)}
        ),
        lambda: other.index_faces(CollectionId="london", Image={"Bytes": front("001")}),
        lambda: other.delete_faces(CollectionId="london", FaceIds=[face_id]),
        lambda: other.create_user(CollectionId="london", UserId="intruder"),
        lambda: other.delete_collection(CollectionId="london"),
    ]
    for attempt in attempts:
        with pytest.raises(other.exceptions.ResourceNotFoundException):
            attempt()
    # Their own collection of the same name is theirs alone.
    other.create_collection(CollectionId="london")
    assert other.describe_collection(CollectionId="london")["FaceCount"] == 0
    assert client.describe_collection(CollectionId="london")["FaceCount"] == 50


def test_unknown_wrong_and_revoked_keys(server, client):
    key_id, secret = server.operator_keys()
    with pytest.raises(client.exceptions.ClientError) as wrong:
        server.client(
            (key_id, secret[:-1] + ("A" if secret[-1] != "A" else "B"))
        ).list_collections()
    assert wrong.value.response["Error"]["Code"] == "InvalidSignatureException"
    with pytest.raises(client.exceptions.ClientError) as unknown:
        server.client(("FGUNKNOWNKEY0000000A", secret)).list_collections()
    assert unknown.value.response["Error"]["Code"] == "UnrecognizedClientException"
    key = server.governed_keys("short-lived")
    temporary = server.client(key)
    assert temporary.list_collections()["CollectionIds"] == []
    server.cli("key", "revoke", key[0])
    with pytest.raises(client.exceptions.ClientError) as revoked:
        temporary.list_collections()
    assert revoked.value.response["Error"]["Code"] == "UnrecognizedClientException"


def test_credentials_file_is_private(server):
    for name in ("credentials", "config", "master.key"):
        assert (Path(server.data_dir) / name).stat().st_mode & 0o777 == 0o600


def test_replayed_or_skewed_requests_and_missing_auth(server, client):
    """A request signed 20 minutes ago (a replay, or a client clock off) is refused."""
    import datetime
    from unittest import mock

    import httpx

    past = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=20)
    with (
        mock.patch("botocore.auth.get_current_datetime", return_value=past),
        pytest.raises(client.exceptions.ClientError) as stale,
    ):
        client.list_collections()
    assert stale.value.response["Error"]["Code"] == "InvalidSignatureException"
    assert "15 minutes" in stale.value.response["Error"]["Message"]
    near = datetime.datetime.now(datetime.UTC) - datetime.timedelta(minutes=10)
    with mock.patch("botocore.auth.get_current_datetime", return_value=near):
        assert "CollectionIds" in client.list_collections()
    unsigned = httpx.post(
        f"{server.url}/",
        content=b"{}",
        headers={
            "Content-Type": "application/x-amz-json-1.1",
            "X-Amz-Target": "RekognitionService.ListCollections",
        },
    )
    assert unsigned.status_code == 403
    assert unsigned.json()["__type"] == "MissingAuthenticationTokenException"
