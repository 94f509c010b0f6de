"""How many GPU actors the Ray engine asks for, and when it uses them at all (engines/ray/gpu.py): no Ray needed."""

from __future__ import annotations

from facetui.core.models.analyze import FaceConfig
from facetui.core.models.face import detect as face_detect
from facetui.core.models.face import encode as face_encode
from facetui.core.run.engines.ray.gpu import actor_count, applies


def test_gpu_actors_fit_on_each_nodes_gpus():
    assert actor_count((1.0,), 0.5) == 2
    assert actor_count((1.0, 0.0, 2.0), 0.5) == 6  # a CPU-only node holds none
    assert actor_count((1.0, 1.0), 0.4) == 4  # 2 per GPU: a third would straddle two GPUs
    assert actor_count((0.0,), 0.5) == 0
    assert actor_count((4.0,), 0.0) == 0
    assert actor_count((1.0,), 1.0) == 1


def test_gpu_actors_only_where_there_are_gpus_and_the_torch_ports_run(monkeypatch):
    hog, cnn = FaceConfig("hog"), FaceConfig("cnn")
    assert applies(hog, 0.5, (1.0,)) and applies(cnn, 0.5, (1.0,))
    assert not applies(hog, 0.5, (0.0, 0.0))  # no GPU on the cluster
    assert not applies(cnn, 0.0, (1.0,))  # ray_gpu_fraction 0: no GPU actors
    monkeypatch.setenv(face_detect.CNN_ENV, "dlib")  # dlib's own CNN runs only in the CPU actors
    assert applies(hog, 0.5, (1.0,)) and not applies(cnn, 0.5, (1.0,))
    monkeypatch.delenv(face_detect.CNN_ENV)
    monkeypatch.setenv(face_encode.ENCODER_ENV, "dlib")
    assert not applies(hog, 0.5, (1.0,))


def test_a_ray_run_sizes_itself_by_the_cluster_not_by_this_machine(monkeypatch, tmp_path):
    """workers 0 reaches the Ray engine as 0 (one actor per CPU of the cluster), the GPU actors get the run's
    batch size, and the photos in flight grow to twice what the cluster can work on at once."""
    from facetui.core.run.analyzer import Analyzer
    from facetui.core.run.engines.ray import engine as engine_ray
    from facetui.core.stores.cache import EmbeddingCache

    got: dict = {}

    class FakeEngine(engine_ray.RayEngine):  # the real for_run, which the factory calls; no cluster
        capacity = 500

        def __init__(self, cfg, want_body, workers, address, env, body, gpu_fraction, batch_size):
            got.update(workers=workers, gpu_fraction=gpu_fraction, batch_size=batch_size)

    monkeypatch.setattr(engine_ray, "RayEngine", FakeEngine)
    cache = EmbeddingCache(tmp_path / "cache")
    try:
        a = Analyzer(FaceConfig(), cache, workers=0, batch_size=8, engine="ray", ray_gpu_fraction=0.5)
        assert a._window() == 3 * a.workers  # before the engine starts: this machine's three per worker
        a._first_miss(1)  # the factory makes the run's engine
        assert got == {"workers": 0, "gpu_fraction": 0.5, "batch_size": 8}
        assert a._window() == 1000
    finally:
        cache.close()
