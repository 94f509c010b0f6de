"""The house stays readable: small modules, and a reason written at the top of any that is not."""

from __future__ import annotations

import ast

from support.helpers import REPO

LONG = 350  # lines


def test_every_long_module_says_why_at_its_top():
    long_without_reason = []
    for path in sorted((REPO / "src" / "facetui").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > LONG and not any("Why it is long:" in line for line in lines[:25]):
            long_without_reason.append(f"{path.relative_to(REPO)} ({len(lines)} lines)")
    assert long_without_reason == [], "split these, or say at the top why they are long"


LONG_FUNCTION = 80  # lines, from `def` to its last line


def test_no_function_is_longer_than_a_screen():
    too_long = []
    for path in sorted((REPO / "src" / "facetui").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                length = node.end_lineno - node.lineno + 1
                if length > LONG_FUNCTION:
                    too_long.append(f"{path.relative_to(REPO)}:{node.lineno} {node.name} ({length} lines)")
    assert too_long == [], (
        "split these: a job supplies its step to core/run/jobloop.py, a parser one function per command"
    )


def test_every_package_says_what_it_holds():
    silent = []
    for init in sorted((REPO / "src" / "facetui").rglob("__init__.py")):
        doc = ast.get_docstring(ast.parse(init.read_text(encoding="utf-8")))
        if not doc or len(doc.split()) < 12:
            silent.append(str(init.parent.relative_to(REPO)))
    assert silent == [], "give these packages an __init__ docstring that says what they hold"
