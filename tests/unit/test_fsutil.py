"""Safe filing: atomic writes, never-overwrite copies, and person names that cannot leave the output folder."""

from __future__ import annotations

import os

import pytest

from facetui.core.base.fsutil import (
    TEMP_PREFIX,
    atomic_write_text,
    check_person_name,
    file_sha256,
    place_file,
    remove_stale_temps,
    safe_person_name,
)


@pytest.fixture
def photo(tmp_path):
    p = tmp_path / "src" / "a.jpg"
    p.parent.mkdir()
    p.write_bytes(b"\xff\xd8photo-bytes" * 100)
    return p


def test_copy_then_identical_copy_is_a_no_op(photo, tmp_path):
    out = tmp_path / "out"
    d1, w1 = place_file(photo, out / "P")
    d2, w2 = place_file(photo, out / "P")
    assert (d1, w1) == (out / "P" / "a.jpg", True)
    assert (d2, w2) == (d1, False)
    assert file_sha256(d1) == file_sha256(photo)
    assert sorted(os.listdir(out / "P")) == ["a.jpg"]


def test_a_different_file_is_never_overwritten(photo, tmp_path):
    dest = tmp_path / "out" / "P"
    dest.mkdir(parents=True)
    (dest / "a.jpg").write_bytes(b"someone else's file")
    d, written = place_file(photo, dest)
    assert written and d.name == "a (1).jpg"
    assert (dest / "a.jpg").read_bytes() == b"someone else's file"
    assert place_file(photo, dest) == (d, False)  # and a rerun finds its own copy again


@pytest.mark.parametrize("mode", ["hardlink", "symlink"])
def test_link_modes(photo, tmp_path, mode):
    d, written = place_file(photo, tmp_path / "out", mode)
    assert written and d.read_bytes() == photo.read_bytes()
    assert (d.is_symlink()) == (mode == "symlink")
    assert place_file(photo, tmp_path / "out", mode) == (d, False)


def test_source_is_untouched(photo, tmp_path):
    st = photo.stat()
    place_file(photo, tmp_path / "out")
    st2 = photo.stat()
    assert (st.st_mtime_ns, st.st_size, st.st_mode) == (st2.st_mtime_ns, st2.st_size, st2.st_mode)


def test_no_temp_files_left_and_stale_ones_are_cleaned(photo, tmp_path):
    out = tmp_path / "out"
    place_file(photo, out / "P")
    assert not [f for f in os.listdir(out / "P") if f.startswith(TEMP_PREFIX)]
    (out / "P" / f"{TEMP_PREFIX}xyz").write_bytes(b"partial")
    assert remove_stale_temps(out) == 1
    assert os.listdir(out / "P") == ["a.jpg"]


def test_atomic_write_replaces_whole(tmp_path):
    p = tmp_path / "f.json"
    atomic_write_text(p, "one")
    atomic_write_text(p, "two")
    assert p.read_text() == "two" and os.listdir(tmp_path) == ["f.json"]


@pytest.mark.parametrize(
    "name",
    [
        "../../x",
        "/etc/passwd",
        "a/b",
        "a\\b",
        "..",
        ".",
        "x\x00y",
        "CON",
        "nul.txt",
        "  ",
        "...",
        "\u202e",
        "Ünïcødé Ñame",
    ],
)
def test_person_names_stay_inside(name, tmp_path):
    safe = safe_person_name(name)
    assert "/" not in safe and "\\" not in safe and "\x00" not in safe
    assert safe not in ("", ".", "..") or safe == ""
    if safe:
        target = (tmp_path / safe).resolve()
        assert target.parent == tmp_path.resolve()
        assert safe.split(".")[0].upper() not in ("CON", "NUL")


def test_check_person_name_refuses_with_reasons():
    assert check_person_name("Ada Lovelace") == "Ada Lovelace"
    for bad, why in [("", "empty"), ("../x", "cannot contain"), ("..", "nothing usable"), ("Unknown", "reserved")]:
        with pytest.raises(ValueError, match=why):
            check_person_name(bad)


def test_folder_lock_tells_a_busy_folder_from_one_that_cannot_be_locked(tmp_path, monkeypatch):
    import errno
    import fcntl

    import pytest

    from facetui.core.base import fsutil
    from facetui.core.run.recognize import SetupError, output_lock

    with fsutil.folder_lock(tmp_path):
        with pytest.raises(fsutil.FolderBusy):  # a second holder, as another process would be
            with fsutil.folder_lock(tmp_path):
                pass
        with pytest.raises(SetupError, match="another facetui run is writing to"):
            with output_lock(tmp_path):
                pass
    with fsutil.folder_lock(tmp_path):  # released
        pass

    def no_locks(fd, op):
        raise OSError(errno.ENOLCK, "No locks available")

    monkeypatch.setattr(fcntl, "flock", no_locks)
    with pytest.raises(SetupError, match="cannot lock output folder .*No locks available"):
        with output_lock(tmp_path):
            pass
