"""The decision rule: one photo's analysis and the KB in, who each face is (and which rule said so) out."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import faces as facemod
from .events import UNKNOWN, FaceResult, FileResult
from .kb import KnowledgeBase
from .matcher import Bank, body_similarities, face_distances, top_k
from .runner import Item
from .settings import Settings


@dataclass
class Decider:
    """Turns one photo's analysis into per-face decisions and the people it is filed under."""

    kb: KnowledgeBase
    settings: Settings
    overrides: dict = field(default_factory=dict)  # review decisions by sha256 (reviewlog.load_overrides)

    def __post_init__(self) -> None:
        self.faces = Bank.build(self.kb.face_enc, self.kb.face_names)
        self.bodies = Bank.build(self.kb.body_enc, self.kb.body_names, normalise=True) if self.kb.body_dim else None

    def decide(self, item: Item, rel: str, overrides: dict | None = None) -> FileResult:
        a, s = item.analysis, self.settings
        if a.error:
            return FileResult(path=item.path, rel=rel, error=a.error, notes=a.notes, sha256=a.sha256, cached=item.cached)
        rv = (self.overrides if overrides is None else overrides).get(a.sha256)  # review decisions on this photo
        dist = face_distances(self.faces, a.encodings) if len(a.boxes) else np.zeros((0, 0))
        sims = None
        if item.body is not None and self.bodies is not None and len(item.body):
            sims = body_similarities(self.bodies, item.body)
        results: list[FaceResult] = []
        usable = [i for i, sh in enumerate(a.sharpness) if sh >= s.lap_var_thresh]
        largest = max(range(len(a.boxes)), key=lambda i: facemod.box_area(a.boxes[i])) if a.boxes else None
        if s.multi_face == "largest" and usable:
            usable = [max(usable, key=lambda i: facemod.box_area(a.boxes[i]))]
        for i, box in enumerate(a.boxes):
            fd = rv.for_face(i, box) if rv else None
            k = 3 + (len(fd.rejected) if fd else 0)
            face_c = top_k(dist[i], self.faces.people, k) if len(self.faces) else ()
            body_c = top_k(sims[i], self.bodies.people, k, higher_is_better=True) if sims is not None else ()
            if fd:  # a rejected candidate is neither proposed nor accepted again
                face_c, body_c = fd.filter(face_c), fd.filter(body_c)
            skipped = ""
            if a.sharpness[i] < s.lap_var_thresh:
                skipped = f"blurry (sharpness {a.sharpness[i]:.0f} < {s.lap_var_thresh:g})"
            elif i not in usable:
                skipped = "not the largest face (multi_face = largest)"
            name, via = UNKNOWN, ""
            if not skipped:
                name, via = self._accept(face_c, body_c)
            elif a.sharpness[i] < s.lap_var_thresh and (s.multi_face == "all" or (not usable and i == largest)):
                name, via = self._accept((), body_c)  # a blurry face: its body region may still tell
            if fd and fd.person:
                name, via = fd.person, "review"
            results.append(FaceResult(index=i, box=box, sharpness=a.sharpness[i], face=face_c, body=body_c,
                                      name=name, via=via, skipped=skipped))
        if not a.boxes:  # no face at all: the whole photo by body alone (blurry faces consulted theirs above)
            fd = rv.for_face(0, None) if rv else None
            k = 3 + (len(fd.rejected) if fd else 0)
            body_c = top_k(sims[0], self.bodies.people, k, higher_is_better=True) if sims is not None else ()
            body_c = fd.filter(body_c) if fd else body_c
            name, via = self._accept((), body_c)
            if fd and fd.person:
                name, via = fd.person, "review"
            results.append(FaceResult(index=0, box=None, sharpness=None, body=body_c, name=name, via=via))
        if rv:
            results += rv.unmatched_faces(results, len(results))
        people = tuple(sorted({r.name for r in results if r.name != UNKNOWN}))
        return FileResult(path=item.path, rel=rel, faces=tuple(results), people=people, notes=a.notes,
                          sha256=a.sha256, cached=item.cached)

    def _accept(self, face_c, body_c) -> tuple[str, str]:
        s = self.settings
        # face_margin: the best person must beat the runner-up person clearly, or the face is ambiguous
        if face_c and face_c[0][1] < s.face_tol and (len(face_c) < 2 or face_c[1][1] - face_c[0][1] >= s.face_margin):
            return face_c[0][0], "face"
        if body_c and body_c[0][1] > s.body_tol:
            return body_c[0][0], "body"
        return UNKNOWN, ""
