"""The transparency report: what happened in a period, for the public.

:func:`transparency` aggregates the period (:mod:`facegate.reports.period`): requests by
sector, purpose and operation, denials by rule, reviews and their time to decision,
enrollments and deletions, footage sharing, the policy set versions in force and the audit
chain's state with the public key that verifies exported logs. It writes ``transparency.html``
(charts embedded as PNG), ``transparency.json`` (every number) and one CSV file per table.
Aggregates only: no organization, member, key, face, case, review or request identifier ever
reaches a file. Every count goes through one :class:`~facegate.reports.ledger.Ledger` and is
suppressed once (:mod:`facegate.reports.suppression`).
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from facegate import __version__
from facegate.db import aware
from facegate.errors import InvalidParameterException
from facegate.gallery.tables import SECTORS
from facegate.policy.tables import REVIEW_STATUSES
from facegate.reports.charts import bar_chart
from facegate.reports.demographic import demographic_audit
from facegate.reports.ledger import ALL, COLUMNS, DECISIONS, Ledger, Table
from facegate.reports.period import (
    FOOTAGE_DECISIONS,
    NO_PURPOSE,
    UNRECOGNIZED,
    UNRECOGNIZED_CLASS,
    denying_rules,
    operation_classes,
    read_period,
)
from facegate.reports.render import write_csv, write_html, write_json
from facegate.reports.sources import Sources
from facegate.reports.suppression import (
    SMALL,
    SMALL_MARK,
    UNKNOWN_MARK,
    WITHHELD_MARK,
    Cell,
    suppress,
)
from facegate.reports.timing import review_timing


def transparency(
    services: Sources, start: datetime, end: datetime, out_dir: Path
) -> dict[str, Any]:
    """Write the transparency report for [start, end) into ``out_dir``; what was written."""
    start, end = aware(start), aware(end)
    if end <= start:
        raise InvalidParameterException("The report's --to must be later than its --from.")
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    generated = datetime.now(UTC)
    period = read_period(services, start, end)
    ledger = Ledger()

    # Requests: four breakdowns of the same records, sharing the "all requests" totals.
    class_order = list(dict.fromkeys(operation_classes(services).values()))
    if UNRECOGNIZED_CLASS in period.by_class:
        class_order.append(UNRECOGNIZED_CLASS)
    operations = sorted(
        period.by_operation, key=lambda o: (class_order.index(period.operation_class[o]), o)
    )
    tables = [
        ledger.decisions_table(
            "requests_by_sector",
            "Requests by sector of the requesting organization",
            "sector",
            period.by_sector,
            SECTORS,
        ),
        ledger.decisions_table(
            "requests_by_purpose",
            "Requests by purpose of the use case the key was issued for",
            "purpose",
            period.by_purpose,
            [*services.registry.purposes, NO_PURPOSE],
        ),
        ledger.decisions_table(
            "requests_by_operation_class",
            "Requests by operation class",
            "class",
            period.by_class,
            class_order,
        ),
        ledger.decisions_table(
            "requests_by_operation", "Requests by operation", "operation", period.by_operation, []
        ),
    ]
    by_operation = tables[-1]
    by_operation.rows = [
        *sorted(by_operation.rows[:-1], key=lambda row: operations.index(row[0])),
        by_operation.rows[-1],
    ]
    by_operation.extra_columns = ("class",)
    by_operation.extra = {o: {"class": k} for o, k in period.operation_class.items()}
    for kind in class_order:  # a class's counts are the sums of its operations'
        members = [o for o in operations if period.operation_class[o] == kind]
        for column in COLUMNS:
            ledger.relate(("class", kind, column), [("operation", o, column) for o in members])

    # Denials by rule: a denial names every rule that denied it, so the rows overlap.
    denials = Table(
        "denials_by_rule",
        "Denied requests by the rule that denied them",
        "rule",
        ("denials",),
        note="A request denied by several rules is counted under each of them, so the rows do "
        "not add up to the number of denied requests.",
    )
    for rule in dict.fromkeys([*denying_rules(services), *sorted(period.denials)]):
        denials.rows.append((rule, {"denials": ledger.put(("rule", rule), period.denials[rule])}))

    # Reviews opened in the period, by their status now.
    reviews = Table(
        "reviews_by_status",
        "Human reviews of candidate lists opened in the period, by status now",
        "status",
        ("reviews",),
    )
    for status in REVIEW_STATUSES:
        key = ledger.put(("review", status), period.review_status[status])
        reviews.rows.append((status, {"reviews": key}))
    ledger.put(("review", ALL), sum(period.review_status[s] for s in REVIEW_STATUSES))
    ledger.relate(("review", ALL), [("review", s) for s in REVIEW_STATUSES])
    reviews.rows.append((ALL, {"reviews": ("review", ALL)}))

    # The gallery: enrollments and deletions. Counts of requests and actions that appear in
    # other tables too are tied to them (a one-member sum is an equality), so that a count
    # withheld in one table is not shown in another.
    gallery = Table("gallery_changes", "Faces enrolled and deleted", "measure", ("count",))
    for name, label, value in (
        ("faces_enrolled", "faces enrolled (IndexFaces)", period.faces_enrolled),
        ("delete_requests", "DeleteFaces requests", period.delete_requests),
        (
            "faces_deleted_on_request",
            "faces deleted on request (DeleteFaces)",
            period.faces_deleted_on_request,
        ),
        ("retention_purges", "retention purges (receipts)", period.deletions["retention"]["n"]),
        (
            "faces_purged",
            "faces purged at their retention deadline",
            period.deletions["retention"]["faces"],
        ),
        ("erasures", "erasures (receipts)", period.deletions["erasure"]["n"]),
        ("faces_erased", "faces erased", period.deletions["erasure"]["faces"]),
    ):
        gallery.rows.append((label, {"count": ledger.put(("gallery", name), value)}))

    # Administrative and system actions: everything in the log that is not a request.
    actions = ledger.decisions_table(
        "actions",
        "Administrative and system actions",
        "action",
        period.actions,
        [],
        totals="actions",
    )
    if period.delete_requests:
        ledger.relate(("gallery", "delete_requests"), [("operation", "DeleteFaces", "allowed")])
    for kind, name in (("retention", "retention_purges"), ("erasure", "erasures")):
        ledger.relate(
            ("gallery", name),
            [
                ("action", op, "allowed")
                if ("action", op, "allowed") in ledger.values
                else ("operation", op if op in period.by_operation else UNRECOGNIZED, "allowed")
                for op in period.deletion_operations[kind]
            ],
        )
    unknown_deleted = period.delete_requests_uncounted > 0
    if unknown_deleted:
        gallery.note = (
            "Some DeleteFaces records of the period do not say how many faces they deleted, so "
            "the number of faces deleted on request is not known and is not given."
        )

    # Footage sharing (FOOTAGE-CONSENT): requests, the owners' decisions per camera, videos
    # shared and refused. Counts that are cells of the operations table are tied to them.
    footage = Table(
        "footage_sharing",
        "Private cameras' footage requested by agencies and shared by their owners",
        "measure",
        ("count",),
        note="Owners' decisions are counted per camera; a decision may cover several of an "
        "owner's cameras, and an approval can later be revoked (until footage is shared).",
    )
    asks = period.by_operation.get("RequestFootage", Counter())  # (not a defaultdict entry)
    shares = period.by_operation.get("ShareFootage", Counter())
    for name, label, value in (
        ("requests", "footage requests made", asks["allow"]),
        ("asked", "cameras asked", period.footage["asked"]),
        *(
            (kind, f"cameras {done} by their owners", period.footage[kind])
            for kind, done in FOOTAGE_DECISIONS
        ),
        ("shared", "videos shared with agencies", shares["allow"]),
        (
            "refused",
            "share attempts refused",
            shares["deny"] + shares["refused"] + shares["error"],
        ),
    ):
        footage.rows.append((label, {"count": ledger.put(("footage", name), value)}))
    for name, operation, columns in (
        ("requests", "RequestFootage", ("allowed",)),
        ("shared", "ShareFootage", ("allowed",)),
        ("refused", "ShareFootage", ("denied", "refused", "error")),
    ):
        if operation in period.by_operation:
            ledger.relate(("footage", name), [("operation", operation, c) for c in columns])

    # The audit chain: its record count is never withheld (a verifier checks an export against
    # it); it is the sum of requests and actions, so that sum must not expose a withheld total.
    ledger.put(("chain", "records"), period.records, fixed=True)
    ledger.relate(("chain", "records"), [("all", "total"), ("actions", "total")])

    cells = suppress(ledger.values, ledger.relations, ledger.fixed)
    if unknown_deleted:
        cells[("gallery", "faces_deleted_on_request")] = Cell(0, "unknown")
    timing = review_timing(period.review_seconds)
    signer = services.audit.signer
    if signer is None:  # the service always loads (or makes) the audit signing key
        raise RuntimeError("The transparency report publishes the audit signing key: none.")
    audit_chain = {
        "records_in_period": period.records,
        "first_seq_in_period": period.first_seq,
        "last_seq_in_period": period.last_seq,
        "checkpoints_in_period": period.checkpoints_in_period,
        "head_seq": period.head_seq,
        "head_hash": period.head_hash,
        "latest_checkpoint": period.checkpoint,
        "public_key_id": signer.key_id,
        "public_key_pem": signer.public_pem,
        "export_command": (
            f"facegate audit export --since {start.isoformat()} --until {end.isoformat()} "
            "--output audit.jsonl"
        ),
        "verify_command": "facegate audit verify --export audit.jsonl --public-key audit-key.pem",
    }
    demographic = demographic_audit(services)

    published = (*tables, denials, reviews, gallery, footage, actions)
    csv_paths = [t.write_csv(out_dir, cells) for t in published]
    csv_paths.append(
        write_csv(
            out_dir / "review_time_to_decision.csv",
            ["statistic", "seconds", "shown"],
            [[n, timing[f"{n}_seconds"], timing[n]] for n in ("median", "p90")],
        )
    )
    csv_paths.append(
        write_csv(
            out_dir / "policy_versions.csv",
            ["version", "first_seen", "last_seen"],
            [[v["version"], v["first_seen"], v["last_seen"]] for v in period.versions],
        )
    )
    requests_total, denied_total = cells[("all", "total")], cells[("all", "denied")]
    gallery_json = gallery.to_json(cells)
    gallery_json["measures"] = {
        key[1]: cells[key].to_json() for key in cells if key[0] == "gallery"
    }
    document: dict[str, Any] = {
        "report": "facegate transparency report",
        "format": "facegate-transparency/1",
        "product": {"name": "facegate", "version": __version__},
        "generated_at": generated.isoformat(),
        "period": {"from": start.isoformat(), "to": end.isoformat(), "end_exclusive": True},
        "suppression": {
            "small": f"counts from 1 to {SMALL - 1} are withheld and shown as {SMALL_MARK!r}",
            "complementary": f"counts withheld so that no {SMALL_MARK!r} count can be "
            f"recomputed from a total are shown as {WITHHELD_MARK!r}; each is at least {SMALL}",
            "json": 'a withheld count is {"value": null, "suppressed": true, "shown": mark}',
            "review_times": f"shown only when at least {SMALL} reviews were decided",
            "rules": "docs/reports.md",
        },
        "headline": {
            "requests": requests_total.to_json(),
            "denied": denied_total.to_json(),
            "audit_records": period.records,
        },
        "requests": {t.name: t.to_json(cells) for t in tables},
        "denials_by_rule": denials.to_json(cells),
        "reviews": {"by_status": reviews.to_json(cells), "time_to_decision": timing},
        "gallery": gallery_json,
        "footage": {
            **footage.to_json(cells),
            "measures": {key[1]: cells[key].to_json() for key in cells if key[0] == "footage"},
        },
        "actions": actions.to_json(cells),
        "policy_versions": period.versions,
        "audit_chain": audit_chain,
        "demographic_audit": demographic,
    }

    def chart(title: str, table: Table, column: str) -> dict[str, str]:
        rows = [(label, keys) for label, keys in table.rows if label != ALL]
        return bar_chart(title, [label for label, _ in rows], [cells[k[column]] for _, k in rows])

    charts = [
        chart("Requests by sector", tables[0], "total"),
        bar_chart(
            "Requests by decision",
            [c for _, c in DECISIONS],
            [cells[("all", c)] for _, c in DECISIONS],
        ),
        chart("Requests by operation class", tables[2], "total"),
        chart("Denials by rule", denials, "denials"),
        chart("Human reviews by status", reviews, "reviews"),
    ]
    html_path = write_html(
        out_dir / "transparency.html",
        "transparency.html",
        version=__version__,
        generated=generated.isoformat(timespec="seconds"),
        start=start.isoformat(),
        end=end.isoformat(),
        small=SMALL,
        small_mark=SMALL_MARK,
        withheld_mark=WITHHELD_MARK,
        unknown_mark=UNKNOWN_MARK,
        requests_total=requests_total.shown,
        denied_total=denied_total.shown,
        request_tables=[t.rendered(cells) for t in tables],
        denials=denials.rendered(cells),
        reviews=reviews.rendered(cells),
        timing=timing,
        gallery=gallery.rendered(cells),
        footage=footage.rendered(cells),
        actions=actions.rendered(cells),
        versions=period.versions,
        chain=audit_chain,
        demographic=demographic,
        charts=charts,
    )
    json_path = out_dir / "transparency.json"
    document["files"] = [p.name for p in (html_path, json_path, *csv_paths)]
    write_json(json_path, document)
    return {
        "html": str(html_path),
        "json": str(json_path),
        "csv": [str(p) for p in csv_paths],
        "period": document["period"],
        "requests": requests_total.shown,
        "denied": denied_total.shown,
        "audit_records": period.records,
        "policy_versions": [v["version"] for v in period.versions],
        "public_key_id": signer.key_id,
    }
