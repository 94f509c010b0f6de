"""Fixtures: a private copy of the bundled demo photos, settings pointing at it, and one KB built per session
(the plain helpers the tests share live in the support package, tests/support/)."""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import pytest

from facetui.core.base.settings import Settings, load_settings
from support.helpers import LEFT_OUT, make_workspace, run_all

# Prepared models (dlib's detector, the ONNX networks) go to a folder of this test session, not the user's cache;
# subprocesses inherit it.
os.environ.setdefault("FACETUI_MODELS_DIR", tempfile.mkdtemp(prefix="facetui-test-models-"))


@pytest.fixture(scope="session")
def built_workspace(tmp_path_factory) -> Path:
    """A demo workspace whose KB was built once for the whole session (treat it as read-only)."""
    from facetui.core.run.kbbuild import build_kb

    root = tmp_path_factory.mktemp("built")
    sp = make_workspace(root)
    run_all(build_kb(load_settings(sp)))
    return root


@pytest.fixture
def workspace(tmp_path, built_workspace) -> Path:
    """A private writable copy of the built workspace (KB and warm cache included)."""
    dst = tmp_path / "ws"
    shutil.copytree(built_workspace, dst, symlinks=True)
    return dst


@pytest.fixture
def settings(workspace) -> Settings:
    return load_settings(workspace / "settings.json")


@pytest.fixture(scope="session")
def no_obama_base(built_workspace, tmp_path_factory) -> Path:
    """The demo workspace with Barack_Obama left out of the KB (his photos land in Unknown), made once per session.

    Its KB build reuses the cached analyses of the built workspace; one recognition run warms the cache for the
    query photos, and its output is then removed. Treat it as read-only: copy it with ``no_obama_ws``.
    """
    from facetui.core.run.kbbuild import build_kb
    from facetui.core.run.recognize import recognize

    base = tmp_path_factory.mktemp("review-no-obama")
    shutil.rmtree(base)
    shutil.copytree(built_workspace, base, symlinks=True)
    shutil.move(base / "kb" / LEFT_OUT, base / f"{LEFT_OUT}-aside")
    s = load_settings(base / "settings.json")
    run_all(build_kb(s))
    run_all(recognize(s))
    shutil.rmtree(s.processed_dir)
    return base


@pytest.fixture
def no_obama_ws(tmp_path, no_obama_base) -> Path:
    """A private writable copy of ``no_obama_base``."""
    dst = tmp_path / "ws"
    shutil.copytree(no_obama_base, dst, symlinks=True)
    return dst


@pytest.fixture
def no_obama_settings(no_obama_ws) -> Settings:
    """Settings of a private no-Obama workspace after one recognition run (his photos wait in Unknown/)."""
    from facetui.core.run.recognize import recognize

    s = load_settings(no_obama_ws / "settings.json")
    run_all(recognize(s))
    return s
