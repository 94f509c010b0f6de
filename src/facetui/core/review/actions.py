"""Carrying out a decision: the photo's copies moved, the KB grown or shrunk, the journal entry, one report rewrite."""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from pathlib import Path

from ..base.events import UNKNOWN, FileResult
from ..base.fsutil import FolderBusy, check_person_name, display_name, folder_lock, place_file, safe_person_name
from ..base.settings import Settings
from ..stores.kb import KbError
from ..stores.report import rel_to
from ..stores.reviewlog import Entry, ReviewError, new_id
from .candidates import Encodings, Known
from .copies import copy_source, remove_if_ours
from .kb_rows import kb_add, kb_remove
from .queue import Queue, ReviewItem
from .report_rows import rewrite_report, set_face


@dataclass(frozen=True)
class Outcome:
    """What one operation did, for the screen and the CLI to say."""

    entries: tuple[Entry, ...]
    message: str


@dataclass
class Actions:
    """The decisions on one output folder's queue, each carried out on the files, the KB, the journal (the review
    log) and the report, with the folder's lock held and one report rewrite for the whole decision."""

    settings: Settings
    queue: Queue
    known: Known
    encodings: Encodings
    _writing_depth: int = 0
    _pending: dict[str, FileResult] | None = None  # report changes held for one rewrite (a batch)

    @property
    def output_dir(self) -> Path:
        return self.queue.output_dir

    @contextlib.contextmanager
    def writing(self):
        """Hold the output folder's lock while a decision moves copies and rewrites the report, so that it never
        interleaves with a recognition run into the same folder (re-entrant: a cluster holds it once)."""
        if self._writing_depth:
            self._writing_depth += 1
            try:
                yield
            finally:
                self._writing_depth -= 1
            return
        with contextlib.ExitStack() as stack:
            try:
                stack.enter_context(folder_lock(self.output_dir))
            except FolderBusy:
                raise ReviewError(
                    f"a recognition run is writing to {self.output_dir}: decide again when it has finished"
                ) from None
            except OSError as e:
                raise ReviewError(f"cannot lock {self.output_dir}: {e.strerror or e}") from None
            self._writing_depth = 1
            try:
                yield
            finally:
                self._writing_depth = 0

    @contextlib.contextmanager
    def _one_report_write(self):
        """Hold every report change of a batch (a cluster named, a batch undone) for one rewrite at its end,
        written even when a step fails, so the report always says what happened to the files."""
        if self._pending is not None:
            yield
            return
        self._pending = {}
        try:
            yield
        finally:
            pending, self._pending = self._pending, None
            if pending:
                rewrite_report(self.output_dir, pending)
            self.queue.reload()

    # -- decisions ----------------------------------------------------------------------------
    def assign(self, item: ReviewItem, person: str, batch: str = "") -> Outcome:
        """File this photo under ``person``: copy into ``<person>/``, drop our Unknown/ copy, log it, grow the KB."""
        try:
            person = check_person_name(person)
        except ValueError as e:
            raise ReviewError(str(e)) from None
        with self.writing():
            return self._assign(item, person, batch)

    def _assign(self, item: ReviewItem, person: str, batch: str) -> Outcome:
        r = self.queue.result(item)
        out = self.output_dir
        src, mode = copy_source(r, self.settings.file_mode)
        dest, written = place_file(src, out / person, mode, name=Path(r.path).name)
        placed = rel_to(dest, out)
        kb_sources: tuple[str, ...] = ()
        note = ""
        if self.settings.review_add_to_kb:
            try:
                kb_sources, note = kb_add(self.known, self.encodings, self.settings, item, r, person)
            except (KbError, OSError) as e:
                note = f"not added to the KB ({e})"
        unknown_copies = [d for d in r.destinations if Path(d).parent.name == UNKNOWN] if not r.people else []
        entry = Entry(
            op="assign",
            sha256=r.sha256,
            file=r.rel,
            face=item.face,
            box=item.box,
            person=person,
            placed=placed,
            placed_written=written,
            unknown_copy=rel_to(unknown_copies[0], out) if unknown_copies else "",
            kb_sources=kb_sources,
            batch=batch,
        )
        try:
            self.queue.log.append(entry)
        except OSError as e:
            if written:
                remove_if_ours(out, dest, r, person)
            if kb_sources:
                kb_remove(self.known, self.settings.kb_path, kb_sources)
            raise ReviewError(f"cannot write the review log {self.queue.log.path}: {e.strerror or e}") from None
        removed = [d for d in unknown_copies if remove_if_ours(out, Path(d), r, UNKNOWN)]
        dests_drop = {Path(d) for d in removed}
        self._update_report(r, lambda res: set_face(res, item, person, "review", add=dest, drop=dests_drop))
        if self._pending is None:
            self.queue.reload()
        msg = f"{display_name(r.rel)} → {person} ({placed})"
        if kb_sources:
            msg += f"; added to the KB ({len(kb_sources)} row{'s' if len(kb_sources) > 1 else ''})"
        if note:
            msg += f"; {note}"
        return Outcome((entry,), msg)

    def assign_many(self, items: list[ReviewItem], person: str, exclude: list[ReviewItem] = ()) -> Outcome:
        """Name several faces at once (a cluster); one undo takes them all back. The ``exclude``d faces stay Unknown
        and are told "not ``person``" in the same decision, so they never join that name; a face already told "not
        ``person``" is left out the same way."""
        try:
            person = check_person_name(person)
        except ValueError as e:
            raise ReviewError(str(e)) from None
        batch = new_id()
        entries: list[Entry] = []
        skip = {it.key for it in exclude}
        refused = {it.key for it in items if it.key not in skip and person in self.queue.rejected(it)}
        with self.writing(), self._one_report_write():
            for it in items:
                if it.rel not in self.queue.results or it.key in skip or it.key in refused:
                    continue
                entries += self.assign(it, person, batch=batch).entries
            for it in exclude:
                if it.rel in self.queue.results:
                    entries.append(self._reject_entry(it, person, batch))
        named = [e for e in entries if e.op == "assign"]
        photos = len({e.file for e in named})
        msg = f"{len(named)} face{'s' if len(named) != 1 else ''} in {photos} photo{'s' if photos != 1 else ''} → {person}"
        if exclude:
            msg += f"; {len(exclude)} left out (not {person})"
        if refused:
            msg += f"; {len(refused)} not named: you said before they are not {person}"
        return Outcome(tuple(entries), msg)

    def split(self, items: list[ReviewItem], rest: list[ReviewItem]) -> Outcome:
        """Keep ``items`` and ``rest`` apart: no cluster ever holds a face of each (until undone, as one decision)."""
        if not items or not rest:
            raise ReviewError("a split needs faces on both sides")
        batch = new_id()
        entries = [
            Entry(op="split", sha256=it.sha256, file=it.rel, face=it.face, box=it.box, batch=batch, side=side)
            for side, group in (("a", items), ("b", rest))
            for it in group
        ]
        self.queue.log.append(*entries)
        return Outcome(tuple(entries), f"split: {len(items)} face(s) kept apart from {len(rest)}")

    def _reject_entry(self, item: ReviewItem, person: str, batch: str = "") -> Entry:
        r = self.queue.result(item)
        entry = Entry(
            op="reject", sha256=r.sha256, file=r.rel, face=item.face, box=item.box, rejected=(person,), batch=batch
        )
        self.queue.log.append(entry)
        self.queue.reread_decisions()
        return entry

    def mark_none(self, item: ReviewItem) -> Outcome:
        """'Not anyone in the KB': stays Unknown, is not asked again, and none of today's KB people is proposed."""
        r = self.queue.result(item)
        people = set(self.known.kb.people)
        f = self.queue.face(item)
        if f is not None:
            people |= {n for n, _ in f.face} | {n for n, _ in f.body}
        entry = Entry(
            op="none", sha256=r.sha256, file=r.rel, face=item.face, box=item.box, rejected=tuple(sorted(people))
        )
        self.queue.log.append(entry)
        self.queue.reload()
        return Outcome((entry,), f"{display_name(r.rel)}: not anyone in the KB (will not be asked again)")

    def reject(self, item: ReviewItem, person: str) -> Outcome:
        """'Not this person': never proposed (nor filed) for this face again."""
        entry = self._reject_entry(item, person)
        return Outcome((entry,), f"{display_name(entry.file)}: not {person}")

    def last_decision(self) -> list[Entry]:
        """The most recent standing decision (with the rest of its batch)."""
        live = self.queue.log.live()
        if not live:
            return []
        last = live[-1]
        if last.batch:
            return [e for e in live if e.batch == last.batch]
        return [last]

    def undo(self) -> Outcome:
        """Take back the last decision: the copy, the report row, the KB rows; the log records the undo.

        The outcome's entries are the decisions taken back (so a screen can return to those faces).
        """
        targets = self.last_decision()
        if not targets:
            return Outcome((), "nothing to undo")
        with self.writing(), self._one_report_write():
            for e in reversed(targets):
                self._undo_one(e)
        first = targets[0]
        named = [e for e in targets if e.op == "assign"]
        if first.op == "split":
            what = f"split of {len(targets)} faces"
        elif len(targets) == 1:
            what = {
                "assign": f"{display_name(first.file)} → {first.person}",
                "none": f"{display_name(first.file)}: not anyone",
                "reject": f"{display_name(first.file)}: not {', '.join(first.rejected)}",
            }[first.op]
        else:
            what = f"{len(named)} faces → {named[0].person if named else first.person}"
            if len(named) < len(targets):
                what += f" ({len(targets) - len(named)} left out)"
        return Outcome(tuple(targets), f"undone: {what}")

    def _undo_one(self, e: Entry) -> Entry:
        if e.kb_sources:
            kb_remove(self.known, self.settings.kb_path, e.kb_sources)
        undo = Entry(op="undo", undoes=e.id, sha256=e.sha256, file=e.file)
        self.queue.log.append(undo)
        if e.op != "assign":
            return undo
        out = self.output_dir
        r = self.queue.results.get(e.file)
        if r is None or r.sha256 != e.sha256:
            return undo  # a later run's report: its copies are that run's business
        item = ReviewItem(e.file, e.sha256, e.face, e.box)
        after = set_face(r, item, UNKNOWN, "", add=None, drop=set())
        placed = out / e.placed if e.placed else None
        restored: Path | None = None
        if not after.people and e.unknown_copy:
            try:
                src, mode = copy_source(r, self.settings.file_mode)
            except ReviewError:
                src, mode = (placed, "copy") if placed and placed.is_file() else (None, "copy")
            if src is not None:
                restored, _ = place_file(src, out / UNKNOWN, mode, name=Path(e.unknown_copy).name)
        drop: set[Path] = set()
        if (
            placed is not None
            and e.placed_written
            and safe_person_name(e.person) not in {safe_person_name(p) for p in after.people}
        ):
            if remove_if_ours(out, placed, r, e.person):
                drop.add(placed)
        self._update_report(r, lambda res: set_face(res, item, UNKNOWN, "", add=restored, drop=drop))
        return undo

    # -- the report -----------------------------------------------------------------------------
    def _update_report(self, r: FileResult, change) -> None:
        """This photo's result changed: rewrite report.csv now, or at the end of the batch in hand."""
        new = change(r)
        self.queue.results[r.rel] = new  # what the next step of a batch sees
        if self._pending is not None:
            self._pending[r.rel] = new
        else:
            rewrite_report(self.output_dir, {r.rel: new})
