"""The seed's FolderWorker loop, re-created as the reference that bench_recognize.py measures facetui against:
serial, one file per call; decode with face_recognition, detect + align, encode the largest face, decode again
with PIL, OSNet on the whole photo one call per file, copy. A part of bench_recognize.py (its "seed" and "seed-1t"
child runs), not a script of its own."""

from __future__ import annotations

import math
import os
import shutil
import time
from pathlib import Path

from benchlib.measure import CpuWatch, own_rss
from benchlib.workspace import MODEL


class SeedReid:
    """The seed's TorchreidBodyExtractor as it is called: one PIL image per call, resized to 256x128."""

    def __init__(self, weights: Path):
        from facetui.core.models.body.encoder import load_body_encoder

        self.enc = load_body_encoder(MODEL, weights, "cpu", freeze=False)  # the seed runs torchreid's eager model

    def __call__(self, pil_img):
        import numpy as np
        from PIL import Image

        x = np.asarray(pil_img.resize((128, 256), Image.Resampling.BILINEAR))
        return self.enc.embed([x], batch_size=1)[0]


def seed_detect_and_align(fr, img_np, desired_size=160, resize_max=800, lap_var_thresh=80.0, tm=None):
    """The seed's face_encoder.detect_and_align_faces, re-created: downscale, HOG detect, 5-point landmarks,
    sharpness gate, rotate so the eyes are level, crop a square chip. Returns [{'bbox', 'aligned'}]."""
    import numpy as np
    from PIL import Image

    from facetui.core.models.images import sharpness

    clock = time.process_time
    t = clock()
    h, w = img_np.shape[:2]
    s = min(1.0, resize_max / max(h, w))
    small = img_np if s >= 1.0 else np.asarray(Image.fromarray(img_np).resize((round(w * s), round(h * s))))
    tm["decode"] += clock() - t  # the resize belongs to decoding the photo into a working size
    t = clock()
    locs = fr.face_locations(small, number_of_times_to_upsample=1, model="hog")
    tm["detect"] += clock() - t
    t = clock()
    out = []
    marks = fr.face_landmarks(small, locs, model="small") if locs else []
    for (top, right, bottom, left), lm in zip(locs, marks):
        face = small[max(top, 0) : bottom, max(left, 0) : right]
        if face.size == 0 or sharpness(face) < lap_var_thresh:
            continue
        le, re = np.mean(lm["left_eye"], axis=0), np.mean(lm["right_eye"], axis=0)
        angle = math.degrees(math.atan2(re[1] - le[1], re[0] - le[0]))
        cx, cy = (left + right) / 2, (top + bottom) / 2
        half = 0.65 * max(bottom - top, right - left)
        box = (int(cx - half), int(cy - half), int(cx + half), int(cy + half))
        region = Image.fromarray(small).crop(box)  # pads outside the photo with black
        chip = region.rotate(angle, resample=Image.Resampling.BILINEAR).resize((desired_size, desired_size))
        out.append({"bbox": tuple(int(round(v / s)) for v in (top, right, bottom, left)), "aligned": np.asarray(chip)})
    tm["align"] += clock() - t
    return out


def child_seed(spec: dict) -> dict:
    """One file per call, serial, as the seed's FolderWorker.run does it."""
    import numpy as np
    import torch
    from PIL import Image

    from facetui.core.base.settings import load_settings
    from facetui.core.stores.kb import load_kb

    t_start = time.perf_counter()
    if spec.get("torch_threads"):
        torch.set_num_threads(spec["torch_threads"])
    settings = load_settings(Path(spec["settings"]))
    inp, outp = Path(spec["input"]), Path(spec["output"])
    import face_recognition as fr  # the seed used its API

    kb = load_kb(settings.kb_path)
    known_faces = list(kb.face_enc)
    known_face_names = list(kb.face_names)
    bodies_t = torch.as_tensor(np.asarray(kb.body_enc, dtype=np.float32)) if len(kb.body_names) else None
    known_body_names = list(kb.body_names)
    reid = SeedReid(settings.reid_weights)
    outp.mkdir(parents=True, exist_ok=True)
    exts = tuple(settings.valid_exts)
    files = sorted(f for f in os.listdir(inp) if f.lower().endswith(exts))
    tm = {k: 0.0 for k in ("read", "decode", "detect", "align", "encode", "body", "match", "file_io")}
    clock = time.process_time
    unknown = 0
    t_loop = time.perf_counter()
    c_loop = clock()
    watch = CpuWatch()
    for fname in files:
        path = inp / fname
        face_name = body_name = "Unknown"
        t = clock()
        img_np = fr.load_image_file(str(path))  # decode #1
        tm["decode"] += clock() - t
        aligned = seed_detect_and_align(fr, img_np, 160, settings.resize_max, settings.lap_var_thresh, tm)
        if aligned:
            t = clock()
            best = max(aligned, key=lambda d: (d["bbox"][1] - d["bbox"][3]) * (d["bbox"][2] - d["bbox"][0]))
            chip = best["aligned"]
            hh, ww = chip.shape[:2]
            ents = fr.face_encodings(chip, known_face_locations=[(0, ww, hh, 0)], num_jitters=1, model="small")
            t2 = clock()
            tm["encode"] += t2 - t
            if ents and known_faces:
                dists = fr.face_distance(known_faces, ents[0])
                order = np.argsort(dists)[:3]
                if dists[order[0]] < settings.face_tol:
                    face_name = known_face_names[order[0]]
            tm["match"] += clock() - t2
        if bodies_t is not None and bodies_t.numel() > 0:
            t = clock()
            with Image.open(path) as img:  # decode #2
                rgb = img.convert("RGB")
            t2 = clock()
            tm["decode"] += t2 - t
            feat = reid(rgb)
            t3 = clock()
            tm["body"] += t3 - t2
            q = torch.tensor(feat).unsqueeze(0)
            sims = torch.nn.functional.cosine_similarity(q, bodies_t).detach().cpu().numpy()
            order = np.argsort(-sims)[:3]
            if sims[order[0]] > settings.body_tol:
                body_name = known_body_names[order[0]]
            tm["match"] += clock() - t3
        final = face_name if face_name != "Unknown" else body_name
        unknown += final == "Unknown"
        t = clock()
        (outp / final).mkdir(parents=True, exist_ok=True)
        shutil.copy2(str(path), str(outp / final / fname))
        tm["file_io"] += clock() - t
    loop_s = time.perf_counter() - t_loop
    cpu = watch.stop()
    return {
        **cpu,
        "mode": spec["mode"],
        "photos": len(files),
        "torch_threads": torch.get_num_threads(),
        "loop_s": loop_s,
        "total_s": time.perf_counter() - t_start,
        "loop_cpu_s": clock() - c_loop,
        "timings": tm,
        "unknown": unknown,
        **own_rss(),
    }
