"""Settings: defaults, validation messages naming key/value/allowed, unknown keys kept, atomic save."""

from __future__ import annotations

import json
import math

import pytest

from facetui.core.base.settings import (
    SPECS,
    SettingsError,
    load_settings,
    save_settings,
    settings_reference_markdown,
    update_raw,
)
from support.helpers import REPO


def test_shipped_settings_point_at_the_demo():
    s = load_settings(REPO / "settings.json")
    assert s.dataset_dir == REPO / "demo" / "kb" and s.process_dir == REPO / "demo" / "query"
    assert s.reid_model == "osnet_ain_x1_0" and s.valid_exts == (".jpg", ".jpeg", ".png", ".webp")
    assert not s.warnings
    # every key in the shipped file is a known setting, and every setting is in the shipped file
    assert set(json.loads((REPO / "settings.json").read_text())) == {sp.key for sp in SPECS}


@pytest.mark.parametrize(
    "key,value,needle",
    [
        ("face_tol", "abc", "face_tol"),
        ("face_tol", -1, "from 0 to 2"),
        ("face_tol", math.nan, "face_tol"),
        ("resize_max", 12.5, "whole number"),
        ("resize_max", True, "resize_max"),
        ("detector", "yolo", "hog, cnn"),
        ("valid_exts", [], "extensions"),
        ("valid_exts", ["../x"], "extensions"),
        ("recursive", "maybe", "true or false"),
        ("dataset_dir", 3, "path"),
        ("encodings_filename", "", "file name"),
        ("kb_batch_size", 0, "from 1"),
    ],
)
def test_bad_values_name_key_value_and_allowed(tmp_path, key, value, needle):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({key: value}))
    with pytest.raises(SettingsError) as e:
        load_settings(p)
    msg = str(e.value)
    assert key in msg and needle in msg and "\n" not in msg


def test_unknown_keys_are_kept_with_a_warning(tmp_path):
    p = tmp_path / "s.json"
    p.write_text(json.dumps({"face_tol": 0.45, "my_note": {"a": 1}}))
    s = load_settings(p)
    assert s.face_tol == 0.45 and s.extra == {"my_note": {"a": 1}}
    assert any("my_note" in w for w in s.warnings)
    save_settings(update_raw(s, {"face_tol": "0.55"}))
    raw = json.loads(p.read_text())
    assert raw["face_tol"] == 0.55 and raw["my_note"] == {"a": 1}
    assert raw["dataset_dir"] == "demo/kb"  # relative paths stay relative to the settings folder


def test_relative_paths_resolve_against_the_settings_folder(tmp_path):
    p = tmp_path / "cfg" / "s.json"
    p.parent.mkdir()
    p.write_text(json.dumps({"dataset_dir": "people", "processed_dir": "/abs/out"}))
    s = load_settings(p)
    assert s.dataset_dir == tmp_path / "cfg" / "people" and str(s.processed_dir) == "/abs/out"
    assert s.kb_path == tmp_path / "cfg" / "people" / "encodings.npz"


@pytest.mark.parametrize(
    "text,needle", [("{", "not valid JSON"), ("[1]", "JSON object"), ('{"face_tol": NaN}', "face_tol")]
)
def test_broken_files(tmp_path, text, needle):
    p = tmp_path / "s.json"
    p.write_text(text)
    with pytest.raises(SettingsError, match=needle):
        load_settings(p)


def test_reference_lists_every_key():
    ref = settings_reference_markdown()
    for sp in SPECS:
        assert f"`{sp.key}`" in ref
