"""SIGKILL in a burst of IndexFaces: no acknowledged face lost, no orphan vector kept."""

from __future__ import annotations

import threading
from concurrent.futures import ThreadPoolExecutor

import pytest
from botocore.exceptions import BotoCoreError, ClientError

from tests.conftest import DATA
from tests.server import BASIS, Server

pytestmark = pytest.mark.models

CONCURRENCY = 4


def images() -> list[tuple[str, bytes]]:
    paths = sorted((DATA / "london" / "neutral_front").glob("*.jpg"))[:24]
    paths += sorted((DATA / "london" / "smiling_front").glob("*.jpg"))[:16]
    return [(f"{p.parent.name[:1]}{p.stem}", p.read_bytes()) for p in paths]


def test_sigkill_during_index_burst(tmp_path, backend):
    server = Server(tmp_path, **backend)
    try:
        keys = server.governed_keys("crash-org")
        client = server.client(keys, headers=BASIS)
        client.create_collection(CollectionId="burst")
        acknowledged: dict[str, str] = {}  # FaceId -> ExternalImageId
        lock = threading.Lock()
        enough = threading.Event()

        def index(item: tuple[str, bytes]) -> None:
            label, data = item
            if enough.is_set():
                return
            try:
                response = client.index_faces(
                    CollectionId="burst", Image={"Bytes": data}, ExternalImageId=label
                )
            except (BotoCoreError, ClientError):
                return  # the server died under this request: not acknowledged
            with lock:
                for record in response["FaceRecords"]:
                    acknowledged[record["Face"]["FaceId"]] = label
                if len(acknowledged) >= 10:
                    enough.set()

        with ThreadPoolExecutor(CONCURRENCY) as pool:
            futures = [pool.submit(index, item) for item in images()]
            assert enough.wait(timeout=300), "the burst never got going"
            server.kill()  # mid-burst: requests are in flight in every thread
            for future in futures:
                future.result(timeout=300)
        assert len(acknowledged) >= 10

        server.start()
        client = server.client(keys)
        listed, token = {}, None
        while True:
            page = client.list_faces(
                CollectionId="burst", MaxResults=100, **({"NextToken": token} if token else {})
            )
            listed.update({f["FaceId"]: f["ExternalImageId"] for f in page["Faces"]})
            token = page.get("NextToken")
            if not token:
                break
        # Every acknowledged face survived; at most the requests in flight added more.
        assert set(acknowledged) <= set(listed)
        assert len(set(listed) - set(acknowledged)) <= CONCURRENCY
        assert client.describe_collection(CollectionId="burst")["FaceCount"] == len(listed)
        # Every stored face is searchable, and searches return nothing that is not stored.
        by_label = dict(images())
        for face_id, label in listed.items():
            found = client.search_faces_by_image(
                CollectionId="burst",
                Image={"Bytes": by_label[label]},
                FaceMatchThreshold=99,
                MaxFaces=10,
            )["FaceMatches"]
            ids = [m["Face"]["FaceId"] for m in found]
            assert face_id in ids, label
            assert set(ids) <= set(listed)
            again = client.search_faces(
                CollectionId="burst", FaceId=face_id, MaxFaces=50, FaceMatchThreshold=0
            )
            assert {m["Face"]["FaceId"] for m in again["FaceMatches"]} <= set(listed)
    finally:
        server.stop()


def test_workers_exit_when_the_server_is_killed(tmp_path):
    """A SIGKILLed server cannot stop its pool; its workers must not outlive it."""
    import os
    import subprocess
    import time
    from pathlib import Path

    server = Server(tmp_path, FACEGATE_WORKERS="2")
    children = subprocess.run(
        ["pgrep", "-P", str(server.process.pid)], capture_output=True, text=True
    ).stdout.split()
    workers = [p for p in children if b"spawn" in Path(f"/proc/{p}/cmdline").read_bytes()]
    assert len(workers) == 2
    server.kill()
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline and any(os.path.exists(f"/proc/{p}") for p in workers):
        time.sleep(0.2)
    assert not [p for p in workers if os.path.exists(f"/proc/{p}")], "orphaned workers"
