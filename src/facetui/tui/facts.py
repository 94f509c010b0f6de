"""What the Home screen reports (KB status, folder photo counts, compute device), gathered without Textual."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from ..core.base.events import UNKNOWN
from ..core.base.settings import Settings


@dataclass(frozen=True)
class FolderFacts:
    path: Path
    exists: bool
    photos: int = 0
    unknown: int = 0  # output only: photos under Unknown/
    error: str = ""


@dataclass(frozen=True)
class HomeFacts:
    kb: dict  # kb_status(): ok, people, faces, bodies, built_at, stale | ok False, error
    input: FolderFacts
    output: FolderFacts
    body: str  # "on: ..." or "off: why"
    body_on: bool
    report: Path | None = None
    last_run: str = ""  # one line from the newest run manifest ("" when none)


@dataclass(frozen=True)
class DeviceInfo:
    torch_cuda: bool | None  # None: torch not importable
    gpu_name: str = ""
    dlib_cuda: bool = False
    notes: tuple[str, ...] = field(default=())

    def describe(self) -> str:
        if self.torch_cuda is None:
            torch_part = "CPU (torch not available)"
        elif self.torch_cuda:
            torch_part = f"CUDA ({self.gpu_name})" if self.gpu_name else "CUDA"
        else:
            torch_part = "CPU (no CUDA for torch)"
        return f"{torch_part} · dlib CUDA: {'yes' if self.dlib_cuda else 'no'}"


def body_state(settings: Settings) -> tuple[bool, str]:
    """Whether body recognition can run: weights set and present (loading them is the run's job)."""
    w = settings.reid_weights
    if w is None:
        return False, "off: no re-id weights file set (reid_weights)"
    if not w.is_file():
        return False, f"off: re-id weights file not found: {w}"
    return True, f"on: {settings.reid_model}, weights {w.name}"


def _count(folder: Path, settings: Settings, recursive: bool) -> int:
    from ..core.stores.scan import scan_images

    return len(scan_images(folder, settings.valid_exts, recursive))


def gather_home_facts(settings: Settings) -> HomeFacts:
    """Everything the Home screen shows except the device; reads the disk, so call it from a thread."""
    from ..core.run.kbbuild import kb_status
    from ..core.stores.manifest import describe_run, last_run
    from ..core.stores.report import REPORT_NAME

    inp, out = settings.process_dir, settings.processed_dir
    in_facts = FolderFacts(inp, inp.is_dir())
    if in_facts.exists:
        in_facts = FolderFacts(inp, True, _count(inp, settings, settings.recursive))
    out_facts = FolderFacts(out, out.is_dir())
    report = None
    if out_facts.exists:
        out_facts = FolderFacts(out, True, _count(out, settings, True), _count(out / UNKNOWN, settings, True))
        report = out / REPORT_NAME if (out / REPORT_NAME).is_file() else None
    on, text = body_state(settings)
    last = last_run(settings)
    return HomeFacts(
        kb=kb_status(settings),
        input=in_facts,
        output=out_facts,
        body=text,
        body_on=on,
        report=report,
        last_run=describe_run(last[1]) if last else "",
    )


_PROBE = """
import json
out = {"torch_cuda": None, "gpu": "", "dlib_cuda": False, "notes": []}
try:
    import torch
    out["torch_cuda"] = bool(torch.cuda.is_available())
    out["gpu"] = torch.cuda.get_device_name(0) if out["torch_cuda"] else ""
except Exception as e:
    out["notes"].append(f"torch: {e}")
from facetui.core.models.face.files import dlib_has_cuda
out["dlib_cuda"] = dlib_has_cuda()
print(json.dumps(out))
"""


def probe_device(timeout: float = 120.0) -> DeviceInfo:
    """Ask torch and dlib about CUDA in a child process: importing torch takes seconds and would hold the app's GIL."""
    import json
    import subprocess
    import sys

    try:
        done = subprocess.run(
            [sys.executable, "-c", _PROBE], capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL
        )
        out = json.loads(done.stdout.strip().splitlines()[-1])
    except (OSError, subprocess.SubprocessError, ValueError, IndexError) as e:
        return DeviceInfo(torch_cuda=None, notes=(f"device check failed: {e}",))
    return DeviceInfo(
        torch_cuda=out["torch_cuda"], gpu_name=out["gpu"], dlib_cuda=bool(out["dlib_cuda"]), notes=tuple(out["notes"])
    )
