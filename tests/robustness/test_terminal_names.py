"""Hostile names reach the terminal escaped: photos, folders and people named with ESC, BEL, CR, LF and bidi controls,
through every CLI path (recognize's log, notes and summary, kb build, review --list/--clusters/--assign, status, the
error messages), one line per photo; report.csv and review keep the real names."""

from __future__ import annotations

import json
import re
import shutil

import pytest

from facetui.core.base.textsafe import terminal_safe
from facetui.core.stores.report import REPORT_NAME, read_rows
from support.cli_runs import copy_workspace, run_cli
from support.helpers import DEMO

# what a terminal would act on: C0 (a line's own end aside), DEL, C1 and the bidi controls
RAW = re.compile("[\x00-\x09\x0b-\x1f\x7f-\x9f\u061c\u200e\u200f\u202a-\u202e\u2066-\u2069]")

ESC_NAME = "a\x1b[31mred\x1b]0;title\x07.jpg"  # colours the terminal, sets its title, rings its bell
LF_NAME = 'two\nlines "quoted".jpg'  # splits a log line in two; a quote for the CSV
CR_NAME = "cr\rover.jpg"  # the start of the line written over
BIDI_NAME = "bidi\u202egpj.exe.jpg"  # shows as bidiexe.jpg
MARKUP_NAME = "[bold red]markup[reverse] x.jpg"  # Rich markup: must show literally in the app
NAMES = {ESC_NAME: "q01.jpg", LF_NAME: "q06.jpg", CR_NAME: "q03.jpg", BIDI_NAME: "q04.jpg", MARKUP_NAME: "q07.jpg"}
IN_DIR = "in\x1b[2J"  # clears the screen
OUT_DIR = "out\x1b]0;t\x07"


def test_terminal_safe_escapes_controls_and_bidi_and_keeps_the_rest():
    assert terminal_safe(ESC_NAME) == "a\\x1b[31mred\\x1b]0;title\\x07.jpg"
    assert terminal_safe(LF_NAME) == 'two\\nlines "quoted".jpg'
    assert terminal_safe("a\rb\tc\x7fd\x9be\x00") == "a\\rb\\tc\\x7fd\\x9be\\x00"
    assert terminal_safe(BIDI_NAME) == "bidi\\u202egpj.exe.jpg"
    assert terminal_safe("\u2066x\u2069\u200f") == "\\u2066x\\u2069\\u200f"
    plain = "café → Barack_Obama | Face: [Barack_Obama:0.34] ü $(x) ;& [red] \\x1b"
    assert terminal_safe(plain) == plain
    for c in map(chr, range(0x2FF)):
        assert not RAW.search(terminal_safe(c)) and "\n" not in terminal_safe(c)


def assert_safe(text: str) -> list[str]:
    """Nothing a terminal acts on in ``text`` but its line ends; its lines."""
    assert not RAW.search(text), [ln for ln in text.splitlines() if RAW.search(ln)]
    return text.splitlines()


@pytest.fixture
def hostile(built_workspace, tmp_path):
    """A workspace whose input and output folders and photos have hostile names, recognised once by the CLI."""
    ws = tmp_path / "ws"
    sp = copy_workspace(built_workspace, ws, process_dir=IN_DIR, processed_dir=OUT_DIR)
    (ws / IN_DIR).mkdir()
    for name, src in NAMES.items():
        shutil.copy2(DEMO / "query" / src, ws / IN_DIR / name)
    r = run_cli("recognize", settings=sp)
    assert r.returncode == 0, r.stderr
    return ws, sp, r


def test_recognize_prints_each_hostile_name_escaped_on_one_line(hostile):
    ws, _sp, r = hostile
    lines = assert_safe(r.stdout + r.stderr)
    photo_lines = [ln for ln in lines if " → " in ln]
    assert len(photo_lines) == len(NAMES), photo_lines
    for name in NAMES:
        assert sum(ln.startswith(terminal_safe(name) + " → ") for ln in photo_lines) == 1, (name, photo_lines)
    assert any(ln.startswith("[Scan] ") and "in\\x1b[2J" in ln for ln in lines), lines
    assert any(ln.startswith("Report: ") and "out\\x1b]0;t\\x07" in ln for ln in lines), lines
    assert any(ln.startswith("Batch done. 5 files") for ln in lines), lines


def test_report_keeps_the_real_names_and_review_assigns_by_the_real_name(hostile):
    """report.csv holds the real names (newline and quote included); review --list shows the unknown one escaped on
    one line, and review --assign with its real name files it under the person, named as it was."""
    ws, sp, _r = hostile
    out = ws / OUT_DIR
    rows = {row["file"]: row for row in read_rows(out / REPORT_NAME)}
    assert set(rows) == set(NAMES)
    assert rows[LF_NAME]["people"] in ("", "Unknown")  # q06: nobody in the KB
    listing = run_cli("review", "--list", settings=sp)
    assert listing.returncode == 0, listing.stderr
    lines = assert_safe(listing.stdout + listing.stderr)
    assert sum(ln.startswith(terminal_safe(LF_NAME) + " [") for ln in lines) >= 1, lines
    clusters = run_cli("review", "--clusters", settings=sp)
    assert clusters.returncode == 0, clusters.stderr
    assert_safe(clusters.stdout + clusters.stderr)
    r = run_cli("review", "--assign", LF_NAME, "Kit_Harington", settings=sp)
    assert r.returncode == 0, r.stderr
    (line,) = assert_safe(r.stdout)
    assert terminal_safe(LF_NAME) in line, line
    assert (out / "Kit_Harington" / LF_NAME).read_bytes() == (DEMO / "query" / "q06.jpg").read_bytes()
    row = {row["file"]: row for row in read_rows(out / REPORT_NAME)}[LF_NAME]
    assert row["people"] == "Kit_Harington"


def test_status_notices_and_errors_are_escaped(hostile, tmp_path):
    ws, sp, _r = hostile
    st = run_cli("status", settings=sp)
    assert st.returncode == 0, st.stderr
    lines = assert_safe(st.stdout + st.stderr)
    assert any(ln.startswith("Last run: Recognition") for ln in lines), lines
    assert any("out\\x1b]0;t\\x07" in ln for ln in lines), lines  # the output folder, in the settings and the run

    empty = ws / "empty\x1b[5m\nfolder"
    empty.mkdir()
    r = run_cli("recognize", "--input", str(empty), "--output", str(ws / "out2"), settings=sp)
    lines = assert_safe(r.stdout + r.stderr)
    assert any(ln.startswith("[Warning] no images found in ") and "empty\\x1b[5m\\nfolder" in ln for ln in lines)

    r = run_cli("recognize", "--input", str(ws / "nope\x1b[31m\nhere"), settings=sp)
    assert r.returncode == 2
    assert r.stderr.count("\n") == 1 and r.stderr.startswith("facetui: input folder does not exist"), r.stderr
    assert "nope\\x1b[31m\\nhere" in assert_safe(r.stderr)[0]


def test_kb_build_prints_hostile_people_and_photos_escaped(hostile):
    ws, _sp, _r = hostile
    person = "Ev\x1b[31mil\u202e"
    (ws / "kb2" / person).mkdir(parents=True)
    shutil.copy2(DEMO / "kb" / "Barack_Obama" / "obama.jpg", ws / "kb2" / person / ESC_NAME)
    raw = json.loads((ws / "settings.json").read_text())
    raw["dataset_dir"] = "kb2"
    (ws / "settings2.json").write_text(json.dumps(raw))
    r = run_cli("kb", "build", settings=ws / "settings2.json")
    assert r.returncode == 0, r.stderr
    lines = assert_safe(r.stdout + r.stderr)
    assert any(ln.startswith(f"{terminal_safe(person)}/{terminal_safe(ESC_NAME)}: 1 face") for ln in lines), lines
    show = run_cli("kb", "show", settings=ws / "settings2.json")
    assert any(terminal_safe(person) in ln for ln in assert_safe(show.stdout)), show.stdout
