"""Plain-text lines for events (the CLI prints them, the app shows them): per-image KB lines and run summaries."""

from __future__ import annotations

from ..base.events import KbImageDone, RunSummary
from ..stores.report import format_line, format_summary

__all__ = ["format_line", "kb_line", "summary_lines"]


def kb_line(ev: KbImageDone) -> str:
    state = "reused" if ev.reused else ("kept" if ev.kept else "skipped")
    faces = f"{ev.faces_found} face{'s' if ev.faces_found != 1 else ''}"
    tail = f" ({ev.reason})" if ev.reason else ""
    return f"{ev.person}/{ev.rel.split('/', 1)[-1]}: {faces}, {state}{tail}"


def summary_lines(s: RunSummary) -> list[str]:
    if s.kind == "kb":
        head = (
            f"KB {'build aborted' if s.aborted else 'built'}: {s.people} people, {s.faces} faces, "
            f"{s.bodies} bodies, {s.skipped} skipped, {s.done}/{s.total} images in {s.elapsed_s:.1f}s."
        )
        lines = [head]
        lines += [f"  {name}: {n} image{'s' if n != 1 else ''}" for name, n in s.per_person.items()]
        if s.kb_path and not s.aborted:
            lines.append(f"KB saved to {s.kb_path}")
    else:
        lines = [format_summary(s.total, s.unknown, s.errors, s.elapsed_s, s.aborted, s.done)]
        if s.per_person:
            lines.append("  " + ", ".join(f"{k}: {v}" for k, v in s.per_person.items()))
        if s.report_path:
            lines.append(f"Report: {s.report_path}")
    lines += [f"Note: {n}" for n in s.notices if n.startswith(("aborted", "stopped", "KB not saved"))]
    return lines
