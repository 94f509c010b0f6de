"""`--engine ray` on a local Ray cluster: the same filing and report as the local engine, bad photos and dying
workers reported per photo, an abort seen at once, and a clear message where Ray is not installed; the same with
GPU actors (ray_gpu.py).

One Ray of 2 CPUs and one pretend GPU serves every test here (it starts with the first, in about 5-10 s); the GPU
actor runs on the CPU there, which tests the mechanics (the stages, batches, faults), not a GPU. The tests are
few because each start of the actors loads the face models again.
"""

from __future__ import annotations

import csv
import subprocess
import sys
import threading
import time
import tomllib
from pathlib import Path

import pytest

from facetui.core.base.events import FileDone, Notice, RunFinished
from facetui.core.base.settings import load_settings
from facetui.core.models.body import setup as body_setup
from facetui.core.run.engines.ray import engine as engine_ray
from facetui.core.run.engines.ray import gpu as ray_gpu
from facetui.core.run.engines.ray import slots as rayslots
from facetui.core.run.engines.ray.cluster import TEST_GPUS_ENV
from facetui.core.run.kbbuild import build_kb
from facetui.core.run.recognize import recognize
from facetui.core.stores.report import REPORT_NAME
from support.helpers import DEMO, filed, make_workspace, run_all

pytest.importorskip("ray", reason="the Ray engine's tests need the extra: pip install 'facetui[ray]'")
pytestmark = pytest.mark.ray

QUERIES = sorted((DEMO / "query").glob("*.jpg"))


def _rows(out: Path) -> list[list[str]]:
    with open(out / REPORT_NAME, newline="", encoding="utf-8") as f:
        return sorted(list(csv.reader(f))[1:])


@pytest.fixture(scope="module", autouse=True)
def pretend_gpu():
    """The tests' local Ray declares one GPU when it starts (with the first test here)."""
    mp = pytest.MonkeyPatch()
    mp.setenv(TEST_GPUS_ENV, "1")
    yield
    mp.undo()


def _ray(settings, workspace, name: str, gpu: float = 0.0):
    """Settings for a run on the local Ray; ``gpu``: a GPU actor's share of the pretend GPU (0: no GPU actors)."""
    return settings.replace(
        engine="ray", ray_address="", workers=2, ray_gpu_fraction=gpu, cache_dir=workspace / f"cache-{name}"
    )


def _manifest_engine(out: Path) -> dict:
    return tomllib.loads((out / "run.toml").read_text())["engine"]


def test_ray_files_and_reports_exactly_as_the_local_engine(settings, workspace):
    run_all(recognize(settings.replace(cache_dir=workspace / "cache-local"), output_dir=workspace / "out-l"))
    on_ray = run_all(recognize(_ray(settings, workspace, "ray"), output_dir=workspace / "out-r"))
    done = [e for e in on_ray if isinstance(e, FileDone)]
    assert len(done) == len(QUERIES) and not any(e.result.cached or e.result.error for e in done)
    assert filed(workspace / "out-r") == filed(workspace / "out-l")
    assert _rows(workspace / "out-r") == _rows(workspace / "out-l")
    summary = on_ray[-1].summary
    assert isinstance(on_ray[-1], RunFinished) and not summary.aborted
    engine = _manifest_engine(workspace / "out-r")
    assert engine == {"started": True, "name": "ray", "address": "", "nodes": 1, "cpus": 2.0, "gpus": 1.0}
    local = _manifest_engine(workspace / "out-l")
    assert local["name"] == "local"  # one worker: analysed in this process, no pool started


def test_a_bad_file_and_a_worker_that_dies_cost_only_their_photo(settings, workspace, monkeypatch):
    folder = _four_and_bad(workspace)
    monkeypatch.setenv("FACETUI_TEST_WORKER_DIES_ON", QUERIES[1].name)  # the worker exits on this photo, each try
    events = run_all(recognize(_ray(settings, workspace, "faults"), input_dir=folder, output_dir=workspace / "out-f"))
    done = {e.result.rel: e.result for e in events if isinstance(e, FileDone)}
    assert len(done) == 5 and not events[-1].summary.aborted
    assert "worker died" in done[QUERIES[1].name].error
    assert done["broken.jpg"].error and "worker" not in done["broken.jpg"].error
    for q in (QUERIES[0], QUERIES[2], QUERIES[3]):
        assert not done[q.name].error, done[q.name].error
    rows = {r[0] for r in _rows(workspace / "out-f")}
    assert {QUERIES[1].name, "broken.jpg"} <= rows  # the report says what happened to each file


def test_gpu_actors_file_and_report_exactly_as_the_local_engine(settings, workspace):
    """With a GPU on the cluster the CPU actors detect and cut the chips, the GPU actor encodes them in batches:
    the local engine's filing and report."""
    run_all(recognize(settings.replace(cache_dir=workspace / "cache-local"), output_dir=workspace / "out-l"))
    on_ray = run_all(recognize(_ray(settings, workspace, "gpu", gpu=1.0), output_dir=workspace / "out-g"))
    done = [e.result for e in on_ray if isinstance(e, FileDone)]
    assert len(done) == len(QUERIES) and not any(r.cached or r.error for r in done)
    assert filed(workspace / "out-g") == filed(workspace / "out-l")
    assert _rows(workspace / "out-g") == _rows(workspace / "out-l")
    engine = _manifest_engine(workspace / "out-g")
    assert (engine["gpus"], engine["gpu_actors"], engine["gpu_fraction"], engine["gpu_device"]) == (1.0, 1, 1.0, "cpu")
    # the pretend GPU's actor runs on the CPU (no CUDA here): the run says so once, in the log and the summary
    said = [e.text for e in on_ray if isinstance(e, Notice)]
    assert said == [ray_gpu.CPU_ONLY_NOTICE]
    assert ray_gpu.CPU_ONLY_NOTICE in on_ray[-1].summary.notices


def test_gpu_actors_embed_the_bodies_as_the_cpu_workers_do(tmp_path, monkeypatch):
    """Body recognition on (a random-init OSNet: mechanics only): the GPU actor embeds every photo's body crops in
    batches, and the report's body top-3s are the local engine's."""
    from facetui.core.models.body.osnet import save_random_weights

    w = save_random_weights(tmp_path / "osnet_random.pth", "osnet_x0_25")
    sp = make_workspace(tmp_path / "ws", reid_weights=str(w), reid_model="osnet_x0_25", kb_batch_size=4, device="cpu")
    s = load_settings(sp)
    run_all(build_kb(s))
    run_all(recognize(s.replace(workers=2, cache_dir=tmp_path / "c-l"), output_dir=tmp_path / "out-l"))

    def not_here(*_a, **_k):
        raise AssertionError("the driver embedded body crops: the GPU actor should have")

    monkeypatch.setattr(body_setup.LazyBodyEncoder, "embed", not_here)
    events = run_all(recognize(_ray(s, tmp_path, "body", gpu=1.0), output_dir=tmp_path / "out-g"))
    done = {e.result.rel: e.result for e in events if isinstance(e, FileDone)}
    assert events[0].body_enabled and not any(r.error for r in done.values())
    assert len(done["q07.jpg"].faces[0].body) == 3  # no face: its body top-3 came from the GPU actor
    assert _rows(tmp_path / "out-g") == _rows(tmp_path / "out-l")
    assert _manifest_engine(tmp_path / "out-g")["gpu_actors"] == 1


def _four_and_bad(workspace: Path) -> Path:
    folder = workspace / "mixed"
    folder.mkdir()
    for q in QUERIES[:4]:
        (folder / q.name).write_bytes(q.read_bytes())
    (folder / "broken.jpg").write_bytes(QUERIES[0].read_bytes()[:300])  # a truncated JPEG
    return folder


def test_gpu_actors_detect_with_cnn_and_a_lost_gpu_actor_costs_no_photo(settings, workspace, engines, monkeypatch):
    """cnn: the CPU actors only decode, the GPU actor detects and encodes. Its first batch is lost with it (killed,
    as by a crash or a lost node): those photos are redone on its replacement. A bad file and a CPU worker that
    dies on a photo each cost only that photo; the rest is filed as the local engine files it."""
    import ray

    folder = _four_and_bad(workspace)
    cnn = settings.replace(detector="cnn", upsample=0)
    run_all(recognize(cnn.replace(cache_dir=workspace / "cache-l"), input_dir=folder, output_dir=workspace / "out-l"))
    monkeypatch.setenv("FACETUI_TEST_WORKER_DIES_ON", QUERIES[1].name)
    killed: list = []

    def kill_gpu_actor_with_a_batch() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and not killed:
            for eng in engines:
                gpu = eng._gpu
                slots = [s for s in (gpu._slots if gpu else []) if s.up and s.batches and s.actor is not None]
                if slots:
                    ray.kill(slots[0].actor, no_restart=True)
                    killed.append(slots[0])
                    return
            time.sleep(0.01)

    threading.Thread(target=kill_gpu_actor_with_a_batch, daemon=True).start()
    events, ended = _run_in_thread(
        lambda: recognize(_ray(cnn, workspace, "cnn", gpu=1.0), input_dir=folder, output_dir=workspace / "out-g"), 300
    )
    assert ended and killed, "the run did not end, or no GPU actor was killed"
    done = {e.result.rel: e.result for e in events if isinstance(e, FileDone)}
    assert len(done) == 5 and not events[-1].summary.aborted
    assert "worker died" in done[QUERIES[1].name].error
    assert done["broken.jpg"].error and "worker" not in done["broken.jpg"].error
    good = [q.name for q in (QUERIES[0], QUERIES[2], QUERIES[3])]
    assert not [done[n].error for n in good if done[n].error]
    local_rows = {r[0]: r for r in _rows(workspace / "out-l")}
    assert {r[0]: r for r in _rows(workspace / "out-g") if r[0] in good} == {n: local_rows[n] for n in good}
    assert _manifest_engine(workspace / "out-g")["gpu_actors"] == 1


@pytest.fixture
def engines(monkeypatch) -> list:
    """The Ray engines made from now on, listed."""
    made: list = []
    real_init = engine_ray.RayEngine.__init__

    def init(self, *a, **k):
        made.append(self)
        real_init(self, *a, **k)

    monkeypatch.setattr(engine_ray.RayEngine, "__init__", init)
    return made


@pytest.fixture
def unplaceable(engines, monkeypatch):
    """Ray engines made from now on, listed; their replacement workers ask for a resource no node has (as a full
    cluster that lost a node would leave them pending)."""
    import ray

    real_new = engine_ray.RayEngine._new_actor

    def new_actor(self):
        if not self._ready:
            return real_new(self)
        cls = engine_ray._make_actor_class(ray).options(num_cpus=1, resources={"facetui_test_nowhere": 1})
        return cls.remote(self.face_cfg.detector, self.env, self.body)

    monkeypatch.setattr(engine_ray.RayEngine, "_new_actor", new_actor)
    return engines


def _killer(engines: list, how_many: int, killed: list) -> threading.Thread:
    """A thread that kills busy workers that are up, one after another, until ``how_many`` are dead."""
    import ray

    def run() -> None:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline and len(killed) < how_many:
            for eng in engines:
                with eng._lock:
                    busy = [s for s in eng._slots if s.busy and s.up and s.actor is not None]
                for slot in busy[: how_many - len(killed)]:
                    ray.kill(slot.actor, no_restart=True)
                    killed.append(slot)
            time.sleep(0.02)

    t = threading.Thread(target=run, daemon=True)
    t.start()
    return t


def _run_in_thread(gen_factory, limit_s: float) -> tuple[list, bool]:
    got: list = []
    run = threading.Thread(target=lambda: got.extend(run_all(gen_factory())), daemon=True)
    run.start()
    run.join(limit_s)
    return got, not run.is_alive()


def test_a_lost_worker_whose_place_the_cluster_cannot_refill_costs_no_photo(settings, workspace, unplaceable):
    """As when a node is lost: a worker is killed with a photo on it, and its replacement can never be placed. The
    photo in flight is redone on the worker left, nothing waits on the pending one, and the run ends with the local
    engine's filing."""
    run_all(recognize(settings.replace(cache_dir=workspace / "cache-local"), output_dir=workspace / "out-l"))
    killed: list = []
    _killer(unplaceable, 1, killed)
    events, ended = _run_in_thread(
        lambda: recognize(_ray(settings, workspace, "lost"), output_dir=workspace / "out-lost"), 120
    )
    assert killed, "no worker was killed"
    assert ended, "the run waits on a photo sent to a worker that never started"
    done = [e.result for e in events if isinstance(e, FileDone)]
    assert len(done) == len(QUERIES) and not any(r.error for r in done), [r.error for r in done if r.error]
    assert filed(workspace / "out-lost") == filed(workspace / "out-l")
    assert _rows(workspace / "out-lost") == _rows(workspace / "out-l")
    assert not killed[0].up  # its pending replacement never took a photo


def test_with_every_worker_lost_and_none_placeable_the_run_reports_the_rest_and_ends(
    settings, workspace, unplaceable, monkeypatch
):
    """Every node lost: no worker is up and no replacement can start. After REFILL_WAIT_S the photos waiting are
    reported (and every later one), the run ends, and a rerun would analyse them (the errors are transient)."""
    monkeypatch.setattr(rayslots, "REFILL_WAIT_S", 1.0)
    killed: list = []
    _killer(unplaceable, 2, killed)
    events, ended = _run_in_thread(
        lambda: recognize(_ray(settings, workspace, "all-lost"), output_dir=workspace / "out-all-lost"), 120
    )
    assert len(killed) == 2 and ended
    done = [e.result for e in events if isinstance(e, FileDone)]
    assert len(done) == len(QUERIES) and not events[-1].summary.aborted
    lost = [r for r in done if r.error]
    assert lost and all("no analysis worker" in r.error or "worker died" in r.error for r in lost), [
        r.error for r in lost
    ]


@pytest.mark.parametrize("gpu", [0.0, 1.0], ids=["cpu-actors", "gpu-actors"])
def test_an_abort_during_start_up_is_seen_within_a_second(settings, workspace, gpu):
    cancel = threading.Event()
    gen = recognize(_ray(settings, workspace, f"abort{gpu}", gpu), output_dir=workspace / "out-a", cancel=cancel)
    started = next(gen)
    assert started.total == len(QUERIES)
    threading.Timer(0.5, cancel.set).start()  # the actors are still starting (loading the face models)
    t = time.monotonic()
    rest = list(gen)
    assert time.monotonic() - t < 0.5 + 1.5
    assert isinstance(rest[-1], RunFinished) and rest[-1].summary.aborted


def test_without_ray_installed_the_run_says_how_to_install_it(tmp_path):
    code = (
        "import sys; sys.modules['ray'] = None\n"  # as if the extra were not installed
        "from facetui.cli import main\n"
        "sys.exit(main(['recognize', '--engine', 'ray', '--settings', sys.argv[1]]))\n"
    )
    settings_path = make_workspace(tmp_path)  # no KB built: the engine is checked before anything else
    r = subprocess.run([sys.executable, "-c", code, str(settings_path)], capture_output=True, text=True, timeout=120)
    assert r.returncode == 2, r.stdout + r.stderr
    assert "pip install 'facetui[ray]'" in r.stderr and "Traceback" not in r.stderr


def test_workers_that_die_past_the_replacement_limit_still_let_the_run_end(settings, workspace, monkeypatch):
    """No replacements allowed and a photo that kills each worker it reaches: once no worker is left, the photos
    waiting and every later one are reported (transient: a rerun tries them again), and the run ends."""
    monkeypatch.setattr(rayslots, "MAX_REPLACED", 0)
    monkeypatch.setenv("FACETUI_TEST_WORKER_DIES_ON", QUERIES[0].name)
    events, ended = _run_in_thread(
        lambda: recognize(_ray(settings, workspace, "limit"), output_dir=workspace / "out-limit"), 120
    )
    assert ended, "photos sent after the last worker was given up wait for ever"
    done = [e.result for e in events if isinstance(e, FileDone)]
    assert len(done) == len(QUERIES) and not events[-1].summary.aborted
    assert "worker died" in done[0].error
    assert all("no analysis worker left" in r.error for r in done[1:] if r.error)
