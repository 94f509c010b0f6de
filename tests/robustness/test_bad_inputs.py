"""Bad input gets a reason, never a crash: `facetui recognize` over the generated corpus mixed with the demo photos.

One recursive CLI run (two worker processes) over the nine demo photos plus tests/support/corpus.py's awkward and broken files:
every good photo is filed as demo/truth.csv says, every bad one gets a one-line reason in the log and in report.csv,
the run exits 0, the inputs are byte-identical afterwards (mtimes too), and memory stays bounded (no bomb is decoded).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from facetui.core.base.fsutil import display_name
from facetui.core.stores.report import split_list
from support.cli_runs import (
    REPO,
    cli_cmd,
    cli_env,
    copy_workspace,
    filed,
    permission_preexec,
    report_rows,
    sha,
    temps,
    tree,
)
from support.corpus import BOMB_SIZE, HUGE_NAME, NON_UTF8_NAME, ROTATED_NAME, WEIRD_NAME, make_corpus
from support.helpers import DEMO, read_truth

EXTS = [".jpg", ".jpeg", ".png", ".webp", ".gif", ".tif", ".tiff"]
MB = 1024 * 1024


# A fresh, small Python starts the command and reports its peak RSS: measured from pytest itself, a forked child would
# count pytest's own memory (the kernel keeps the high-water mark across fork + exec).
_MEASURE = (
    "import os, subprocess, sys\n"
    "p = subprocess.Popen(sys.argv[2:])\n"
    "_, status, usage = os.wait4(p.pid, 0)\n"  # Linux folds the reaped worker processes into ru_maxrss
    "open(sys.argv[1], 'w').write(str(usage.ru_maxrss * 1024))\n"
    "sys.exit(os.waitstatus_to_exitcode(status))\n"
)


def _run_measured(args: list[str], cwd: Path, log: Path, preexec=None) -> tuple[int, str, str, int]:
    """Run a command to the end; (exit status, stdout, stderr, peak RSS in bytes of it and its worker processes)."""
    rss_file = log.with_suffix(".rss")
    with open(log.with_suffix(".out"), "wb") as out, open(log.with_suffix(".err"), "wb") as err:
        rc = subprocess.run(
            [sys.executable, "-c", _MEASURE, str(rss_file), *args],
            stdout=out,
            stderr=err,
            cwd=cwd,
            env=cli_env(None),
            preexec_fn=preexec,
            timeout=300,
        ).returncode
    return (
        rc,
        log.with_suffix(".out").read_text(errors="replace"),
        log.with_suffix(".err").read_text(errors="replace"),
        int(rss_file.read_text()),
    )


@pytest.fixture(scope="module")
def mixed_run(built_workspace, tmp_path_factory):
    root = tmp_path_factory.mktemp("bad_inputs")
    ws = root / "ws"
    sp = copy_workspace(built_workspace, ws, recursive=True, workers=2, valid_exts=EXTS)
    mixed = ws / "mixed"
    shutil.copytree(ws / "query", mixed)
    q = DEMO / "query"
    expected = make_corpus(mixed / "corpus", [q / "q01.jpg", q / "q03.jpg", q / "q04.jpg"])
    # make_corpus leaves the mode-000 file out when this process is root; the run below can still be refused it when
    # it sheds root's CAP_DAC_OVERRIDE first
    usable, preexec = permission_preexec()
    if usable and "noaccess.jpg" not in expected:
        shutil.copy2(q / "q01.jpg", mixed / "corpus" / "noaccess.jpg")
        (mixed / "corpus" / "noaccess.jpg").chmod(0)
        expected["noaccess.jpg"] = "error"
    before = tree(mixed)

    # reference: the same command on one small, already analysed photo (what the process costs with nothing to decode)
    (ws / "one").mkdir()
    shutil.copy2(q / "q02.jpg", ws / "one" / "q02.jpg")
    ref = _run_measured(
        cli_cmd("recognize", "--input", str(ws / "one"), "--output", str(ws / "out-one"), settings=sp),
        REPO,
        root / "ref",
    )
    assert ref[0] == 0, ref[2]
    rc, out, err, rss = _run_measured(
        cli_cmd("recognize", "--input", str(mixed), settings=sp), REPO, root / "run", preexec
    )
    return {
        "ws": ws,
        "mixed": mixed,
        "out": ws / "out",
        "expected": expected,
        "before": before,
        "rc": rc,
        "stdout": out,
        "stderr": err,
        "rss": rss,
        "ref_rss": ref[3],
    }


def _rows_by_file(out: Path) -> dict[str, list[dict[str, str]]]:
    by: dict[str, list[dict[str, str]]] = {}
    for r in report_rows(out / "report.csv"):
        by.setdefault(r["file"], []).append(r)
    return by


def _is_dir_entry(mixed: Path, name: str) -> bool:
    return (mixed / "corpus" / name).is_dir()


def test_run_completes_with_exit_0_and_a_summary(mixed_run):
    assert mixed_run["rc"] == 0, mixed_run["stderr"]
    assert "Traceback" not in mixed_run["stderr"]
    files = [n for n in mixed_run["expected"] if not _is_dir_entry(mixed_run["mixed"], n)]
    errors = [n for n in files if mixed_run["expected"][n] == "error"]
    total = 9 + len(files)
    assert f"Batch done. {total} files," in mixed_run["stdout"]
    assert f"Errors = {len(errors)}." in mixed_run["stdout"]
    assert temps(mixed_run["ws"]) == []


def test_every_demo_photo_is_filed_as_truth_says(mixed_run):
    got = filed(mixed_run["out"])
    for name, people in read_truth().items():
        assert got[name] == (people or {"Unknown"}), name


def test_every_bad_file_has_a_one_line_reason_in_log_and_report(mixed_run):
    rows = _rows_by_file(mixed_run["out"])
    lines = mixed_run["stdout"].splitlines()
    checked = 0
    for name, kind in mixed_run["expected"].items():
        if kind != "error" or _is_dir_entry(mixed_run["mixed"], name):
            continue
        rel = f"corpus/{name}"
        assert rel in rows, f"{rel} missing from report.csv"
        (row,) = rows[rel]
        reason = row["error"]
        assert reason and "\n" not in reason and len(reason) < 200, (rel, reason)
        assert row["destinations"] == "" and row["decision"] == ""
        assert f"{display_name(rel)} → Error | {reason}" in lines, rel
        checked += 1
    assert checked >= 8  # empty, truncated x2, text, bombs x2, dangling link, FIFO (and mode 000 when not root)
    assert "image too large" in rows["corpus/bomb.png"][0]["error"]
    assert f"{BOMB_SIZE[0] * BOMB_SIZE[1] // 1_000_000} MP" in rows["corpus/bomb_sof.jpg"][0]["error"]
    assert "empty" in rows["corpus/empty.jpg"][0]["error"]


def test_bad_files_are_filed_nowhere(mixed_run):
    out_names = {
        n
        for names in (
            os.listdir(mixed_run["out"] / d) for d in os.listdir(mixed_run["out"]) if (mixed_run["out"] / d).is_dir()
        )
        for n in names
    }
    for name, kind in mixed_run["expected"].items():
        if kind == "error":
            assert Path(name).name not in out_names, name


def test_every_odd_but_valid_file_is_filed_as_an_identical_copy(mixed_run):
    rows = _rows_by_file(mixed_run["out"])
    for name, kind in mixed_run["expected"].items():
        if kind != "ok":
            continue
        rel = f"corpus/{name}"
        first = rows[rel][0]
        assert first["error"] == "", (rel, first["error"])
        dests = [mixed_run["out"] / d for d in split_list(first["destinations"])]
        assert dests, rel
        for d in dests:
            assert d.is_file() and not d.is_symlink()
            assert sha(d) == sha(mixed_run["mixed"] / "corpus" / name), rel


def test_copies_of_the_obama_photo_are_recognised_whatever_their_form(mixed_run):
    rows = _rows_by_file(mixed_run["out"])
    for name in (
        ROTATED_NAME,
        WEIRD_NAME,
        HUGE_NAME,
        "link.jpg",
        "cmyk.jpg",
        "gray16.png",
        "rgba.png",
        "palette.png",
        "animated.gif",
        "multipage.tiff",
        "png_named.jpg",
    ):
        assert rows[f"corpus/{name}"][0]["people"] == "Barack_Obama", name
    assert "EXIF rotation applied" in rows[f"corpus/{ROTATED_NAME}"][0]["notes"]
    assert "multi-frame" in rows["corpus/animated.gif"][0]["notes"]


def test_odd_names_survive_byte_for_byte(mixed_run):
    person = mixed_run["out"] / "Barack_Obama"
    assert (person / WEIRD_NAME).is_file()
    raw = os.listdir(os.fsencode(person))
    if os.fsdecode(NON_UTF8_NAME) in mixed_run["expected"]:
        assert NON_UTF8_NAME in raw  # the copy keeps the original bytes of its name
        assert any(line.startswith("corpus/caf\ufffd.jpg → Barack_Obama") for line in mixed_run["stdout"].splitlines())


def test_symlink_loop_is_visited_once_and_folders_named_like_photos_are_not_files(mixed_run):
    rows = _rows_by_file(mixed_run["out"])
    assert not [f for f in rows if f.startswith("corpus/sub/")], "the loop was followed"
    assert "corpus/folder.jpg" not in rows


def test_inputs_are_byte_identical_with_the_same_mtimes(mixed_run):
    assert tree(mixed_run["mixed"]) == mixed_run["before"]


def test_memory_stays_bounded(mixed_run):
    """A 1.6-gigapixel bomb decoded would take 4.8 GB; the 100 MP JPEG decoded whole, 300 MB. Neither may happen."""
    extra = mixed_run["rss"] - mixed_run["ref_rss"]
    assert extra < 150 * MB, f"peak RSS {mixed_run['rss'] / MB:.0f} MB, {extra / MB:.0f} MB over the reference"


def test_unreadable_file_gets_permission_denied(mixed_run):
    if "noaccess.jpg" not in mixed_run["expected"]:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE: root reads mode-000 files")
    (row,) = _rows_by_file(mixed_run["out"])["corpus/noaccess.jpg"]
    assert row["error"] == "permission denied"
    assert "corpus/noaccess.jpg → Error | permission denied" in mixed_run["stdout"]
