"""Settings fuzz: any value for any key, and any file, gives valid Settings or a one-line SettingsError, never a crash."""

from __future__ import annotations

import json
import math
import os
import subprocess
import sys
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st

from facetui.cli import COMMANDS
from facetui.cli import main as cli_main
from facetui.core.base.settings import (
    SPECS,
    Settings,
    SettingsError,
    from_dict,
    load_settings,
    save_settings,
    update_raw,
)

KEYS = [s.key for s in SPECS]
SPEC = {s.key: s for s in SPECS}
FUZZ = hsettings(
    max_examples=150, deadline=None, database=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)

# JSON-representable values, hostile ones weighted in: NaN and infinities (Python's json writes and reads them),
# numbers far outside any range (a 400-digit integer overflows float()), NUL, lone surrogates, "~user" paths,
# 300-byte names, and nested containers.
_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.integers(min_value=-(10**400), max_value=10**400),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([math.nan, math.inf, -math.inf, 1e308, -0.0, 2**63, -(2**63) - 1, 10**400, 0.5, 1, 0, -1]),
    st.text(),
    st.text(alphabet=st.characters() | st.integers(0xD800, 0xDFFF).map(chr), max_size=12),  # lone surrogates
    st.sampled_from(
        [
            "",
            " ",
            "\x00",
            "a\x00b",
            "~",
            "~no_such_user_xyz/p",
            "\ud800",
            "\udce9.jpg",
            "x" * 300,
            "/" + "a/" * 3000,
            "nan",
            "inf",
            "-inf",
            "1e999",
            "1_0",
            " 12 ",
            "true",
            "yes",
            "0x10",
            "../../etc",
            "C:\\x",
            "CON",
            "hog",
            "cnn",
            "all",
            ".jpg",
            "jpg,png",
            "  .PNG ",
        ]
    ),
)
hostile = st.recursive(
    _scalars,
    lambda kids: st.one_of(st.lists(kids, max_size=4), st.dictionaries(st.text(max_size=5), kids, max_size=3)),
    max_leaves=8,
)


def _check_valid(s: Settings) -> None:
    """A value that passed validation must be of its kind and inside its range."""
    for spec in SPECS:
        v = getattr(s, spec.key)
        if spec.kind == "float":
            assert type(v) is float and math.isfinite(v) and spec.low <= v <= spec.high, (spec.key, v)
        elif spec.kind == "int":
            assert type(v) is int and spec.low <= v <= spec.high, (spec.key, v)
        elif spec.kind == "bool":
            assert type(v) is bool
        elif spec.kind == "choice":
            assert v in spec.choices
        elif spec.kind == "path":
            assert isinstance(v, Path) and v.is_absolute() and "\x00" not in str(v)
            os.fsencode(v)  # the file system can take it
        elif spec.kind == "optional_path":
            assert v is None or (isinstance(v, Path) and v.is_absolute())
        elif spec.kind == "str":
            assert isinstance(v, str) and v.strip() == v and v and "\x00" not in v
        elif spec.kind == "address":
            assert isinstance(v, str) and v.strip() == v and "\x00" not in v and " " not in v
        elif spec.kind == "exts":
            assert isinstance(v, tuple) and v and all(e.startswith(".") and len(e) > 1 for e in v)


def _check_error(e: SettingsError, key: str | None) -> None:
    msg = str(e)
    assert msg and "\n" not in msg and "\r" not in msg, msg
    if key is not None:
        assert f"'{key}'" in msg, msg
    assert len(msg) < 400, msg


def _write(tmp: Path, raw) -> Path:
    p = tmp / "settings.json"
    p.write_text(json.dumps(raw))  # ASCII: lone surrogates travel as \ud800 escapes, NaN as NaN
    return p


@FUZZ
@given(key=st.sampled_from(KEYS), value=hostile)
def test_any_value_for_any_key_is_valid_or_a_one_line_error_naming_the_key(tmp_path_factory, key, value):
    p = _write(tmp_path_factory.mktemp("s"), {key: value})
    try:
        s = load_settings(p)
    except SettingsError as e:
        _check_error(e, key)
        return
    _check_valid(s)
    # what was accepted survives a save and a reload unchanged
    save_settings(s)
    again = load_settings(p)
    assert {k: getattr(again, k) for k in KEYS} == {k: getattr(s, k) for k in KEYS}


@FUZZ
@given(changes=st.dictionaries(st.sampled_from(KEYS), hostile, min_size=1, max_size=4))
def test_typed_values_through_update_raw(tmp_path_factory, changes):
    """The settings screen hands raw (typed) values to update_raw: same promise, several keys at once."""
    base = from_dict({}, tmp_path_factory.mktemp("u") / "settings.json")
    try:
        s = update_raw(base, changes)
    except SettingsError as e:
        _check_error(e, None)
        assert any(f"'{k}'" in str(e) for k in changes), str(e)
        return
    _check_valid(s)


_PY_VALUES = [
    10**5000,
    float("nan"),
    b"bytes",
    (1, 2),
    {1, 2},
    object(),
    [[[[[]]]]] * 3,
    {"a": {"b": {"c": None}}},
    1j,
    "\x00" * 10,
    "é" * 10_000,
]


@pytest.mark.parametrize("value", _PY_VALUES, ids=[type(v).__name__ + str(i) for i, v in enumerate(_PY_VALUES)])
@pytest.mark.parametrize("key", KEYS)
def test_python_values_json_cannot_hold(key, value):
    """update_raw can be handed anything a Python caller has, including an int too long to print."""
    base = from_dict({})
    try:
        s = update_raw(base, {key: value})
    except SettingsError as e:
        _check_error(e, key)
        return
    _check_valid(s)


@FUZZ
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_any_file_content_is_settings_or_a_one_line_error(tmp_path_factory, data):
    p = tmp_path_factory.mktemp("b") / "settings.json"
    p.write_bytes(data)
    try:
        _check_valid(load_settings(p))
    except SettingsError as e:
        _check_error(e, None)


@pytest.mark.parametrize(
    "content,needle",
    [
        (b"\xff\xfe{\x00}\x00", "cannot read settings file"),  # UTF-16, not UTF-8
        (b'{"face_tol": 0.4, "x": "\xe9"}', "cannot read settings file"),  # Latin-1 byte
        (b"", "not valid JSON"),
        (b"{", "not valid JSON"),
        (b"[" * 100_000, "not valid JSON"),
        (b'{"a": 1} trailing', "not valid JSON"),
        (b"null", "JSON object"),
        (b'"text"', "JSON object"),
        (b'{"resize_max": 1' + b"0" * 5000 + b"}", "not valid JSON"),  # an int longer than Python will parse
        (b'{"face_tol": Infinity}', "face_tol"),
        (b'{"face_tol": -Infinity}', "face_tol"),
    ],
)
def test_broken_files_give_one_line(tmp_path, content, needle):
    p = tmp_path / "settings.json"
    p.write_bytes(content)
    with pytest.raises(SettingsError) as e:
        load_settings(p)
    _check_error(e.value, None)
    assert needle in str(e.value)


def test_bom_is_accepted(tmp_path):
    p = tmp_path / "settings.json"
    p.write_bytes(b"\xef\xbb\xbf" + json.dumps({"face_tol": 0.42}).encode())
    assert load_settings(p).face_tol == 0.42


def test_missing_file_folder_and_unknown_home(tmp_path):
    for path, needle in [
        (tmp_path / "none.json", "not found"),
        (tmp_path, "is a folder"),
        ("~no_such_user_xyz/settings.json", "cannot expand ~"),
    ]:
        with pytest.raises(SettingsError, match=needle) as e:
            load_settings(path)
        _check_error(e.value, None)


def test_non_utf8_path_round_trips_through_save(tmp_path):
    """A folder whose name is not UTF-8 (undecodable byte kept as a \\udcXX escape) is saved and read back."""
    p = tmp_path / "settings.json"
    odd = os.fsdecode(b"caf\xe9")
    s = update_raw(from_dict({}, p), {"processed_dir": odd})
    save_settings(s)
    assert load_settings(p).processed_dir == tmp_path / odd


# --- the command line: exit status 2, the message, no traceback ------------------------------------------------

_BAD_BY_KIND = {
    "float": [math.nan, 10**400],
    "int": [1e300, [1]],
    "bool": [2, {"x": 1}],
    "choice": [None, "nope"],
    "path": ["a\x00b", "~no_such_user_xyz/out", "x" * 300],
    "optional_path": [5],
    "str": ["\ud800.npz", ""],
    "exts": [".", []],
    "address": ["host:port\x00", 6379],
}
_CLI_CASES = [(s.key, v) for s in SPECS for v in _BAD_BY_KIND[s.kind]]  # every key, whatever keys are added later


@pytest.mark.parametrize("key,value", _CLI_CASES, ids=[f"{k}-{i}" for i, (k, _) in enumerate(_CLI_CASES)])
def test_cli_exits_2_with_the_message(tmp_path, capsys, key, value):
    p = _write(tmp_path, {key: value})
    status = cli_main(["settings", "--settings", str(p)])
    out, err = capsys.readouterr()
    assert status == 2
    assert err.startswith(f"facetui: setting '{key}'") and err.count("\n") == 1, err
    assert "Traceback" not in err + out


_ARGS = {"kb": ["kb", "build"], "review": ["review", "--list"], "eval": ["eval", "--kb"]}


@pytest.mark.parametrize("command", sorted(c for c in COMMANDS if c != "keys"))  # keys reads only keymap.toml
def test_every_command_refuses_a_bad_settings_file_the_same_way(tmp_path, capsys, command):
    """Every command loads the settings in one place (cli.main), so one bad value per command is enough here."""
    p = _write(tmp_path, {"face_tol": math.nan})
    status = cli_main([*_ARGS.get(command, [command]), "--settings", str(p)])
    out, err = capsys.readouterr()
    assert status == 2 and err.startswith("facetui: setting 'face_tol'") and err.count("\n") == 1, err
    assert "Traceback" not in err + out


def test_cli_subprocess_has_no_traceback(tmp_path):
    """The real entry point (not just main()): a hostile file gives exit 2 and one line on stderr."""
    cases = [({"face_tol": 10**400}, "face_tol"), ({"processed_dir": "~no_such_user_xyz"}, "processed_dir")]
    for raw, key in cases:
        p = _write(tmp_path, raw)
        r = subprocess.run(
            [sys.executable, "-m", "facetui.cli", "recognize", "--settings", str(p)],
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert r.returncode == 2 and "Traceback" not in r.stderr, r.stderr
        assert r.stderr.startswith(f"facetui: setting '{key}'") and r.stderr.count("\n") == 1, r.stderr
    (tmp_path / "bad.json").write_bytes(b"\xff\xfe\x00garbage")
    r = subprocess.run(
        [sys.executable, "-m", "facetui.cli", "settings", "--settings", str(tmp_path / "bad.json")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.returncode == 2 and "Traceback" not in r.stderr and r.stderr.count("\n") == 1, r.stderr
