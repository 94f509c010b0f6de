"""The knowledge base: named face and body embeddings, saved atomically as .npz + JSON and loaded without pickle."""

from __future__ import annotations

import hashlib
import io
import json
import pickle
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..base.errors import FacetuiError
from ..base.fsutil import atomic_write_bytes

KB_FORMAT = "facetui-kb"
KB_VERSION = 1
FACE_DIM = 128


class KbError(FacetuiError, RuntimeError):
    """A KB file that is missing, unreadable, unsafe or of the wrong shape; the message says which."""


class KbMissing(KbError):
    """No KB file at the path yet (none built, none grown in review): callers that can start with none catch this."""


@dataclass
class KnowledgeBase:
    """Rows of embeddings with a person name and a source each (a dataset file, or a review decision)."""

    face_enc: np.ndarray = field(default_factory=lambda: np.zeros((0, FACE_DIM), np.float64))
    face_names: list[str] = field(default_factory=list)
    face_sources: list[str] = field(default_factory=list)
    body_enc: np.ndarray = field(default_factory=lambda: np.zeros((0, 0), np.float32))
    body_names: list[str] = field(default_factory=list)
    body_sources: list[str] = field(default_factory=list)
    meta: dict[str, Any] = field(default_factory=dict)  # builder settings, per-file records, timestamps

    @property
    def people(self) -> list[str]:
        return sorted(set(self.face_names) | set(self.body_names))

    @property
    def body_dim(self) -> int:
        return int(self.body_enc.shape[1]) if self.body_enc.ndim == 2 and self.body_enc.shape[0] else 0

    def counts(self) -> dict[str, dict[str, int]]:
        out: dict[str, dict[str, int]] = {}
        for n in self.face_names:
            out.setdefault(n, {"faces": 0, "bodies": 0})["faces"] += 1
        for n in self.body_names:
            out.setdefault(n, {"faces": 0, "bodies": 0})["bodies"] += 1
        return dict(sorted(out.items()))

    def fingerprint(self) -> str:
        """A short hash of the embeddings and names: identifies this KB in reports and manifests."""
        h = hashlib.sha256()
        h.update(np.ascontiguousarray(self.face_enc, dtype=np.float64).tobytes())
        h.update(json.dumps(self.face_names).encode())
        h.update(np.ascontiguousarray(self.body_enc, dtype=np.float32).tobytes())
        h.update(json.dumps(self.body_names).encode())
        return h.hexdigest()[:16]

    def check(self) -> None:
        if self.face_enc.ndim != 2 or (self.face_enc.shape[0] and self.face_enc.shape[1] != FACE_DIM):
            raise KbError(f"face encodings must be N x {FACE_DIM}, got {self.face_enc.shape}")
        if not (len(self.face_names) == len(self.face_sources) == self.face_enc.shape[0]):
            raise KbError("face names, sources and encodings differ in length")
        if self.body_enc.ndim != 2 or not (len(self.body_names) == len(self.body_sources) == self.body_enc.shape[0]):
            raise KbError("body names, sources and embeddings differ in length")
        if not np.isfinite(self.face_enc).all() or not np.isfinite(self.body_enc).all():
            raise KbError("the KB holds non-finite numbers")

    def add_face(self, name: str, enc: np.ndarray, source: str) -> None:
        self.face_enc = np.vstack(
            [self.face_enc.reshape(-1, FACE_DIM), np.asarray(enc, np.float64).reshape(1, FACE_DIM)]
        )
        self.face_names.append(name)
        self.face_sources.append(source)

    def add_body(self, name: str, emb: np.ndarray, source: str) -> None:
        emb = np.asarray(emb, np.float32).reshape(1, -1)
        if self.body_enc.shape[0] and self.body_enc.shape[1] != emb.shape[1]:
            raise KbError(f"body embedding has {emb.shape[1]} dims, the KB has {self.body_enc.shape[1]}")
        base = self.body_enc if self.body_enc.shape[0] else np.zeros((0, emb.shape[1]), np.float32)
        self.body_enc = np.vstack([base, emb])
        self.body_names.append(name)
        self.body_sources.append(source)

    def remove_source(self, source: str) -> int:
        """Drop every row that came from ``source``; return how many went."""
        keep_f = [i for i, s in enumerate(self.face_sources) if s != source]
        keep_b = [i for i, s in enumerate(self.body_sources) if s != source]
        gone = len(self.face_sources) - len(keep_f) + len(self.body_sources) - len(keep_b)
        self.face_enc = self.face_enc[keep_f].reshape(-1, FACE_DIM)
        self.face_names = [self.face_names[i] for i in keep_f]
        self.face_sources = [self.face_sources[i] for i in keep_f]
        self.body_enc = self.body_enc[keep_b] if self.body_enc.shape[0] else self.body_enc
        self.body_names = [self.body_names[i] for i in keep_b]
        self.body_sources = [self.body_sources[i] for i in keep_b]
        return gone


def to_bytes(kb: KnowledgeBase) -> bytes:
    kb.check()
    meta = dict(kb.meta)
    meta.update(
        {
            "format": KB_FORMAT,
            "version": KB_VERSION,
            "face_names": kb.face_names,
            "face_sources": kb.face_sources,
            "body_names": kb.body_names,
            "body_sources": kb.body_sources,
        }
    )
    buf = io.BytesIO()
    np.savez(
        buf,
        face_enc=np.asarray(kb.face_enc, np.float64),
        body_enc=np.asarray(kb.body_enc, np.float32),
        meta=np.array(json.dumps(meta)),
    )
    return buf.getvalue()


def save_kb(kb: KnowledgeBase, path: Path) -> Path:
    """Write the KB atomically (temp file + rename): readers see the old KB or the new one, never a mix."""
    path = Path(path)
    if path.suffix.lower() == ".pkl":
        path = path.with_suffix(".npz")
    atomic_write_bytes(path, to_bytes(kb))
    return path


def from_bytes(data: bytes, where: str = "KB") -> KnowledgeBase:
    try:
        with np.load(io.BytesIO(data), allow_pickle=False) as z:
            face = z["face_enc"]
            body = z["body_enc"]
            meta = json.loads(str(z["meta"]))
    except (ValueError, KeyError, OSError, EOFError, json.JSONDecodeError) as e:
        raise KbError(f"{where} is not a facetui KB or is damaged ({e}); rebuild it with 'facetui kb build'") from None
    if not isinstance(meta, dict) or meta.get("format") != KB_FORMAT:
        raise KbError(f"{where} is not a facetui KB file")
    try:
        version = int(meta.get("version", 0))
        lists = {k: meta.pop(k, []) for k in ("face_names", "face_sources", "body_names", "body_sources")}
        if not all(isinstance(v, list) for v in lists.values()):
            raise TypeError("name and source lists must be JSON lists")
        kb = KnowledgeBase(
            face_enc=np.asarray(face, np.float64).reshape(-1, FACE_DIM) if face.size else np.zeros((0, FACE_DIM)),
            face_names=[str(x) for x in lists["face_names"]],
            face_sources=[str(x) for x in lists["face_sources"]],
            body_enc=np.asarray(body, np.float32) if body.ndim == 2 else np.zeros((0, 0), np.float32),
            body_names=[str(x) for x in lists["body_names"]],
            body_sources=[str(x) for x in lists["body_sources"]],
            meta=meta,
        )
    except (ValueError, TypeError, OverflowError) as e:
        raise KbError(f"{where} has damaged metadata ({e}); rebuild it with 'facetui kb build'") from None
    if version > KB_VERSION:
        raise KbError(f"{where} was written by a newer facetui (KB version {version})")
    kb.check()
    return kb


def load_kb(path: Path) -> KnowledgeBase:
    """Load a KB without running any code: .npz with allow_pickle=False, or a legacy .pkl through a strict unpickler.

    KbMissing (a KbError) when there is no file at all; KbError when there is one that cannot be used."""
    path = Path(path)
    npz = path.with_suffix(".npz") if path.suffix.lower() == ".pkl" else path
    if npz.exists():
        try:
            return from_bytes(npz.read_bytes(), str(npz))
        except OSError as e:
            raise KbError(f"cannot read KB {npz}: {e.strerror or e}") from None
    if path.suffix.lower() == ".pkl" and path.exists():
        return load_legacy_pickle(path)
    raise KbMissing(
        f"no knowledge base at {npz}: build the KB first ('facetui kb build'), or sort with none and name the people "
        "in review"
    )


# --- the seed's encodings.pkl, read safely -----------------------------------------------------

_NUMPY_ALLOWED = {
    ("numpy.core.multiarray", "_reconstruct"),
    ("numpy._core.multiarray", "_reconstruct"),
    ("numpy", "ndarray"),
    ("numpy", "dtype"),
    ("numpy.core.multiarray", "scalar"),
    ("numpy._core.multiarray", "scalar"),
    ("numpy.core.numeric", "_frombuffer"),
    ("numpy._core.numeric", "_frombuffer"),
}
_BUILTINS_ALLOWED = {
    "list",
    "dict",
    "tuple",
    "set",
    "frozenset",
    "str",
    "bytes",
    "bytearray",
    "int",
    "float",
    "bool",
    "complex",
}


class _StrictUnpickler(pickle.Unpickler):
    """Admits plain containers, strings, numbers and numpy arrays; any other global is refused (no code runs)."""

    def find_class(self, module: str, name: str) -> Any:
        if module == "builtins" and name in _BUILTINS_ALLOWED:
            return super().find_class(module, name)
        if (module, name) in _NUMPY_ALLOWED:
            return super().find_class(module, name)
        raise pickle.UnpicklingError(f"refused: the file asks to load '{module}.{name}', which a KB never needs")


def load_legacy_pickle(path: Path) -> KnowledgeBase:
    """Read the seed's encodings.pkl ({face_encodings, face_names, body_encodings, body_names}) safely."""
    try:
        with open(path, "rb") as f:
            db = _StrictUnpickler(f).load()
    except pickle.UnpicklingError as e:
        raise KbError(f"{path} was not loaded: {e}. It may be malicious; facetui only reads plain data.") from None
    except (EOFError, OSError, ValueError, TypeError, AttributeError, IndexError) as e:
        raise KbError(f"{path} is not a readable legacy KB ({type(e).__name__}: {e})") from None
    if not isinstance(db, dict):
        raise KbError(f"{path} holds a {type(db).__name__}, not the legacy KB dictionary")
    try:
        fe = [np.asarray(x, np.float64).reshape(FACE_DIM) for x in (db.get("face_encodings") or [])]
        fn = [str(x) for x in (db.get("face_names") or [])]
        be = [np.asarray(x, np.float32).reshape(-1) for x in (db.get("body_encodings") or [])]
        bn = [str(x) for x in (db.get("body_names") or [])]
    except (ValueError, TypeError) as e:
        raise KbError(f"{path}: legacy KB entries have the wrong shape ({e})") from None
    if len(fe) != len(fn) or len(be) != len(bn):
        raise KbError(f"{path}: legacy KB names and encodings differ in length")
    kb = KnowledgeBase(
        face_enc=np.vstack(fe) if fe else np.zeros((0, FACE_DIM)),
        face_names=fn,
        face_sources=["legacy:" + path.name] * len(fn),
        body_enc=np.vstack(be) if be else np.zeros((0, 0), np.float32),
        body_names=bn,
        body_sources=["legacy:" + path.name] * len(bn),
        meta={"legacy_source": str(path)},
    )
    kb.check()
    return kb
