"""Recognition: a generator that sorts a folder of photos by person and yields one event per file."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path

from ..base.errors import SetupError
from ..base.events import (
    UNKNOWN,
    Event,
    FileDone,
    FileResult,
    Notice,
    RunFinished,
    RunSummary,
)
from ..base.fsutil import (
    FolderBusy,
    NameSyncs,
    check_inside,
    folder_lock,
    place_file,
    remove_own_copies,
    safe_person_name,
)
from ..base.settings import Settings
from ..models.bodies import BodyModelError
from ..models.bodysetup import forget_checked
from ..stores.kb import KnowledgeBase
from ..stores.report import REPORT_NAME, ReportWriter
from ..stores.reviewlog import load_overrides
from ..stores.scan import scan_images
from .decide import Decider
from .render import NO_KB_PEOPLE
from .setup import load_kb_for, open_run, require_engine
from .timings import Timings

DISK_FULL = {errno.ENOSPC, errno.EFBIG, errno.EDQUOT, errno.EROFS}
REPORT_SYNC_S = 0.5  # how often the report and the new names in the output are synced (and once at the end)


def _check_folders(settings: Settings, input_dir: Path, output_dir: Path) -> list[str]:
    notes: list[str] = []
    try:
        is_dir = input_dir.is_dir()
    except OSError as e:  # e.g. a name longer than the file system allows
        raise SetupError(f"cannot use input folder {input_dir}: {e.strerror or e}") from None
    if not is_dir:
        raise SetupError(f"input folder does not exist: {input_dir}")
    try:
        same = input_dir.resolve() == output_dir.resolve()
    except OSError:
        same = False
    if same:
        raise SetupError(f"output folder is the input folder ({input_dir}); choose another output")
    try:
        output_dir.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise SetupError(f"cannot create output folder {output_dir}: {e.strerror or e}") from None
    if not os.access(output_dir, os.W_OK | os.X_OK):
        raise SetupError(f"output folder is not writable: {output_dir}")
    if settings.recursive and output_dir.resolve().is_relative_to(input_dir.resolve()):
        notes.append(f"output folder is inside the input folder: {output_dir.name}/ is left out of the scan")
    return notes


def no_kb_note(settings: Settings, kb: KnowledgeBase) -> str:
    """The notice of a run with nobody to recognise (no KB file, or one with no people), saying what to do; "" when
    the KB has people."""
    if kb.people:
        return ""
    path = settings.kb_path
    there = path.exists() or path.with_suffix(".npz").exists()  # a legacy .pkl setting reads the .npz beside it
    why = f"the KB at {path} is empty" if there else f"no KB at {path}"
    return (
        f"{NO_KB_PEOPLE} ({why}): every photo goes to Unknown/. Name the people with 'facetui review --clusters' "
        "(or the app's clusters screen), then sort again: the rerun files their other photos, from the cache"
    )


def recognize(
    settings: Settings,
    input_dir: Path | None = None,
    output_dir: Path | None = None,
    cancel: threading.Event | None = None,
    *,
    on_file: Callable[[int], None] | None = None,
    timings: Timings | None = None,
) -> Iterator[Event]:
    """Sort ``input_dir`` into ``output_dir/<Person>/`` and ``Unknown/``; yield RunStarted, FileDone..., RunFinished.

    Raises SetupError before the first file when the run cannot start (also while another run writes to the
    same output folder). Setting ``cancel`` stops the run after the file in hand; RunFinished then says aborted.
    ``on_file`` is a test hook called before each file.
    ``timings`` (for the benchmark) adds up seconds per stage: CPU of decode, detect, encode, body, match...
    With no KB yet (no file, or one with no people) every photo goes to Unknown/ and a notice says why
    (``no_kb_note``); everything else (cache, report rows with the faces, manifest) is as in any run, so that
    review can name the people and a rerun file them.
    """
    input_dir = Path(input_dir or settings.process_dir)
    output_dir = Path(output_dir or settings.processed_dir)
    require_engine(settings)
    notices = _check_folders(settings, input_dir, output_dir)
    with output_lock(output_dir):
        yield from _recognize(settings, input_dir, output_dir, cancel or threading.Event(), notices, on_file, timings)


@contextlib.contextmanager
def output_lock(output_dir: Path):
    """Hold the output folder's lock for one run; a second run into it is refused with a clear message."""
    with contextlib.ExitStack() as stack:
        try:
            stack.enter_context(folder_lock(output_dir))
        except FolderBusy:
            raise SetupError(
                f"another facetui run is writing to {output_dir}; wait for it or choose another output folder"
            ) from None
        except OSError as e:
            raise SetupError(f"cannot lock output folder {output_dir}: {e.strerror or e}") from None
        yield


def _recognize(
    settings: Settings,
    input_dir: Path,
    output_dir: Path,
    cancel: threading.Event,
    notices: list[str],
    on_file: Callable[[int], None] | None,
    timings: Timings | None,
) -> Iterator[Event]:
    t0 = time.monotonic()
    kb = load_kb_for(settings, missing_ok=True)
    note = no_kb_note(settings, kb)
    if note:
        notices.append(note)
    files = scan_images(input_dir, settings.valid_exts, settings.recursive, exclude=(output_dir,))
    report_path = output_dir / REPORT_NAME
    with open_run(
        settings,
        "recognize",
        total=len(files),
        kb=kb,
        notices=notices,
        input_dir=input_dir,
        output_dir=output_dir,
        clean=output_dir,
        report_path=report_path,
        timings=timings,
    ) as run:
        decider = Decider(kb, settings, load_overrides(output_dir))  # review's decisions so far are kept
        yield run.started(output_dir=output_dir)
        if not files:
            yield Notice("warning", f"no images found in {input_dir} (extensions {', '.join(settings.valid_exts)})")
            summary = RunSummary(
                kind="recognize",
                total=0,
                done=0,
                report_path=None,
                elapsed_s=time.monotonic() - t0,
                notices=tuple(notices),
            )
            run.manifest.finish(summary)
            yield RunFinished(summary)
            return
        done = unknown = errors = 0
        per_person: dict[str, int] = {}
        stop_reason = ""
        _rotate_report(report_path)
        # rows and the names of filed copies are made durable together, about twice a second (see ReportWriter)
        names = NameSyncs()
        writer = ReportWriter(report_path, sync_every=REPORT_SYNC_S, before_sync=names.sync)
        try:
            for i, item in enumerate(run.analyzer.run(files, cancel), 1):
                if on_file is not None:
                    on_file(i)
                rel = os.fsdecode(os.path.relpath(item.path, input_dir))
                t_cpu = time.thread_time()
                result = decider.decide(item, rel)
                if timings is not None:
                    t_wall, t_match = time.perf_counter(), time.thread_time()
                    timings.add("match", t_match - t_cpu)
                try:
                    result = _file(result, output_dir, settings.file_mode, names)
                    writer.add(result, output_dir)
                    if timings is not None:
                        timings.add("file_io", time.thread_time() - t_match)
                        timings.add("file_io_wall", time.perf_counter() - t_wall)
                except OSError as e:
                    if e.errno in DISK_FULL:
                        stop_reason = (
                            f"stopped: output disk full or not writable ({e.strerror}); nothing was overwritten"
                        )
                        yield Notice("error", stop_reason)
                        break
                    result = FileResult(
                        path=result.path,
                        rel=rel,
                        faces=result.faces,
                        error=f"could not file: {e.strerror or e}",
                        sha256=result.sha256,
                    )
                    try:
                        writer.add(result, output_dir)
                    except OSError:
                        pass
                done += 1
                if result.error:
                    errors += 1
                elif not result.people:
                    unknown += 1
                for p in result.people:
                    per_person[p] = per_person.get(p, 0) + 1
                yield FileDone(index=i, total=len(files), result=result)
                yield from run.engine_notices()
                if cancel.is_set():
                    break
        except BodyModelError as e:  # the deferred OSNet load failed (the file was fine at set-up): stop cleanly
            forget_checked(settings)
            stop_reason = f"stopped: {e}; the files done so far are filed and reported"
            yield Notice("error", stop_reason)
        finally:
            writer.close()
            names.sync()
    aborted = done < len(files)
    if stop_reason:
        notices.append(stop_reason)
    summary = RunSummary(
        kind="recognize",
        total=len(files),
        done=done,
        unknown=unknown,
        errors=errors,
        known=done - unknown - errors,
        elapsed_s=time.monotonic() - t0,
        aborted=aborted,
        report_path=report_path,
        kb_path=settings.kb_path,
        notices=tuple(notices),
        per_person=dict(sorted(per_person.items())),
    )
    run.manifest.finish(summary)
    yield RunFinished(summary)


def _rotate_report(report_path: Path) -> None:
    """Keep the previous run's report as report-previous.csv instead of losing it."""
    if report_path.exists():
        os.replace(report_path, report_path.with_name("report-previous.csv"))


def _file(result: FileResult, output_dir: Path, mode: str, names: NameSyncs | None = None) -> FileResult:
    """Place the photo under each person (or Unknown); never overwrites, never touches the original."""
    if result.error:
        return result
    folders = [safe_person_name(p) or "_" for p in result.people] or [UNKNOWN]
    for folder in folders:  # every folder first: a photo of two people is filed in both or in neither
        check_inside(output_dir / folder, output_dir)
    dests = []
    for folder in folders:
        dest, _written = place_file(result.path, output_dir / folder, mode, names=names)
        dests.append(dest)
    notes = result.notes
    if result.people:  # recognised now: an earlier run's identical copy in Unknown/ would only mislead
        gone = remove_own_copies(result.path, output_dir / UNKNOWN, mode, names=names)
        if gone:
            notes = notes + (f"removed the earlier copy in {UNKNOWN}/",)
    return FileResult(
        path=result.path,
        rel=result.rel,
        faces=result.faces,
        people=result.people,
        destinations=tuple(dests),
        error="",
        notes=notes,
        sha256=result.sha256,
        cached=result.cached,
    )
