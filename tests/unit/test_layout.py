"""The house stays readable: small modules, and a reason written at the top of any that is not."""

from __future__ import annotations

from helpers import REPO

LONG = 350  # lines


def test_every_long_module_says_why_at_its_top():
    long_without_reason = []
    for path in sorted((REPO / "src" / "facetui").rglob("*.py")):
        lines = path.read_text(encoding="utf-8").splitlines()
        if len(lines) > LONG and not any("Why it is long:" in line for line in lines[:25]):
            long_without_reason.append(f"{path.relative_to(REPO)} ({len(lines)} lines)")
    assert long_without_reason == [], "split these, or say at the top why they are long"
