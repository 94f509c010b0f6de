"""A face's top-3 against the KB as it is now: its encoding from the embedding cache, scored as the Decider scores."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from ..base.events import Candidates, FaceResult, FileResult
from ..base.settings import Settings
from ..models.analyze import FaceConfig, analyze_path
from ..models.compare.matcher import Bank, face_scores, top_k
from ..stores.cache import EmbeddingCache
from ..stores.kb import KbError, KbMissing, KnowledgeBase, load_kb
from ..stores.reviewlog import iou
from .queue import ReviewItem

if TYPE_CHECKING:
    from ..models.body.setup import BodySetup


def top3(
    enc: np.ndarray | None, bank: Bank | None, face_k: int, face: FaceResult | None, rejected: set[str]
) -> tuple[Candidates, Candidates]:
    """(face, body) top-3 without the ``rejected`` people: the encoding scored against the KB's ``bank`` as the
    Decider scores it when both are at hand, else the report's candidates for this ``face``; bodies from the report."""
    if enc is not None and bank is not None and len(bank):
        dist = face_scores(bank, enc[None, :], face_k)[0]
        face_c = top_k(dist, bank.people, k=3 + len(rejected))
    else:
        face_c = face.face if face else ()
    body_c = face.body if face else ()
    face_c = tuple(c for c in face_c if c[0] not in rejected)[:3]
    body_c = tuple(c for c in body_c if c[0] not in rejected)[:3]
    return face_c, body_c


def face_slot(a, item: ReviewItem) -> int | None:
    """The analysis face that is this item's face (best overlap with the report's box)."""
    if a is None or item.box is None or not len(a.boxes):
        return None
    best = max(range(len(a.boxes)), key=lambda j: iou(a.boxes[j], item.box))
    if iou(a.boxes[best], item.box) >= 0.5:
        return best
    return item.face if item.face is not None and item.face < len(a.boxes) else None


@dataclass
class Known:
    """The KB the candidates are scored against: read on first need (none yet: an empty one), replaced after an edit."""

    kb_path: Path
    _kb: KnowledgeBase | None = None
    _bank: Bank | None = None

    @property
    def kb(self) -> KnowledgeBase:
        if self._kb is None:
            try:
                self._kb = load_kb(self.kb_path)
            except KbError:
                self._kb = KnowledgeBase()
            self._bank = None
        return self._kb

    @property
    def bank(self) -> Bank:
        if self._bank is None:
            self._bank = Bank.build(self.kb.face_enc, self.kb.face_names)
        return self._bank

    def fresh(self) -> KnowledgeBase:
        """The KB as it is on disk now (another process may have rebuilt it); none yet is an empty one (review grows a
        KB from nothing: the first decision writes it), an unreadable one is an error."""
        try:
            kb = load_kb(self.kb_path)
        except KbMissing:
            kb = KnowledgeBase()
        self.use(kb)
        return kb

    def use(self, kb: KnowledgeBase) -> None:
        """Score against ``kb`` from now on (its bank is built on first need)."""
        self._kb, self._bank = kb, None


@dataclass
class Encodings:
    """The faces' encodings and the bodies' embeddings of the photos in review, from the embedding cache (a photo
    missing there is analysed again and cached)."""

    settings: Settings
    face_cfg: FaceConfig
    _cache: EmbeddingCache | None = None
    _body: BodySetup | None = None  # loaded on first need
    _analyses: dict[str, object] = field(default_factory=dict)
    _key: str | None = None  # the face configuration's cache key

    @property
    def cache(self) -> EmbeddingCache:
        if self._cache is None:
            self._cache = EmbeddingCache(self.settings.cache_dir)
        return self._cache

    def close(self) -> None:
        if self._cache is not None:
            self._cache.close()
            self._cache = None

    @property
    def face_key(self) -> str:
        """The face configuration's cache key, made once (a key costs a JSON dump and a hash)."""
        if self._key is None:
            self._key = self.face_cfg.key()
        return self._key

    def cached(self, sha: str):
        """This photo's analysis as this session or the embedding cache holds it (None: not analysed yet). Kept for
        the session once read: an entry never changes (its key is the photo's content and the face settings), and
        each grouping of the unknown faces reads every one of them."""
        a = self._analyses.get(sha)
        if a is None:
            a = self.cache.get_analysis(sha, self.face_key)
            if a is not None:
                self._analyses[sha] = a
        return a

    def analysis(self, sha: str, path: Path, want_body: bool = False):
        """This photo's analysis, analysing it again when the cache has none (or none with body crops, when wanted)."""
        a = self.cached(sha)
        if a is None or (want_body and getattr(a, "body_crops", None) is None):
            fresh = analyze_path(path, self.face_cfg, want_body, sha=sha)
            if fresh.error:
                return a
            if fresh.sha256 == sha and not fresh.transient:
                self.cache.put_analysis(fresh, self.face_key)
            a = fresh
        self._analyses[sha] = a
        return a

    def encoding(self, item: ReviewItem, path: Path | None = None) -> np.ndarray | None:
        """The 128-d face encoding of this item, from the cache (or from ``path`` analysed again when given)."""
        if item.box is None:
            return None
        a = self.cached(item.sha256)
        if a is None and path is not None:
            a = self.analysis(item.sha256, path)
        slot = face_slot(a, item)
        if slot is None:
            return None
        return np.asarray(a.encodings[slot], np.float64)  # type: ignore[union-attr]

    def body_embedding(self, item: ReviewItem, r: FileResult, body_dim: int | None) -> np.ndarray | None:
        """The OSNet embedding of this item's body region (None: body recognition is off or found no body)."""
        if self._body is None:
            from ..models.body.setup import setup_body

            self._body = setup_body(self.settings, body_dim)
        body = self._body
        if body.encoder is None:
            return None
        a = self.cached(r.sha256)
        slot = face_slot(a, item) if item.box is not None else 0
        regions = max(1, len(a.boxes)) if a is not None else 0
        emb = self.cache.get_body(r.sha256, body.key, regions) if regions else None
        if emb is None:
            a = self.analysis(r.sha256, r.path, want_body=True)
            if a is None or not a.body_crops:
                return None
            emb = body.encoder.embed(a.body_crops)
            a.body_crops = None
            self.cache.put_body(r.sha256, body.key, emb)
            slot = face_slot(a, item) if item.box is not None else 0
        if slot is None or slot >= len(emb):
            return None
        return np.asarray(emb[slot], np.float32)
