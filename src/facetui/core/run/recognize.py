"""Recognition: a generator that sorts a folder of photos by person and yields one event per file."""

from __future__ import annotations

import contextlib
import errno
import os
import threading
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from ..base.errors import SetupError
from ..base.events import UNKNOWN, Event, FileDone, FileResult, Notice
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
from ..stores.kb import KnowledgeBase
from ..stores.report import REPORT_NAME, ReportWriter
from ..stores.reviewlog import load_overrides
from ..stores.scan import scan_images
from .decide import Decider
from .jobloop import StopJob, Tally, finish, run_steps
from .render import NO_KB_PEOPLE
from .setup import Job, load_kb_for, open_job, require_engine
from .timings import Timings

if TYPE_CHECKING:
    from .analyzer import Item

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
    with open_job(
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
    ) as job:
        decider = Decider(kb, settings, load_overrides(output_dir))  # review's decisions so far are kept
        yield job.started(output_dir=output_dir)
        if not files:
            yield Notice("warning", f"no images found in {input_dir} (extensions {', '.join(settings.valid_exts)})")
            yield finish(job, Tally(), t0, report_path=None)
            return
        _rotate_report(report_path)
        # rows and the names of filed copies are made durable together, about twice a second (see ReportWriter)
        names = NameSyncs()
        writer = ReportWriter(report_path, sync_every=REPORT_SYNC_S, before_sync=names.sync)
        sorter = _Sorter(job, decider, input_dir, output_dir, writer, names, on_file)
        try:
            yield from run_steps(
                job, files, cancel, sorter.step, after_stop="; the files done so far are filed and reported"
            )
        finally:
            writer.close()
            names.sync()
    done = sorter.tally.done
    yield finish(
        job,
        sorter.tally,
        t0,
        unknown=sorter.unknown,
        errors=sorter.errors,
        known=done - sorter.unknown - sorter.errors,
        aborted=done < len(files),
        report_path=report_path,
        kb_path=settings.kb_path,
    )


@dataclass
class _Sorter:
    """recognize's step: decide one photo, file it, add its report rows and count it."""

    job: Job
    decider: Decider
    input_dir: Path
    output_dir: Path
    writer: ReportWriter
    names: NameSyncs
    on_file: Callable[[int], None] | None  # a test hook, called before each file
    tally: Tally = field(default_factory=Tally)
    unknown: int = 0
    errors: int = 0

    def step(self, i: int, item: Item) -> Iterator[Event]:
        """The FileDone of the ``i``-th photo; raises StopJob when the output disk is full or not writable."""
        if self.on_file is not None:
            self.on_file(i)
        rel = os.fsdecode(os.path.relpath(item.path, self.input_dir))
        timings = self.job.timings
        with timings.stage("match"):
            result = self.decider.decide(item, rel)
        try:
            with timings.stage("file_io", wall=True):
                result = _file(result, self.output_dir, self.job.settings.file_mode, self.names)
                self.writer.add(result, self.output_dir)
        except OSError as e:
            result = self._not_filed(result, rel, e)
        self.tally.count(result.people)
        if result.error:
            self.errors += 1
        elif not result.people:
            self.unknown += 1
        yield FileDone(index=i, total=self.job.total, result=result)

    def _not_filed(self, result: FileResult, rel: str, e: OSError) -> FileResult:
        """The error row of a photo that could not be filed (reported if the report can still be written)."""
        if e.errno in DISK_FULL:
            raise StopJob(f"stopped: output disk full or not writable ({e.strerror}); nothing was overwritten")
        result = FileResult(
            path=result.path,
            rel=rel,
            faces=result.faces,
            error=f"could not file: {e.strerror or e}",
            sha256=result.sha256,
        )
        with contextlib.suppress(OSError):
            self.writer.add(result, self.output_dir)
        return result


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
