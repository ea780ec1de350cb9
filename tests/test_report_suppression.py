"""The report's counting on its own, in process: small-count suppression, the ledger and its
tables (CSV and JSON as published), and the reviews' time to decision. No server, no models:
the rules of docs/reports.md on numbers worked out by hand."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime

import pytest

from facegate.errors import InvalidParameterException
from facegate.reports.ledger import ALL, Ledger
from facegate.reports.suppression import Cell, suppress
from facegate.reports.timing import nearest_rank, review_timing
from facegate.reports.transparency import transparency

SMALL = {"value": None, "suppressed": True, "shown": "<5"}
WITHHELD = {"value": None, "suppressed": True, "shown": "x"}


@pytest.mark.parametrize(
    "values, shown",
    [
        # one small count: the next smallest count is withheld with it
        ([3, 6, 10, 19], ["<5", "x", "10", "19"]),
        # two small counts that could only be 1 and 1 (12 - 10): the 10 is withheld too
        ([1, 1, 10, 12], ["<5", "<5", "x", "12"]),
        # two small counts summing to 4: 1+3, 2+2 or 3+1, nothing to withhold
        ([2, 2, 10, 14], ["<5", "<5", "10", "14"]),
        # 1 and a withheld 5 making 6: the "x" is at least 5, so both are pinned: total withheld
        ([1, 5, 0, 6], ["<5", "x", "0", "x"]),
        # zeros are never withheld, and a total of small counts is small itself
        ([3, 0, 0, 3], ["<5", "0", "0", "<5"]),
        ([0, 0, 0, 0], ["0", "0", "0", "0"]),
        ([5, 6, 7, 18], ["5", "6", "7", "18"]),
    ],
)
def test_suppression_of_one_sum(values, shown):
    keys = ["a", "b", "c", "total"]
    cells = suppress(dict(zip(keys, values, strict=True)), [("total", keys[:3])])
    assert [cells[k].shown for k in keys] == shown
    for key in keys:
        assert (cells[key].to_json()["value"] is None) == (cells[key].shown in ("<5", "x"))


def test_suppression_spreads_across_sums_and_spares_fixed_cells():
    values = {"a": 8, "b": 0, "row": 8, "a2": 3, "column": 11, "records": 20, "other": 9}
    relations = [("row", ["a", "b"]), ("column", ["a", "a2"]), ("records", ["column", "other"])]
    cells = suppress(values, relations, fixed={"records"})
    # a2 is small; the column's total would give it away, so a is withheld; then the row's
    # total would give a away, so the row's total is withheld as well
    assert {k: c.shown for k, c in cells.items()} == {
        "a": "x",
        "b": "0",
        "row": "x",
        "a2": "<5",
        "column": "11",
        "records": "20",
        "other": "9",
    }
    assert cells["a2"] == Cell(3, "small") and cells["a2"].to_json() == SMALL


def test_review_timing_and_percentiles():
    assert review_timing([60.0] * 4)["suppressed"] is True
    timing = review_timing([10.0, 20.0, 30.0, 40.0, 50.0, 600.0, 7200.0])
    assert timing["median_seconds"] == 40.0 and timing["p90_seconds"] == 7200.0
    assert timing["median"] == "40 s" and timing["p90"] == "2.0 h"
    assert nearest_rank([1, 2, 3, 4, 5, 6, 7, 8, 9, 10], 0.9) == 9


def test_a_period_must_not_be_empty(tmp_path):
    moment = datetime(2026, 3, 1, tzinfo=UTC)
    with pytest.raises(InvalidParameterException):
        transparency(None, moment, moment, tmp_path)


def _sectors(ledger: Ledger, counts: dict[str, Counter[str]]):
    return ledger.decisions_table(
        "requests_by_sector", "Requests by sector", "sector", counts, ["commercial", "nonprofit"]
    )


def test_a_table_without_small_counts_is_published_as_counted(tmp_path):
    ledger = Ledger()
    table = _sectors(
        ledger, {"commercial": Counter(allow=10, deny=5), "nonprofit": Counter(allow=7)}
    )
    cells = suppress(ledger.values, ledger.relations, ledger.fixed)
    with open(table.write_csv(tmp_path, cells), newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle)) == [
            ["sector", "allowed", "denied", "refused", "error", "total"],
            ["commercial", "10", "5", "0", "0", "15"],
            ["nonprofit", "7", "0", "0", "0", "7"],
            [ALL, "17", "5", "0", "0", "22"],
        ]
    assert table.to_json(cells)["rows"][2] == {
        "sector": ALL,
        "allowed": {"value": 17},
        "denied": {"value": 5},
        "refused": {"value": 0},
        "error": {"value": 0},
        "total": {"value": 22},
    }


def test_one_small_count_withholds_what_would_give_it_away(tmp_path):
    """Two refused requests of a nonprofit: its 7 allowed ones would give them away (9 - 7),
    so they are withheld; then the commercial allowed count (the allowed column's total would
    give the 7 away), then the commercial denials (its row), then the denied column's total
    (its only other member is 0). The row and grand totals stay: no equation pins a cell."""
    ledger = Ledger()
    table = _sectors(
        ledger,
        {"commercial": Counter(allow=10, deny=5), "nonprofit": Counter(allow=7, refused=2)},
    )
    cells = suppress(ledger.values, ledger.relations, ledger.fixed)
    with open(table.write_csv(tmp_path, cells), newline="", encoding="utf-8") as handle:
        assert list(csv.reader(handle))[1:] == [
            ["commercial", "x", "x", "0", "0", "15"],
            ["nonprofit", "x", "0", "<5", "0", "9"],
            [ALL, "17", "x", "<5", "0", "24"],
        ]
    nonprofit = table.to_json(cells)["rows"][1]
    assert nonprofit["allowed"] == WITHHELD and nonprofit["refused"] == SMALL
    rendered = table.rendered(cells)
    assert [row["total"] for row in rendered["rows"]] == [False, False, True]
    assert rendered["rows"][1]["cells"] == ["nonprofit", "x", "0", "<5", "0", "9"]


def test_breakdowns_of_the_same_requests_share_their_totals():
    ledger = Ledger()
    sectors = _sectors(ledger, {"commercial": Counter(allow=10, deny=5)})
    purposes = ledger.decisions_table(
        "requests_by_purpose",
        "Requests by purpose",
        "purpose",
        {"photo": Counter(allow=10, deny=5)},
        [],
    )
    assert sectors.rows[-1] == purposes.rows[-1] == (ALL, {c: ("all", c) for c in sectors.columns})
    with pytest.raises(AssertionError, match=r"\(.all., .allowed.\) is counted as 10 and as 16"):
        ledger.decisions_table(
            "requests_by_class", "Requests by class", "class", {"detect": Counter(allow=16)}, []
        )
