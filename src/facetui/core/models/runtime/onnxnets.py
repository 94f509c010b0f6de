"""The CPU's networks (dlib's face descriptor ResNet and CNN face detector, OSNet) run by ONNX Runtime from files
prepared once per machine.

On one CPU thread ONNX Runtime runs them in about half torch's time (osnet_ain_x1_0: ~18 ms a crop against ~40;
the face ResNet on a face and its mirror image: ~8 ms against ~14; the CNN detector's network about as fast:
quicker on 800 px photos, slower on small ones), and a worker that has them needs no torch at all: no second of
``import torch`` before its first photo. The files are exported from the torch models (face/resnet.py, face/mmod/,
body/) the first time a machine needs them, into the cache folder's ``models/`` beside dlib's prepared
detector (prepared.py), keyed by what they were made from (the weights file's hash, torch, onnx and onnxruntime
versions). An ONNX file holds a graph of operators and numbers, nothing that runs as code; it is still
never trusted: its record holds its SHA-256 and the torch model's outputs on a fixed probe, and a file that is
missing, different, damaged, or that gives other outputs is made again. Where it cannot be (no ``onnx`` to export
with, or the export fails), the torch model runs as before.

``FACETUI_CPU_RUNTIME=torch`` keeps torch (an A/B switch); ONNX Runtime's results differ from torch's in the last
bits (~3e-7), so face descriptors keep their own cache entries (analyze.FaceConfig.key).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import importlib.util
import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from . import prepared

RUNTIME_ENV = "FACETUI_CPU_RUNTIME"  # "torch": torch runs the networks on the CPU, as before ONNX Runtime
FORMAT = 1
OPSET = 17
_LOCK = threading.Lock()


@functools.cache
def available() -> bool:
    """Whether ONNX Runtime is installed (and ``onnx``, which exporting a file needs); asked once per process (a
    cache key is made per photo, and each look costs two searches of sys.path)."""
    return all(importlib.util.find_spec(m) is not None for m in ("onnxruntime", "onnx"))


def wanted() -> bool:
    """Whether the CPU's networks are to run in ONNX Runtime in this process (known without importing either)."""
    return os.environ.get(RUNTIME_ENV, "onnx") != "torch" and available()


def _version(dist: str) -> str:
    try:
        return importlib.metadata.version(dist)
    except importlib.metadata.PackageNotFoundError:
        return ""


class OnnxNet:
    """One ONNX Runtime session on one CPU thread (workers run one per core); ``run`` maps the input to the output."""

    def __init__(self, data: bytes):
        import onnxruntime as ort

        so = ort.SessionOptions()
        so.intra_op_num_threads = 1
        so.inter_op_num_threads = 1
        so.log_severity_level = 3  # errors only: nothing on the terminal for a run that goes well
        self._session = ort.InferenceSession(data, so, providers=["CPUExecutionProvider"])

    def run(self, x: np.ndarray) -> np.ndarray:
        return self._session.run(None, {"x": x})[0]


def _probe(shape: tuple[int, ...], dtype: str) -> np.ndarray:
    rng = np.random.default_rng(0)
    if dtype == "uint8":
        return rng.integers(0, 256, size=shape, dtype=np.uint8)
    return rng.random(shape, dtype=np.float32)


def _close(got: np.ndarray, want: np.ndarray, tol: float) -> bool:
    return got.shape == want.shape and bool(np.isfinite(got).all()) and float(np.abs(got - want).max()) < tol


def prepared_net(
    kind: str,
    ident: dict,
    build: Callable[[], Any],
    probe_shape: tuple[int, ...],
    dtype: str,
    tol: float,
    spatial: bool = False,
) -> OnnxNet | None:
    """The ONNX Runtime session of network ``kind`` made from what ``ident`` names (the weights file's hash...): from
    this machine's prepared file where it is intact and gives the recorded outputs, else exported from ``build()``
    (an eval-mode torch module taking the probe's dtype, NHWC for images) and checked against it on the probe, and
    stored for the next process. ``spatial``: the input's and output's last two axes (NCHW) may take any size, as
    well as the batch. None where ONNX Runtime is not wanted or the network cannot be had that way."""
    if not wanted():
        return None
    fields = {
        "format": FORMAT,
        "kind": kind,
        **ident,
        "torch": _version("torch"),
        "onnx": _version("onnx"),
        "onnxruntime": _version("onnxruntime"),
        "opset": OPSET,
    }
    key = hashlib.sha256(json.dumps(fields, sort_keys=True).encode()).hexdigest()[:20]
    folder = prepared.current_dir()
    model = record = None
    probe = _probe(probe_shape, dtype)
    if folder is not None:
        model, record = folder / f"{kind}-{key}.onnx", folder / f"{kind}-{key}.json"
        net = _load(model, record, fields, probe, tol)
        if net is not None:
            return net
    with _LOCK:  # one export at a time in this process
        try:
            data, want = _export(build, probe, spatial)
            net = OnnxNet(data)
            if not _close(net.run(probe), want, tol):
                return None
        except Exception:  # no onnx, an operator the exporter does not know...: torch runs it
            return None
    if model is not None and record is not None:
        try:
            prepared.store(model, record, fields, data, probe_out=want.tolist())
        except OSError:  # a read-only cache folder: the next process exports again
            pass
    return net


def _load(model: Path, record: Path, fields: dict, probe: np.ndarray, tol: float) -> OnnxNet | None:
    got = prepared.checked(model, record, fields)  # missing, damaged or different: None, and it is made again
    if got is None:
        return None
    data, rec = got
    try:
        want = np.asarray(rec["probe_out"], dtype=np.float32)
        net = OnnxNet(data)
        return net if _close(net.run(probe), want, tol) else None
    except Exception:  # a record without outputs, a file ONNX Runtime refuses, other outputs: made again
        return None


def _export(build: Callable[[], Any], probe: np.ndarray, spatial: bool = False) -> tuple[bytes, np.ndarray]:
    """(the ONNX file's bytes, the torch model's outputs on ``probe``)."""
    import io
    import warnings

    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a worker's share of the CPU
    try:
        module = build()
        x = torch.from_numpy(probe)
        with torch.inference_mode():
            want = module(x).float().numpy()
        buf = io.BytesIO()
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python values in the graph
            torch.onnx.export(
                module,
                (x,),
                buf,
                input_names=["x"],
                output_names=["y"],
                dynamic_axes={k: {0: "n", 2: "h", 3: "w"} if spatial else {0: "n"} for k in ("x", "y")},
                opset_version=OPSET,
                dynamo=False,
            )
        return buf.getvalue(), want
    finally:
        torch.set_num_threads(threads)
