"""One core, two faces: the core never imports Textual or the app, statically (import-linter) and at run time."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

from support.helpers import REPO


def test_import_linter_contract_is_kept():
    beside = Path(sys.executable).with_name("lint-imports")  # the venv running these tests
    exe = str(beside) if beside.exists() else shutil.which("lint-imports")
    assert exe, "import-linter is not installed (it is in the test extras)"
    import tomllib

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    r = subprocess.run([exe], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0 and f"Contracts: {len(contracts)} kept, 0 broken" in r.stdout, r.stdout + r.stderr


def test_every_core_module_lives_in_a_layer_package():
    """The core is sub-packages only (the layers are what `ls` shows); each names itself in the layers contract."""
    import pkgutil
    import tomllib

    import facetui.core

    contracts = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["importlinter"]["contracts"]
    layers = next(c for c in contracts if c.get("containers") == ["facetui.core"])["layers"]
    placed = {m.strip() for layer in layers for m in layer.replace("|", ":").split(":")}
    found = {m.name: m.ispkg for m in pkgutil.iter_modules(facetui.core.__path__)}
    assert [m for m, ispkg in found.items() if not ispkg] == [], "a module directly under core/: put it in a layer"
    assert set(found) == placed, "the layers contract and the sub-packages of core/ differ"


def test_every_layer_package_says_what_it_holds():
    import importlib
    import pkgutil

    import facetui.core

    for m in pkgutil.iter_modules(facetui.core.__path__):
        doc = importlib.import_module(f"facetui.core.{m.name}").__doc__ or ""
        assert len(doc.split()) >= 25, f"facetui.core.{m.name}: its __init__ docstring should say what it holds"


def test_running_the_core_and_the_cli_loads_no_textual():
    """Every core module and the CLI's entry, imported in a fresh process: no Textual, nothing of the app."""
    code = (
        "import importlib, pkgutil, sys, facetui.core as c, facetui.cli\n"
        "for m in pkgutil.walk_packages(c.__path__, 'facetui.core.'):\n"
        "    importlib.import_module(m.name)\n"
        "bad = sorted(m for m in sys.modules if m.split('.')[0] in ('textual', 'textual_image')"
        " or m.startswith('facetui.tui'))\n"
        "print(len([m for m in sys.modules if m.startswith('facetui.core.')]), bad)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr
    count, bad = out.stdout.strip().split(" ", 1)
    assert int(count) >= 30 and bad == "[]"


def test_no_import_cycles_in_the_app_the_cli_or_the_core():
    """Run-time imports only (a TYPE_CHECKING import for a type hint is not a cycle)."""
    import grimp  # import-linter's graph library

    graph = grimp.build_graph("facetui", exclude_type_checking_imports=True)
    for pkg in ("facetui.tui", "facetui.cli", "facetui.core"):
        mods = [m for m in graph.modules if m.startswith(pkg)]
        cycles = {
            tuple(sorted((a, b)))
            for a in mods
            for b in graph.find_modules_directly_imported_by(a)
            if b.startswith(pkg) and graph.chain_exists(importer=b, imported=a)
        }
        assert cycles == set(), f"import cycles in {pkg}"
