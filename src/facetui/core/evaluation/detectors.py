"""`facetui eval --detectors hog,cnn`: the face detectors compared on labelled photos, at the settings in use.

For each detector the KB is built again from ``dataset_dir`` with it (into the eval's output folder, never over
the user's KB: a KB's faces must come from the detector the photos are analysed with), then the labelled photos
are scored as an eval scores them. Side by side: the known people's appearances found (recall), wrong filings,
unknowns kept, photos exactly right, the faces each detector found (in the KB photos and the labelled ones) and
the time each took (KB build and analysis, whole; the embedding cache serves what an earlier run analysed).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

from ..base.events import KbImageDone, RunFinished
from ..base.settings import Settings
from ..run.kbbuild import build_kb
from .evaluate import evaluate
from .scores import Score
from .truth import EvalError, Truth

DETECTORS = ("hog", "cnn")
FOLDER = "eval-detectors"  # under the eval's output folder: one KB per detector


@dataclass(frozen=True)
class DetectorScore:
    """How one detector did over the labelled photos at the settings in use."""

    detector: str
    score: Score | None  # None where the comparison was aborted before this detector was scored
    kb_faces: int = 0  # faces found in the KB photos
    faces: int = 0  # faces found in the labelled photos
    seconds: float = 0.0  # KB build and analysis of the labelled photos, whole
    analysed: int = 0  # photos analysed (not from the cache): KB and labelled
    kb_path: Path | None = None


Progress = Callable[[int, int], None]


def compare_detectors(
    settings: Settings,
    truth: Truth | Path | str,
    detectors: Sequence[str] = DETECTORS,
    *,
    input_dir: Path | None = None,
    output_dir: Path | None = None,
    cancel: threading.Event | None = None,
    on_progress: Progress | None = None,
) -> list[DetectorScore]:
    """One DetectorScore per detector, in the order given; stops (the rest unscored) once ``cancel`` is set."""
    unknown = [d for d in detectors if d not in DETECTORS]
    if unknown or not detectors:
        raise EvalError(f"--detectors: give some of {', '.join(DETECTORS)}, not {', '.join(unknown) or 'none'}")
    cancel = cancel or threading.Event()
    out = (Path(output_dir) if output_dir is not None else settings.processed_dir) / FOLDER
    scores: list[DetectorScore] = []
    for det in dict.fromkeys(detectors):
        if cancel.is_set():
            scores.append(DetectorScore(det, None))
            continue
        kb_path = (out / det / "encodings.npz").resolve()
        s = settings.replace(detector=det, encodings_filename=str(kb_path))
        t0 = time.monotonic()
        kb_faces = analysed = 0
        finished = False
        for ev in build_kb(s, cancel):
            if isinstance(ev, KbImageDone):
                kb_faces += ev.faces_found
                analysed += not (ev.reused or ev.cached)
                if on_progress is not None:
                    on_progress(ev.index, ev.total)
            elif isinstance(ev, RunFinished):
                finished = not ev.summary.aborted
        if not finished or cancel.is_set():
            scores.append(DetectorScore(det, None, kb_path=kb_path))
            continue
        rep = evaluate(s, truth, input_dir=input_dir, record=False, cancel=cancel, on_progress=on_progress)
        face = rep.face
        current = round(float(s.face_tol), 6)
        at = next((sc for sc in face.scores if sc.value == current), None) if face is not None else None
        scores.append(
            DetectorScore(
                det,
                None if rep.aborted else at,
                kb_faces=kb_faces,
                faces=sum(len(item.analysis.boxes) for item, _ in rep.items),
                seconds=time.monotonic() - t0,
                analysed=analysed + rep.encoded,
                kb_path=kb_path,
            )
        )
    return scores


def detector_lines(settings: Settings, scores: Sequence[DetectorScore]) -> list[str]:
    """The comparison as the CLI prints it, with which detector did best here and at what cost."""
    lines = [
        f"Detectors at the settings in use (face_tol {settings.face_tol:g}, face_margin {settings.face_margin:g}, "
        f"face_k {settings.face_k}, upsample {settings.upsample}, resize_max {settings.resize_max}); each with a KB "
        "built by it:",
        f"{'detector':<9} {'found (recall)':>15} {'wrong':>6} {'unknowns kept':>14} {'exactly right':>14} "
        f"{'faces: KB / photos':>19} {'time (analysed)':>17}",
    ]
    for d in scores:
        sc = d.score
        if sc is None:
            lines.append(f"{d.detector:<9} (not scored: aborted)")
            continue
        lines.append(
            f"{d.detector:<9} {f'{sc.found}/{sc.appearances} ({sc.recall:.0%})':>15} {sc.wrong:>6} "
            f"{f'{sc.unknown_kept}/{sc.unknown_photos}':>14} {f'{sc.exact}/{sc.photos}':>14} "
            f"{f'{d.kb_faces} / {d.faces}':>19} {f'{d.seconds:.1f} s ({d.analysed})':>17}"
        )
    done = [d for d in scores if d.score is not None]
    if len(done) < 2:
        return lines
    # times say something only where each detector analysed the same photos (none of them from the cache)
    timed = len({d.analysed for d in done}) == 1 and done[0].analysed > 0
    untimed = " (time not compared: photos came from the cache)"
    rank = lambda d: (d.score.wrong, -d.score.found, -d.score.exact)  # noqa: E731
    best = min(done, key=lambda d: (*rank(d), d.seconds if timed else 0.0))
    others = [d for d in done if d is not best]
    nxt = min(others, key=lambda d: (*rank(d), d.seconds))
    if rank(nxt) == rank(best):
        tail = f"; {best.detector} takes {best.seconds / nxt.seconds:.2f}x the time of {nxt.detector}" if timed else ""
        lines.append(f"Here they file alike{tail or untimed}.")
    else:
        cost = f"; {best.seconds / nxt.seconds:.1f}x its time" if timed else untimed
        lines.append(
            f"Best here: {best.detector} ({best.score.found - nxt.score.found:+d} known appearances found, "
            f"{best.score.wrong - nxt.score.wrong:+d} wrong filings, {best.score.exact - nxt.score.exact:+d} photos "
            f"exactly right against {nxt.detector}{cost})."
        )
    return lines
