"""Faster forms of a torch model for CPU inference (traced and frozen, or any other), each kept only where it computes
what the model computes on a probe."""

from __future__ import annotations

import warnings
from collections.abc import Callable
from typing import Any


def kept_if_same(model: Any, make: Callable[[], Any], probe: Any, tol: float, normalise: bool = False) -> Any:
    """``make()``, a faster form of the eval-mode ``model``, if on ``probe`` it gives the model's outputs to within
    ``tol`` (compared after L2 normalisation when ``normalise``); else ``model`` itself. Any failure keeps ``model``:
    this is an optimisation only."""
    import torch

    def out(m: Any) -> Any:
        y = m(probe).float()
        return torch.nn.functional.normalize(y, dim=1) if normalise else y

    try:
        with torch.no_grad():
            faster = make()
            want, got = out(model), out(faster)
        if got.shape == want.shape and float((got - want).abs().max()) < tol:
            return faster
    except Exception:
        pass
    return model


def frozen_if_same(model: Any, example: Any, probe: Any, tol: float, normalise: bool = False) -> Any:
    """``model`` traced on ``example`` and frozen (batch norms folded into convolutions, weights laid out for the
    CPU's kernels), where on ``probe`` (another batch size) it computes what ``model`` does (:func:`kept_if_same`)."""
    import torch

    def freeze() -> Any:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python values in the graph
            return torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(model, example, check_trace=False))
            )

    return kept_if_same(model, freeze, probe, tol, normalise)
