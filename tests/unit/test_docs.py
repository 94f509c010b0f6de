"""The README's settings reference and quick start stay true to the code."""

from __future__ import annotations

import re

from facetui.core.base.settings import settings_reference_markdown
from support.helpers import REPO


def test_readme_settings_reference_is_current():
    text = (REPO / "README.md").read_text()
    m = re.search(r"<!-- settings-reference:start -->\n(.*?)\n<!-- settings-reference:end -->", text, re.S)
    assert m, "README lacks the settings reference markers"
    assert m.group(1).strip() == settings_reference_markdown().strip(), (
        "README settings table is stale: regenerate with `facetui settings --reference`"
    )


def test_quick_start_commands_exist():
    text = (REPO / "README.md").read_text()
    assert "make run" in text and "make test" in text
    mk = (REPO / "Makefile").read_text()
    assert re.search(r"^run:", mk, re.M) and re.search(r"^test:", mk, re.M)
    assert "make test" in (REPO / ".ci" / "run").read_text()
