"""Trace and freeze a torch model for CPU inference, kept only where it computes what the model computes."""

from __future__ import annotations

import warnings
from typing import Any


def frozen_if_same(model: Any, example: Any, probe: Any, tol: float, normalise: bool = False) -> Any:
    """``model`` traced on ``example``, frozen (batch norms folded into convolutions, weights laid out for the
    CPU's kernels), if on ``probe`` (another batch size) it gives the model's outputs to within ``tol``, compared
    after L2 normalisation when ``normalise``; else ``model`` itself. Any failure keeps ``model``: this is an
    optimisation only."""
    import torch

    def out(m: Any) -> Any:
        y = m(probe).float()
        return torch.nn.functional.normalize(y, dim=1) if normalise else y

    try:
        with torch.no_grad(), warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tracer warnings about Python values in the graph
            frozen = torch.jit.optimize_for_inference(
                torch.jit.freeze(torch.jit.trace(model, example, check_trace=False))
            )
            want, got = out(model), out(frozen)
        if got.shape == want.shape and float((got - want).abs().max()) < tol:
            return frozen
    except Exception:
        pass
    return model
