"""``facegate fairness evaluate|record|summarize``: demographic audits and the gate."""

from __future__ import annotations

import argparse
import getpass
import json
import sys
from collections import Counter
from pathlib import Path

from facegate.cli.output import stderr
from facegate.config import DETECTORS


def add_parser(sub: argparse._SubParsersAction) -> None:
    fairness = sub.add_parser("fairness", help="demographic audits (NIST's method) and the gate")
    actions = fairness.add_subparsers(dest="action", required=True, metavar="ACTION")
    p = actions.add_parser("evaluate", help="audit the model on a labelled dataset")
    p.add_argument("dataset", metavar="DATASET", help="folder of identity folders, or CSV")
    p.add_argument("--groups", metavar="FILE", help="CSV: subject id, then group columns")
    p.add_argument("--group-by", metavar="COLS", help="comma-separated group columns")
    p.add_argument("--identity", choices=("auto", "folder", "prefix"), default="auto")
    p.add_argument("--target-fmr", type=float, default=1e-4, help="default 1e-4")
    p.add_argument("--alpha", type=float, default=0.5, help="FDR/IR/GARBE weight (default 0.5)")
    p.add_argument(
        "--quality-filter", default="AUTO", choices=("NONE", "AUTO", "LOW", "MEDIUM", "HIGH")
    )
    p.add_argument(
        "--max-impostors",
        type=int,
        default=2_000_000,
        help="beyond this, impostor pairs are sampled (seeded)",
    )
    p.add_argument(
        "--cache",
        metavar="DIR",
        default=None,
        help="embedding cache (default FACEGATE_DATA_DIR/cache/embeddings)",
    )
    p.add_argument("--output-dir", default="fairness-report", metavar="DIR")
    p.add_argument("--workers", type=int, default=1, metavar="N")
    p.add_argument("--detector", default=None, choices=DETECTORS)
    p.add_argument("--json", action="store_true", help="print the summary as JSON")
    p.add_argument(
        "--compare-options",
        action="store_true",
        help="also compare the global, worst-group and cluster-normalized thresholds "
        "(fitted on half of the subjects, measured on the other half)",
    )
    p.add_argument(
        "--clusters",
        type=int,
        default=20,
        metavar="K",
        help="k-means clusters of the normalization (default 20, lowered if the data is small)",
    )
    p = actions.add_parser("record", help="record an audit report for the gate")
    p.add_argument("report", metavar="REPORT.json")
    p.add_argument("--data-dir", default=None)
    p.add_argument("--by", default=None, help="who records it (default cli:<login>)")
    p.add_argument("--json", action="store_true")
    try:
        from facegate.fairness import summarize
    except ImportError:  # pragma: no cover - summarize ships with the package
        return
    summarize.add_parser(actions)


def run(args: argparse.Namespace) -> int:
    if args.action == "evaluate":
        return _evaluate(args)
    if args.action == "record":
        return _record(args)
    from facegate.fairness import summarize

    return summarize.run(args)


def _evaluate(args: argparse.Namespace) -> int:
    from facegate.cli.calibrate import embed_dataset, enrollment_failure
    from facegate.config import load_settings
    from facegate.fairness.html import render
    from facegate.fairness.runner import Face, evaluate, options_html, write_json
    from facegate.vision.calibration import shipped_calibration
    from facegate.vision.dataset import EmbeddingCache, list_samples, read_groups
    from facegate.vision.models import DEFAULT_CHAIN

    dataset = Path(args.dataset)
    if args.clusters < 1:
        print("facegate fairness evaluate: --clusters must be at least 1", file=sys.stderr)
        return 2
    try:
        samples = list_samples(dataset, args.identity)
    except (FileNotFoundError, ValueError) as exc:
        print(f"facegate fairness evaluate: {exc}", file=sys.stderr)
        return 2
    groups_file = (
        Path(args.groups)
        if args.groups
        else (dataset / "subjects.csv" if dataset.is_dir() else None)
    )
    if groups_file is None or not groups_file.is_file():
        print(
            "facegate fairness evaluate: a groups file is needed (--groups FILE)", file=sys.stderr
        )
        return 2
    columns = args.group_by.split(",") if args.group_by else None
    try:
        groups, used = read_groups(groups_file, columns)
    except (ValueError, KeyError) as exc:
        print(f"facegate fairness evaluate: {exc}", file=sys.stderr)
        return 2
    settings = load_settings()
    detector = args.detector or settings.detect.detector
    root = Path(args.cache) if args.cache else settings.data_dir / "cache" / "embeddings"
    cache = EmbeddingCache(root, DEFAULT_CHAIN.version, detector)
    entries = embed_dataset(samples, cache, settings, args.detector, args.workers)
    faces: list[Face] = []
    failures: list[tuple[str, str]] = []
    attempted: Counter[str] = Counter()
    for sample, entry in zip(samples, entries, strict=True):
        group = groups.get(sample.subject, "no group")
        attempted[group] += 1
        reason = enrollment_failure(entry, args.quality_filter)
        if reason is None:
            assert entry is not None  # enrollment_failure gives a reason for a missing entry
            faces.append(Face(sample.subject, group, entry["embedding"][0]))
        else:
            failures.append((group, reason))
    if len({f.subject for f in faces}) < 2:
        print(
            "facegate fairness evaluate: fewer than two subjects have usable faces", file=sys.stderr
        )
        return 3
    report = evaluate(
        faces,
        failures,
        shipped_calibration(DEFAULT_CHAIN.calibration),
        model_version=DEFAULT_CHAIN.version,
        dataset=f"{dataset.resolve().name} (groups: {', '.join(used)})",
        target_fmr=args.target_fmr,
        alpha=args.alpha,
        max_impostors=args.max_impostors,
        attempted=attempted,
        compare_options=args.compare_options,
        clusters=args.clusters,
    )
    out = Path(args.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    write_json(report, out / "fairness.json")
    page = render(report)
    if "fairer_thresholds" in report:
        fragment = options_html(report["fairer_thresholds"])
        page = page.replace("</body>", fragment + "</body>", 1)
    (out / "fairness.html").write_text(page, encoding="utf-8")
    headline = {
        "report": str(out / "fairness.json"),
        "html": str(out / "fairness.html"),
        "faces": report["faces"],
        "threshold": report["threshold"]["threshold"],
        "summary": {k: v.get("value") for k, v in report["summary"].items()},
        "limits": report["limits"],
    }
    options = report.get("fairer_thresholds", {}).get("options", {})
    if options:
        headline["options"] = {
            key: {
                "fmr": {g: x["fmr"]["value"] for g, x in option["groups"].items()},
                "fnmr": {g: x["fnmr"]["value"] for g, x in option["groups"].items()},
                "fmr_max_geomean": option["summary"]["fmr_max_geomean"].get("value"),
            }
            for key, option in options.items()
        }
    if args.json:
        print(json.dumps(headline))
    else:
        stderr.print(f"wrote {out / 'fairness.html'} and {out / 'fairness.json'}")
        for name, value in headline["summary"].items():
            print(f"{name} = {'undefined' if value is None else f'{value:.4g}'}")
        for key, option in headline.get("options", {}).items():
            rates = ", ".join(
                f"{g} FMR {_num(option['fmr'][g])} FNMR {_num(option['fnmr'][g])}"
                for g in option["fmr"]
            )
            print(f"{key} (held-out half): {rates}")
    return 0


def _num(value: float | None) -> str:
    return "undefined" if value is None else f"{value:.3g}"


def _record(args: argparse.Namespace) -> int:
    from facegate.audit.log import Entry, Recorder
    from facegate.config import load_settings
    from facegate.errors import FacegateError
    from facegate.service import open_services

    path = Path(args.report)
    try:
        raw = path.read_bytes()
        report = json.loads(raw)
    except (OSError, ValueError) as exc:
        print(f"facegate fairness record: {path}: {exc}", file=sys.stderr)
        return 3
    services = open_services(load_settings(data_dir=Path(args.data_dir) if args.data_dir else None))
    actor = args.by or f"cli:{getpass.getuser()}"
    entry = Entry(operation="Admin.RecordFairnessAudit", decision="allow", member=actor)
    entry.detail = {"report": path.name}
    recorder = Recorder(services.audit, entry, fill=lambda e, out: e.detail.update(out))
    try:
        result = services.fairness.record(report, raw, actor, record=recorder)
    except FacegateError as exc:
        entry.decision, entry.error_type, entry.reasons = "error", exc.type_name, exc.message
        recorder.finish()
        print(f"facegate fairness record: {exc.message}", file=sys.stderr)
        return 3
    if args.json:
        print(json.dumps(result))
    else:
        for key, value in result.items():
            print(f"{key} = {value}")
    return 0
