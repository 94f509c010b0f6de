"""Deciding whether body recognition can run: weights file present and loadable, KB dims matching; one clear notice when not."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass

from .settings import Settings


@dataclass
class BodySetup:
    encoder: object | None  # bodies.BodyEncoder when on
    key: str  # cache key part for body embeddings
    notice: str  # said once when body recognition is off, or what device it runs on
    device: str


def setup_body(settings: Settings, kb_body_dim: int | None = None) -> BodySetup:
    """Load OSNet from the user's weights file, or explain once why body recognition is off."""
    w = settings.reid_weights
    if w is None:
        return BodySetup(None, "", "body recognition off: no re-id weights file set ('reid_weights'); "
                         "faces only (facetui never downloads weights)", "cpu")
    if not w.is_file():
        return BodySetup(None, "", f"body recognition off: re-id weights file not found: {w}", "cpu")
    from .bodies import BodyModelError, load_body_encoder, weights_fingerprint  # noqa: PLC0415 (torch)

    try:
        enc = load_body_encoder(settings.reid_model, w, settings.device)
    except BodyModelError as e:
        return BodySetup(None, "", f"body recognition off: {e}", "cpu")
    if kb_body_dim and kb_body_dim != enc.dim:
        return BodySetup(None, "", f"body recognition off: the KB's body embeddings have {kb_body_dim} dims but "
                         f"{settings.reid_model} gives {enc.dim}; rebuild the KB with these weights", enc.device)
    raw = f"{settings.reid_model}|{weights_fingerprint(w)}|{settings.detector}|{settings.upsample}|{settings.resize_max}"
    key = hashlib.sha256(raw.encode()).hexdigest()[:16]
    return BodySetup(enc, key, f"body recognition on: {settings.reid_model} on {enc.device}", enc.device)
