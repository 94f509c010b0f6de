"""The KB rows a review decision adds and its undo takes back, each named ``review:<sha256>:<face>``."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from ..base.events import FileResult
from ..base.settings import Settings
from ..stores.kb import KbError, save_kb
from .candidates import Encodings, Known
from .queue import ReviewItem

REVIEW_PREFIX = "review:"  # KB rows that came from a review decision (kbbuild carries them over)


def kb_add(
    known: Known, encodings: Encodings, settings: Settings, item: ReviewItem, r: FileResult, person: str
) -> tuple[tuple[str, ...], str]:
    """Add this face's encoding (and its body embedding when body recognition is on) to the KB as it is on disk now;
    returns the rows' source (none when there was nothing to add) and a note for the user."""
    source = f"{REVIEW_PREFIX}{r.sha256}:{item.face if item.face is not None else 0}"
    kb = known.fresh()
    kb.remove_source(source)
    enc = encodings.encoding(item, r.path)
    added = []
    if enc is not None:
        kb.add_face(person, enc, source)
        added.append("face")
    note = ""
    if settings.reid_weights is not None:
        emb = encodings.body_embedding(item, r, kb.body_dim or None)
        if emb is not None:
            try:
                kb.add_body(person, emb, source)
                added.append("body")
            except KbError as e:
                note = f"body not added ({e})"
    if not added:
        return (), "nothing to add to the KB (no face encoding)"
    save_kb(kb, settings.kb_path)
    known.use(kb)
    return (source,), note


def kb_remove(known: Known, kb_path: Path, sources: Iterable[str]) -> int:
    """Take these rows out of the KB as it is on disk now (an unreadable KB: nothing to take); how many went."""
    try:
        kb = known.fresh()
    except KbError:
        return 0
    gone = sum(kb.remove_source(s) for s in sources)
    if gone:
        save_kb(kb, kb_path)
    known.use(kb)
    return gone
