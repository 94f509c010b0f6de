"""Path completion for text fields: suggests the next folder (or file) name from what is on disk."""

from __future__ import annotations

import os
from pathlib import Path

from textual.suggester import Suggester


class PathSuggester(Suggester):
    """Completes the last part of a typed path from the entries of its folder (relative paths start at ``base``)."""

    def __init__(self, base: Path, dirs_only: bool = True) -> None:
        super().__init__(use_cache=False, case_sensitive=True)
        self.base = base
        self.dirs_only = dirs_only

    async def get_suggestion(self, value: str) -> str | None:
        if not value or value.endswith(("/.", "/..")) or value in (".", "..", "~"):
            return None
        head, _, part = value.rpartition("/")
        folder = Path(os.path.expanduser(head + "/" if head or value.startswith("/") else "."))
        if not folder.is_absolute():
            folder = self.base / folder
        try:
            entries = sorted(os.scandir(folder), key=lambda e: e.name)
        except OSError:
            return None
        for e in entries:
            if e.name.startswith(".") and not part.startswith("."):
                continue
            if not e.name.startswith(part) or e.name == part:
                continue
            try:
                is_dir = e.is_dir()
            except OSError:
                continue
            if self.dirs_only and not is_dir:
                continue
            prefix = value[: len(value) - len(part)]
            return prefix + e.name + ("/" if is_dir else "")
        return None
