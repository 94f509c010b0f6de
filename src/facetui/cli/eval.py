"""`facetui eval`: score the settings on labelled photos (sweeps, the joint search, candidate rules), and with
--apply write the advice into the settings file."""

from __future__ import annotations

from ..core.base.errors import EXIT_ABORTED, EXIT_OK, EXIT_SETUP
from .console import Progress, ctrl_c_sets_cancel, restore_sigint, say


def _parse_tols(text: str | None) -> list[float] | None:
    if not text:
        return None
    try:
        if ":" in text:
            start, stop, step = (float(x) for x in text.split(":"))
            if step <= 0 or stop < start:
                raise ValueError
            n = int(round((stop - start) / step))
            return [round(start + i * step, 6) for i in range(n + 1)]
        vals = [float(x) for x in text.replace(" ", "").split(",") if x]
        if not vals:
            raise ValueError
        return vals
    except ValueError:
        raise ValueError(
            f"--tols {text!r}: give values like 0.4,0.5,0.6 or start:stop:step like 0.3:0.8:0.05"
        ) from None


def run(settings, args) -> int:
    from ..core.evaluation.evaluate import evaluate, report_lines

    if getattr(args, "detectors", None):
        return _detectors(settings, args)
    if args.truth is None and not args.kb:
        say("facetui: eval needs labels (--truth FILE or folder) and/or --kb", err=True)
        return EXIT_SETUP
    try:
        tols = _parse_tols(args.tols)
        cluster_tols = _parse_tols(args.cluster_tols)
    except ValueError as e:
        say(f"facetui: {e}", err=True)
        return EXIT_SETUP
    if tols and any(not 0 <= t <= 2 for t in tols):
        say("facetui: --tols values must lie from 0 to 2", err=True)
        return EXIT_SETUP
    rep = _with_progress(
        lambda cancel, on_progress: evaluate(
            settings,
            args.truth,
            input_dir=args.input,
            kb=args.kb,
            tolerances=tols,
            rules=args.rules,
            clusters=args.clusters or bool(cluster_tols),
            cluster_tols=cluster_tols,
            output_dir=args.output,
            cancel=cancel,
            on_progress=on_progress,
        )
    )
    if rep is None:
        return EXIT_ABORTED
    for line in report_lines(rep):
        say(line)
    if args.apply and not rep.aborted:
        return _apply(settings, rep)
    return EXIT_ABORTED if rep.aborted else EXIT_OK


def _with_progress(work):
    """``work(cancel, on_progress)`` with a progress bar and Ctrl-C setting ``cancel`` (a second one interrupts);
    its result, or None where it was interrupted (said on stderr)."""
    cancel, old = ctrl_c_sets_cancel()
    bar = Progress()
    try:
        return work(cancel, bar.update)
    except KeyboardInterrupt:
        say("facetui: interrupted", err=True)
        return None
    finally:
        bar.clear()
        restore_sigint(cancel, old)


def _detectors(settings, args) -> int:
    """`eval --detectors hog,cnn`: each detector's own KB, the labelled photos scored with it, side by side."""
    from ..core.evaluation.detectors import compare_detectors, detector_lines

    if args.truth is None:
        say("facetui: eval --detectors needs labels (--truth FILE or folder)", err=True)
        return EXIT_SETUP
    if args.apply or args.kb or args.rules or args.tols or args.clusters or args.cluster_tols:
        say("facetui: eval --detectors takes only --truth, --input and --output", err=True)
        return EXIT_SETUP
    scores = _with_progress(
        lambda cancel, on_progress: compare_detectors(
            settings,
            args.truth,
            [d.strip() for d in args.detectors.split(",") if d.strip()],
            input_dir=args.input,
            output_dir=args.output,
            cancel=cancel,
            on_progress=on_progress,
        )
    )
    if scores is None:
        return EXIT_ABORTED
    for line in detector_lines(settings, scores):
        say(line)
    return EXIT_ABORTED if any(d.score is None for d in scores) else EXIT_OK


def _apply(settings, rep) -> int:
    from ..core.evaluation.evaluate import apply_advice

    if not rep.advice:
        say("Nothing to apply: the eval has no advice (no setting files nothing wrongly).")
        return EXIT_OK
    new, lines = apply_advice(settings, rep.advice)
    if not lines:
        say(f"Applied: the settings in {settings.source} already are the advice.")
        return EXIT_OK
    say(f"Applied to {new.source}:")
    for line in lines:
        say(f"  {line}")
    return EXIT_OK
