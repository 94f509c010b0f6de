"""Calibration: score recognition against labelled photos over a sweep of tolerances (one encoding pass, nothing filed), and advise a tolerance from the KB alone."""

from __future__ import annotations

import csv
import io
import math
import os
import threading
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Callable, Sequence

import numpy as np

from . import faces as facemod
from .analyze import FaceConfig
from .bodysetup import setup_body
from .cache import EmbeddingCache
from .events import UNKNOWN, FileResult
from .fsutil import atomic_write_text
from .kb import KnowledgeBase
from .manifest import RunManifest, manifest_path
from .pipeline import Decider, SetupError, load_kb_for
from .runner import Analyzer, Item
from .scan import display_name, scan_images, scan_people
from .settings import Settings

EVAL_REPORT_NAME = "eval.csv"
DEFAULT_FACE_TOLS = tuple(round(0.30 + 0.05 * i, 2) for i in range(11))  # 0.30 .. 0.80
DEFAULT_BODY_TOLS = tuple(round(0.50 + 0.05 * i, 2) for i in range(10))  # 0.50 .. 0.95
RULE_MARGINS = (0.0, 0.05, 0.10, 0.15, 0.20)
RULE_MIN_FACE_PX = (0, 40, 60, 80, 100)

Progress = Callable[[int, int], None]


class EvalError(SetupError):
    """The evaluation cannot start (truth file unreadable, nothing to score); the message says what to fix."""


# --- truth ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class Truth:
    """Who is in each labelled photo: {path relative to input_dir: people}; an empty set means Unknown."""

    input_dir: Path
    expected: dict[str, frozenset[str]]
    source: Path
    notices: tuple[str, ...] = ()


def _people(raw: str) -> frozenset[str]:
    names = [n.strip() for n in raw.split(";") if n.strip()]
    return frozenset(n for n in names if n.lower() != UNKNOWN.lower())


def load_truth(path: Path | str, input_dir: Path | None = None,
               exts: tuple[str, ...] = (".jpg", ".jpeg", ".png", ".webp")) -> Truth:
    """Read labels: a CSV ``file,expected`` (people joined by ``;``, or ``Unknown``), or a folder of ``<Person>/`` folders.

    For a CSV, ``file`` is relative to ``input_dir``. For a folder, the folder itself is the input, each
    sub-folder names the person in its photos, and a sub-folder called ``Unknown`` holds photos of nobody known.
    """
    path = Path(path)
    if path.is_dir():
        people = scan_people(path, exts)
        expected = {}
        for person, photos in people.items():
            for p in photos:
                expected[os.fsdecode(os.path.relpath(p, path))] = _people(person)
        if not expected:
            raise EvalError(f"no labelled photos under {path}/<Person>/ (extensions {', '.join(exts)})")
        return Truth(path, expected, path)
    if input_dir is None:
        raise EvalError("a truth CSV needs the folder its files are in (--input, or process_dir)")
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError:
        raise EvalError(f"truth file not found: {path}") from None
    except (OSError, UnicodeDecodeError) as e:
        raise EvalError(f"cannot read truth file {path}: {getattr(e, 'strerror', None) or e}") from None
    reader = csv.DictReader(io.StringIO(text))
    cols = [c.strip().lower() for c in (reader.fieldnames or [])]
    if "file" not in cols or "expected" not in cols:
        raise EvalError(f"{path}: the first line must be the header 'file,expected' (found {','.join(cols) or 'nothing'})")
    fcol = reader.fieldnames[cols.index("file")]  # type: ignore[index]
    ecol = reader.fieldnames[cols.index("expected")]  # type: ignore[index]
    expected: dict[str, frozenset[str]] = {}
    for line, row in enumerate(reader, 2):
        f = (row.get(fcol) or "").strip()
        if not f:
            raise EvalError(f"{path} line {line}: empty file name")
        if f in expected:
            raise EvalError(f"{path} line {line}: {f} is listed twice")
        expected[f] = _people(row.get(ecol) or "")
    if not expected:
        raise EvalError(f"{path} lists no photos")
    return Truth(Path(input_dir), expected, path)


# --- scores -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class Score:
    """How one setting value did over the labelled photos."""

    value: float
    photos: int  # photos scored
    appearances: int  # known-person appearances in the truth (a photo of two known people counts 2)
    found: int  # of those, the photo was filed under the person
    wrong: int  # filings under a person who is not in the photo
    unknown_photos: int  # photos with nobody known in them
    unknown_kept: int  # of those, filed as Unknown
    exact: int  # photos filed under exactly the right people (or Unknown)
    errors: int = 0  # photos that could not be read or analysed

    @property
    def recall(self) -> float:
        return self.found / self.appearances if self.appearances else 0.0


def score(results: Sequence[FileResult], expected: dict[str, frozenset[str]], value: float) -> Score:
    """Count one value's decisions against the truth."""
    apps = found = wrong = unk = kept = exact = errors = 0
    for r in results:
        want = expected[r.rel]
        apps += len(want)
        unk += not want
        if r.error:
            errors += 1
            continue
        got = set(r.people)
        found += len(got & want)
        wrong += len(got - want)
        kept += not want and not got
        exact += got == want
    return Score(value=value, photos=len(results), appearances=apps, found=found, wrong=wrong,
                 unknown_photos=unk, unknown_kept=kept, exact=exact, errors=errors)


def pick_marked(scores: Sequence[Score]) -> float | None:
    """The value with the highest recall among those with zero wrong filings.

    Ties are broken towards the middle of the tied values (the lower middle when there are two), so the
    advice sits as far as the sweep allows from both the misses below and the wrong filings above.
    """
    safe = [s for s in scores if s.wrong == 0 and s.photos]
    if not safe:
        return None
    best = max(s.found for s in safe)
    tied = sorted(s.value for s in safe if s.found == best)
    return tied[(len(tied) - 1) // 2]


@dataclass
class Sweep:
    """One setting swept over values: a Score per value, the marked value and the value in use."""

    key: str
    scores: list[Score]
    marked: float | None
    current: float
    results: dict[float, list[FileResult]] = field(default_factory=dict, repr=False)

    def score_at(self, value: float) -> Score | None:
        return next((s for s in self.scores if math.isclose(s.value, value)), None)

    def mistakes(self, value: float, expected: dict[str, frozenset[str]]) -> list[tuple[str, str, str]]:
        """(file, expected, got) for each photo not filed exactly right at ``value``."""
        out = []
        for r in self.results.get(_key(self.results, value), []):
            want = expected[r.rel]
            got = set(r.people)
            if r.error or got != want:
                out.append((r.rel, _label(want), "Error: " + r.error if r.error else _label(got)))
        return out


def _key(d: dict[float, object], value: float) -> float:
    return next((k for k in d if math.isclose(k, value)), value)


def _label(people) -> str:
    return ";".join(sorted(people)) or UNKNOWN


def _values(grid: Sequence[float] | None, default: Sequence[float], current: float) -> list[float]:
    vals = {round(float(v), 6) for v in (grid or default)}
    vals.add(round(float(current), 6))
    return sorted(vals)


# --- rules considered (margin, minimum face size) -----------------------------------------------

@dataclass(frozen=True)
class RuleScore:
    """What an extra acceptance rule does across the face_tol sweep, compared with no rule."""

    rule: str  # "margin", "min_face_px", or "none" (the baseline: face_margin 0)
    value: float
    safe_values: tuple[float, ...]  # face_tol values with zero wrong filings under the rule
    best_safe_found: int  # the best recall (appearances found) among those
    removed: int  # wrong filings removed, summed over the sweep
    lost: int  # appearances lost, summed over the sweep

    @property
    def helps(self) -> bool:
        return self.removed > 0 and self.lost == 0


def drop_small_faces(r: FileResult, min_face_px: int) -> FileResult:
    """Send a face accepted by face distance to Unknown when its box is smaller than ``min_face_px``
    (original pixels, shorter side): the minimum face size rule, measured but not a setting."""
    if r.error or min_face_px <= 0:
        return r
    faces, changed = [], False
    for f in r.faces:
        if f.via == "face" and f.box is not None:
            t, right, b, left = f.box
            if min(b - t, right - left) < min_face_px:
                f = replace(f, name=UNKNOWN, via="")
                changed = True
        faces.append(f)
    if not changed:
        return r
    people = tuple(sorted({f.name for f in faces if f.name != UNKNOWN}))
    return replace(r, faces=tuple(faces), people=people)


def consider_rules(settings: Settings, kb: KnowledgeBase, items: list[tuple[Item, str]],
                   expected: dict[str, frozenset[str]], values: Sequence[float]) -> list[RuleScore]:
    """Measure a margin rule (face_margin) and a minimum face size over the face_tol values, each against
    no rule at all (face_margin 0); the photos are decided again, never re-encoded."""
    def decide_all(tol: float, margin: float) -> list[FileResult]:
        decider = Decider(kb, settings.replace(face_tol=tol, face_margin=margin))
        return [decider.decide(item, rel) for item, rel in items]

    base = {v: decide_all(v, 0.0) for v in values}
    base_scores = {v: score(base[v], expected, v) for v in values}
    out = []
    for rule, rule_values in (("margin", RULE_MARGINS[1:]), ("min_face_px", RULE_MIN_FACE_PX[1:])):
        for rv in rule_values:
            safe, removed, lost, best = [], 0, 0, -1
            for v in values:
                if rule == "margin":
                    res = decide_all(v, rv)
                else:
                    res = [drop_small_faces(r, int(rv)) for r in base[v]]
                s = score(res, expected, v)
                removed += base_scores[v].wrong - s.wrong
                lost += base_scores[v].found - s.found
                if s.wrong == 0:
                    safe.append(v)
                    best = max(best, s.found)
            out.append(RuleScore(rule, rv, tuple(safe), best, removed, lost))
    base_safe = [v for v in values if base_scores[v].wrong == 0]
    out.insert(0, RuleScore("none", 0.0, tuple(base_safe),
                            max((base_scores[v].found for v in base_safe), default=-1), 0, 0))
    return out


# --- the KB on its own: leave one out ---------------------------------------------------------

@dataclass
class KbAdvice:
    """Leave-one-out over the KB's face rows: pair distance distributions and the tolerance that separates them."""

    people: int
    faces: int
    same: np.ndarray  # distances of every same-person pair
    diff: np.ndarray  # distances of every different-person pair
    genuine_best: list[tuple[str, str, float]]  # (source, person, distance to the nearest other photo of them)
    nearest_impostor: list[tuple[str, str, str, float]]  # (source, person, other person, distance)
    low: float | None  # the worst genuine best match: a tolerance must be above it to find everyone
    high: float | None  # the nearest impostor: a tolerance must not exceed it to file nobody wrongly
    tolerance: float | None
    singletons: tuple[str, ...] = ()  # people with one photo: no genuine match to measure

    @property
    def pairs(self) -> int:
        return self.faces * (self.faces - 1) // 2

    @property
    def separated(self) -> bool:
        return self.low is not None and self.high is not None and self.low < self.high

    def genuine_recall(self, tol: float) -> float:
        if not self.genuine_best:
            return 0.0
        return sum(d < tol for *_, d in self.genuine_best) / len(self.genuine_best)

    def histogram(self, step: float = 0.05) -> list[tuple[float, float, int, int]]:
        """(low, high, same pairs, different pairs) per bin; the bins hold every pair exactly once."""
        allv = np.concatenate([self.same, self.diff])
        if not len(allv):
            return []
        idx_s = np.floor(self.same / step + 1e-9).astype(int)
        idx_d = np.floor(self.diff / step + 1e-9).astype(int)
        lo_i, hi_i = int(np.floor(allv.min() / step + 1e-9)), int(np.floor(allv.max() / step + 1e-9))
        n = hi_i - lo_i + 1
        cs = np.bincount(idx_s - lo_i, minlength=n) if len(idx_s) else np.zeros(n, int)
        cd = np.bincount(idx_d - lo_i, minlength=n) if len(idx_d) else np.zeros(n, int)
        return [(round((lo_i + k) * step, 4), round((lo_i + k + 1) * step, 4), int(cs[k]), int(cd[k]))
                for k in range(n)]


def kb_advice(kb: KnowledgeBase) -> KbAdvice:
    """Leave each KB face out in turn, match it against the rest, and find the tolerance that separates
    same-person from different-person matches (the midpoint of the gap; without a gap, just below the
    nearest impostor, so that nobody is filed wrongly)."""
    x = np.asarray(kb.face_enc, np.float64).reshape(-1, 128)
    names = list(kb.face_names)
    srcs = list(kb.face_sources)
    n = len(names)
    d2 = (x * x).sum(1)[:, None] + (x * x).sum(1)[None, :] - 2.0 * x @ x.T
    d = np.sqrt(np.maximum(d2, 0.0))
    np.fill_diagonal(d, 0.0)
    arr = np.asarray(names, dtype=object)
    same_m = arr[:, None] == arr[None, :]
    iu = np.triu_indices(n, 1)
    same = d[iu][same_m[iu]]
    diff = d[iu][~same_m[iu]]
    genuine, impostor = [], []
    for i in range(n):
        s_mask = same_m[i].copy()
        s_mask[i] = False
        if s_mask.any():
            genuine.append((srcs[i], names[i], float(d[i][s_mask].min())))
        o_mask = ~same_m[i]
        if o_mask.any():
            j = int(np.where(o_mask)[0][np.argmin(d[i][o_mask])])
            impostor.append((srcs[i], names[i], names[j], float(d[i, j])))
    counts: dict[str, int] = {}
    for nm in names:
        counts[nm] = counts.get(nm, 0) + 1
    low = max(g[2] for g in genuine) if genuine else None
    high = float(diff.min()) if len(diff) else None
    tol = None
    if low is not None and high is not None:
        if low < high:
            mid = (low + high) / 2
            tol = round(mid, 2) if low < round(mid, 2) <= high else mid
        else:
            tol = math.floor(high * 100) / 100
    return KbAdvice(people=len(counts), faces=n, same=same, diff=diff, genuine_best=genuine,
                    nearest_impostor=impostor, low=low, high=high, tolerance=tol,
                    singletons=tuple(sorted(k for k, c in counts.items() if c == 1)))


# --- the run ----------------------------------------------------------------------------------

@dataclass
class EvalReport:
    """Everything one eval found; ``face`` is the face_tol sweep, ``kb`` the leave-one-out advice."""

    truth: Truth | None
    sweeps: list[Sweep] = field(default_factory=list)
    kb: KbAdvice | None = None
    rules: list[RuleScore] = field(default_factory=list)
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


def evaluate(settings: Settings, truth: Truth | Path | str | None = None, *, input_dir: Path | None = None,
             kb: bool = False, tolerances: Sequence[float] | None = None,
             body_tolerances: Sequence[float] | None = None, rules: bool = False,
             output_dir: Path | None = None, record: bool = True,
             cancel: threading.Event | None = None, on_progress: Progress | None = None) -> EvalReport:
    """Score the settings against labelled photos over a sweep of tolerances, and/or advise from the KB alone.

    Photos are analysed once (through the embedding cache) and decided once per value; nothing is filed.
    With ``record``, ``eval-run.toml`` and ``eval.csv`` are written to ``output_dir`` (default processed_dir).
    Raises SetupError/EvalError before any work when the evaluation cannot start.
    """
    t0 = time.monotonic()
    cancel = cancel or threading.Event()
    kb_obj = load_kb_for(settings)
    if truth is None and not kb:
        raise EvalError("nothing to evaluate: give a truth file (--truth) or ask for the KB's own advice (--kb)")
    if truth is not None and not isinstance(truth, Truth):
        truth = load_truth(truth, Path(input_dir) if input_dir else settings.process_dir, settings.valid_exts)
    rep = EvalReport(truth=truth)
    photos: list[tuple[Path, str]] = []
    body = None
    if truth is not None:
        if not kb_obj.face_names and not kb_obj.body_names:
            raise EvalError(f"the KB at {settings.kb_path} is empty: build it first ('facetui kb build')")
        photos, notes = _photos(truth, settings.valid_exts)
        rep.notices += notes
        unknown_people = sorted({p for v in truth.expected.values() for p in v} - set(kb_obj.people))
        if unknown_people:
            rep.notices.append("the truth names people who are not in the KB (they can never be found): "
                               + ", ".join(unknown_people))
        try:
            facemod.face_recognition_module()
        except facemod.FaceModelError as e:
            raise SetupError(str(e)) from None
        body = setup_body(settings, kb_obj.body_dim or None)
        if body.encoder is not None and not kb_obj.body_dim:
            body.encoder = None
            rep.notices.append("body recognition off: the KB has no body embeddings")
        else:
            rep.notices.append(body.notice)
    rep.photos = len(photos)
    out = Path(output_dir) if output_dir is not None else settings.processed_dir
    manifest = None
    if record:
        rep.manifest_path = manifest_path(settings, "eval", out)
        rep.report_path = out / EVAL_REPORT_NAME if truth is not None else None
        manifest = RunManifest.start(
            "eval", settings, rep.manifest_path, total=len(photos), device=body.device if body else "cpu",
            input_dir=truth.input_dir if truth else None, output_dir=out, kb=kb_obj, report_path=rep.report_path,
            body_enabled=bool(body and body.encoder is not None),
            extra={"eval": {"truth": str(truth.source) if truth else "", "kb_advice": kb}})
        if manifest.error:
            rep.notices.append(manifest.error)

    items: list[tuple[Item, str]] = []
    if photos:
        assert body is not None
        cache = EmbeddingCache(settings.cache_dir)
        if cache.notice:
            rep.notices.append(cache.notice)
        analyzer = Analyzer(FaceConfig(settings.detector, settings.upsample, settings.resize_max), cache,
                            body.encoder, body.key, settings.workers, settings.kb_batch_size)
        try:
            for i, (item, (_, rel)) in enumerate(zip(analyzer.run([p for p, _ in photos], cancel), photos), 1):
                items.append((item, rel))
                if on_progress is not None:
                    on_progress(i, len(photos))
                if cancel.is_set():
                    break
        finally:
            cache.close()
        rep.cached = sum(it.cached for it, _ in items)
        rep.encoded = len(items) - rep.cached
        rep.aborted = len(items) < len(photos)
        if rep.aborted:
            rep.notices.append(f"aborted after {len(items)} of {len(photos)} photos: the scores cover those only")
        assert truth is not None
        expected = {rel: truth.expected[rel] for _, rel in items}
        rep.sweeps.append(_sweep(settings, kb_obj, items, expected, "face_tol", tolerances, DEFAULT_FACE_TOLS))
        if body.encoder is not None:
            rep.sweeps.append(_sweep(settings, kb_obj, items, expected, "body_tol", body_tolerances,
                                     DEFAULT_BODY_TOLS))
        if rules:
            rep.rules = consider_rules(settings, kb_obj, items, expected, [x.value for x in rep.sweeps[0].scores])
    if kb:
        rep.kb = kb_advice(kb_obj)
    rep.elapsed_s = time.monotonic() - t0
    if record:
        _record(rep, manifest)
    return rep


def _sweep(settings: Settings, kb: KnowledgeBase, items: list[tuple[Item, str]],
           expected: dict[str, frozenset[str]], key: str, grid: Sequence[float] | None,
           default: Sequence[float]) -> Sweep:
    current = float(getattr(settings, key))
    scores, results = [], {}
    for v in _values(grid, default, current):
        decider = Decider(kb, settings.replace(**{key: v}))
        res = [decider.decide(item, rel) for item, rel in items]
        results[v] = res
        scores.append(score(res, expected, v))
    return Sweep(key=key, scores=scores, marked=pick_marked(scores), current=current, results=results)


def _score_rows(rep: EvalReport) -> list[dict]:
    rows = []
    for sw in rep.sweeps:
        for s in sw.scores:
            rows.append({"setting": sw.key, "value": s.value, "recall": round(s.recall, 4), "found": s.found,
                         "appearances": s.appearances, "wrong": s.wrong, "unknown_kept": s.unknown_kept,
                         "unknown_photos": s.unknown_photos, "exact": s.exact, "photos": s.photos,
                         "errors": s.errors, "marked": sw.marked is not None and math.isclose(s.value, sw.marked),
                         "current": math.isclose(s.value, sw.current)})
    return rows


def _record(rep: EvalReport, manifest: RunManifest | None) -> None:
    rows = _score_rows(rep)
    if rep.report_path is not None:
        buf = io.StringIO()
        cols = list(rows[0]) if rows else ["setting"]
        w = csv.DictWriter(buf, fieldnames=cols, lineterminator="\n")
        w.writeheader()
        w.writerows(rows)
        try:
            atomic_write_text(rep.report_path, buf.getvalue())
        except OSError as e:
            rep.notices.append(f"eval table not written to {rep.report_path}: {e.strerror or e}")
            rep.report_path = None
    if manifest is None:
        return
    face = rep.face
    counts = {"photos": rep.photos, "scored": face.scores[0].photos if face and face.scores else 0,
              "encoded": rep.encoded, "cached": rep.cached,
              "errors": face.scores[0].errors if face and face.scores else 0}
    if face is not None:
        counts["current"] = face.current
        if face.marked is not None:
            counts["marked"] = face.marked
    ev: dict = {"truth": str(rep.truth.source) if rep.truth else "", "scores": rows}
    if rep.kb is not None:
        k = rep.kb
        ev["kb_advice"] = {"faces": k.faces, "people": k.people, "pairs": k.pairs, "same_pairs": int(len(k.same)),
                           "different_pairs": int(len(k.diff)), "genuine_worst": k.low, "impostor_nearest": k.high,
                           "tolerance": k.tolerance, "separated": k.separated, "singletons": list(k.singletons)}
        counts["kb_tolerance"] = k.tolerance
    if rep.rules:
        ev["rules"] = [{"rule": r.rule, "value": r.value, "removed": r.removed, "lost": r.lost,
                        "safe_values": list(r.safe_values)} for r in rep.rules]
    manifest.finish(aborted=rep.aborted, counts=counts, report_path=rep.report_path, notices=rep.notices,
                    extra={"eval": ev})
    if manifest.error:
        rep.notices.append(manifest.error)


# --- text -------------------------------------------------------------------------------------

def _num(v: float) -> str:
    return f"{v:.2f}" if math.isclose(round(v, 2), v) else f"{v:g}"


def _pct(a: int, b: int) -> str:
    return f"{100.0 * a / b:.0f}%" if b else "-"


def sweep_lines(sw: Sweep, expected: dict[str, frozenset[str]] | None = None) -> list[str]:
    """The sweep as a small table, the marked value and the setting in use pointed out."""
    lines = [f"{sw.key:>9}  {'recall':>14}  {'wrong filings':>13}  {'unknowns kept':>13}  {'exactly right':>13}"]
    for s in sw.scores:
        marks = []
        if sw.marked is not None and math.isclose(s.value, sw.marked):
            marks.append("best with no wrong filings")
        if math.isclose(s.value, sw.current):
            marks.append("current")
        lines.append(f"{_num(s.value):>9}  {f'{s.found}/{s.appearances} {_pct(s.found, s.appearances):>4}':>14}  "
                     f"{s.wrong:>13}  {f'{s.unknown_kept}/{s.unknown_photos}':>13}  "
                     f"{f'{s.exact}/{s.photos}':>13}" + (f"  <- {', '.join(marks)}" if marks else ""))
    if sw.marked is None:
        lines.append(f"Every {sw.key} value in the sweep files some photo under a wrong person: try "
                     + ("higher values." if sw.key == "body_tol" else "lower values."))
    else:
        m = sw.score_at(sw.marked)
        assert m is not None
        same = math.isclose(sw.marked, sw.current)
        lines.append(f"Advice: {sw.key} = {sw.marked:g} (recall {_pct(m.found, m.appearances)}, no wrong filings)"
                     + ("; that is the setting in use." if same else f"; the setting in use is {sw.current:g}."))
        loosest = sw.scores[0] if sw.key == "body_tol" else sw.scores[-1]  # body: lower accepts more
        if loosest.wrong == 0 and loosest.found == m.found and len(sw.scores) > 1:
            lines.append(f"  The loosest value in the sweep ({loosest.value:g}) files nothing wrongly, so the limit lies "
                         "beyond it: the advice is the middle of the safe values seen; widen the sweep to find it.")
    if expected is not None:
        for v, what in ((sw.current, "the setting in use"), (sw.marked, "the advised value")):
            if v is None or (what == "the advised value" and math.isclose(v, sw.current)):
                continue
            wrong = sw.mistakes(v, expected)
            lines.append(f"Not exactly right at {sw.key} {v:g} ({what}): "
                         + ("none" if not wrong else f"{len(wrong)}"))
            lines += [f"  {display_name(f)}: expected {e}, got {g}" for f, e, g in wrong]
    return lines


def kb_lines(k: KbAdvice, width: int = 40) -> list[str]:
    """The leave-one-out advice: counts, a text histogram of the two distributions, the separating tolerance."""
    lines = [f"KB leave-one-out: {k.people} people, {k.faces} faces, {k.pairs} pairs "
             f"({len(k.same)} same-person, {len(k.diff)} different-person)."]
    hist = k.histogram()
    if hist:
        top = max(max(s, d) for _, _, s, d in hist) or 1
        lines.append(f"{'distance':>11} {'same':>5} {'diff':>5}  (# same person, = different people)")
        marked = False
        for lo, hi, s, d in hist:
            if k.tolerance is not None and not marked and k.tolerance < hi:
                lines.append(f"{'-' * 11} tolerance {k.tolerance:g} {'-' * 11}")
                marked = True
            bar = "#" * (math.ceil(width * s / top) if s else 0) + "=" * (math.ceil(width * d / top) if d else 0)
            lines.append(f"{lo:.2f}-{hi:.2f} {s:>5} {d:>5}  {bar}")
    if k.genuine_best:
        worst = max(k.genuine_best, key=lambda g: g[2])
        lines.append(f"Nearest other photo of the same person: {min(g[2] for g in k.genuine_best):.3f} to "
                     f"{worst[2]:.3f} (worst: {display_name(worst[0])}).")
    if k.nearest_impostor:
        near = min(k.nearest_impostor, key=lambda g: g[3])
        lines.append(f"Nearest other person: {near[3]:.3f} ({display_name(near[0])} ~ {near[2]}).")
    if k.singletons:
        lines.append(f"One photo only (no same-person distance to measure): {', '.join(k.singletons)}.")
    if k.tolerance is None:
        lines.append("No tolerance advice: it needs two photos of at least one person and at least two people.")
    elif k.separated:
        lines.append(f"Separating tolerance: face_tol = {k.tolerance:g} (midway in the gap {k.low:.3f} .. {k.high:.3f}).")
    else:
        lines.append(f"The distributions overlap ({k.low:.3f} > {k.high:.3f}): face_tol = {k.tolerance:g} files nobody "
                     f"wrongly but finds {100 * k.genuine_recall(k.tolerance):.0f}% of the KB's own photos.")
    return lines


def rule_lines(rules: Sequence[RuleScore]) -> list[str]:
    """What each extra rule did over the face_tol sweep, against no rule."""
    if not rules:
        return []
    base = next(r for r in rules if r.rule == "none")
    lines = ["Rules considered, against no rule (no wrong filings at face_tol " + _span(base.safe_values) + "):"]
    for r in rules:
        if r.rule == "none":
            continue
        what = (f"face_margin {r.value:g} (best person must beat the next by {r.value:g})" if r.rule == "margin"
                else f"min face {r.value:g} px (not a setting)")
        gain = ", higher best recall" if r.best_safe_found > base.best_safe_found else ""
        lines.append(f"  {what}: removes {r.removed} wrong filing(s), loses {r.lost} appearance(s) over the sweep; "
                     f"no wrong filings at {_span(r.safe_values)}{gain}")
    return lines


def _span(values: Sequence[float]) -> str:
    if not values:
        return "no value"
    return f"{min(values):g}" if len(values) == 1 else f"{min(values):g}..{max(values):g}"


def report_lines(rep: EvalReport) -> list[str]:
    """All of an eval's text, as the CLI prints it."""
    lines: list[str] = []
    if rep.truth is not None:
        lines.append(f"Eval: {rep.photos} labelled photos in {rep.truth.input_dir} ({rep.encoded} encoded, "
                     f"{rep.cached} from the cache); nothing is filed.")
        for sw in rep.sweeps:
            exp = {r: rep.truth.expected[r] for r in rep.truth.expected}
            lines += sweep_lines(sw, exp)
        lines += rule_lines(rep.rules)
    if rep.kb is not None:
        lines += kb_lines(rep.kb)
    lines += [f"Note: {n}" for n in rep.notices if n and not n.startswith("body recognition off: no re-id")]
    if rep.report_path:
        lines.append(f"Eval table: {rep.report_path}")
    return lines
