"""A user keymap: ``keymap.toml`` beside the settings file rebinds the app's keys by binding id.

    # keymap.toml
    review.assign_1 = "a"          # one key
    quit = "q,ctrl+d"              # or several, comma-separated

Every binding has an id (``facetui keys`` lists them with their keys). Unknown ids and malformed keys are
reported once and left out; the rest applies.
"""

from __future__ import annotations

import importlib
import pkgutil
import re
import tomllib
from pathlib import Path

from textual.app import App
from textual.binding import Binding

KEYMAP_NAME = "keymap.toml"
_KEY = re.compile(r"[a-z0-9_]+(\+[a-z0-9_]+)*\Z")


def bindings() -> dict[str, tuple[str, str, str]]:
    """{binding id: (keys, where, description)} for every binding of the app and its screens."""
    from . import __name__ as pkg

    out: dict[str, tuple[str, str, str]] = {}
    for info in pkgutil.iter_modules(importlib.import_module(pkg).__path__):
        mod = importlib.import_module(f"{pkg}.{info.name}")
        for obj in vars(mod).values():
            if not isinstance(obj, type) or obj.__module__ != mod.__name__:
                continue
            for b in obj.__dict__.get("BINDINGS", ()):
                if isinstance(b, Binding) and b.id and b.id not in out:
                    where = (
                        "anywhere"
                        if issubclass(obj, App)
                        else obj.__name__.removesuffix("Screen").removesuffix("Dialog")
                    )
                    out[b.id] = (b.key, where, b.description or b.action)
    return dict(sorted(out.items()))


def load_keymap(path: Path) -> tuple[dict[str, str], list[str]]:
    """The keymap in ``path`` (binding id -> keys) and one line per problem; a missing file is an empty keymap."""
    try:
        raw = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        return {}, []
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        return {}, [f"{path}: not read ({e}); the default keys apply"]
    known = bindings()
    keymap: dict[str, str] = {}
    problems: list[str] = []
    for bid, value in _flat(raw):
        if bid not in known:
            problems.append(f"{path}: no binding called {bid!r} (see `facetui keys`)")
            continue
        keys = [k.strip() for k in value.split(",")] if isinstance(value, str) else []
        if not keys or not all(_KEY.match(k) for k in keys):
            problems.append(f'{path}: {bid} = {value!r} is not a key such as "a", "ctrl+d" or "f2,ctrl+e"')
            continue
        keymap[bid] = ",".join(keys)
    return keymap, problems


def _flat(table: dict, prefix: str = "") -> list[tuple[str, object]]:
    """TOML reads ``review.assign_1 = "a"`` (or a ``[review]`` table) as nested tables: back to dotted ids."""
    out: list[tuple[str, object]] = []
    for key, value in table.items():
        if isinstance(value, dict):
            out += _flat(value, f"{prefix}{key}.")
        else:
            out.append((f"{prefix}{key}", value))
    return out
