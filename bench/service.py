"""Service overhead: SearchFacesByImage through HTTP, SigV4 and storage vs the bare engine.

Starts a real server (SQLite, one inference worker so both sides use one core), indexes the
London frontal photos in tests/data, then times, for the same probe images:

- the bare engine call that SearchFacesByImage needs (decode, detect, embed the largest face),
  in this process;
- the full request through boto3: signing, HTTP, verification, validation, the policy
  decision (Cedar, usage counters), the worker pool, the FAISS search, the SQL lookup and the
  decision record.

The key is a commercial photo-organization use case's (no threshold floor, no review), so the
answer is the search itself.

Writes ``bench/results/service.json`` with p50/p90 of each, their difference and the
overhead as a share of the bare call. Run with ``.venv/bin/python bench/service.py``.
"""

from __future__ import annotations

import json
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT.parent))

from facegate.vision.engine import FaceEngine  # noqa: E402
from tests.server import BASIS, Server  # noqa: E402

DATA = ROOT.parent / "tests" / "data" / "london"
REPEATS = 3


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def main() -> None:
    gallery = sorted((DATA / "neutral_front").glob("*.jpg"))
    probes = [p.read_bytes() for p in sorted((DATA / "smiling_front").glob("*.jpg"))]
    engine = FaceEngine()
    bare = []
    for _ in range(REPEATS):
        for data in probes:
            started = time.perf_counter()
            engine.probe(data)
            bare.append((time.perf_counter() - started) * 1000)
    with tempfile.TemporaryDirectory() as tmp:
        server = Server(Path(tmp), FACEGATE_WORKERS="1")
        try:
            client = server.client(server.governed_keys("bench"), headers=BASIS)
            client.create_collection(CollectionId="bench")
            for path in gallery:
                client.index_faces(
                    CollectionId="bench",
                    Image={"Bytes": path.read_bytes()},
                    ExternalImageId=path.stem,
                )
            for data in probes[:3]:  # warm-up: index loaded, connections open
                client.search_faces_by_image(CollectionId="bench", Image={"Bytes": data})
            full = []
            for _ in range(REPEATS):
                for data in probes:
                    started = time.perf_counter()
                    client.search_faces_by_image(
                        CollectionId="bench", Image={"Bytes": data}, MaxFaces=5
                    )
                    full.append((time.perf_counter() - started) * 1000)
        finally:
            server.stop()
    bare_p50, full_p50 = statistics.median(bare), statistics.median(full)
    result = {
        "what": "SearchFacesByImage p50/p90 latency through boto3 + HTTP + SigV4 + policy "
        "decision + worker pool + FAISS + SQL (SQLite) + decision record vs the bare "
        "engine.probe call in-process, same probes",
        "gallery_faces": len(gallery),
        "probes": len(probes) * REPEATS,
        "bare_engine_ms": {"p50": round(bare_p50, 1), "p90": round(percentile(bare, 0.9), 1)},
        "service_ms": {"p50": round(full_p50, 1), "p90": round(percentile(full, 0.9), 1)},
        "overhead_ms_p50": round(full_p50 - bare_p50, 1),
        "overhead_share_p50": round((full_p50 - bare_p50) / bare_p50, 3),
        "target": "overhead under 10% of the bare engine call",
        "target_met": (full_p50 - bare_p50) / bare_p50 < 0.10,
    }
    out = ROOT / "results" / "service.json"
    out.write_text(json.dumps(result, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
