"""Engines: the ways a run does the per-photo work (decode, detect, encode, body crops) for the Analyzer's cache
misses, behind one typed seam.

``base`` holds the ``Engine`` Protocol and ``create_engine``, the one factory the Analyzer calls; ``local`` is the
local engine (a pool of worker processes and the thread that feeds it); ``worker`` is what those worker processes
(and Ray's actors) run; ``device`` is the device stage (the workers decode and cut, this process detects and
encodes on a GPU) and ``devicebatch`` its batches, shared with Ray's GPU actors; ``ray`` is the Ray engine's
sub-package.
"""

from .base import ENGINES, Engine, EngineConfig, create_engine, require_engine

__all__ = ["ENGINES", "Engine", "EngineConfig", "create_engine", "require_engine"]
