"""Plain-text lines for events (the CLI prints them, the app shows them): the per-file line with its top-3s,
per-image KB lines and run summaries."""

from __future__ import annotations

from ..base.events import Candidates, FileResult, KbImageDone, RunSummary
from ..base.fsutil import display_name


def kb_line(ev: KbImageDone) -> str:
    state = "reused" if ev.reused else ("kept" if ev.kept else "skipped")
    faces = f"{ev.faces_found} face{'s' if ev.faces_found != 1 else ''}"
    tail = f" ({ev.reason})" if ev.reason else ""
    return f"{ev.person}/{ev.rel.split('/', 1)[-1]}: {faces}, {state}{tail}"


TOP_PEOPLE = 10  # a summary names the people with the most photos, this many; the rest are counted
NO_KB_PEOPLE = "no KB people yet"  # how recognize's notice begins when there is nobody to recognise
SUMMARY_NOTES = ("aborted", "stopped", "KB not saved", NO_KB_PEOPLE)  # the notices a summary says again


def top_people(per_person: dict[str, int], top: int = TOP_PEOPLE) -> tuple[list[tuple[str, int]], int, int]:
    """The ``top`` people with the most photos (ties by name), then how many people are left and how many photos
    they hold (a photo of two of them counts for each)."""
    ranked = sorted(per_person.items(), key=lambda kv: (-kv[1], kv[0]))
    rest = ranked[top:]
    return ranked[:top], len(rest), sum(n for _, n in rest)


def _more(people: int, photos: int, unit: str) -> str:
    return f"and {people} more ({photos:,} {unit}{'s' if photos != 1 else ''})"


def people_line(per_person: dict[str, int], unit: str = "photo") -> str:
    """One line of the biggest people, ``A: 12, B: 9, ... and 251 more (1,234 photos)``; "" for nobody."""
    top, more, photos = top_people(per_person)
    parts = [f"{name}: {n}" for name, n in top]
    if more:
        parts.append(_more(more, photos, unit))
    return ", ".join(parts)


def kb_people_lines(per_person: dict[str, int]) -> list[str]:
    """The KB build's lines per person (``  A: 3 images``), the biggest first, then ``  and N more (M images)``."""
    top, more, images = top_people(per_person)
    lines = [f"  {name}: {n} image{'s' if n != 1 else ''}" for name, n in top]
    if more:
        lines.append(f"  {_more(more, images, 'image')}")
    return lines


def summary_notes(s: RunSummary) -> list[str]:
    """The notices a summary says again: why a run stopped or saved nothing, and that there was nobody to recognise."""
    return [n for n in s.notices if n.startswith(SUMMARY_NOTES)]


def summary_lines(s: RunSummary) -> list[str]:
    """The closing lines: the totals, the biggest people (``TOP_PEOPLE``, then "and N more"), where the report or
    KB is, and the notes that matter (``summary_notes``)."""
    if s.kind == "kb":
        head = (
            f"KB {'build aborted' if s.aborted else 'built'}: {s.people} people, {s.faces} faces, "
            f"{s.bodies} bodies, {s.skipped} skipped, {s.done}/{s.total} images in {s.elapsed_s:.1f}s."
        )
        lines = [head, *kb_people_lines(s.per_person)]
        if s.kb_path and not s.aborted:
            lines.append(f"KB saved to {s.kb_path}")
    else:
        lines = [format_summary(s.total, s.unknown, s.errors, s.elapsed_s, s.aborted, s.done)]
        if s.per_person:
            lines.append("  " + people_line(s.per_person))
        if s.report_path:
            lines.append(f"Report: {s.report_path}")
    lines += [f"Note: {n}" for n in summary_notes(s)]
    return lines


def format_candidates(c: Candidates) -> str:
    """``[A:0.34, B:0.61]``: a top-3 as the seed prints it."""
    return "[" + ", ".join(f"{n}:{v:.2f}" for n, v in c) + "]"


def format_line(result: FileResult) -> str:
    """The seed's per-file line: ``name.jpg → Person | Face: [A:0.34, ...] | Body: [...]``."""
    name = display_name(result.rel)
    if result.error:
        return f"{name} → Error | {result.error}"
    used = [f for f in result.faces if not f.skipped and f.face] or [f for f in result.faces if f.face]
    face = " ".join(format_candidates(f.face) for f in used) if used else "[]"
    bodies = [f for f in result.faces if f.body]
    body = " ".join(format_candidates(f.body) for f in bodies) if bodies else "[]"
    line = f"{name} → {result.label} | Face: {face} | Body: {body}"
    skipped = [f.skipped for f in result.faces if f.skipped]
    if skipped:
        line += f" | skipped {len(skipped)} face{'s' if len(skipped) > 1 else ''} ({skipped[0]})"
    low = [f for f in result.faces if f.quality == "low"]
    if low:
        line += f" | low quality: {low[0].rule or 'stricter rule'}" + (
            f" (+{len(low) - 1} more)" if len(low) > 1 else ""
        )
    return line


def format_summary(total: int, unknown: int, errors: int, elapsed: float, aborted: bool, done: int) -> str:
    pct = round(100.0 * unknown / done, 2) if done else 0.0
    head = f"Batch done. {done} files, Unknown = {unknown} ({pct}%)."
    if aborted:
        head = f"Aborted after {done} of {total} files. Unknown = {unknown} ({pct}%)."
    return f"{head} Errors = {errors}. Elapsed {elapsed:.1f}s."
