"""The command line: --settings before or after the command, help that lists every command."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("where", ["before", "after"])
def test_settings_option_before_or_after_the_command(workspace, tmp_path, where):
    sp = str(workspace / "settings.json")
    args = ["--settings", sp, "kb", "show"] if where == "before" else ["kb", "show", "--settings", sp]
    r = subprocess.run([sys.executable, "-m", "facetui.cli", *args], capture_output=True, text=True,
                       cwd=tmp_path, timeout=120)  # cwd has no settings.json: the option must be honoured
    assert r.returncode == 0, r.stderr
    assert "5 people, 11 faces" in r.stdout


def test_help_lists_every_command():
    r = subprocess.run([sys.executable, "-m", "facetui.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for cmd in ("kb", "recognize", "review", "eval", "status", "settings"):
        assert cmd in r.stdout
    r = subprocess.run([sys.executable, "-c", "import sys, facetui.cli as c; c._parser();"
                        "print(sorted(m for m in ('torch','dlib','textual','face_recognition') if m in sys.modules))"],
                       capture_output=True, text=True, timeout=60)
    assert r.stdout.strip() == "[]"
