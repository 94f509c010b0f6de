"""Run manifests: a TOML record of each run (versions, device, settings, KB identity, times, counts, outcome), kept next to its output."""

from __future__ import annotations

import os
import platform
import socket
import sys
import tomllib
from datetime import UTC, datetime
from importlib import metadata
from pathlib import Path
from typing import Any

import tomli_w

from ..base.fsutil import atomic_write_text
from ..base.settings import SPECS, Settings

MANIFEST_NAME = "run.toml"  # recognize: in the output folder, next to report.csv
KB_MANIFEST_NAME = "kb-run.toml"  # kb build: next to the KB file
EVAL_MANIFEST_NAME = "eval-run.toml"  # eval: in the output folder, next to eval.csv
MANIFEST_FORMAT = 1

RUNNING, COMPLETED, ABORTED, INTERRUPTED = "running", "completed", "aborted", "interrupted"


class ManifestError(ValueError):
    """A manifest file that is missing or is not a readable facetui run manifest."""


def manifest_path(settings: Settings, kind: str, output_dir: Path | None = None) -> Path:
    """Where the manifest of a run of ``kind`` ("recognize", "kb", "eval") lives."""
    if kind == "kb":
        return settings.kb_path.parent / KB_MANIFEST_NAME
    out = Path(output_dir) if output_dir is not None else settings.processed_dir
    return out / (EVAL_MANIFEST_NAME if kind == "eval" else MANIFEST_NAME)


def _now() -> datetime:
    return datetime.now(UTC)


def _dist_version(*names: str) -> str:
    for n in names:
        try:
            return metadata.version(n)
        except metadata.PackageNotFoundError:
            continue
    return ""


def library_versions() -> dict[str, str]:
    """Versions of what shapes the results; torch and torchreid only when this process imported them."""
    import numpy

    from ... import __version__
    from ..models.face.encode import encoder_impl  # light: dlib loads lazily
    from ..models.face.files import dlib_has_cuda

    out = {
        "facetui": __version__,
        "python": platform.python_version(),
        "numpy": numpy.__version__,
        "pillow": _dist_version("pillow", "Pillow"),
    }
    dlib = sys.modules.get("dlib")
    out["dlib"] = str(getattr(dlib, "__version__", "")) or _dist_version("dlib", "dlib-bin")
    out["dlib_cuda"] = "yes" if dlib is not None and dlib_has_cuda() else "no"
    out["face_recognition"] = _dist_version("face-recognition", "face_recognition")
    out["face_encoder"] = encoder_impl()  # onnx, torch or dlib: the descriptors' cache entries differ
    if out["face_encoder"] == "onnx":
        out["onnxruntime"] = _dist_version("onnxruntime")
    for mod in ("torch", "torchreid"):
        m = sys.modules.get(mod)
        if m is not None:
            out[mod] = str(getattr(m, "__version__", "")) or _dist_version(mod)
    return {k: v for k, v in out.items() if v}


def settings_table(settings: Settings) -> dict[str, Any]:
    """Every setting in effect, paths absolute (so the run can be repeated from anywhere)."""
    out: dict[str, Any] = {}
    for spec in SPECS:
        v = getattr(settings, spec.key)
        if isinstance(v, Path):
            v = str(v)
        elif v is None:
            v = ""
        elif isinstance(v, tuple):
            v = list(v)
        out[spec.key] = v
    return out


def kb_identity(kb=None, path: Path | None = None) -> dict[str, Any]:
    """Fingerprint, people and counts of a KB object, or of the KB file at ``path``; never raises."""
    if kb is None and path is not None:
        from .kb import KbError, load_kb

        try:
            kb = load_kb(path)
        except KbError as e:
            return {"path": str(path), "error": str(e)}
    if kb is None:
        return {"path": str(path or ""), "error": "no KB"}
    counts = kb.counts()
    return {
        "path": str(path or ""),
        "fingerprint": kb.fingerprint(),
        "people": list(kb.people),
        "faces": len(kb.face_names),
        "bodies": len(kb.body_names),
        "counts": counts,
    }


class RunManifest:
    """The manifest of one run: written at start (status "running") and rewritten at the end.

    Writing never raises: a failure is kept in ``error`` (the caller may say it once) so a manifest
    problem cannot stop a run.
    """

    def __init__(self, path: Path, data: dict[str, Any]):
        self.path = Path(path)
        self.data = data
        self.error = ""

    @classmethod
    def start(
        cls,
        kind: str,
        settings: Settings,
        path: Path,
        *,
        total: int,
        device: str = "cpu",
        input_dir: Path | None = None,
        output_dir: Path | None = None,
        kb=None,
        kb_path: Path | None = None,
        report_path: Path | None = None,
        body_enabled: bool = False,
        extra: dict[str, Any] | None = None,
    ) -> RunManifest:
        run: dict[str, Any] = {
            "kind": kind,
            "status": RUNNING,
            "started": _now(),
            "total": total,
            "device": device,
            "body_enabled": body_enabled,
            "settings_file": str(settings.source or ""),
            "input_dir": str(input_dir or ""),
            "output_dir": str(output_dir or ""),
            "report": str(report_path or ""),
            "pid": os.getpid(),
            "host": socket.gethostname(),
        }
        data = {
            "format": MANIFEST_FORMAT,
            "run": run,
            "versions": library_versions(),
            "settings": settings_table(settings),
            "kb": kb_identity(kb, kb_path if kb_path is not None else settings.kb_path),
        }
        if extra:
            data.update(extra)
        m = cls(path, data)
        m.write()
        return m

    def write(self) -> bool:
        try:
            atomic_write_text(self.path, tomli_w.dumps(_clean(self.data)))
        except (OSError, TypeError, ValueError) as e:
            self.error = f"run manifest not written to {self.path}: {getattr(e, 'strerror', None) or e}"
            return False
        self.error = ""
        return True

    def finish(
        self,
        summary=None,
        *,
        aborted: bool | None = None,
        kb=None,
        counts: dict[str, Any] | None = None,
        report_path: Path | None = None,
        notices: tuple[str, ...] | list[str] = (),
        extra: dict[str, Any] | None = None,
    ) -> bool:
        """Record the end: status completed/aborted, end time, counts (from a RunSummary and/or ``counts``)."""
        run = self.data["run"]
        ended = _now()
        run["finished"] = ended
        run["elapsed_s"] = round(getattr(summary, "elapsed_s", 0.0) or (ended - run["started"]).total_seconds(), 2)
        if aborted is None:
            aborted = bool(getattr(summary, "aborted", False))
        run["status"] = ABORTED if aborted else COMPLETED
        c: dict[str, Any] = {}
        if summary is not None:
            for k in ("total", "done", "known", "unknown", "errors", "faces", "bodies", "people", "skipped"):
                c[k] = int(getattr(summary, k))
            if summary.per_person:
                c["per_person"] = dict(summary.per_person)
            report_path = report_path or summary.report_path
            notices = tuple(notices) or tuple(summary.notices)
        c.update(counts or {})
        self.data["counts"] = c
        if report_path is not None:
            run["report"] = str(report_path)
        run["notices"] = [n for n in notices if n]
        if kb is not None:
            self.data["kb"] = kb_identity(kb, Path(self.data["kb"].get("path") or "") or None)
        if extra:
            self.data.update(extra)
        return self.write()


def _clean(x: Any) -> Any:
    """TOML has no null and wants str keys: drop None, stringify paths and keys."""
    if isinstance(x, dict):
        return {str(k): _clean(v) for k, v in x.items() if v is not None}
    if isinstance(x, (list, tuple)):
        return [_clean(v) for v in x if v is not None]
    if isinstance(x, Path):
        return str(x)
    return x


def read_manifest(path: Path | str) -> dict[str, Any]:
    """Parse a run manifest; ManifestError with a one-line reason when it is missing or unreadable.

    The result is the TOML as a dict, with ``run.state`` added: "completed", "aborted", "running", or
    "interrupted" (a "running" manifest whose process on this host is gone).
    """
    path = Path(path)
    try:
        with open(path, "rb") as f:
            data = tomllib.load(f)
    except FileNotFoundError:
        raise ManifestError(f"no run manifest at {path}") from None
    except OSError as e:
        raise ManifestError(f"cannot read run manifest {path}: {e.strerror or e}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as e:
        raise ManifestError(f"{path} is not a readable run manifest: {e}") from None
    run = data.get("run")
    if not isinstance(run, dict) or "kind" not in run or "status" not in run:
        raise ManifestError(f"{path} is not a facetui run manifest (no [run] kind/status)")
    run["state"] = _state(run)
    return data


def _state(run: dict[str, Any]) -> str:
    status = str(run.get("status", ""))
    if status != RUNNING:
        return status
    if run.get("host") == socket.gethostname() and isinstance(run.get("pid"), int) and not _alive(run["pid"]):
        return INTERRUPTED
    return RUNNING


def _alive(pid: int) -> bool:
    if pid == os.getpid():
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def recent_runs(settings: Settings) -> list[tuple[Path, dict[str, Any]]]:
    """The manifests of the last KB build, recognition and eval for these settings, newest first."""
    found = []
    for kind in ("kb", "recognize", "eval"):
        p = manifest_path(settings, kind)
        try:
            found.append((p, read_manifest(p)))
        except ManifestError:
            continue
    found.sort(key=lambda pm: _sort_key(pm[1]), reverse=True)
    return found


def last_run(settings: Settings) -> tuple[Path, dict[str, Any]] | None:
    """(path, manifest) of the most recent run for these settings, or None when there is none."""
    runs = recent_runs(settings)
    return runs[0] if runs else None


def _sort_key(m: dict[str, Any]) -> float:
    t = m["run"].get("started")
    return t.timestamp() if isinstance(t, datetime) else 0.0


def describe_run(m: dict[str, Any]) -> str:
    """One line for the Home screen and `facetui status`: what ran, when, how it ended, the counts."""
    run, c = m["run"], m.get("counts", {})
    what = {"recognize": "Recognition", "kb": "KB build", "eval": "Eval"}.get(run["kind"], run["kind"])
    started = run.get("started")
    when = started.astimezone().strftime("%Y-%m-%d %H:%M") if isinstance(started, datetime) else "?"
    state = run.get("state", run["status"])
    parts = [f"{what} {when}: {state}"]
    if run["kind"] == "recognize" and c:
        parts.append(
            f"{c.get('done', 0)}/{c.get('total', 0)} files, {c.get('known', 0)} known, "
            f"{c.get('unknown', 0)} unknown, {c.get('errors', 0)} errors"
        )
    elif run["kind"] == "kb" and c:
        parts.append(
            f"{c.get('people', 0)} people, {c.get('faces', 0)} faces, {c.get('bodies', 0)} bodies, "
            f"{c.get('skipped', 0)} skipped"
        )
    elif run["kind"] == "eval" and c:
        parts.append(f"{c.get('photos', 0)} photos, marked face_tol {c.get('marked', '-')}")
    elif not c:
        parts.append(f"{run.get('total', 0)} files")
    if run.get("elapsed_s") is not None:
        parts.append(f"{run['elapsed_s']:.1f}s")
    return ", ".join(parts)
