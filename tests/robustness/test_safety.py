"""Safety: loading never runs code, names never leave the output folder, nothing is overwritten, and bad output
folders (unwritable, inside the input, the input itself, a full disk) give a clear message with nothing lost."""

from __future__ import annotations

import builtins
import csv
import io
import json
import os
import pickle
import resource
import shutil
import sqlite3
from pathlib import Path

import numpy as np
import pytest

from facetui.core.base.events import FileDone
from facetui.core.base.fsutil import (
    OutsideOutput,
    check_person_name,
    file_sha256,
    place_file,
    remove_own_copies,
    safe_person_name,
)
from facetui.core.models.analyze import FaceConfig
from facetui.core.run.recognize import SetupError, recognize
from facetui.core.stores.cache import CACHE_FILE
from facetui.core.stores.kb import KbError, load_kb, save_kb
from facetui.core.stores.report import COLUMNS, join_list, read_results
from support.cli_runs import filed, permission_preexec, report_rows, run_cli, temps, tree
from support.corpus import plant_output_links
from support.helpers import read_truth, run_all

# --- hostile pickles: a KB in the seed's old format ------------------------------------------------------------------


class _Payload:
    """Unpickling this runs ``func(*args)``: what a malicious encodings.pkl does."""

    def __init__(self, func, *args):
        self.func, self.args = func, args

    def __reduce__(self):
        return self.func, self.args


def _payloads(marker: Path) -> dict[str, bytes]:
    import subprocess as sp

    touch = f"open({str(marker)!r}, 'w').close()"
    boom = {
        "os.system": _Payload(os.system, f"touch '{marker}'"),
        "exec": _Payload(builtins.exec, touch),
        "eval": _Payload(builtins.eval, f"__import__('builtins').exec({touch!r})"),
        "popen": _Payload(sp.Popen, ["touch", str(marker)]),
        "path-touch": _Payload(Path.touch, marker),
    }
    out = {}
    for name, p in boom.items():
        out[f"{name}-in-dict"] = pickle.dumps({"face_encodings": [p], "face_names": ["x"]})
        out[f"{name}-top"] = pickle.dumps(p, protocol=0)
    arr = np.empty(1, dtype=object)
    arr[0] = boom["os.system"]
    out["object-array"] = pickle.dumps({"face_encodings": arr, "face_names": ["x"]})
    out["numpy-then-payload"] = pickle.dumps({"face_encodings": [np.zeros(128)], "face_names": [boom["exec"]]})
    return out


@pytest.mark.parametrize("kind", sorted(_payloads(Path("/x"))))
def test_hostile_pickle_kb_is_refused_and_runs_nothing(tmp_path, kind):
    marker = tmp_path / "PWNED"
    bad = tmp_path / "encodings.pkl"
    bad.write_bytes(_payloads(marker)[kind])
    with pytest.raises(KbError) as e:
        load_kb(bad)
    msg = str(e.value)
    assert "refused" in msg and "malicious" in msg and "\n" not in msg
    assert not marker.exists()


def test_hostile_pickle_via_the_cli(workspace):
    """recognize and kb show refuse it (exit 2, one clear line); kb build starts afresh and never loads it."""
    marker = workspace / "PWNED"
    (workspace / "kb" / "encodings.npz").unlink()
    (workspace / "kb" / "encodings.pkl").write_bytes(_payloads(marker)["os.system-in-dict"])
    sp = workspace / "settings.json"
    sp.write_text(json.dumps({**json.loads(sp.read_text()), "encodings_filename": "encodings.pkl"}))
    for args in (["recognize"], ["kb", "show"]):
        r = run_cli(*args, settings=sp)
        assert r.returncode == 2, (args, r.stdout, r.stderr)
        assert "refused" in r.stderr and "malicious" in r.stderr and "Traceback" not in r.stderr
        assert not marker.exists()
    assert not (workspace / "out").exists() or not any((workspace / "out").rglob("*.jpg"))
    r = run_cli("kb", "build", settings=sp)
    assert r.returncode == 0, r.stderr
    assert "previous KB not reused" in r.stdout and not marker.exists()
    assert len(load_kb(workspace / "kb" / "encodings.npz").people) == 5


def test_hostile_npz_kb_is_refused(workspace, settings):
    """An .npz whose arrays are pickled objects, or whose metadata has the wrong types: a KbError, no code, no crash."""
    marker = workspace / "PWNED"
    buf = io.BytesIO()
    arr = np.empty(1, dtype=object)
    arr[0] = _Payload(os.system, f"touch '{marker}'")
    np.savez(buf, face_enc=arr, body_enc=np.zeros((0, 0)), meta=np.array("{}"))
    settings.kb_path.write_bytes(buf.getvalue())
    with pytest.raises(KbError):
        load_kb(settings.kb_path)
    with pytest.raises(SetupError):
        run_all(recognize(settings))
    assert not marker.exists()


_BAD_META = [{"version": "abc"}, {"version": [1]}, {"version": 1e999}, {"face_names": 5}, {"face_names": None}]


@pytest.mark.parametrize("meta", _BAD_META, ids=range(len(_BAD_META)))
def test_kb_with_hostile_metadata_is_a_clear_error(tmp_path, meta):
    buf = io.BytesIO()
    np.savez(
        buf,
        face_enc=np.zeros((0, 128)),
        body_enc=np.zeros((0, 0)),
        meta=np.array(json.dumps({"format": "facetui-kb", **meta})),
    )
    (tmp_path / "encodings.npz").write_bytes(buf.getvalue())
    with pytest.raises(KbError):
        load_kb(tmp_path / "encodings.npz")


# --- the embedding cache, the report and the review log --------------------------------------------------------------


def test_hostile_cache_entries_are_misses_and_run_nothing(workspace, settings):
    """Cache payloads are .npz loaded without pickle: a pickled object, raw pickle bytes or junk is simply recomputed."""
    marker = workspace / "PWNED"
    evil = _Payload(os.system, f"touch '{marker}'")
    key = FaceConfig(settings.detector, settings.upsample, settings.resize_max).key()
    arr = np.empty(1, dtype=object)
    arr[0] = evil
    payloads = []
    for make in (
        lambda b: np.savez(b, __meta__=arr, encodings=arr),
        lambda b: b.write(pickle.dumps(evil)),
        lambda b: np.savez(b, __meta__=np.array('{"size": "x"}'), encodings=np.zeros(3)),
    ):
        b = io.BytesIO()
        make(b)
        payloads.append(b.getvalue())
    db = sqlite3.connect(workspace / "cache" / CACHE_FILE)
    shas = {p.name: file_sha256(p) for p in (workspace / "query").iterdir()}
    for i, name in enumerate(["q01.jpg", "q03.jpg", "q05.jpg"]):
        db.execute(
            "INSERT OR REPLACE INTO entries (key, payload) VALUES (?, ?)", (f"face:{key}:{shas[name]}", payloads[i])
        )
    db.commit()
    db.close()
    events = run_all(recognize(settings))
    assert not marker.exists()
    done = {e.result.rel: e.result for e in events if isinstance(e, FileDone)}
    assert not any(r.error for r in done.values())
    for name, people in read_truth().items():
        assert set(done[name].people) == people, name


def test_garbage_cache_file_is_set_aside(workspace, settings):
    (workspace / "cache" / CACHE_FILE).write_bytes(pickle.dumps(_Payload(os.system, "true")) * 100)
    for suffix in ("-wal", "-shm"):
        Path(str(workspace / "cache" / CACHE_FILE) + suffix).unlink(missing_ok=True)
    events = run_all(recognize(settings))
    assert any("moved aside" in n for n in events[0].notices)
    assert events[-1].summary.done == 9 and events[-1].summary.errors == 0


def _hostile_rows(out: Path, q06_sha: str, outside: Path) -> None:
    """Rewrite report.csv with hostile cells: paths leaving the output, formulas, pickle bytes, NUL, bad numbers."""
    rows = report_rows(out / "report.csv")
    for r in rows:
        if r["file"] == "q06.jpg":
            r["destinations"] = join_list(
                ["../Unknown/q06.jpg", "../victim.jpg", str(outside / "victim.jpg"), "Unknown/../../victim.jpg"]
            )
            r["face_index"], r["box"], r["sharpness"] = "x", "1 2 three", "nan"
            r["face_1_dist"] = "=cmd|' /C calc'!A0"
    junk = dict.fromkeys(COLUMNS, "")
    junk.update(
        {
            "file": '=HYPERLINK("http://x")',
            "source": "/etc/passwd",
            "sha256": q06_sha,
            "people": "../../evil",
            "destinations": "../../etc/passwd",
            "error": pickle.dumps(os.system).decode("latin-1"),
            "notes": "__import__('os').system('touch PWNED')\x00",
            "end": "1",
        }
    )
    rows.append(junk)
    with open(out / "report.csv", "w", newline="", encoding="utf-8", errors="surrogateescape") as f:
        w = csv.writer(f, lineterminator="\n")
        w.writerow(COLUMNS)
        w.writerows([[r[c] for c in COLUMNS] for r in rows])


def test_hostile_report_and_review_log_never_run_code_or_touch_outside(workspace, settings):
    """Hand-edited or planted report.csv and review.jsonl: read as data; every path they name outside the output is
    ignored by review (list, assign, undo) and by the next recognition run."""
    run_all(recognize(settings))
    out = workspace / "out"
    marker = workspace / "PWNED"
    q06 = workspace / "query" / "q06.jpg"
    shas = {p.name: file_sha256(p) for p in (workspace / "query").iterdir()}
    # victims outside the output that hold exactly the bytes the report claims
    (workspace / "Unknown").mkdir()
    shutil.copy2(q06, workspace / "Unknown" / "q06.jpg")
    shutil.copy2(q06, workspace / "victim.jpg")
    _hostile_rows(out, shas["q06.jpg"], workspace)
    entries = [
        {
            "v": 1,
            "id": "a1",
            "op": "assign",
            "sha256": shas["q07.jpg"],
            "file": "q07.jpg",
            "face": None,
            "box": None,
            "person": "../../evil",
            "placed": "../victim.jpg",
            "placed_written": True,
            "unknown_copy": "../Unknown/q06.jpg",
            "kb_sources": ["review:x"],
        },
        {
            "v": 1,
            "id": "a2",
            "op": "assign",
            "sha256": shas["q08.jpg"],
            "file": "q08.jpg",
            "face": 0,
            "box": [1, 2, 3, 4],
            "person": f"{workspace}/evil_abs",
            "placed": str(workspace / "victim.jpg"),
            "placed_written": True,
        },
        {"__reduce__": ["os.system", "touch PWNED"], "op": "assign", "id": "a3"},
    ]
    log = "\n".join(json.dumps(e) for e in entries) + "\n"
    (out / "review.jsonl").write_bytes(log.encode() + pickle.dumps(_Payload(os.system, f"touch '{marker}'")) + b"\n")
    outside_before = tree(workspace, skip=("out", "cache", "encodings.npz", "kb-run.toml"))
    sp = workspace / "settings.json"
    for args in (
        ["review", "--list"],
        ["review", "--undo"],
        ["review", "--undo"],
        ["review", "--clusters"],
        ["review", "--assign", "q09.jpg", "../../evil3"],
        ["review", "--assign", "q06.jpg", "Ada"],
    ):
        r = run_cli(*args, settings=sp)
        assert r.returncode in (0, 2), (args, r.stderr)
        assert "Traceback" not in r.stderr, (args, r.stderr)
    results = read_results(out / "report.csv")  # the hostile rows read as data
    assert any(x.rel.startswith("=HYPERLINK") for x in results)
    assert (out / "Ada" / "q06.jpg").is_file()
    run_all(recognize(settings))  # a rerun applies the planted decision that was not undone: inside the output only
    assert safe_person_name("../../evil") in filed(out)["q07.jpg"]
    assert not marker.exists() and not (workspace.parent / "PWNED").exists()
    assert tree(workspace, skip=("out", "cache", "encodings.npz", "kb-run.toml")) == outside_before
    assert not list(workspace.parent.rglob("evil*")) or all(
        p.resolve().is_relative_to(out.resolve()) for p in workspace.parent.rglob("evil*")
    )
    for p in out.rglob("*"):
        assert p.resolve().is_relative_to(out.resolve()), p


# --- names that try to leave the output ------------------------------------------------------------------------------

HOSTILE_NAMES = [
    "../../x",
    "..",
    ".",
    "/abs/x",
    "a/b",
    "a\\b",
    "x\x00y",
    "CON",
    "nul.txt",
    "COM1",
    "Lpt9.jpg",
    " .. ",
    "Unknown/../..",
    "\n",
    "~",
    "\udce9",
    "\ud800",
    "é" * 200,
    "a" * 300,
    ".hidden",
    "-rf",
    "$(touch PWNED)",
    "name;drop",
    "A:B",
    "*?",
    "\u202egpj.exe",
]


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_safe_person_name_stays_inside_and_fits(tmp_path, name):
    safe = safe_person_name(name)
    assert "\x00" not in safe and "/" not in safe and "\\" not in safe
    assert safe not in (".", "..")
    if not safe:
        return
    assert len(os.fsencode(safe)) <= 200
    dest, written = place_file(_photo(tmp_path), tmp_path / "out" / safe)
    assert written and dest.resolve().parent.parent == (tmp_path / "out").resolve()
    assert safe.split(".")[0].strip().upper() not in {"CON", "NUL", "COM1", "LPT9"}


@pytest.mark.parametrize("name", HOSTILE_NAMES, ids=range(len(HOSTILE_NAMES)))
def test_typed_names_are_refused_or_made_safe(name):
    try:
        safe = check_person_name(name)
    except ValueError as e:
        assert str(e) and "\n" not in str(e)
        return
    assert safe == safe_person_name(name) and safe not in ("", ".", "..") and "/" not in safe


def _photo(tmp_path: Path) -> Path:
    p = tmp_path / "src" / "p.jpg"
    if not p.exists():
        p.parent.mkdir(parents=True)
        p.write_bytes(b"\xff\xd8 not really a photo, but bytes to copy")
    return p


def test_hostile_kb_names_never_write_outside(workspace, settings):
    """Every KB person renamed to something hostile: each photo still lands in a folder directly inside the output."""
    kb = load_kb(settings.kb_path)
    names = {
        "Barack_Obama": "../../x",
        "Joe_Biden": str(workspace / "abs_escape"),
        "Alex_Lacamoire": "a/../../b",
        "Kit_Harington": "CON",
        "Rose_Leslie": "..",
    }
    kb.face_names = [names[n] for n in kb.face_names]
    save_kb(kb, settings.kb_path)
    outside = tree(workspace, skip=("out", "cache"))
    run_all(recognize(settings))
    assert tree(workspace, skip=("out", "cache")) == outside
    out = (workspace / "out").resolve()
    for p in (workspace / "out").rglob("*.jpg"):
        assert p.resolve().parent.parent == out, p  # <output>/<one folder>/<photo>
    assert {p.name for p in out.iterdir() if p.is_dir()} >= {safe_person_name("../../x"), "_CON"}


def test_hostile_dataset_folder_names(workspace, settings):
    """Person folders named like a shell command, a device, dots, or with separators Linux allows (\\, :, newline)."""
    rename = {
        "Barack_Obama": "$(touch PWNED)",
        "Joe_Biden": "a\\b",
        "Alex_Lacamoire": "line\nbreak",
        "Kit_Harington": "CON",
        "Rose_Leslie": "...",
    }
    for old, new in rename.items():
        (workspace / "kb" / old).rename(workspace / "kb" / new)
    from facetui.core.run.kbbuild import build_kb

    run_all(build_kb(settings))
    outside = tree(workspace, skip=("out", "cache"))
    run_all(recognize(settings))
    assert tree(workspace, skip=("out", "cache")) == outside
    out = (workspace / "out").resolve()
    got = filed(out)
    for name, people in read_truth().items():
        assert got[name] == ({safe_person_name(rename[p]) for p in people} or {"Unknown"}), name
    for p in (workspace / "out").rglob("*.jpg"):
        assert p.resolve().parent.parent == out, p
    assert not (workspace / "PWNED").exists() and not Path("PWNED").exists()


# --- collisions ------------------------------------------------------------------------------------------------------


def test_collisions_never_overwrite(workspace, settings):
    out = workspace / "out"
    victim_outside = workspace / "victim.txt"
    victim_outside.write_bytes(b"not yours")
    (out / "Barack_Obama").mkdir(parents=True)
    (out / "Barack_Obama" / "q01.jpg").write_bytes(b"someone else's q01")  # a different file
    (out / "Barack_Obama" / "q02.jpg").mkdir()  # a folder where the photo would go
    (out / "Alex_Lacamoire").mkdir()
    os.symlink(victim_outside, out / "Alex_Lacamoire" / "q03.jpg")  # a link that would write outside
    (out / "Kit_Harington").mkdir()
    (out / "Kit_Harington" / "q04.jpg").write_bytes(b"other 1")
    (out / "Kit_Harington" / "q04 (1).jpg").write_bytes(b"other 2")
    before = tree(out)
    run_all(recognize(settings))
    after = tree(out)
    for rel, what in before.items():
        assert after[rel] == what, f"{rel!r} was changed"  # same bytes, same mtime
    assert victim_outside.read_bytes() == b"not yours"
    q = workspace / "query"
    for copy, src in [
        ("Barack_Obama/q01 (1).jpg", "q01.jpg"),
        ("Barack_Obama/q02 (1).jpg", "q02.jpg"),
        ("Alex_Lacamoire/q03 (1).jpg", "q03.jpg"),
        ("Kit_Harington/q04 (2).jpg", "q04.jpg"),
    ]:
        assert file_sha256(out / copy) == file_sha256(q / src), copy
    again = tree(out, skip=("report.csv", "report-previous.csv", "run.toml"))
    run_all(recognize(settings))
    assert tree(out, skip=("report.csv", "report-previous.csv", "run.toml")) == again  # a rerun adds nothing


@pytest.mark.parametrize("mode", ["copy", "symlink", "hardlink"])
def test_person_folders_linked_outside_the_output_are_refused_per_photo(workspace, mode):
    """A person folder and Unknown/ planted as links to a folder outside the output: each photo meant for them gets
    an error row saying why (the run goes on, exit 0), nothing lands outside; a link to a folder inside the output
    is followed; whatever the file_mode."""
    out, elsewhere = workspace / "out", workspace / "elsewhere"
    planted = plant_output_links(out, elsewhere)
    sp = workspace / "settings.json"
    raw = json.loads(sp.read_text())
    raw["file_mode"] = mode
    sp.write_text(json.dumps(raw))
    r = run_cli("recognize", settings=sp)
    assert r.returncode == 0, r.stderr
    assert os.listdir(elsewhere) == [], "a planted link steered a copy out of the output"
    rows = {row["file"]: row for row in report_rows(out / "report.csv")}
    truth = read_truth()
    for name, people in truth.items():
        folders = people or {"Unknown"}
        if any(planted.get(f) == "refused" for f in folders):
            assert rows[name]["error"].startswith("could not file: refused to write into "), rows[name]
            assert "outside" in rows[name]["error"] and f"{name} → Error | could not file: refused" in r.stdout
            for f in folders:  # filed in all its folders or in none: not in the one that was not refused either
                assert planted.get(f) == "refused" or not os.path.lexists(out / f / name), (f, name)
        else:
            assert rows[name]["error"] == "", rows[name]
            for f in folders:
                assert (out / f / name).exists() or (out / f / name).is_symlink(), (f, name)
    assert os.listdir(out / "shared-inside") == ["q03.jpg"]  # through the link inside the output
    assert f"Errors = {sum(bool(r['error']) for r in rows.values())}." in r.stdout


def test_an_output_folder_that_is_itself_a_link_is_allowed(workspace, settings):
    real = workspace / "real-out"
    real.mkdir()
    os.symlink(real, workspace / "out-link", target_is_directory=True)
    events = run_all(recognize(settings.replace(processed_dir=workspace / "out-link")))
    assert events[-1].summary.errors == 0 and events[-1].summary.done == 9
    assert filed(real)["q01.jpg"] == {"Barack_Obama"}


def test_place_file_refuses_a_folder_that_resolves_outside(tmp_path):
    """The rule in place_file itself (what recognize and review's moves use), checked before anything is written:
    a link, a link behind a link, a dangling link; a link to inside is fine; remove_own_copies deletes nothing
    behind a link out."""
    out, elsewhere = tmp_path / "out", tmp_path / "elsewhere"
    out.mkdir()
    elsewhere.mkdir()
    src = tmp_path / "p.jpg"
    src.write_bytes(b"photo")
    (elsewhere / "p.jpg").write_bytes(b"photo")
    os.symlink(elsewhere, out / "A")
    os.symlink(out / "A", out / "B")  # a link to a link out
    os.symlink(tmp_path / "no-such-folder", out / "C")  # dangling: mkdir would create it outside
    (out / "real").mkdir()
    os.symlink("real", out / "D")
    for mode in ("copy", "symlink", "hardlink"):
        for name in "ABC":
            with pytest.raises(OutsideOutput, match="outside"):
                place_file(src, out / name, mode)
    assert sorted(os.listdir(elsewhere)) == ["p.jpg"] and not (tmp_path / "no-such-folder").exists()
    assert place_file(src, out / "D")[0] == out / "D" / "p.jpg" and (out / "real" / "p.jpg").is_file()
    assert remove_own_copies(src, out / "A") == [] and (elsewhere / "p.jpg").is_file()


def test_review_moves_into_a_folder_linked_outside_are_refused(no_obama_ws):
    """review --assign into a person folder that is a link out of the output: exit 1, one clear line, nothing
    written outside, the photo still waiting in the review queue."""
    sp = no_obama_ws / "settings.json"
    r = run_cli("recognize", settings=sp)
    assert r.returncode == 0, r.stderr
    elsewhere = no_obama_ws / "elsewhere"
    elsewhere.mkdir()
    os.symlink(elsewhere, no_obama_ws / "out" / "Barack_Obama")
    r = run_cli("review", "--assign", "q01.jpg", "Barack_Obama", settings=sp)
    assert r.returncode == 1, (r.stdout, r.stderr)
    assert r.stderr.startswith("facetui: refused to write into ") and r.stderr.count("\n") == 1, r.stderr
    assert os.listdir(elsewhere) == []
    listing = run_cli("review", "--list", settings=sp)
    assert any(ln.startswith("q01.jpg ") for ln in listing.stdout.splitlines()), listing.stdout


def test_a_review_log_planted_as_a_link_is_not_followed(no_obama_ws):
    """review.jsonl replaced by a link to a file elsewhere: a decision is refused with one clear line and the
    file behind the link is not appended to."""
    sp = no_obama_ws / "settings.json"
    assert run_cli("recognize", settings=sp).returncode == 0
    victim = no_obama_ws / "victim.txt"
    victim.write_text("keep me\n")
    os.symlink(victim, no_obama_ws / "out" / "review.jsonl")
    r = run_cli("review", "--assign", "q08.jpg", "Paul_Rudd", settings=sp)
    assert r.returncode != 0 and "review.jsonl: it is a link" in r.stderr, (r.stdout, r.stderr)
    assert r.stderr.count("\n") == 1
    assert victim.read_text() == "keep me\n"
    assert not (no_obama_ws / "out" / "Paul_Rudd").exists()


def test_same_name_from_two_subfolders_keeps_both(workspace, settings):
    q = workspace / "query"
    (q / "trip").mkdir()
    shutil.copy2(q / "q02.jpg", q / "trip" / "q01.jpg")  # another Obama photo, same file name
    run_all(recognize(settings.replace(recursive=True)))
    obama = workspace / "out" / "Barack_Obama"
    assert {file_sha256(obama / "q01.jpg"), file_sha256(obama / "q01 (1).jpg")} == {
        file_sha256(q / "q01.jpg"),
        file_sha256(q / "q02.jpg"),
    }


def test_long_file_names_still_get_a_numbered_copy(tmp_path):
    src = tmp_path / "src" / (("é" * 125) + ".jpg")  # 254 bytes: " (1)" does not fit without shortening
    src.parent.mkdir()
    src.write_bytes(b"mine")
    dest_dir = tmp_path / "out"
    dest_dir.mkdir()
    (dest_dir / src.name).write_bytes(b"theirs")
    dest, written = place_file(src, dest_dir)
    assert written and dest.name.endswith(" (1).jpg") and len(os.fsencode(dest.name)) <= 255
    assert (dest_dir / src.name).read_bytes() == b"theirs" and dest.read_bytes() == b"mine"


# --- output folders that cannot work ---------------------------------------------------------------------------------


def test_output_not_writable(workspace):
    """A read-only output folder: exit 2 and a clear line before any photo; nothing written or changed.
    Root writes anywhere, so as root the run sheds CAP_DAC_OVERRIDE first (skipped where it cannot)."""
    usable, preexec = permission_preexec()
    if not usable:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE: root can write a read-only folder")
    out = workspace / "out"
    out.mkdir()
    (out / "keep.txt").write_text("mine")
    out.chmod(0o555)
    try:
        before = tree(workspace, skip=("cache",))
        r = run_cli("recognize", settings=workspace / "settings.json", preexec_fn=preexec)
        assert r.returncode == 2, (r.stdout, r.stderr)
        assert r.stderr.startswith("facetui: output folder is not writable") and r.stderr.count("\n") == 1, r.stderr
        assert tree(workspace, skip=("cache",)) == before
    finally:
        out.chmod(0o755)


def test_person_folder_not_writable_skips_with_a_reason(workspace):
    """One person folder read-only: its photos get a 'could not file' reason, the rest are filed, exit 0."""
    usable, preexec = permission_preexec()
    if not usable:
        pytest.skip("running as root and cannot drop CAP_DAC_OVERRIDE")
    locked = workspace / "out" / "Barack_Obama"
    locked.mkdir(parents=True)
    locked.chmod(0o555)
    try:
        r = run_cli("recognize", settings=workspace / "settings.json", preexec_fn=preexec)
    finally:
        locked.chmod(0o755)
    assert r.returncode == 0, r.stderr
    assert "q01.jpg → Error | could not file: Permission denied" in r.stdout
    assert "Errors = 3." in r.stdout  # q01, q02 and q05 (Obama and Biden: not filed at all)
    assert filed(workspace / "out")["q03.jpg"] == {"Alex_Lacamoire"}
    assert temps(workspace) == []


def test_output_inside_input_with_recursive_scan(workspace, settings):
    """The output inside the input (and a link to it): left out of the scan, so reruns never file their own copies."""
    q = workspace / "query"
    s = settings.replace(recursive=True, processed_dir=q / "sorted")
    os.symlink(q / "sorted", q / "link-to-sorted", target_is_directory=True)
    inputs = tree(q)
    for _ in range(2):
        events = run_all(recognize(s))
        assert events[-1].summary.total == 9, [e.result.rel for e in events if isinstance(e, FileDone)]
    assert any("inside the input" in n for n in events[0].notices)
    got = filed(q / "sorted")
    for name, people in read_truth().items():
        assert got[name] == (people or {"Unknown"}), name
    assert tree(q, skip=("sorted",)) == {k: v for k, v in inputs.items() if not k.startswith(b"sorted")}


def test_input_equal_to_output_is_refused(workspace, settings):
    q = workspace / "query"
    inputs = tree(q)
    os.symlink(q, workspace / "alias", target_is_directory=True)
    for out in (q, workspace / "alias", q / "." / ""):
        with pytest.raises(SetupError, match="is the input folder"):
            run_all(recognize(settings, output_dir=out))
    r = run_cli(
        "recognize", "--input", str(q), "--output", str(workspace / "alias"), settings=workspace / "settings.json"
    )
    assert r.returncode == 2 and "is the input folder" in r.stderr and "Traceback" not in r.stderr
    assert tree(q) == inputs


def test_impossible_folders_give_exit_2_and_one_line(workspace):
    """An output that is a file or lies under one, names longer than the file system allows, a missing input."""
    (workspace / "afile").write_text("x")
    long = str(workspace / ("x" * 300))
    for args in (
        ["--output", str(workspace / "afile")],
        ["--output", str(workspace / "afile" / "sub")],
        ["--output", long],
        ["--input", long],
        ["--input", str(workspace / "missing")],
    ):
        r = run_cli("recognize", *args, settings=workspace / "settings.json")
        assert r.returncode == 2 and r.stderr.startswith("facetui: ") and r.stderr.count("\n") == 1, (args, r.stderr)
    assert (workspace / "afile").read_text() == "x"


def _limit_file_size(limit: int):
    def preexec():
        resource.setrlimit(resource.RLIMIT_FSIZE, (limit, limit))  # Python ignores SIGXFSZ: writes fail with EFBIG

    return preexec


def test_disk_full_stops_cleanly_and_a_rerun_completes(workspace):
    """A 60 kB file-size limit: the first bigger photo cannot be copied. The run stops with a clear message (exit 1),
    no partial file under a real name, nothing lost; with room again, a rerun files everything."""
    sp = workspace / "settings.json"
    inputs = tree(workspace / "query")
    r = run_cli("recognize", settings=sp, preexec_fn=_limit_file_size(60_000))
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "[Error] stopped: output disk full or not writable (File too large); nothing was overwritten" in r.stderr
    assert "Traceback" not in r.stderr
    out = workspace / "out"
    assert temps(workspace) == []
    for p in out.rglob("*.jpg"):  # whatever was filed is whole
        assert file_sha256(p) == file_sha256(workspace / "query" / p.name)
    rows = report_rows(out / "report.csv")
    assert all(r_["end"] == "1" for r_ in rows) and {r_["file"] for r_ in rows} == {"q01.jpg", "q02.jpg", "q03.jpg"}
    assert tree(workspace / "query") == inputs
    r = run_cli("recognize", settings=sp)
    assert r.returncode == 0 and "Batch done. 9 files" in r.stdout
    for name, people in read_truth().items():
        assert filed(out)[name] == (people or {"Unknown"})


def test_disk_full_while_saving_the_kb_keeps_the_old_one(workspace):
    sp = workspace / "settings.json"
    old = (workspace / "kb" / "encodings.npz").read_bytes()
    shutil.copy2(workspace / "query" / "q02.jpg", workspace / "kb" / "Barack_Obama" / "new.jpg")
    r = run_cli("kb", "build", settings=sp, preexec_fn=_limit_file_size(4_000))
    assert r.returncode == 1, (r.returncode, r.stdout, r.stderr)
    assert "KB not saved" in r.stdout and "previous KB is unchanged" in r.stdout and "Traceback" not in r.stderr
    assert (workspace / "kb" / "encodings.npz").read_bytes() == old
    assert temps(workspace / "kb") == []
