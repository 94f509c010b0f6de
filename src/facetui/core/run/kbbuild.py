"""KB build: ``dataset_dir/<Person>/*`` to face and body embeddings, incremental, yielding one event per image."""

from __future__ import annotations

import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..base.errors import SetupError
from ..base.events import Event, KbImageDone, Notice
from ..base.fsutil import display_name, remove_stale_temps
from ..base.settings import Settings
from ..models.analyze import FaceConfig
from ..models.face.detect import largest
from ..stores.kb import FACE_DIM, KbError, KbMissing, KnowledgeBase, load_kb, save_kb
from ..stores.scan import scan_people
from .jobloop import Tally, finish, run_steps
from .setup import Job, open_job, require_engine

if TYPE_CHECKING:
    from .analyzer import Item

REVIEW_PREFIX = "review:"


def _old_kb(settings: Settings) -> tuple[KnowledgeBase | None, str]:
    try:
        return load_kb(settings.kb_path), ""
    except KbMissing:
        return None, ""
    except KbError as e:
        return None, f"previous KB not reused: {e}"


def build_kb(settings: Settings, cancel: threading.Event | None = None) -> Iterator[Event]:
    """Build or update the KB; unchanged images are reused, removed ones dropped, the file replaced atomically at the end.

    An aborted build leaves the previous KB untouched (its analyses stay in the cache, so the next build is quick).
    """
    require_engine(settings)
    t0 = time.monotonic()
    cancel = cancel or threading.Event()
    root = settings.dataset_dir
    if not root.is_dir():
        raise SetupError(f"dataset folder does not exist: {root} (expected {root}/<Person Name>/*.jpg)")
    people = scan_people(root, settings.valid_exts)
    photos = [(person, p) for person, paths in people.items() for p in paths]
    old, old_note = _old_kb(settings)
    notices = [old_note] if old_note else []
    if settings.kb_path.parent.is_dir() and remove_stale_temps(settings.kb_path.parent, recursive=False):
        notices.append("removed temp file(s) left next to the KB by an interrupted save")
    with open_job(  # its manifest: kb-run.toml next to the KB
        settings,
        "kb",
        total=len(photos),
        kb=old,
        notices=notices,
        input_dir=root,
        output_dir=settings.kb_path.parent,
        match_kb=False,
    ) as job:
        yield job.started(output_dir=None)
        if not photos:
            yield Notice(
                "warning", f"no photos found under {root}/<Person>/ (extensions {', '.join(settings.valid_exts)})"
            )
        builder = _KbBuilder.over(job, photos, old)
        yield from run_steps(job, [p for _, p in photos], cancel, builder.step)
    aborted = builder.tally.done < len(photos)
    if aborted:
        notices.append("aborted: the previous KB is unchanged; a rerun reuses what was analysed")
    else:
        aborted = not builder.save(old)
    yield finish(
        job,
        builder.tally,
        t0,
        kb=None if aborted else builder.new,
        faces=builder.faces_kept,
        bodies=builder.bodies_kept,
        people=len(builder.tally.per_person),
        skipped=builder.skipped,
        aborted=aborted,
        kb_path=settings.kb_path,
    )


@dataclass
class _KbBuilder:
    """kb build's step: one dataset photo's rows into the new KB (the previous KB's rows when the photo is unchanged
    and was built with the same models), its entry in the KB's file list, and the counts."""

    job: Job
    face_key: str
    rel_of: dict[Path, str]
    person_of: dict[Path, str]
    old_files: dict[str, dict]  # the previous KB's file list
    old_rows: dict[str, list[tuple[str, np.ndarray]]]  # its rows by source, where the models are the same
    new: KnowledgeBase = field(default_factory=KnowledgeBase)
    files_meta: dict[str, dict] = field(default_factory=dict)
    tally: Tally = field(default_factory=Tally)  # per person: the photos kept
    faces_kept: int = 0
    bodies_kept: int = 0
    skipped: int = 0

    @classmethod
    def over(cls, job: Job, photos: list[tuple[str, Path]], old: KnowledgeBase | None) -> _KbBuilder:
        """A builder for ``photos`` ((person, path) pairs), reusing what it can of ``old``."""
        root = job.settings.dataset_dir
        face_key = FaceConfig.of(job.settings).key()
        old_files = (old.meta.get("files", {}) if old else {}) or {}
        same_models = (
            bool(old) and old.meta.get("face_key") == face_key and old.meta.get("body_key", "") == job.body.key
        )
        return cls(
            job,
            face_key,
            rel_of={p: os.fsdecode(os.path.relpath(p, root)) for _, p in photos},
            person_of={p: person for person, p in photos},
            old_files=old_files,
            old_rows=_rows_by_source(old) if (old and same_models) else {},
        )

    def step(self, i: int, item: Item) -> Iterator[Event]:
        """The KbImageDone of the ``i``-th photo."""
        rel, person = self.rel_of[item.path], self.person_of[item.path]
        a = item.analysis
        prev = self.old_files.get(rel)
        reused = bool(prev and prev.get("sha256") == a.sha256 and rel in self.old_rows and not a.error)
        before = (len(self.new.face_names), len(self.new.body_names))
        kept, reason = self._add(person, rel, item, reused)
        self.faces_kept += len(self.new.face_names) - before[0]
        self.bodies_kept += len(self.new.body_names) - before[1]
        self.skipped += not kept
        self.tally.count([person] if kept else [])
        n_faces = len(a.boxes)
        if n_faces > 1 and not a.error:
            reason = (reason + "; " if reason else "") + f"{n_faces} faces: used the largest"
        self.files_meta[rel] = {
            "sha256": a.sha256,
            "person": person,
            "faces_found": n_faces,
            "kept": kept,
            "reason": reason,
        }
        yield KbImageDone(
            index=i,
            total=self.job.total,
            person=person,
            rel=display_name(rel),
            faces_found=n_faces,
            kept=kept,
            reason=reason,
            reused=reused,
            cached=item.cached,
        )

    def _add(self, person: str, rel: str, item: Item, reused: bool) -> tuple[bool, str]:
        """Add the photo's rows to the new KB; return (kept, reason)."""
        a = item.analysis
        if a.error:
            return False, a.error
        if reused:
            for vec_kind, vec in self.old_rows[rel]:
                (self.new.add_face if vec_kind == "face" else self.new.add_body)(person, vec, rel)
            return True, ""
        return _add_rows(self.new, person, rel, a, item.body, self.job.settings)

    def save(self, old: KnowledgeBase | None) -> bool:
        """Carry review's rows over from ``old``, stamp the new KB and replace the KB file with it atomically;
        False (with a notice) when it cannot be written, the previous KB then unchanged."""
        settings = self.job.settings
        if old is not None:  # review decisions live in the KB only: carry them over
            for kind, name, vec, src in _review_rows(old):
                try:
                    (self.new.add_face if kind == "face" else self.new.add_body)(name, vec, src)
                except KbError:
                    pass  # a body row of another dimension: the body model changed
        body_key = self.job.body.key
        self.new.meta = {
            "built_at": datetime.now(UTC).isoformat(timespec="seconds"),
            "face_key": self.face_key,
            "body_key": body_key,
            "reid_model": settings.reid_model if body_key else "",
            "detector": settings.detector,
            "upsample": settings.upsample,
            "resize_max": settings.resize_max,
            "dataset_dir": str(settings.dataset_dir),
            "files": self.files_meta,
        }
        try:
            save_kb(self.new, settings.kb_path)
        except OSError as e:
            self.job.notices.append(
                f"KB not saved: {e.strerror or e} ({settings.kb_path}); the previous KB is unchanged"
            )
            return False
        return True


def _add_rows(kb: KnowledgeBase, person: str, rel: str, a, body_emb, settings: Settings) -> tuple[bool, str]:
    """Add the largest face (and its body region) of one dataset photo; return (kept, reason)."""
    reason = ""
    kept = False
    idx = None
    if a.boxes:
        idx = largest(a.boxes)
        kb.add_face(person, a.encodings[idx], rel)
        kept = True
        if a.sharpness[idx] < settings.lap_var_thresh:
            reason = f"kept although low quality (sharpness {a.sharpness[idx]:.0f} < {settings.lap_var_thresh:g})"
    else:
        reason = "no face found"
    if body_emb is not None and len(body_emb):
        kb.add_body(person, body_emb[idx or 0], rel)
        kept = True
        if not a.boxes:
            reason = "no face found: body only"
    return kept, reason


def _rows_by_source(kb: KnowledgeBase) -> dict[str, list[tuple[str, np.ndarray]]]:
    out: dict[str, list[tuple[str, np.ndarray]]] = {}
    for vec, src in zip(kb.face_enc.reshape(-1, FACE_DIM), kb.face_sources):
        out.setdefault(src, []).append(("face", vec))
    if kb.body_dim:
        for vec, src in zip(kb.body_enc, kb.body_sources):
            out.setdefault(src, []).append(("body", vec))
    return out


def _review_rows(kb: KnowledgeBase):
    for vec, name, src in zip(kb.face_enc.reshape(-1, FACE_DIM), kb.face_names, kb.face_sources):
        if src.startswith(REVIEW_PREFIX):
            yield "face", name, vec, src
    if kb.body_dim:
        for vec, name, src in zip(kb.body_enc, kb.body_names, kb.body_sources):
            if src.startswith(REVIEW_PREFIX):
                yield "body", name, vec, src


def kb_status(settings: Settings) -> dict:
    """A summary of the KB on disk for the Home screen and `facetui status` (never raises)."""
    path = settings.kb_path
    try:
        kb = load_kb(path)
    except KbError as e:
        return {"ok": False, "path": str(path), "error": str(e)}
    files = kb.meta.get("files", {})
    stale = False
    try:
        current = {
            os.fsdecode(os.path.relpath(p, settings.dataset_dir))
            for ps in scan_people(settings.dataset_dir, settings.valid_exts).values()
            for p in ps
        }
        stale = current != set(files)
        if not stale:
            built = path.stat().st_mtime
            stale = any((settings.dataset_dir / r).stat().st_mtime > built for r in current)
    except OSError:
        pass
    return {
        "ok": True,
        "path": str(path),
        "people": len(kb.people),
        "faces": len(kb.face_names),
        "bodies": len(kb.body_names),
        "built_at": kb.meta.get("built_at", "in review" if kb.people else "?"),
        "stale": stale,
        "fingerprint": kb.fingerprint(),
        "counts": kb.counts(),
    }
