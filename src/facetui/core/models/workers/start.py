"""How analysis worker processes start: how many, and the forkserver they fork from (preloaded with what analysis
imports; the body set-up's check of a new weights file runs in a process of it too)."""

from __future__ import annotations

import multiprocessing
import os


def default_workers(setting: int) -> int:
    """The worker count a ``workers`` setting means: itself when positive, else one per usable core."""
    if setting > 0:
        return setting
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:
        return max(1, os.cpu_count() or 1)


def torch_in_workers(bodies: bool) -> bool:
    """Whether an analysis worker runs a network in torch: the face descriptor network where it does not run in
    ONNX Runtime, or OSNet (``bodies``: the workers embed the crops they cut) where ONNX Runtime is not wanted."""
    from ..face.encode import encoder_impl
    from ..runtime import onnxnets

    return encoder_impl() == "torch" or (bodies and not onnxnets.wanted())


def worker_context(torch_needed: bool) -> multiprocessing.context.BaseContext:
    """Worker processes forked from a server that has already imported dlib, numpy and (for the face descriptor
    network, or OSNet when ``torch_needed``) torch, once per facetui process: a worker then starts in a fraction of
    a second instead of importing torch itself (about 1 s of CPU on a CPU build, several on a CUDA build, times one
    per core). The server is a fresh interpreter, so the app's threads are never forked. 'spawn' where there is no
    forkserver."""
    if "forkserver" not in multiprocessing.get_all_start_methods():
        return multiprocessing.get_context("spawn")
    from ..runtime import onnxnets

    ctx = multiprocessing.get_context("forkserver")
    preload = ["numpy", "PIL.Image", "dlib", "facetui.core.models.analyze", "facetui.core.models.workers.serverexit"]
    if onnxnets.wanted():  # the networks run in ONNX Runtime: no torch unless a file must first be exported
        preload += ["onnxruntime", "facetui.core.models.face.resnet"]
    if torch_in_workers(torch_needed):
        preload += ["torch", "facetui.core.models.face.resnet"]
    ctx.set_forkserver_preload(preload)  # takes effect when the server starts (the first pool of this process)
    return ctx
