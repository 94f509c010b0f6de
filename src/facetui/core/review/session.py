"""The review session: one output folder's queue, candidates and decisions behind the calls the CLI and the app make."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..base.events import Candidates, FaceResult, FileResult
from ..base.settings import Settings
from ..models.analyze import FaceConfig
from ..models.compare.matcher import Bank
from ..stores.cache import EmbeddingCache
from ..stores.kb import KnowledgeBase
from ..stores.reviewlog import Entry, PhotoDecision, ReviewError, ReviewLog
from .actions import Actions, Outcome
from .candidates import Encodings, Known, top3
from .kb_rows import REVIEW_PREFIX
from .queue import Queue, ReviewItem

__all__ = ["REVIEW_PREFIX", "Outcome", "ReviewError", "ReviewItem", "ReviewSession"]


class ReviewSession:
    """The unknowns of the latest run in one output folder, with fresh candidates and the decisions on them.

    The work is done by the parts it holds: ``queue`` (the report and the faces waiting), ``known`` and
    ``encodings`` (what the candidates are scored with) and ``actions`` (the decisions carried out).
    """

    def __init__(self, settings: Settings, output_dir: Path | None = None):
        self.settings = settings
        self.output_dir = Path(output_dir or settings.processed_dir)
        self.face_cfg = FaceConfig.of(settings)
        self.queue = Queue.read(self.output_dir)
        self.known = Known(settings.kb_path)
        self.encodings = Encodings(settings, self.face_cfg)
        self.actions = Actions(settings, self.queue, self.known, self.encodings)
        self.grouped: tuple | None = None  # the last clustering and what it was made from (review.clusters)

    # -- the queue ----------------------------------------------------------------------------
    @property
    def report_path(self) -> Path:
        return self.queue.report_path

    @property
    def log(self) -> ReviewLog:
        return self.queue.log

    @property
    def results(self) -> dict[str, FileResult]:
        return self.queue.results

    @property
    def items(self) -> list[ReviewItem]:
        return self.queue.items

    @property
    def decisions(self) -> dict[str, PhotoDecision]:
        return self.queue.decisions

    def reload(self) -> None:
        """Re-read the report and the log; the queue is every unknown face of every photo filed under Unknown."""
        self.queue.reload()

    def result(self, item: ReviewItem) -> FileResult:
        return self.queue.result(item)

    def face(self, item: ReviewItem) -> FaceResult | None:
        return self.queue.face(item)

    def status(self, item: ReviewItem) -> str:
        """'' while undecided (a face with only rejected candidates is still undecided), the person, or 'none'."""
        return self.queue.status(item)

    def item_for(self, rel: str, face: int | None = None) -> ReviewItem:
        """A face of any photo in the report (not only the queued ones): for scripts and clusters."""
        return self.queue.item_for(rel, face)

    def rejected(self, item: ReviewItem) -> set[str]:
        return self.queue.rejected(item)

    # -- candidates ---------------------------------------------------------------------------
    @property
    def cache(self) -> EmbeddingCache:
        return self.encodings.cache

    @property
    def kb(self) -> KnowledgeBase:
        return self.known.kb

    @property
    def bank(self) -> Bank:
        return self.known.bank

    def encoding(self, item: ReviewItem, analyse: bool = False) -> np.ndarray | None:
        """The 128-d face encoding of this item, from the embedding cache (or re-analysed when ``analyse``)."""
        return self.encodings.encoding(item, self.result(item).path if analyse else None)

    def candidates(self, item: ReviewItem) -> tuple[Candidates, Candidates]:
        """(face, body) top-3 for this item against the KB as it is now, without the people rejected for it.

        Face candidates are recomputed from the cached encoding, so a person named a moment ago (and added to
        the KB) is proposed for their other photos at once; without an encoding the report's candidates are used.
        """
        rejected, face, enc = self.rejected(item), self.face(item), self.encoding(item)
        bank = self.bank if enc is not None else None  # the KB is read only when there is an encoding to score
        return top3(enc, bank, self.settings.face_k, face, rejected)

    def close(self) -> None:
        self.encodings.close()

    # -- decisions ----------------------------------------------------------------------------
    def assign(self, item: ReviewItem, person: str, batch: str = "") -> Outcome:
        """File this photo under ``person``: copy into ``<person>/``, drop our Unknown/ copy, log it, grow the KB."""
        return self.actions.assign(item, person, batch)

    def assign_many(self, items: list[ReviewItem], person: str, exclude: list[ReviewItem] = ()) -> Outcome:
        """Name several faces at once (a cluster) but the ``exclude``d ones, which are told "not ``person``" in the
        same decision and stay Unknown; one undo takes the whole decision back."""
        return self.actions.assign_many(items, person, list(exclude))

    def split(self, items: list[ReviewItem], rest: list[ReviewItem]) -> Outcome:
        """Keep ``items`` and ``rest`` apart in every later clustering (one decision: undo takes it back)."""
        return self.actions.split(items, rest)

    def mark_none(self, item: ReviewItem) -> Outcome:
        """'Not anyone in the KB': stays Unknown, is not asked again, and none of today's KB people is proposed."""
        return self.actions.mark_none(item)

    def reject(self, item: ReviewItem, person: str) -> Outcome:
        """'Not this person': never proposed (nor filed) for this face again."""
        return self.actions.reject(item, person)

    def last_decision(self) -> list[Entry]:
        """The most recent standing decision (with the rest of its batch)."""
        return self.actions.last_decision()

    def undo(self) -> Outcome:
        """Take back the last decision (the copy, the report rows, the KB rows); the outcome's entries are the
        decisions taken back, so a screen can return to those faces."""
        return self.actions.undo()
