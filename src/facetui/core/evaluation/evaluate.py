"""The eval run: labelled photos encoded once and scored over a sweep of tolerances (nothing filed), the KB's own
advice on request, and the advised settings written back on request (the report and its text: ``report``)."""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

from ..base.fsutil import display_name
from ..base.settings import Settings
from ..run.analyzer import Item
from ..run.decide import Decider
from ..run.jobloop import run_steps
from ..run.setup import Job, load_kb_for, open_job, require_engine
from ..stores.kb import KnowledgeBase
from ..stores.scan import scan_images
from .clusterscore import ClusterSweep, sweep_clusters, unknown_faces
from .kbadvice import kb_advice
from .record import write_record
from .report import EvalReport, report_lines
from .rules import compare_rules
from .scores import Score, Sweep, pick_marked, score
from .truth import EvalError, Truth, load_truth
from .tune import GRID_K, Combo, Search, tune

# the truth, scores, KB advice and the report live in their own modules; their names stay importable from here too
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
    Raises SetupError/EvalError before any work when the evaluation cannot start. Setting ``cancel`` (or the body
    model failing to load mid-way) stops the analysis after the photo in hand: the report then says aborted and
    scores the photos done.
    """
    require_engine(settings)
    t0 = time.monotonic()
    kb_obj = load_kb_for(settings)
    if truth is None and not kb:
        raise EvalError("nothing to evaluate: give a truth file (--truth) or ask for the KB's own advice (--kb)")
    if truth is not None and not isinstance(truth, Truth):
        truth = load_truth(truth, Path(input_dir) if input_dir else settings.process_dir, settings.valid_exts)
    rep = EvalReport(truth=truth)
    photos = _labelled_photos(rep, kb_obj, settings) if truth is not None else []
    rep.photos = len(photos)
    out = Path(output_dir) if output_dir is not None else settings.processed_dir
    rep.report_path = out / EVAL_REPORT_NAME if (record and truth is not None) else None
    with open_job(
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
    ) as job:
        items = _analyse(job, photos, cancel or threading.Event(), on_progress) if photos else []
    rep.manifest_path = job.manifest.path if job.manifest is not None else None
    if photos:
        decider = Decider(kb_obj, settings, memo={})  # one KB bank and one score per photo and face_k, reused
        _score(rep, decider, items, body=job.body.encoder is not None, tols=(tolerances, body_tolerances))
        if rules or clusters:
            _extras(rep, decider, rules=rules, clusters=clusters, cluster_tols=cluster_tols)
    if kb:
        rep.kb = kb_advice(kb_obj)
    rep.elapsed_s = time.monotonic() - t0
    if record:
        write_record(rep, job.manifest)
    return rep


def _labelled_photos(rep: EvalReport, kb: KnowledgeBase, settings: Settings) -> list[tuple[Path, str]]:
    """The truth's photos that are there, as (path, rel); what is missing or unknown goes to ``rep.notices``.
    Raises EvalError when the KB is empty or none of the labelled photos is there."""
    truth = rep.truth
    assert truth is not None
    if not kb.face_names and not kb.body_names:
        raise EvalError(f"the KB at {settings.kb_path} is empty: build it first ('facetui kb build')")
    photos, notes = _photos(truth, settings.valid_exts)
    rep.notices += notes
    unknown_people = sorted({p for v in truth.expected.values() for p in v} - set(kb.people))
    if unknown_people:
        rep.notices.append(
            "the truth names people who are not in the KB (they can never be found): " + ", ".join(unknown_people)
        )
    return photos


def _score(
    rep: EvalReport,
    decider: Decider,
    items: list[tuple[Item, str]],
    *,
    body: bool,
    tols: tuple[Sequence[float] | None, Sequence[float] | None],
) -> None:
    """Fill ``rep`` with the analysed ``items``' counts, the sweeps (face_tol over ``tols[0]``, body_tol over
    ``tols[1]`` when ``body``) and the joint search's advice, scored with the Decider itself."""
    assert rep.truth is not None
    settings = decider.settings
    rep.items = items
    rep.cached = sum(it.cached for it, _ in items)
    rep.encoded = len(items) - rep.cached
    rep.aborted = len(items) < rep.photos
    if rep.aborted:
        rep.notices.append(f"aborted after {len(items)} of {rep.photos} photos: the scores cover those only")
    expected = {rel: rep.truth.expected[rel] for _, rel in items}
    rep.sweeps.append(_sweep(decider, items, expected, "face_tol", tols[0], DEFAULT_FACE_TOLS))
    for key, grid in (("face_margin", DEFAULT_MARGINS), ("face_k", DEFAULT_KS), ("lap_var_thresh", DEFAULT_LAPS)):
        rep.sweeps.append(_sweep(decider, items, expected, key, None, grid))
    if body:
        rep.sweeps.append(_sweep(decider, items, expected, "body_tol", tols[1], DEFAULT_BODY_TOLS))
    search = Search(decider, items, expected, ks=sorted(set(GRID_K) | {settings.face_k}))
    rep.tuning = tune(search, _current(settings))
    if rep.tuning.best is not None:  # the fast search replays the Decider; score its advice with the Decider itself
        best = decider.with_settings(settings.replace(**rep.tuning.best.as_settings()))
        rep.tuning.best_score = score(
            [best.decide(item, rel) for item, rel in items], expected, rep.tuning.best.face_tol
        )
    rep.search = search


def _current(settings: Settings) -> Combo:
    return Combo(settings.face_tol, settings.face_margin, settings.face_k, settings.lap_var_thresh)


def _extras(
    rep: EvalReport, decider: Decider, *, rules: bool, clusters: bool, cluster_tols: Sequence[float] | None
) -> None:
    """The candidate rules compared (``rules``) and the Unknown faces' clusters scored (``clusters``)."""
    assert rep.truth is not None and rep.search is not None
    if rules:
        rep.rules = compare_rules(rep.search, _current(decider.settings))
    if clusters:
        expected = {rel: rep.truth.expected[rel] for _, rel in rep.items}
        rep.clusters = _clusters(decider, rep.items, expected, cluster_tols)


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
    job: Job, photos: list[tuple[Path, str]], cancel: threading.Event, on_progress: Progress | None
) -> list[tuple[Item, str]]:
    """The labelled photos through the run's job loop (the cache first), in order, until ``cancel`` is set or
    the loop stops; the engine's notices and a stop's reason join the run's notices (the report's)."""
    items: list[tuple[Item, str]] = []

    def step(i: int, item: Item) -> tuple[()]:
        items.append((item, photos[i - 1][1]))
        if on_progress is not None:
            on_progress(i, len(photos))
        return ()

    for _event in run_steps(job, [p for p, _ in photos], cancel, step):
        pass  # eval says nothing per photo: its notices are read from the report
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
