"""What the review screen says: the candidate block, the face in hand, and the tally when the queue is done."""

from __future__ import annotations

from rich.markup import escape

from ..core.base.events import Candidates, FaceResult
from ..core.base.fsutil import display_name
from ..core.base.textsafe import terminal_safe
from ..core.review.session import ReviewItem


def markup_name(name: str) -> str:
    """A name inside markup: shown as it is (a folder named ``[b]x`` is not bold), controls escaped."""
    return escape(terminal_safe(name))


def candidates_text(face_c: Candidates, body_c: Candidates, numbered: Candidates) -> str:
    """The candidate block: the numbered choices with their scores, then the body scores when faces lead."""
    by_face = bool(numbered) and numbered == face_c
    width = max((len(n) for n, _ in (*face_c, *body_c)), default=0)
    lines = [f"[b]{i}[/b]  {markup_name(name):<{width}}  {score:.2f}" for i, (name, score) in enumerate(numbered, 1)]
    if not numbered:
        lines.append("No candidates: n names this face.")
    elif by_face:
        lines.append("face distance (lower = closer)")
    else:
        lines.append("body similarity (higher = closer)")
    if by_face and body_c:
        lines.append("")
        lines += [f"   {markup_name(name):<{width}}  {score:.2f}" for name, score in body_c]
        lines.append("body similarity (higher = closer)")
    return "\n".join(lines)


def face_text(rel: str, item: ReviewItem, face: FaceResult | None, photo_faces: int) -> str:
    """The face in hand for the title: the photo, which face (why it was not filed), and how many of the photo's faces
    wait for a decision."""
    what = f"face {item.face}" if item.face is not None else "no face found"
    if face is not None and face.skipped:
        what += f" ({face.skipped})"
    elif face is not None and face.quality == "low":
        what += " (low quality)"
    if face is not None and face.rule:
        what += f" · not filed: {face.rule}"
    many = f" · {photo_faces} unknown faces in this photo" if photo_faces > 1 else ""
    return terminal_safe(f"{display_name(rel)} · {what}{many}")


def done_text(done: dict[tuple, str]) -> str:
    """The title once every face is decided (``done``: face -> the person, "none" or "skipped")."""
    assigned = sum(1 for v in done.values() if v not in ("none", "skipped"))
    nones = sum(1 for v in done.values() if v == "none")
    skipped = sum(1 for v in done.values() if v == "skipped")
    return f"Review unknowns · done: {assigned} assigned, {nones} not in the KB, {skipped} skipped"
