"""The start every job shares (recognize, kb build, eval): face models checked, body set-up, embedding cache, run
manifest and the notices said at the start, held in one Job for the length of the job."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

from ..base.errors import SetupError
from ..base.events import JobKind, Notice, RunStarted
from ..base.fsutil import remove_stale_temps
from ..base.settings import Settings
from ..models.body.setup import BodySetup, setup_body
from ..models.face.files import FaceModelError, check_face_models
from ..models.runtime import prepared
from ..stores.cache import EmbeddingCache
from ..stores.kb import KbError, KbMissing, KnowledgeBase, load_kb
from ..stores.manifest import RunManifest, manifest_path
from .analyzer import Analyzer
from .timings import Timings

NO_KB_BODIES = "body recognition off: the KB has no body embeddings (rebuild it with the re-id weights set)"


def require_engine(settings: Settings) -> None:
    """A SetupError, before anything else is done, when the engine asked for cannot run here (Ray not installed)."""
    from .engines import require_engine as require

    require(settings.engine)


def _record_engine(manifest: RunManifest, info: dict) -> None:
    manifest.data["engine"] = dict(info)


def require_face_models() -> None:
    """A SetupError when face_recognition or its model files are missing (cheap: no model is loaded here)."""
    try:
        check_face_models()
    except FaceModelError as e:
        raise SetupError(str(e)) from None


def load_kb_for(settings: Settings, *, missing_ok: bool = False) -> KnowledgeBase:
    """The KB at ``settings.kb_path``; a SetupError saying why when it cannot be read. With ``missing_ok`` (recognize,
    which can start with no KB) no KB file at all is an empty KB; a file that is there but unusable is still an error."""
    try:
        return load_kb(settings.kb_path)
    except KbMissing as e:
        if missing_ok:
            return KnowledgeBase()
        raise SetupError(str(e)) from None
    except KbError as e:
        raise SetupError(str(e)) from None


@dataclass
class Job:
    """What a job has once it has started: its KB, body set-up, embedding cache and the Analyzer over it (None
    when nothing is analysed), run manifest (None when not recorded), the notices said at the start (the job may
    add more), and the Timings the benchmark asked for (``Timings.off()``: not timed)."""

    settings: Settings
    kind: JobKind
    total: int
    input_dir: Path | None
    kb: KnowledgeBase | None
    body: BodySetup
    cache: EmbeddingCache | None
    analyzer: Analyzer | None
    manifest: RunManifest | None
    notices: list[str]
    timings: Timings = field(default_factory=Timings.off)

    @property
    def body_enabled(self) -> bool:
        return self.body.encoder is not None

    def started(self, *, output_dir: Path | None) -> RunStarted:
        """The job's first event; ``output_dir`` is the folder it names (None for the KB build)."""
        return RunStarted(
            kind=self.kind,
            total=self.total,
            input_dir=self.input_dir,
            output_dir=output_dir,
            body_enabled=self.body_enabled,
            device=self.body.device,
            notices=tuple(self.notices),
        )

    def engine_notices(self) -> list[Notice]:
        """What the analysis engine has said since the last call (e.g. GPU actors that came up on a CPU), as
        warnings to yield; each is also kept among the job's notices, for its summary."""
        texts = self.analyzer.take_notices() if self.analyzer is not None else []
        self.notices.extend(texts)
        return [Notice("warning", t) for t in texts]


@contextlib.contextmanager
def open_job(
    settings: Settings,
    kind: JobKind,
    *,
    total: int,
    kb: KnowledgeBase | None,
    notices: list[str],
    input_dir: Path | None,
    output_dir: Path | None,
    match_kb: bool = True,
    analyse: bool = True,
    clean: Path | None = None,
    record: bool = True,
    report_path: Path | None = None,
    extra: dict[str, Any] | None = None,
    timings: Timings | None = None,
) -> Iterator[Job]:
    """Start a job of ``kind`` over ``total`` photos; the cache is closed when the block ends.

    In this order, each step adding its notice to ``notices`` (the caller's list, kept as the context's):
    - with ``analyse`` (False when nothing is analysed, as for an eval of the KB alone): the face models must be
      there (SetupError), body recognition is set up, the embedding cache opened and the Analyzer made; with
      ``match_kb`` (False for the KB build, which makes the body embeddings) body recognition is off when ``kb``
      has people but no body rows; a KB with no people at all (recognize with none yet) keeps it on, so the
      bodies are embedded and cached for the rerun after review has named people;
    - ``clean``: the temp files an interrupted run left in that folder (and below) are removed;
    - with ``record``: the run manifest is written to ``manifest_path(settings, kind, output_dir)`` (status
      "running", so a crash shows as interrupted; the job rewrites it at the end), recording ``kb``,
      ``report_path`` and ``extra``.
    ``timings``, when given, adds up seconds per stage (the Analyzer's and the job's) for the benchmark.
    """
    body = BodySetup(None, "", "", "cpu")
    cache = analyzer = None
    try:
        if analyse:
            require_face_models()  # loading waits for the first photo that needs it
            prepared.use_dir(prepared.machine_dir())  # dlib's detector and the ONNX networks, once per machine
            body = setup_body(settings, (kb.body_dim or None) if (match_kb and kb is not None) else None)
            no_people = kb is not None and not kb.people
            if match_kb and body.encoder is not None and not (kb and kb.body_dim) and not no_people:
                notices.append(NO_KB_BODIES)
                body.encoder = None
            else:
                notices.append(body.notice)
            cache = EmbeddingCache(settings.cache_dir)
            if cache.notice:
                notices.append(cache.notice)
            analyzer = Analyzer.for_settings(settings, cache, body, timings=timings)
        if clean is not None:
            stale = remove_stale_temps(clean)
            if stale:
                notices.append(f"removed {stale} temp file(s) left by an interrupted run")
        manifest = None
        if record:
            manifest = RunManifest.start(
                kind,
                settings,
                manifest_path(settings, kind, output_dir),
                total=total,
                device=body.device,
                input_dir=input_dir,
                output_dir=output_dir,
                kb=kb,
                report_path=report_path,
                body_enabled=body.encoder is not None,
                extra={"engine": {"name": settings.engine, "started": False}, **(extra or {})},
            )
            if manifest.error:
                notices.append(manifest.error)
            if analyzer is not None:  # the engine and, on Ray, the cluster it ran on (known once it started)
                analyzer.on_engine_closed = partial(_record_engine, manifest)
        yield Job(
            settings, kind, total, input_dir, kb, body, cache, analyzer, manifest, notices, timings or Timings.off()
        )
    finally:
        if cache is not None:
            cache.close()
