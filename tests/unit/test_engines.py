"""The engine seam (core/run/engines/base.py): every engine class has the whole Protocol, every value of the engine
setting has a maker, and the factory's answers for a local run (none, the worker pool, the device stage)."""

from __future__ import annotations

import pytest

from facetui.core.base.settings import SPEC_BY_KEY
from facetui.core.models.analyze import FaceConfig
from facetui.core.run.engines import ENGINES, Engine, EngineConfig, create_engine
from facetui.core.run.engines.device import STAGE_ENV, DeviceEngine
from facetui.core.run.engines.local import LocalEngine
from facetui.core.run.engines.ray.engine import RayEngine

MEMBERS = [
    name
    for name in vars(Engine)
    if not name.startswith("_") and (callable(vars(Engine)[name]) or isinstance(vars(Engine)[name], property))
]


def test_the_protocol_names_what_the_analyzer_uses():
    assert sorted(MEMBERS) == [
        "capacity",
        "close",
        "cores_used",
        "describe",
        "embeds_bodies",
        "submit",
        "take_notices",
    ]


@pytest.mark.parametrize("cls", [LocalEngine, DeviceEngine, RayEngine])
def test_every_engine_has_the_whole_protocol(cls):
    missing = [m for m in MEMBERS if not hasattr(cls, m)]
    assert missing == [], f"{cls.__name__} lacks {missing}"


def test_every_value_of_the_engine_setting_has_a_maker():
    assert set(ENGINES) == set(SPEC_BY_KEY["engine"].choices)


def test_a_local_run_gets_no_engine_the_pool_or_the_device_stage(monkeypatch):
    monkeypatch.delenv(STAGE_ENV, raising=False)
    one = EngineConfig(name="local", workers=1, local_workers=1)
    assert create_engine(one, FaceConfig(), None, 10) is None  # one worker: the run's thread analyses each photo
    two = EngineConfig(name="local", workers=2, local_workers=2)
    assert create_engine(two, FaceConfig(), None, 1) is None  # one photo: no pool worth its start
    eng = create_engine(two, FaceConfig(), None, 10)
    try:
        assert isinstance(eng, LocalEngine)
        assert (eng.capacity, eng.cores_used, eng.embeds_bodies) == (2, 2, False)
        assert eng.describe() == {"name": "local", "workers": 2, "started": True}
    finally:
        eng.close()
    monkeypatch.setenv(STAGE_ENV, "cpu")
    eng = create_engine(EngineConfig(name="local", workers=2, local_workers=2), FaceConfig("cnn", 0, 800), None, 10)
    try:
        assert isinstance(eng, DeviceEngine)
        assert eng.describe()["stage"] == "device" and eng.cores_used == 2 and not eng.embeds_bodies
    finally:
        eng.close()
