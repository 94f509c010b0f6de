"""EvalReport: everything one eval found (sweeps, joint search, rules, clusters, the KB's advice), the settings it
advises, and its text as the CLI prints it."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from .clusterscore import ClusterSweep, cluster_sweep_lines
from .kbadvice import KbAdvice, kb_lines
from .rules import RuleScore, rule_lines
from .scores import Sweep, sweep_lines
from .truth import Truth
from .tune import Search, Tuning, tuning_lines

if TYPE_CHECKING:
    from ..run.analyzer import Item


@dataclass
class EvalReport:
    """Everything one eval found; ``face`` is the face_tol sweep, ``kb`` the leave-one-out advice."""

    truth: Truth | None
    sweeps: list[Sweep] = field(default_factory=list)
    kb: KbAdvice | None = None
    rules: list[RuleScore] = field(default_factory=list)
    tuning: Tuning | None = None  # the joint search over the settings that decide
    clusters: ClusterSweep | None = None  # review's clusters of the faces left Unknown, over cluster_tol
    items: list[tuple[Item, str]] = field(default_factory=list, repr=False)  # the analysed photos, for re-deciding
    search: Search | None = field(default=None, repr=False)  # the joint search over them (rules replay it)
    photos: int = 0
    encoded: int = 0  # photos analysed in this run
    cached: int = 0  # photos taken from the embedding cache
    aborted: bool = False
    elapsed_s: float = 0.0
    notices: list[str] = field(default_factory=list)
    manifest_path: Path | None = None
    report_path: Path | None = None

    @property
    def face(self) -> Sweep | None:
        return next((s for s in self.sweeps if s.key == "face_tol"), None)

    @property
    def body(self) -> Sweep | None:
        return next((s for s in self.sweeps if s.key == "body_tol"), None)

    def distances(self) -> tuple[np.ndarray, np.ndarray]:
        """(same-person, different-person) face distances for the histograms: from the labelled photos with one
        face (each top-3 candidate is same or different by the label), else from the KB's leave-one-out."""
        same: list[float] = []
        diff: list[float] = []
        face = self.face
        if face is not None and self.truth is not None and face.results:
            for r in next(iter(face.results.values())):
                if r.error or len(r.faces) != 1:
                    continue
                want = self.truth.expected.get(r.rel, frozenset())
                for person, d in r.faces[0].face:
                    (same if person in want else diff).append(d)
        elif self.kb is not None:
            return self.kb.same, self.kb.diff
        return np.asarray(same, float), np.asarray(diff, float)

    @property
    def advice(self) -> dict[str, float]:
        """The settings this eval advises ({key: value}); what --apply writes. The joint search's best combination
        where there is one (face_tol, face_margin, face_k, lap_var_thresh), else the face_tol sweep's marked
        value; body_tol from its sweep."""
        out: dict[str, float] = {}
        if self.tuning is not None and self.tuning.best is not None:
            out.update(self.tuning.best.as_settings())
        elif self.face is not None and self.face.marked is not None:
            out["face_tol"] = self.face.marked
        if self.body is not None and self.body.marked is not None:
            out["body_tol"] = self.body.marked
        if self.clusters is not None and self.clusters.marked is not None:
            out["cluster_tol"] = self.clusters.marked
        return out


def report_lines(rep: EvalReport) -> list[str]:
    """All of an eval's text, as the CLI prints it."""
    lines: list[str] = []
    if rep.truth is not None:
        lines.append(
            f"Eval: {rep.photos} labelled photos in {rep.truth.input_dir} ({rep.encoded} encoded, "
            f"{rep.cached} from the cache); nothing is filed."
        )
        for sw in rep.sweeps:
            exp = {r: rep.truth.expected[r] for r in rep.truth.expected}
            lines += sweep_lines(sw, exp if sw.key == "face_tol" else None)
        if rep.tuning is not None:
            lines += tuning_lines(rep.tuning)
        lines += rule_lines(rep.rules, rep.tuning.nearest_right if rep.tuning else None)
        if rep.clusters is not None:
            lines += cluster_sweep_lines(rep.clusters)
    if rep.kb is not None:
        lines += kb_lines(rep.kb)
    lines += [f"Note: {n}" for n in rep.notices if n and not n.startswith("body recognition off: no re-id")]
    if rep.report_path:
        lines.append(f"Eval table: {rep.report_path}")
    return lines
