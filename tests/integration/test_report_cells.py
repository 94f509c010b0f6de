"""report.csv is opened in spreadsheets: no cell may run as a formula, and every cell must read back exactly."""

from __future__ import annotations

import csv
import re
import shutil

from hypothesis import given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from facetui.core.base.events import FileDone
from facetui.core.run.recognize import recognize
from facetui.core.stores.report import COLUMNS, REPORT_NAME, encode_rows, read_results, read_rows
from support.helpers import run_all

TRIGGERS = ("=", "+", "-", "@", "\t", "\r")
HOSTILE = [
    '=HYPERLINK("http;x")q01.jpg',
    "+1+1.jpg",
    "-2-2.jpg",
    "@SUM(A1).jpg",
    "'quoted.jpg",
    "''two.jpg",
    "\tTAB.jpg",
    "\rCR.jpg",
    "line\rbreak.jpg",
]


def _raw_cells(path):
    with open(path, newline="", encoding="utf-8") as f:
        return list(csv.reader(f))


cell = st.text(alphabet=st.sampled_from(list("=+-@'\t\r;\\ ,\"\nab1.")), max_size=8)


@hsettings(max_examples=300, deadline=None)
@given(st.lists(st.lists(cell, min_size=len(COLUMNS) - 1, max_size=len(COLUMNS) - 1), min_size=1, max_size=3))
def test_any_cells_read_back_exactly_and_none_starts_like_a_formula(tmp_path_factory, rows):
    rows = [r + ["1"] for r in rows]
    path = tmp_path_factory.mktemp("r") / REPORT_NAME
    path.write_bytes(encode_rows(rows, header=True))
    assert [[r[c] for c in COLUMNS] for r in read_rows(path)] == rows
    for raw in _raw_cells(path)[1:]:
        for value in raw:  # a plain number such as -1 or -0.25 is no formula
            assert not value.startswith(TRIGGERS) or re.fullmatch(r"-[0-9]+(\.[0-9]+)?", value), value


def test_numbers_stay_numbers(tmp_path):
    row = ["q.jpg"] + ["-0.1234"] * (len(COLUMNS) - 2) + ["1"]
    path = tmp_path / REPORT_NAME
    path.write_bytes(encode_rows([row], header=True))
    assert _raw_cells(path)[1][1:-1] == ["-0.1234"] * (len(COLUMNS) - 2)


def test_photos_named_like_formulas_are_filed_and_reported_safely(settings, workspace):
    query = workspace / "query"
    for name in HOSTILE:
        shutil.copy(query / "q01.jpg", query / name)
        with open(query / name, "ab") as f:
            f.write(name.encode())  # another content hash each
    events = run_all(recognize(settings))
    done = {e.result.rel: e.result for e in events if isinstance(e, FileDone)}
    out = workspace / "out"
    for name in HOSTILE:
        assert done[name].people == ("Barack_Obama",)
        assert (out / "Barack_Obama" / name).is_file()
    raw = {r[0]: r for r in _raw_cells(out / REPORT_NAME)[1:]}
    for name in HOSTILE:
        row = raw["'" + name if name.startswith(TRIGGERS + ("'",)) else name]  # marked as text for a spreadsheet
        assert all(not v.startswith(TRIGGERS) for v in row)
    back = {r.rel: r for r in read_results(out / REPORT_NAME, out)}
    for name in HOSTILE:
        assert back[name].people == ("Barack_Obama",)
        assert [d.name for d in back[name].destinations] == [name]
    # a rerun resumes from the report: nothing is filed twice, nothing is lost
    again = run_all(recognize(settings))
    assert sorted(p.name for p in (out / "Barack_Obama").iterdir() if p.name in HOSTILE) == sorted(HOSTILE)
    assert sum(isinstance(e, FileDone) for e in again) >= len(HOSTILE)
