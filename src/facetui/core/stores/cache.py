"""Embedding cache: per-photo analyses and body embeddings in SQLite, keyed by content hash and model settings, no pickle."""

from __future__ import annotations

import io
import json
import sqlite3
import struct
import threading
from pathlib import Path

import numpy as np

from ..models.analyze import Analysis

CACHE_FILE = "embeddings.sqlite"
_SCHEMA = "CREATE TABLE IF NOT EXISTS entries (key TEXT PRIMARY KEY, payload BLOB NOT NULL)"


MAGIC = b"FTC1"  # an entry: MAGIC, the header's length (4 bytes, little-endian), a JSON header, the arrays' bytes
_DTYPES = frozenset({"<f8", "<f4", "<i8"})  # plain numbers only: an entry's bytes never become objects


def _pack(arrays: dict[str, np.ndarray], meta: dict) -> bytes:
    """An entry's bytes: a JSON header (``meta``, each array's name, dtype and shape) and the arrays' raw bytes
    (about ten times quicker both ways than a zip of .npy files, which is what entries written before are)."""
    arrays = {k: np.ascontiguousarray(a, dtype=a.dtype.newbyteorder("<")) for k, a in arrays.items()}
    head = {"meta": meta, "arrays": [[k, a.dtype.str, list(a.shape)] for k, a in arrays.items()]}
    h = json.dumps(head).encode()
    return b"".join([MAGIC, struct.pack("<I", len(h)), h, *(a.tobytes() for a in arrays.values())])


def _unpack(blob: bytes) -> tuple[dict[str, np.ndarray], dict]:
    """An entry's arrays (read-only views of ``blob``) and meta; raises on anything malformed (a miss then)."""
    if not blob.startswith(MAGIC):
        return _unpack_npz(blob)
    (n,) = struct.unpack_from("<I", blob, len(MAGIC))
    start = len(MAGIC) + 4
    head = json.loads(blob[start : start + n])
    offset, arrays = start + n, {}
    for name, dtype, shape in head["arrays"]:
        if dtype not in _DTYPES or not all(isinstance(d, int) and d >= 0 for d in shape):
            raise ValueError(f"cache entry with an array of {dtype} {shape}")
        count = int(np.prod(shape, dtype=np.int64))
        a = np.frombuffer(blob, dtype=np.dtype(dtype), count=count, offset=offset)
        arrays[str(name)] = a.reshape(shape)
        offset += a.nbytes
    if offset != len(blob):
        raise ValueError("cache entry of the wrong length")
    return arrays, head["meta"]


def _unpack_npz(blob: bytes) -> tuple[dict[str, np.ndarray], dict]:
    """An entry as written before MAGIC (np.savez; read without pickle)."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as z:
        arrays = {k: z[k] for k in z.files}
    meta = json.loads(str(arrays.pop("__meta__")))
    return arrays, meta


class EmbeddingCache:
    """A small key/value store; a corrupt or unreadable cache is moved aside and rebuilt, never trusted."""

    def __init__(self, folder: Path | None):
        self.path = Path(folder) / CACHE_FILE if folder is not None else None
        self.notice = ""
        self._lock = threading.Lock()
        self._db: sqlite3.Connection | None = None
        if self.path is not None:
            self._open()

    def _open(self) -> None:
        assert self.path is not None
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._db = self._connect()
        except sqlite3.DatabaseError as e:
            self._set_aside(e)
        except OSError as e:
            self.notice = f"embedding cache off: cannot use {self.path.parent} ({e.strerror or e})"
            self._db = None

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(self.path, timeout=30, check_same_thread=False, isolation_level=None)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("PRAGMA synchronous=NORMAL")
        db.execute(_SCHEMA)
        ok = db.execute("PRAGMA quick_check").fetchone()
        if not ok or ok[0] != "ok":
            db.close()
            raise sqlite3.DatabaseError(f"integrity check failed: {ok}")
        return db

    def _set_aside(self, err: Exception) -> None:
        assert self.path is not None
        bad = self.path.with_name(self.path.name + ".corrupt")
        for suffix in ("", "-wal", "-shm"):
            p = Path(str(self.path) + suffix)
            if p.exists():
                p.replace(Path(str(bad) + suffix))
        self.notice = f"embedding cache was unreadable ({err}); moved aside to {bad.name} and rebuilt"
        try:
            self._db = self._connect()
        except (sqlite3.DatabaseError, OSError) as e:
            self.notice = f"embedding cache off: {e}"
            self._db = None

    def _get(self, key: str) -> tuple[dict[str, np.ndarray], dict] | None:
        if self._db is None:
            return None
        with self._lock:
            try:
                row = self._db.execute("SELECT payload FROM entries WHERE key=?", (key,)).fetchone()
            except sqlite3.DatabaseError:
                return None
        if row is None:
            return None
        try:
            return _unpack(row[0])
        except Exception:  # a damaged entry is a miss, and it is replaced on the next put
            return None

    def _put(self, key: str, blob: bytes) -> None:
        if self._db is None:
            return
        with self._lock:
            try:
                self._db.execute("INSERT OR REPLACE INTO entries (key, payload) VALUES (?, ?)", (key, blob))
            except sqlite3.DatabaseError:
                pass

    # -- faces -------------------------------------------------------------------------------
    def get_analysis(self, sha: str, face_key: str) -> Analysis | None:
        got = self._get(f"face:{face_key}:{sha}")
        if got is None:
            return None
        arrays, meta = got
        try:
            enc = arrays["encodings"].astype(np.float64).reshape(-1, 128)
            boxes = [tuple(int(v) for v in b) for b in arrays["boxes"].reshape(-1, 4)]
            sharp = [float(v) for v in arrays["sharpness"].reshape(-1)]
            if not (len(boxes) == len(sharp) == enc.shape[0]):
                return None
            return Analysis(
                sha256=sha,
                size=tuple(meta["size"]),
                boxes=boxes,
                sharpness=sharp,
                encodings=enc,
                notes=tuple(meta.get("notes", ())),
                error=str(meta.get("error", "")),
            )
        except (KeyError, ValueError, TypeError):
            return None

    def put_analysis(self, a: Analysis, face_key: str) -> None:
        if not a.sha256:
            return
        arrays = {
            "encodings": np.asarray(a.encodings, dtype=np.float64).reshape(-1, 128),
            "boxes": np.asarray(a.boxes, dtype=np.int64).reshape(-1, 4),
            "sharpness": np.asarray(a.sharpness, dtype=np.float64),
        }
        meta = {"size": list(a.size), "notes": list(a.notes), "error": a.error}
        self._put(f"face:{face_key}:{a.sha256}", _pack(arrays, meta))

    # -- bodies ------------------------------------------------------------------------------
    def get_body(self, sha: str, key: str, regions: int) -> np.ndarray | None:
        got = self._get(f"body:{key}:{sha}")
        if got is None:
            return None
        emb = got[0].get("emb")
        if emb is None or emb.ndim != 2 or emb.shape[0] != regions:
            return None
        return emb.astype(np.float32)

    def put_body(self, sha: str, key: str, emb: np.ndarray) -> None:
        if sha:
            self._put(f"body:{key}:{sha}", _pack({"emb": np.asarray(emb, dtype=np.float32)}, {}))

    def close(self) -> None:
        with self._lock:
            if self._db is not None:
                self._db.close()
                self._db = None
