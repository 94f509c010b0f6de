"""The eval run: labelled photos encoded once and scored over a sweep of tolerances (nothing filed), the KB's own advice on request, and the text of what it found."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..base.fsutil import display_name
from ..base.settings import Settings
from ..run.decide import Decider
from ..run.analyzer import Item
from ..run.setup import RunContext, load_kb_for, open_run, require_engine
from ..stores.scan import scan_images
from .clusterscore import ClusterSweep, cluster_sweep_lines, sweep_clusters, unknown_faces
from .kbadvice import KbAdvice, kb_advice, kb_lines
from .record import write_record
from .rules import RuleScore, compare_rules, rule_lines
from .scores import Score, Sweep, pick_marked, score, sweep_lines
from .truth import EvalError, Truth, load_truth
from .tune import GRID_K, Combo, Search, Tuning, tune, tuning_lines

# the truth, scores and KB advice live in their own modules; their names stay importable from here too
__all__ = [
    "DEFAULT_BODY_TOLS",
    "DEFAULT_FACE_TOLS",
    "EVAL_REPORT_NAME",
    "EvalError",
    "EvalReport",
    "Score",
    "evaluate",
    "kb_advice",
    "load_truth",
    "pick_marked",
    "report_lines",
    "score",
]

EVAL_REPORT_NAME = "eval.csv"
DEFAULT_FACE_TOLS = tuple(round(0.30 + 0.05 * i, 2) for i in range(11))  # 0.30 .. 0.80
DEFAULT_BODY_TOLS = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))  # 0.50 .. 0.95
DEFAULT_MARGINS = (0.0, 0.03, 0.06, 0.09, 0.12, 0.15)
DEFAULT_KS = (1, 2, 3)
DEFAULT_LAPS = (0.0, 60.0, 120.0, 240.0, 480.0)

Progress = Callable[[int, int], None]


# --- the run ----------------------------------------------------------------------------------


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


def _photos(truth: Truth, exts: tuple[str, ...]) -> tuple[list[tuple[Path, str]], list[str]]:
    if not truth.input_dir.is_dir():
        raise EvalError(f"input folder does not exist: {truth.input_dir}")
    notices = list(truth.notices)
    found, missing = [], []
    for rel in truth.expected:
        p = truth.input_dir / rel
        (found if p.is_file() else missing).append((p, rel))
    if missing:
        shown = ", ".join(display_name(r) for _, r in missing[:5]) + (" ..." if len(missing) > 5 else "")
        notices.append(f"{len(missing)} labelled file(s) not found in {truth.input_dir} and left out: {shown}")
    if not found:
        raise EvalError(f"none of the {len(truth.expected)} labelled files is in {truth.input_dir}")
    if truth.source != truth.input_dir:
        labelled = {p.resolve() for p, _ in found}
        extra = [p for p in scan_images(truth.input_dir, exts) if p.resolve() not in labelled]
        if extra:
            notices.append(f"{len(extra)} photo(s) in {truth.input_dir} have no label and are not scored")
    return found, notices


def evaluate(
    settings: Settings,
    truth: Truth | Path | str | None = None,
    *,
    input_dir: Path | None = None,
    kb: bool = False,
    tolerances: Sequence[float] | None = None,
    body_tolerances: Sequence[float] | None = None,
    rules: bool = False,
    clusters: bool = False,
    cluster_tols: Sequence[float] | None = None,
    output_dir: Path | None = None,
    record: bool = True,
    cancel: threading.Event | None = None,
    on_progress: Progress | None = None,
) -> EvalReport:
    """Score the settings against labelled photos over a sweep of tolerances, and/or advise from the KB alone.

    Photos are analysed once (through the embedding cache) and decided once per value; nothing is filed.
    With ``clusters``, the faces the settings in use leave Unknown are clustered over ``cluster_tols`` and scored
    (see :mod:`.clusterscore`).
    With ``record``, ``eval-run.toml`` and ``eval.csv`` are written to ``output_dir`` (default processed_dir).
    Raises SetupError/EvalError before any work when the evaluation cannot start.
    """
    require_engine(settings)
    t0 = time.monotonic()
    cancel = cancel or threading.Event()
    kb_obj = load_kb_for(settings)
    if truth is None and not kb:
        raise EvalError("nothing to evaluate: give a truth file (--truth) or ask for the KB's own advice (--kb)")
    if truth is not None and not isinstance(truth, Truth):
        truth = load_truth(truth, Path(input_dir) if input_dir else settings.process_dir, settings.valid_exts)
    rep = EvalReport(truth=truth)
    photos: list[tuple[Path, str]] = []
    if truth is not None:
        if not kb_obj.face_names and not kb_obj.body_names:
            raise EvalError(f"the KB at {settings.kb_path} is empty: build it first ('facetui kb build')")
        photos, notes = _photos(truth, settings.valid_exts)
        rep.notices += notes
        unknown_people = sorted({p for v in truth.expected.values() for p in v} - set(kb_obj.people))
        if unknown_people:
            rep.notices.append(
                "the truth names people who are not in the KB (they can never be found): " + ", ".join(unknown_people)
            )
    rep.photos = len(photos)
    out = Path(output_dir) if output_dir is not None else settings.processed_dir
    rep.report_path = out / EVAL_REPORT_NAME if (record and truth is not None) else None
    with open_run(
        settings,
        "eval",
        total=len(photos),
        kb=kb_obj,
        notices=rep.notices,
        input_dir=truth.input_dir if truth else None,
        output_dir=out,
        analyse=truth is not None,
        record=record,
        report_path=rep.report_path,
        extra={"eval": {"truth": str(truth.source) if truth else "", "kb_advice": kb}},
    ) as run:
        items = _analyse(run, photos, cancel, on_progress) if photos else []
    rep.manifest_path = run.manifest.path if run.manifest is not None else None
    if photos:
        rep.cached = sum(it.cached for it, _ in items)
        rep.encoded = len(items) - rep.cached
        rep.aborted = len(items) < len(photos)
        if rep.aborted:
            rep.notices.append(f"aborted after {len(items)} of {len(photos)} photos: the scores cover those only")
        assert truth is not None
        expected = {rel: truth.expected[rel] for _, rel in items}
        rep.items = items
        decider = Decider(kb_obj, settings, memo={})  # one KB bank and one score per photo and face_k, reused
        rep.sweeps.append(_sweep(decider, items, expected, "face_tol", tolerances, DEFAULT_FACE_TOLS))
        for key, grid in (("face_margin", DEFAULT_MARGINS), ("face_k", DEFAULT_KS), ("lap_var_thresh", DEFAULT_LAPS)):
            rep.sweeps.append(_sweep(decider, items, expected, key, None, grid))
        if run.body.encoder is not None:
            rep.sweeps.append(_sweep(decider, items, expected, "body_tol", body_tolerances, DEFAULT_BODY_TOLS))
        search = Search(decider, items, expected, ks=sorted(set(GRID_K) | {settings.face_k}))
        current = Combo(settings.face_tol, settings.face_margin, settings.face_k, settings.lap_var_thresh)
        rep.tuning = tune(search, current)
        if rep.tuning.best is not None:  # the fast search replays the Decider; score its advice with the Decider itself
            best = decider.with_settings(settings.replace(**rep.tuning.best.as_settings()))
            rep.tuning.best_score = score(
                [best.decide(item, rel) for item, rel in items], expected, rep.tuning.best.face_tol
            )
        if rules:
            rep.rules = compare_rules(search, current)
        if clusters:
            rep.clusters = _clusters(decider, items, expected, cluster_tols)
    if kb:
        rep.kb = kb_advice(kb_obj)
    rep.elapsed_s = time.monotonic() - t0
    if record:
        write_record(rep, run.manifest)
    return rep


def _clusters(
    decider: Decider,
    items: list[tuple[Item, str]],
    expected: dict[str, frozenset[str]],
    tols: Sequence[float] | None,
) -> ClusterSweep:
    """The faces left Unknown at the settings in use, clustered over ``tols`` and scored against their labels."""
    results = [decider.decide(item, rel) for item, rel in items]
    encs, apart, labels, from_names = unknown_faces(results, [it.analysis.encodings for it, _ in items], expected)
    return sweep_clusters(encs, apart, labels, decider.settings.cluster_tol, tols, from_names)


def _analyse(
    run: RunContext, photos: list[tuple[Path, str]], cancel: threading.Event, on_progress: Progress | None
) -> list[tuple[Item, str]]:
    """The labelled photos through the run's Analyzer (the cache first), in order, until ``cancel`` is set."""
    items: list[tuple[Item, str]] = []
    for i, (item, (_, rel)) in enumerate(zip(run.analyzer.run([p for p, _ in photos], cancel), photos), 1):
        items.append((item, rel))
        if on_progress is not None:
            on_progress(i, len(photos))
        if cancel.is_set():
            break
    return items


def _sweep(
    decider: Decider,
    items: list[tuple[Item, str]],
    expected: dict[str, frozenset[str]],
    key: str,
    grid: Sequence[float] | None,
    default: Sequence[float],
) -> Sweep:
    settings = decider.settings
    current = float(getattr(settings, key))
    scores, results = [], {}
    for v in _values(grid, default, current):
        value = int(v) if key == "face_k" else v
        d = decider.with_settings(settings.replace(**{key: value}))
        res = [d.decide(item, rel) for item, rel in items]
        results[v] = res
        scores.append(score(res, expected, v))
    return Sweep(key=key, scores=scores, marked=pick_marked(scores), current=current, results=results)


def _values(grid: Sequence[float] | None, default: Sequence[float], current: float) -> list[float]:
    vals = {round(float(v), 6) for v in (grid or default)}
    vals.add(round(float(current), 6))
    return sorted(vals)


def advice_changes(settings: Settings, advice: dict[str, float]) -> list[tuple[str, object, object]]:
    """(key, value in use, advised value) for each advised setting that differs from the one in use."""
    out = []
    for key, value in advice.items():
        old = getattr(settings, key)
        new = int(value) if isinstance(old, int) and not isinstance(old, bool) else float(value)
        if not math.isclose(float(old), float(new)):
            out.append((key, old, new))
    return out


def apply_advice(settings: Settings, advice: dict[str, float]) -> tuple[Settings, list[str]]:
    """Write the advised values into the settings file (atomic; every other key, known or not, kept as it is).
    Returns the new settings and one line per change; raises SettingsError when the file cannot be written."""
    from ..base.settings import save_settings, update_raw

    changes = advice_changes(settings, advice)
    if not changes:
        return settings, []
    new = update_raw(settings, {k: v for k, _, v in changes})
    try:
        save_settings(new)
    except OSError as e:
        from ..base.settings import SettingsError

        raise SettingsError(f"cannot write {new.source}: {e.strerror or e}") from None
    return new, [f"{k}: {old:g} -> {v:g}" for k, old, v in changes]


# --- text -------------------------------------------------------------------------------------


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
