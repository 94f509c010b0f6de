"""The command line: --settings before or after the command, help that lists every command."""

from __future__ import annotations

import subprocess
import sys

import pytest


@pytest.mark.parametrize("where", ["before", "after"])
def test_settings_option_before_or_after_the_command(workspace, tmp_path, where):
    sp = str(workspace / "settings.json")
    args = ["--settings", sp, "kb", "show"] if where == "before" else ["kb", "show", "--settings", sp]
    r = subprocess.run(
        [sys.executable, "-m", "facetui.cli", *args], capture_output=True, text=True, cwd=tmp_path, timeout=120
    )  # cwd has no settings.json: the option must be honoured
    assert r.returncode == 0, r.stderr
    assert "5 people, 11 faces" in r.stdout


def test_help_lists_every_command():
    r = subprocess.run([sys.executable, "-m", "facetui.cli", "--help"], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0
    for cmd in ("kb", "recognize", "review", "eval", "status", "settings"):
        assert cmd in r.stdout
    r = subprocess.run(
        [
            sys.executable,
            "-c",
            "import sys, facetui.cli as c; c._parser();"
            "print(sorted(m for m in ('torch','dlib','textual','face_recognition') if m in sys.modules))",
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert r.stdout.strip() == "[]"


def test_every_command_in_the_parser_has_a_handler_module_and_the_help_names_it():
    import importlib

    from facetui.cli import COMMANDS, build_parser

    parser = build_parser()
    sub = next(a for a in parser._actions if a.__class__.__name__ == "_SubParsersAction")
    assert set(sub.choices) == set(COMMANDS)
    text = parser.format_help()
    for name, (module, _) in COMMANDS.items():
        assert callable(importlib.import_module(f"facetui.cli.{module}").run)
        assert f"    {name}" in text  # listed with its help line, not just mentioned


def test_every_user_error_is_one_family_with_one_exit_table():
    from facetui.core.base.errors import EXIT_ABORTED, EXIT_FAILED, EXIT_SETUP, FacetuiError, SetupError, exit_code
    from facetui.core.base.settings import SettingsError
    from facetui.core.evaluation.truth import EvalError
    from facetui.core.models.body.osnet import BodyModelError
    from facetui.core.models.face.files import FaceModelError
    from facetui.core.models.images import ImageLoadError
    from facetui.core.stores.kb import KbError
    from facetui.core.stores.reviewlog import ReviewError

    for cls in (
        SetupError,
        EvalError,
        SettingsError,
        KbError,
        ReviewError,
        FaceModelError,
        BodyModelError,
        ImageLoadError,
    ):
        assert issubclass(cls, FacetuiError), cls
        assert exit_code(cls("x")) == EXIT_SETUP
    assert exit_code(KeyboardInterrupt()) == EXIT_ABORTED and exit_code(ValueError()) == EXIT_FAILED
