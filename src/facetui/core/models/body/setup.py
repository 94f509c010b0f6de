"""Deciding whether body recognition can run (weights file present and known good, KB dims matching) without
loading OSNet until a photo needs it; one clear notice when it cannot.

Why it is long: the lazy encoder, the per-machine record of checked weights files and the check in a worker
process are three views of one decision (may this file be used, and where), kept together so they cannot disagree;
the spec a worker loads from (osnet.BodySpec) sits with the model it names.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from ...base.settings import Settings
from .osnet import BodyModelError, BodySpec, available_models, weights_fingerprint

# Beside the embedding cache: one small JSON record per weights file that loaded in full on this machine.
CHECKED_DIR = "models"
# How OSNet is prepared for the CPU in torch: batch norms folded and weights channels-last, checked against the eager
# model (encoder.folded_if_same); cheap at each load, and most of the speed of tracing and freezing (README, Speed).
# Tracing once per machine and storing the result was the alternative; the traced, optimised module cannot be saved
# (torch.jit.save fails on its prepacked weights), and a TorchScript archive holds code that torch.jit.load
# would compile from a folder anyone with write access to the cache could change.
PREPARE = "fold"
# ...and once a run has embedded this many crops, the folded model is traced and frozen as well: a long run gets
# the last bit of speed, a short one never pays for it.
TRACE_AFTER = 384
# A worker process embeds one photo's crops at a time (one to a few), where the channels-last layout is slower than
# NCHW: it folds the batch norms and keeps NCHW, and still traces and freezes after TRACE_AFTER crops of its own.
WORKER_PREPARE = "fold-nchw"


@dataclass
class BodySetup:
    encoder: Any | None  # a LazyBodyEncoder when on (OSNet itself loads at the first photo that needs it)
    key: str  # cache key part for body embeddings
    notice: str  # said once when body recognition is off, or what device it runs on
    device: str


class LazyBodyEncoder:
    """Stands for an encoder.BodyEncoder that is loaded (torch imported, OSNet built, weights read, prepared) only when
    a photo needs a body embedding: ``start()`` begins loading in a background thread (the first cache miss calls
    it, so the load overlaps the worker pool's start and the filing of cached photos), ``embed()`` waits for it.

    A failed load raises BodyModelError from ``ready()``/``embed()``; the weights file's hash was checked
    at set-up, so that means torch itself is broken, or the file changed under the run (the file is hashed again
    around the load: embeddings keyed by one file's hash never come from another file)."""

    def __init__(
        self,
        model_name: str,
        weights_path: Path,
        device_pref: str,
        dim: int,
        device: str,
        loaded: Any | None = None,
        sha256: str = "",
        prepare: str | bool = PREPARE,
    ):
        self.model_name = model_name
        self.prepare = prepare  # encoder.load_body_encoder's freeze
        self.sha256 = sha256
        self.weights_path = Path(weights_path)
        self.device_pref = device_pref
        self.dim = dim
        self._device = device  # "cpu", or the preference ("auto"/"cuda") until the model is loaded
        self._enc = loaded
        self._err: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._lock = threading.Lock()

    @property
    def device(self) -> str:
        return self._enc.device if self._enc is not None else self._device

    @property
    def loaded(self) -> bool:
        return self._enc is not None

    def cpu_spec(self) -> BodySpec | None:
        """The spec a worker process loads this model from, where it runs on the CPU (known without torch) and
        the weights file's hash is known; None where only this process should run it (a GPU, or "auto" that only
        torch can resolve)."""
        return self.spec() if self.device == "cpu" else None

    def spec(self) -> BodySpec | None:
        """The spec another process (a Ray actor, on whichever device it has) loads this model from; None where
        the weights file's hash is not known."""
        return BodySpec(self.model_name, self.weights_path, self.sha256, self.dim) if self.sha256 else None

    def start(self) -> None:
        """Begin loading in the background (once); returns at once."""
        with self._lock:
            if self._enc is not None or self._thread is not None:
                return
            self._thread = threading.Thread(target=self._load, name="facetui-osnet-load", daemon=True)
            self._thread.start()

    def _load(self) -> None:
        from .encoder import load_body_encoder  # torch at its first call

        def same_file() -> None:
            if self.sha256 and weights_fingerprint(self.weights_path) != self.sha256:
                raise BodyModelError(f"the re-id weights file {self.weights_path} changed during the run")

        try:
            if self._device == "cpu" and self.sha256:
                from .onnxform import OnnxReid, prepared_reid_net

                net = prepared_reid_net(
                    self.spec()
                )  # ONNX Runtime where it is wanted and can run it (no torch here then)
                if net is not None:
                    self._enc = OnnxReid(net, self.model_name, self.dim)
                    return
            same_file()
            enc = load_body_encoder(
                self.model_name, self.weights_path, self.device_pref, freeze=self.prepare, trace_after=TRACE_AFTER
            )
            same_file()
            if enc.dim != self.dim:
                raise BodyModelError(
                    f"{self.model_name} from {self.weights_path} gives {enc.dim} dims, "
                    f"not the {self.dim} recorded for it"
                )
            self._enc = enc
        except BaseException as e:  # handed to the thread that waits for the model
            self._err = e

    def ready(self) -> Any:
        """The loaded encoder.BodyEncoder, waiting for (or doing) the load."""
        self.start()
        t = self._thread
        if self._enc is None and t is not None:
            t.join()
        if self._enc is None:
            err = self._err

            if isinstance(err, BodyModelError):
                raise err
            raise BodyModelError(f"the body model could not be loaded: {type(err).__name__}: {err}") from err
        return self._enc

    def embed(self, crops, batch_size: int = 16):
        return self.ready().embed(crops, batch_size=batch_size)


_IN_PROCESS: dict[tuple[BodySpec, str], LazyBodyEncoder] = {}  # this process's encoder per spec and device


def encoder_for(spec: BodySpec, device: str = "cpu") -> LazyBodyEncoder:
    """This process's encoder for ``spec`` on ``device`` (a worker's or an actor's: loaded once), loaded at its
    first ``embed`` (one try: a failed load raises the same BodyModelError for every later photo). On the
    CPU: ONNX Runtime where it can (onnxform.py), else torch (prepared as WORKER_PREPARE says)."""
    enc = _IN_PROCESS.get((spec, device))
    if enc is None:
        prepare = WORKER_PREPARE if device == "cpu" else PREPARE
        enc = LazyBodyEncoder(
            spec.model_name, spec.weights_path, device, spec.dim, device, sha256=spec.sha256, prepare=prepare
        )
        _IN_PROCESS[(spec, device)] = enc
    return enc


def cheap_device(pref: str) -> str | None:
    """The device "cpu" or "auto" means, where that is known without importing torch: "cpu" when asked for, or
    "auto" where the installed torch has no CUDA libraries at all; None when only torch can tell."""
    if pref == "cpu":
        return "cpu"
    if pref != "auto":
        return None
    try:
        import importlib.util

        spec = importlib.util.find_spec("torch")
    except (ImportError, ValueError):
        spec = None
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        lib = Path(root) / "lib"
        try:
            if any("cuda" in p.name for p in lib.iterdir()):
                return None
        except OSError:
            return None
    return "cpu"


def _torch_version() -> str:
    try:
        return importlib.metadata.version("torch")
    except importlib.metadata.PackageNotFoundError:
        return ""


def _record_path(cache_dir: Path | None, model_name: str, sha: str) -> Path | None:
    if cache_dir is None:
        return None
    return Path(cache_dir) / CHECKED_DIR / f"checked-{model_name}-{sha[:32]}.json"


def _read_record(path: Path | None, model_name: str, sha: str) -> int | None:
    """The embedding width recorded for this exact file (same model, same torch), or None: never trusted beyond
    its exact fields, and a damaged record is simply not there."""
    if path is None:
        return None
    try:
        rec = json.loads(path.read_text("utf-8"))
        if (
            rec.get("model") == model_name
            and rec.get("sha256") == sha
            and rec.get("torch") == _torch_version()
            and isinstance(rec.get("dim"), int)
            and 0 < rec["dim"] <= 65536
        ):
            return int(rec["dim"])
    except (OSError, ValueError, AttributeError, TypeError):
        pass
    return None


def _write_record(path: Path | None, model_name: str, sha: str, dim: int) -> None:
    if path is None:
        return
    from ...base.fsutil import atomic_write_text

    try:
        atomic_write_text(
            path,
            json.dumps({"model": model_name, "sha256": sha, "torch": _torch_version(), "dim": int(dim)}, sort_keys=True)
            + "\n",
        )
    except OSError:
        pass  # only a speed-up: the next run checks the file in full again


def forget_checked(settings: Settings) -> None:
    """Drop the record of the settings' weights file (after its deferred load failed), so the next run checks it
    in full before it starts."""
    w = settings.reid_weights
    if w is None or settings.cache_dir is None:
        return
    d = Path(settings.cache_dir) / CHECKED_DIR
    try:
        for p in d.glob(f"checked-{settings.reid_model}-*.json"):
            p.unlink()
    except OSError:
        pass


def _checked_dim(model_name: str, weights_path: Path, sha: str = "", prepared_dir: Path | None = None) -> int:
    """The embedding width of ``model_name`` loaded in full from ``weights_path`` (BodyModelError if it does
    not load); run in a worker process. Where the workers will run OSNet in ONNX Runtime, its file is prepared here
    too (with the file's hash ``sha``, in ``prepared_dir``), so that the workers find it ready and need no torch."""
    from ..runtime import onnxnets, prepared
    from .encoder import load_body_encoder

    enc = load_body_encoder(model_name, weights_path, "cpu", freeze=False)
    if sha and onnxnets.wanted():
        from .onnxform import prepared_reid_net

        prepared.use_dir(prepared_dir)
        try:
            prepared_reid_net(BodySpec(model_name, weights_path, sha, enc.dim), loaded=enc)
        except Exception:  # only a head start: each worker tries again
            pass
    return enc.dim


def _prepare_face_net(prepared_dir: Path | None) -> None:
    """The face network's ONNX file, made beside the check on a machine's first run (else each worker would)."""
    from ..face.encode import prepare_onnx_file
    from ..runtime import prepared

    prepared.use_dir(prepared_dir)
    prepare_onnx_file()


def _check_in_worker(model_name: str, weights_path: Path, sha: str = "") -> int:
    """_checked_dim in a process forked from the workers' forkserver (started here if it is not running); the face
    network's ONNX file is prepared in a second one meanwhile, where it is wanted and not there yet."""
    import concurrent.futures as cf

    from ..runtime import onnxnets, prepared
    from ..workers.start import worker_context

    folder = prepared.current_dir()
    face_too = onnxnets.wanted() and folder is not None and not any(folder.glob("face-resnet-*.onnx"))
    try:
        with cf.ProcessPoolExecutor(2 if face_too else 1, mp_context=worker_context(torch_needed=True)) as ex:
            if face_too:
                ex.submit(_prepare_face_net, folder)
            return ex.submit(_checked_dim, model_name, weights_path, sha, folder).result()
    except cf.process.BrokenProcessPool as e:
        raise BodyModelError(f"the process checking {weights_path} died (out of memory, or a crash in torch)") from e


def setup_body(settings: Settings, kb_body_dim: int | None = None) -> BodySetup:
    """Check the user's OSNet weights file, or explain once why body recognition is off.

    Returns the run's BodySetup: its encoder (None when off), the key its embeddings are cached under, the one
    notice to say and the device. Never raises for a bad file: that turns body recognition off, saying why.
    Cheap when the file is known: its sha256 is what the body embeddings are keyed by, and a file with that hash
    that loaded in full before on this machine (a record in ``cache_dir/models/``) is not loaded now: OSNet loads
    (in the background) when the first photo misses the cache, so a run whose photos are all cached imports no
    torch. A file seen for the first time is loaded in full here, so that a bad file is refused before the run
    starts with the same clear message as ever (and every photo will need it anyway: its embeddings are keyed
    by the new hash); on the CPU that load is only the check (made in a process of the workers' forkserver where
    workers will run, so this process imports no torch), and the model that embeds is prepared where it runs
    (each worker process, or this one when it analyses photos itself).
    """
    w = settings.reid_weights
    if w is None:
        return _off("no re-id weights file set ('reid_weights'); faces only (facetui never downloads weights)")
    if not w.is_file():
        return _off(f"re-id weights file not found: {w}")

    model = settings.reid_model
    if model not in available_models():
        return _off(f"unknown body model {model!r}; choose one of: {', '.join(available_models())}")
    try:
        sha = weights_fingerprint(w)
        enc = _encoder(settings, model, w, sha)
    except BodyModelError as e:
        return _off(str(e))
    if kb_body_dim and kb_body_dim != enc.dim:
        return _off(
            f"the KB's body embeddings have {kb_body_dim} dims but {model} gives {enc.dim}; "
            "rebuild the KB with these weights",
            enc.device,
        )
    raw = f"{model}|{sha}|{settings.detector}|{settings.upsample}|{settings.resize_max}"
    key = hashlib.sha256(raw.encode()).hexdigest()[:16]
    where = enc.device if enc.loaded or enc.device == "cpu" else f"{enc.device} (decided when a photo needs it)"
    return BodySetup(enc, key, f"body recognition on: {model} on {where}", enc.device)


def _off(why: str, device: str = "cpu") -> BodySetup:
    """Body recognition off, saying ``why`` once."""
    return BodySetup(None, "", f"body recognition off: {why}", device)


def _encoder(settings: Settings, model: str, w: Path, sha: str) -> LazyBodyEncoder:
    """The run's encoder for weights ``w`` (sha256 ``sha``): lazy when a record says the file loaded before here,
    else checked now by loading it in full (where the workers run, on the CPU). Raises BodyModelError for a file
    that does not load; a file that does is recorded."""
    record = _record_path(settings.cache_dir, model, sha)
    dim = _read_record(record, model, sha)
    # "cuda" is loaded now: only torch can tell whether the GPU is there, and that should be said before the run
    if dim is not None and settings.device in ("cpu", "auto"):
        return LazyBodyEncoder(
            model, w, settings.device, dim, cheap_device(settings.device) or settings.device, sha256=sha
        )
    from ..workers.start import default_workers

    if cheap_device(settings.device) == "cpu" and default_workers(settings.workers) > 1:
        # every photo will need a worker on the CPU (its body embeddings are keyed by the new hash): the check
        # runs in a process of the workers' forkserver, which imports torch for them anyway, and this process
        # never imports it
        checked_dim = _check_in_worker(model, w, sha)
        _write_record(record, model, sha, checked_dim)
        return LazyBodyEncoder(model, w, "cpu", checked_dim, "cpu", sha256=sha)
    from .encoder import load_body_encoder  # torch

    loaded = load_body_encoder(model, w, settings.device, freeze=False)  # the check: not prepared yet
    _write_record(record, model, sha, loaded.dim)
    if loaded.device == "cpu":  # this process loads a prepared copy if it needs one (one worker)
        return LazyBodyEncoder(model, w, "cpu", loaded.dim, "cpu", sha256=sha)
    return LazyBodyEncoder(model, w, settings.device, loaded.dim, loaded.device, loaded=loaded, sha256=sha)
