"""The decision rule: one photo's analysis and the KB in, who each face is (and which rule said so) out.

A face's score for a person is the mean distance to that person's ``face_k`` nearest KB faces (matcher.face_scores).
The best person is accepted when the score is under ``face_tol`` and beats the next person by ``face_margin``.
A low-quality face (quality.py) is still matched, but only accepted under the stricter rule (STRICT_TOL_DROP,
STRICT_MARGIN_ADD); so is a match to a person with fewer KB photos than ``face_k``, whose photos cannot agree. A
face too poor to use is never filed by face, though its candidates are kept for review. A face that is not accepted
may still be filed by its body region (cosine similarity over ``body_tol``).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..base.events import UNKNOWN, Candidates, FaceResult, FileResult, Via
from ..base.settings import Settings
from ..models.compare.matcher import Bank, body_similarities, face_scores, top_k
from ..models.face import detect as face_detect
from ..models.face.quality import GOOD, LOW, POOR, POOR_BELOW, quality_level
from ..stores.kb import KnowledgeBase
from .analyzer import Item

# the stricter rule, for a low-quality face and for a person with fewer KB photos than face_k: a wider margin over
# the next person (how +0.04 was chosen: README, Accuracy)
STRICT_TOL_DROP = 0.0
STRICT_MARGIN_ADD = 0.04


def strict_rule(face_tol: float, face_margin: float) -> tuple[float, float]:
    """(tolerance, margin) of the stricter rule."""
    return max(0.0, face_tol - STRICT_TOL_DROP), face_margin + STRICT_MARGIN_ADD


@dataclass
class Decider:
    """Turns one photo's analysis into per-face decisions and the people it is filed under."""

    kb: KnowledgeBase
    settings: Settings
    overrides: dict = field(default_factory=dict)  # review decisions by sha256 (reviewlog.load_overrides)
    memo: dict | None = None  # face scores by (sha256, face_k), for deciding the same photos under many settings

    def __post_init__(self) -> None:
        self.faces = Bank.build(self.kb.face_enc, self.kb.face_names)
        self.bodies = Bank.build(self.kb.body_enc, self.kb.body_names, normalise=True) if self.kb.body_dim else None
        sizes = np.diff(np.append(self.faces.starts, len(self.faces.vectors)))
        self.kb_photos = dict(zip(self.faces.people, (int(n) for n in sizes)))  # KB faces per person

    def with_settings(self, settings: Settings) -> Decider:
        """The same KB banks and score memo under other settings (an eval decides each photo many times)."""
        if self.memo is None:
            self.memo = {}
        other = copy.copy(self)  # not dataclasses.replace: that would build the banks again
        other.settings = settings
        return other

    def _scores(self, sha: str, encodings: np.ndarray) -> np.ndarray:
        k = self.settings.face_k
        if self.memo is None:
            return face_scores(self.faces, encodings, k)
        key = (sha, k)
        got = self.memo.get(key)
        if got is None:
            got = self.memo[key] = face_scores(self.faces, encodings, k)
        return got

    def decide(self, item: Item, rel: str, overrides: dict | None = None) -> FileResult:
        a, s = item.analysis, self.settings
        if a.error:
            return FileResult(
                path=item.path, rel=rel, error=a.error, notes=a.notes, sha256=a.sha256, cached=item.cached
            )
        rv = (self.overrides if overrides is None else overrides).get(a.sha256)  # review decisions on this photo
        scores = self._scores(a.sha256, a.encodings) if len(a.boxes) else np.zeros((0, 0))
        sims = None
        if item.body is not None and self.bodies is not None and len(item.body):
            sims = body_similarities(self.bodies, item.body)
        levels = [quality_level(q, s.lap_var_thresh) for q in a.sharpness]
        usable = [i for i, lv in enumerate(levels) if lv != POOR]
        largest = face_detect.largest(a.boxes)
        if s.multi_face == "largest" and usable:
            usable = [face_detect.largest(a.boxes, usable)]
        results: list[FaceResult] = []
        for i, box in enumerate(a.boxes):
            fd = rv.for_face(i, box) if rv else None
            k = 3 + (len(fd.rejected) if fd else 0)
            face_c = top_k(scores[i], self.faces.people, k) if len(self.faces) else ()
            body_c = top_k(sims[i], self.bodies.people, k, higher_is_better=True) if sims is not None else ()
            if fd:  # a rejected candidate is neither proposed nor accepted again
                face_c, body_c = fd.filter(face_c), fd.filter(body_c)
            skipped = ""
            if levels[i] == POOR:
                skipped = f"too poor to use (sharpness {a.sharpness[i]:.0f} < {min(POOR_BELOW, s.lap_var_thresh):g})"
            elif i not in usable:
                skipped = "not the largest face (multi_face = largest)"
            if not skipped:
                name, via, rule = self._accept(face_c, body_c, levels[i])
            elif levels[i] == POOR and (s.multi_face == "all" or (not usable and i == largest)):
                name, via, rule = self._accept((), body_c, POOR)  # a face too poor to use: its body may still tell
            else:
                name, via, rule = UNKNOWN, "", "not used"
            if fd and fd.person:
                name, via, rule = fd.person, "review", "assigned in review"
            results.append(
                FaceResult(
                    index=i,
                    box=box,
                    sharpness=a.sharpness[i],
                    face=face_c,
                    body=body_c,
                    name=name,
                    via=via,
                    skipped=skipped,
                    quality=levels[i],
                    rule=rule,
                )
            )
        if not a.boxes:  # no face at all: the whole photo by body alone (poor faces consulted theirs above)
            fd = rv.for_face(0, None) if rv else None
            k = 3 + (len(fd.rejected) if fd else 0)
            body_c = top_k(sims[0], self.bodies.people, k, higher_is_better=True) if sims is not None else ()
            body_c = fd.filter(body_c) if fd else body_c
            name, via, rule = self._accept((), body_c, GOOD)
            if fd and fd.person:
                name, via, rule = fd.person, "review", "assigned in review"
            results.append(
                FaceResult(
                    index=0, box=None, sharpness=None, body=body_c, name=name, via=via, rule=rule if body_c else ""
                )
            )
        if rv:
            results += rv.unmatched_faces(results, len(results))
        people = tuple(sorted({r.name for r in results if r.name != UNKNOWN}))
        return FileResult(
            path=item.path,
            rel=rel,
            faces=tuple(results),
            people=people,
            notes=a.notes,
            sha256=a.sha256,
            cached=item.cached,
        )

    def face_rule(self, level: str, person: str = "") -> tuple[float, float, str]:
        """(tolerance, margin, why stricter or "") that a face of this quality must pass to be filed under ``person``."""
        s = self.settings
        if level == LOW:
            return (*strict_rule(s.face_tol, s.face_margin), "low-quality face")
        n = self.kb_photos.get(person, s.face_k)
        if n < s.face_k:
            return (*strict_rule(s.face_tol, s.face_margin), f"only {n} KB photo{'s' if n != 1 else ''}")
        return s.face_tol, s.face_margin, ""

    def _accept(self, face_c: Candidates, body_c: Candidates, level: str) -> tuple[str, Via, str]:
        """(name, via, rule): who the face is, how it was decided, and the rule with its numbers."""
        s = self.settings
        why = ""
        if face_c and level != POOR:
            tol, margin, stricter = self.face_rule(level, face_c[0][0])
            tag = "low-quality face" if level == LOW else (f"face ({stricter}: stricter rule)" if stricter else "face")
            best = face_c[0][1]
            gap = face_c[1][1] - best if len(face_c) > 1 else None
            if best >= tol:
                why = f"{tag} {best:.2f} >= {tol:.2f}"
            elif gap is not None and gap < margin:
                why = f"{tag} ambiguous: margin {gap:.2f} < {margin:.2f}"
            else:
                gap_text = f", margin {gap:.2f} >= {margin:.2f}" if gap is not None else ""
                return face_c[0][0], "face", f"{tag} {best:.2f} < {tol:.2f}{gap_text}"
        elif level == POOR:
            why = "face too poor to use"
        if body_c and body_c[0][1] > s.body_tol:
            return body_c[0][0], "body", f"body {body_c[0][1]:.2f} > {s.body_tol:.2f}" + (f" ({why})" if why else "")
        if body_c and not why:
            why = f"body {body_c[0][1]:.2f} <= {s.body_tol:.2f}"
        return UNKNOWN, "", why
