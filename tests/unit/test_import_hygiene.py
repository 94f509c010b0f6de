"""One core, two faces: the core never imports Textual or the app, statically (import-linter) and at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from helpers import REPO


def test_import_linter_contract_is_kept():
    beside = Path(sys.executable).with_name("lint-imports")  # the venv running these tests
    exe = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert exe, "import-linter is not installed (it is in the test extras)"
    r = subprocess.run([exe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and "Contracts: 3 kept, 0 broken" in r.stdout, r.stdout + r.stderr


def test_every_core_module_has_its_place_in_the_layers():
    """A new core module must be put in a layer (pyproject.toml), or the layers contract would not see it."""
    import pkgutil
    import tomllib

    import facetui.core

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c.get("containers") == ["facetui.core"])["layers"]
    placed = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    modules = {m.name for m in pkgutil.iter_modules(facetui.core.__path__)}
    assert modules - placed == set(), "core modules missing from the layers contract"
    assert placed - modules == set(), "the layers contract names modules that do not exist"


def test_running_the_core_loads_no_textual(tmp_path):
    code = (
        "import sys\n"
        "import facetui.core.pipeline, facetui.core.kbbuild, facetui.core.review, facetui.core.evaluate\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_image')"
        " or m.startswith('facetui.tui')))"
    )
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, r.stderr
    assert r.stdout.strip() == "[]"
