"""Reaching a Ray cluster for the Ray engine (engine.py): Ray imported only when asked for, with a one-line
message where the extra is missing, and the connection made from a long-lived host thread.

Why a host thread: ``ray.init`` from a thread that then ends kills the local cluster it started (its GCS and raylet
get a parent-death signal tied to that thread) and the driver gives up a minute later; the connection is therefore
made, once per process, in a daemon thread that lives as long as the process. A local cluster started here ends with
this process, its agents too, however the process ends (the watchdog in watch.py).
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
from dataclasses import dataclass
from pathlib import Path

from ....base.errors import SetupError

INSTALL_HINT = "pip install 'facetui[ray]'"
# test hook: a local cluster declares this many GPUs, which its GPU actors (gpu.py) then run on the CPU
TEST_GPUS_ENV = "FACETUI_TEST_RAY_GPUS"


def import_ray():
    """Ray, or a SetupError that says how to install it."""
    try:
        import ray
    except ImportError:
        raise SetupError(
            f"engine 'ray' needs Ray, which is not installed: {INSTALL_HINT} (or set engine to local)"
        ) from None
    return ray


def cluster_failure(exc: BaseException) -> str:
    """The error a photo gets for a call on the cluster that raised ``exc`` (its cause's last line, in short)."""
    reason = (str(getattr(exc, "cause", None) or exc).strip().splitlines() or ["?"])[-1][:200]
    return f"analysis failed on the cluster: {reason}"


def stop(ray, refs: list, actors: list) -> None:
    """Cancel the calls ``refs`` and kill ``actors``; those already finished, or a cluster gone, are no matter."""
    for ref in refs:
        try:
            ray.cancel(ref)
        except Exception:
            pass
    for a in actors:
        try:
            ray.kill(a)
        except Exception:
            pass


@dataclass(frozen=True)
class Cluster:
    """What the run was given, for the manifest."""

    address: str
    nodes: int
    cpus: float
    gpus: float
    node_gpus: tuple[float, ...] = ()  # the GPUs of each node that is up (a GPU actor's share fits on one node)

    def describe(self) -> dict:
        return {"name": "ray", "address": self.address, "nodes": self.nodes, "cpus": self.cpus, "gpus": self.gpus}


def _worker_env(env: dict[str, str]) -> dict[str, str]:
    """The environment a worker needs: facetui's FACETUI_* settings and hooks, and where facetui is on this
    machine (so a local cluster runs the driver's code; a real cluster needs facetui installed on every node)."""
    src = str(Path(__file__).resolve().parents[3])
    path = os.pathsep.join(p for p in (src, os.environ.get("PYTHONPATH", "")) if p)
    return {**env, "PYTHONPATH": path}


_host_lock = threading.Lock()
_host: dict[str, object] = {}  # "thread", "ready" (Event), "error" (the connection's exception, if any)


def _host_thread(address: str, cpus: int | None, env: dict[str, str], ready: threading.Event) -> None:
    """Connect, then live as long as the process: Ray's local processes (GCS, raylet) are started with a parent-
    death signal tied to the thread that started them, so the thread that calls ``ray.init`` must never end
    (measured: from a thread that returns, the cluster dies with it and the driver gives up a minute later)."""
    ray = import_ray()
    kwargs = {
        "include_dashboard": False,
        "log_to_driver": False,
        "configure_logging": False,
        "runtime_env": {"env_vars": _worker_env(env)},
    }
    try:
        if address:
            ray.init(address=address, **kwargs)
        else:  # the machine's GPUs, found by Ray (or TEST_GPUS_ENV's count of pretend ones)
            gpus = os.environ.get(TEST_GPUS_ENV)
            ray.init(num_cpus=cpus, num_gpus=int(gpus) if gpus else None, **kwargs)
            _host["watchdog"] = _start_watchdog()
    except BaseException as e:  # the waiting run raises it
        _host["error"] = e
        ready.set()
        return
    ready.set()
    threading.Event().wait()  # never set: the thread (a daemon) ends with the process


def _start_watchdog():
    """The local cluster this process started ends with it, agents included, however it ends (watch.py): a
    watchdog process that holds the read end of a pipe whose write end only this process holds."""
    import subprocess
    import sys

    return subprocess.Popen(
        [sys.executable, "-m", "facetui.core.run.engines.ray.watch", str(os.getpid())],
        stdin=subprocess.PIPE,
        stdout=subprocess.DEVNULL,
        env={**os.environ, **_worker_env({})},
    )


def connect(address: str, cpus: int | None, env: dict[str, str], cancel: threading.Event | None = None) -> Cluster:
    """Join the cluster at ``address`` ("auto", "HOST:PORT"), or start a local one of ``cpus`` CPUs when it is
    empty; the connection is made once per process and kept (later runs, e.g. in the app, reuse it).
    ``cancel`` set while waiting raises ``cf.CancelledError``."""
    ray = import_ray()
    with _host_lock:
        if "thread" not in _host and not ray.is_initialized():
            ready = threading.Event()
            th = threading.Thread(
                target=_host_thread, args=(address, cpus, env, ready), name="facetui-ray-host", daemon=True
            )
            _host.update(thread=th, ready=ready, address=address)
            th.start()
    ready = _host.get("ready")
    if isinstance(ready, threading.Event):
        while not ready.wait(0.2):
            if cancel is not None and cancel.is_set():
                raise cf.CancelledError()
        err = _host.get("error")
        if err is not None:
            with _host_lock:
                _host.clear()  # the next run tries again
            if isinstance(err, ConnectionError):
                raise SetupError(f"cannot reach the Ray cluster at {address}: {err}") from None
            raise err  # type: ignore[misc]
    res = ray.cluster_resources()
    alive = [n for n in ray.nodes() if n.get("Alive")]
    node_gpus = tuple(float(n.get("Resources", {}).get("GPU", 0)) for n in alive)
    where = str(_host.get("address", address))
    return Cluster(where, len(alive), float(res.get("CPU", 0)), float(res.get("GPU", 0)), node_gpus)
