"""Coloured Rich Text for the app's log lines and summaries, built on the core's plain-text lines."""

from __future__ import annotations

import os
from pathlib import Path

from rich.text import Text

from ..core.base.events import KbImageDone, RunSummary
from ..core.base.textsafe import terminal_safe
from ..core.run.render import format_line, format_summary, kb_line, people_line, summary_notes

KNOWN_STYLE = "bold green"
UNKNOWN_STYLE = "bold yellow"
ERROR_STYLE = "bold red"
DETAIL_STYLE = "dim"


def short_path(p: Path | str | None) -> str:
    """A path as a person would type it here: relative to the working folder if inside it, else ~/..., else absolute."""
    if p is None:
        return ""
    p = Path(p)
    try:
        rel = p.relative_to(Path.cwd())
        return rel.as_posix() if str(rel) != "." else "."
    except ValueError:
        pass
    home = Path(os.path.expanduser("~"))
    try:
        return "~/" + p.relative_to(home).as_posix()
    except ValueError:
        return str(p)


def result_text(result) -> Text:
    """A FileResult as the seed's line ``name.jpg → Person | Face: [...] | Body: [...]``, the decision coloured."""
    line = terminal_safe(format_line(result))  # Rich keeps ESC: it would reach the terminal
    name, _, rest = line.partition(" → ")
    label, sep, tail = rest.partition(" | ")
    style = ERROR_STYLE if result.error else (UNKNOWN_STYLE if result.is_unknown else KNOWN_STYLE)
    text = Text(name)
    text.append(" → ", DETAIL_STYLE)
    text.append(label, style)
    if sep:
        text.append(sep + tail, "red" if result.error else DETAIL_STYLE)
    return text


def kb_text(ev: KbImageDone) -> Text:
    """One KB build line: person/photo, faces found, kept/reused/skipped and why."""
    line = terminal_safe(kb_line(ev))
    head, _, tail = line.partition(": ")
    style = "green" if ev.kept and not ev.reused else ("dim green" if ev.kept else "yellow")
    if ev.reason and not ev.kept and "face" not in ev.reason:
        style = "red"  # an unreadable photo, not merely a faceless one
    text = Text(head + ": ")
    text.append(tail, style)
    return text


def summary_text(s: RunSummary) -> Text:
    """The closing summary: the seed's ``Batch done. N files, Unknown = K (P%).`` line (or the KB totals), then the
    biggest people on one line (``render.people_line``: the top ones, then "and N more"), and the notes."""
    out = Text()
    if s.kind == "kb":
        verb = "build aborted" if s.aborted else "built"
        out.append(
            f"KB {verb}: {s.people} people, {s.faces} faces, {s.bodies} bodies, {s.skipped} skipped, "
            f"{s.done}/{s.total} images in {s.elapsed_s:.1f}s.",
            "bold yellow" if s.aborted else "bold green",
        )
        if s.per_person:
            out.append("\n  " + people_line(s.per_person, "image"))
        if s.kb_path and not s.aborted:
            out.append(f"\nKB saved to {short_path(s.kb_path)}")
    else:
        head = format_summary(s.total, s.unknown, s.errors, s.elapsed_s, s.aborted, s.done)
        out.append(head, "bold yellow" if s.aborted else "bold green")
        if s.per_person:
            out.append("\n  " + people_line(s.per_person))
        if s.report_path:
            out.append("\nReport: ", "bold")
            out.append(short_path(s.report_path))
    for n in summary_notes(s):
        out.append(f"\nNote: {n}", "yellow")
    return out
