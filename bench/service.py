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

Writes ``bench/results/service.json`` (or ``--output PATH``) with p50/p90 of each, their
difference and the overhead as a share of the bare call. Run with
``.venv/bin/python bench/service.py``.
"""

from __future__ import annotations

import argparse
import json
import statistics
from collections.abc import Sequence

from _common import (
    DATA,
    add_output_option,
    governed_client,
    ms,
    output_path,
    percentile,
    server,
    time_each,
    workdir,
    write_results,
)
from facegate.vision.engine import FaceEngine

LONDON = DATA / "london"
REPEATS = 3


def p50_p90(samples_ms: list[float]) -> dict[str, float]:
    """The median and the 90th percentile (nearest rank), rounded to 0.1 ms."""
    return {
        "p50": round(statistics.median(samples_ms), 1),
        "p90": round(percentile(samples_ms, 90, nearest=True), 1),
    }


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_output_option(parser, "service.json")
    out = output_path(parser.parse_args(argv), "service.json")
    gallery = sorted((LONDON / "neutral_front").glob("*.jpg"))
    probes = [p.read_bytes() for p in sorted((LONDON / "smiling_front").glob("*.jpg"))]
    engine = FaceEngine()
    bare = ms(time_each(engine.probe, probes * REPEATS))
    with workdir("service") as folder, server(folder) as running:
        _, client = governed_client(running, "bench")
        client.create_collection(CollectionId="bench")
        for path in gallery:
            client.index_faces(
                CollectionId="bench",
                Image={"Bytes": path.read_bytes()},
                ExternalImageId=path.stem,
            )
        for data in probes[:3]:  # warm-up: index loaded, connections open
            client.search_faces_by_image(CollectionId="bench", Image={"Bytes": data})
        full = ms(
            time_each(
                lambda data: client.search_faces_by_image(
                    CollectionId="bench", Image={"Bytes": data}, MaxFaces=5
                ),
                probes * REPEATS,
            )
        )
    bare_p50, full_p50 = statistics.median(bare), statistics.median(full)
    result = {
        "what": "SearchFacesByImage p50/p90 latency through boto3 + HTTP + SigV4 + policy "
        "decision + worker pool + FAISS + SQL (SQLite) + decision record vs the bare "
        "engine.probe call in-process, same probes",
        "gallery_faces": len(gallery),
        "probes": len(probes) * REPEATS,
        "bare_engine_ms": p50_p90(bare),
        "service_ms": p50_p90(full),
        "overhead_ms_p50": round(full_p50 - bare_p50, 1),
        "overhead_share_p50": round((full_p50 - bare_p50) / bare_p50, 3),
        "target": "overhead under 10% of the bare engine call",
        "target_met": (full_p50 - bare_p50) / bare_p50 < 0.10,
    }
    write_results(out, result, indent=1)
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
