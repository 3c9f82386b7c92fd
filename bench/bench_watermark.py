"""Invisibility, robustness and cost of the forensic watermark on synthetic bodycam clips.

For each scene (day, night) and seed, a synthetic clip is written as the "original"
evidence (H.264 CRF 23, a keyframe a second, as a camera would). Its frames are
decoded, marked with ``custodes.core.watermark.Embedder`` (source time = frame time)
and exported with the export settings (libx264 ``--export-crf``, preset veryfast, a
keyframe a second); the same frames unmarked are exported with the same settings.

Columns of the table (one row per scene, seed and parameter set):

* ``PSNRvP``/``SSIMvP``: the marked export against the unmarked export (Y plane; SSIM
  of Wang et al. 2004 on every third frame). ``floorP``/``floorS``: the same for a copy
  with +-1 on a random 5 % of its luma pixels (invisible, PSNR ~61 dB before encoding):
  x264 takes different decisions on any change, and this floor shows how much of the
  first pair is the encoder rather than the mark.
* ``dPSNRo``/``dSSIMo``: what the mark costs against the original: (marked export vs
  original) minus (unmarked export vs original).
* flicker on flat areas (mask < 0.4, local std below about 2 levels): ``flk_pre``, the
  mean absolute frame-to-frame change of the float mark before encoding; ``flk_px``, the
  same for (marked export - unmarked export) after encoding, next to ``flkflr``, that of
  the dither floor; ``flk_mu``, the RMS frame-to-frame change of that difference's mean
  over the flat area (a coherent brightening or darkening is what reads as flicker).
* robustness: the marked export leaked again -- re-encoded at CRF 23/30/38 (``z23``...),
  re-encoded with x264's default 250-frame keyframe interval (``z30L``, ``z38L``), and
  downscaled to half size (INTER_AREA) and re-encoded at CRF 23 -- then decoded, brought
  back on the original grid (INTER_CUBIC), tone-corrected (least-squares gain and
  offset per frame) and subtracted from the original (``zhalf``), or from the original
  degraded the same way (``zhalf_m``: registration at the leak's resolution). The
  columns give the right key's z; ``wrong`` the best of 100 other candidates over all
  leaks; ``unmk`` the right key's z on an unmarked copy (the unmarked export);
  ``ok``: ``stats.attribute`` (alpha 1e-6, 101 candidates, 1000 never-issued keys for
  the null) names exactly the right export on every leak and nobody on the unmarked copy.
* cost per 640x360 frame: decode, mask, embed (mask given), encode, residual
  accumulation, and the scoring of 1101 keys (per clip).

    .venv/bin/python bench/bench_watermark.py [--seconds 10] [--seeds 1 2] [--json]
    .venv/bin/python bench/bench_watermark.py --sweep   # strengths, grids and periods
"""

from __future__ import annotations

import argparse
import json
import math
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import cv2
import numpy as np

REPO = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO / "src"))

from custodes.core import stats  # noqa: E402
from custodes.core import watermark as wm  # noqa: E402
from custodes.media.synth import write_bodycam_clip  # noqa: E402

Planes = np.ndarray  # a yuv420p frame as PyAV stacks it: (H * 3 / 2, W) uint8


class Clock:
    def __init__(self) -> None:
        self.spent: dict[str, float] = {}
        self.count: dict[str, int] = {}

    def add(self, name: str, seconds: float, n: int = 1) -> None:
        self.spent[name] = self.spent.get(name, 0.0) + seconds
        self.count[name] = self.count.get(name, 0) + n

    def ms(self, name: str) -> float:
        return 1e3 * self.spent.get(name, 0.0) / max(1, self.count.get(name, 0))


def decode(path: Path, clock: Clock | None = None) -> tuple[list[Planes], list[float]]:
    out: list[Planes] = []
    times: list[float] = []
    t0 = time.perf_counter()
    with av.open(str(path)) as c:
        stream = c.streams.video[0]
        stream.thread_type = "AUTO"
        for frame in c.decode(stream):
            out.append(frame.to_ndarray(format="yuv420p"))
            times.append(float(frame.time if frame.time is not None else len(times) / 30))
    if clock:
        clock.add("decode", time.perf_counter() - t0, len(out))
    return out, times


def encode(
    frames: list[Planes],
    path: Path,
    crf: int,
    fps: int,
    clock: Clock | None = None,
    gop: int | None = None,
) -> Path:
    """libx264 veryfast at ``crf``; a keyframe every ``gop`` frames (default: every second,
    as bodycams and our exports do; 0: x264's own default, 250)."""
    h = frames[0].shape[0] * 2 // 3
    w = frames[0].shape[1]
    t0 = time.perf_counter()
    with av.open(str(path), "w") as out:
        vs = out.add_stream(
            "libx264", rate=Fraction(fps), options={"crf": str(crf), "preset": "veryfast"}
        )
        vs.width, vs.height, vs.pix_fmt = w, h, "yuv420p"
        if gop is None or gop > 0:
            vs.codec_context.gop_size = gop or fps
        vs.codec_context.thread_count = 2
        for i, planes in enumerate(frames):
            vf = av.VideoFrame.from_ndarray(planes, format="yuv420p")
            vf.pts = i
            vf.time_base = Fraction(1, fps)
            out.mux(vs.encode(vf))
        out.mux(vs.encode(None))
    if clock:
        clock.add("encode", time.perf_counter() - t0, len(frames))
    return path


def with_luma(planes: Planes, y: np.ndarray) -> Planes:
    out = planes.copy()
    out[: y.shape[0]] = y
    return out


def resize_planes(planes: Planes, w: int, h: int) -> Planes:
    """Resize a yuv420p frame (INTER_AREA down, INTER_CUBIC up); w and h even."""
    h0, w0 = planes.shape[0] * 2 // 3, planes.shape[1]
    chroma = planes[h0:].reshape(-1)
    n = (h0 // 2) * (w0 // 2)
    u = chroma[:n].reshape(h0 // 2, w0 // 2)
    v = chroma[n : 2 * n].reshape(h0 // 2, w0 // 2)
    interp = cv2.INTER_AREA if w < w0 else cv2.INTER_CUBIC
    y2 = cv2.resize(planes[:h0], (w, h), interpolation=interp)
    u2 = cv2.resize(u, (w // 2, h // 2), interpolation=interp)
    v2 = cv2.resize(v, (w // 2, h // 2), interpolation=interp)
    flat = np.concatenate([y2.ravel(), u2.ravel(), v2.ravel()])
    return flat.reshape(h * 3 // 2, w)


def tone_residual(leak_y: np.ndarray, orig_y: np.ndarray) -> np.ndarray:
    """(leak - b) / a - orig with a, b the least-squares fit leak ~ a * orig + b."""
    x = orig_y.astype(np.float32)
    y = leak_y.astype(np.float32)
    mx, my = float(x.mean()), float(y.mean())
    vx = float(((x - mx) ** 2).mean())
    a = float(((x - mx) * (y - my)).mean()) / vx if vx > 0 else 1.0
    a = a if a > 0.2 else 1.0
    b = my - a * mx
    return (y - b) / a - x


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return 99.0 if mse == 0 else 10 * math.log10(255.0**2 / mse)


def ssim(a: np.ndarray, b: np.ndarray) -> float:
    """Wang et al. (2004) SSIM, 11x11 Gaussian window sigma 1.5, K1 0.01, K2 0.03."""
    x, y = a.astype(np.float32), b.astype(np.float32)
    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2

    def g(z: np.ndarray) -> np.ndarray:
        return cv2.GaussianBlur(z, (11, 11), 1.5)

    mx, my = g(x), g(y)
    sxx, syy, sxy = g(x * x) - mx * mx, g(y * y) - my * my, g(x * y) - mx * my
    m = ((2 * mx * my + c1) * (2 * sxy + c2)) / ((mx * mx + my * my + c1) * (sxx + syy + c2))
    return float(m[5:-5, 5:-5].mean())


def mean_psnr(xs: list[np.ndarray], ys: list[np.ndarray]) -> float:
    return statistics.fmean(psnr(a, b) for a, b in zip(xs, ys, strict=True))


def mean_ssim(xs: list[np.ndarray], ys: list[np.ndarray], step: int = 3) -> float:
    """SSIM averaged over every ``step``-th frame (SSIM is the slow part of this bench)."""
    return statistics.fmean(ssim(a, b) for a, b in list(zip(xs, ys, strict=True))[::step])


def y_of(planes: Planes) -> np.ndarray:
    return planes[: planes.shape[0] * 2 // 3]


def detect(
    leak: list[Planes],
    orig_y: list[np.ndarray],
    times: list[float],
    masks: list[np.ndarray],
    params: wm.MarkParams,
    keys: dict[str, list[bytes]],
    clock: Clock | None = None,
    *,
    matched: bool = False,
) -> dict[str, Any]:
    """Score a leak. ``matched``: degrade the original to the leak's size and back before
    subtracting (registration at the leak's resolution), instead of the original as is."""
    h, w = orig_y[0].shape
    acc = wm.Accumulator(w, h, params)
    t_add = 0.0
    for planes, y0, t, m in zip(leak, orig_y, times, masks, strict=True):
        ly = y_of(planes)
        ref = y0
        if ly.shape != y0.shape:
            lh, lw = ly.shape
            ly = cv2.resize(ly, (w, h), interpolation=cv2.INTER_CUBIC)
            if matched:
                small = cv2.resize(y0, (lw, lh), interpolation=cv2.INTER_AREA)
                ref = cv2.resize(small, (w, h), interpolation=cv2.INTER_CUBIC)
        res = tone_residual(ly, ref)
        t0 = time.perf_counter()
        acc.add(res, t, m)
        t_add += time.perf_counter() - t0
    t0 = time.perf_counter()
    every = keys["true"] + keys["wrong"] + keys["null"]
    sc = acc.scores(every)
    t_score = time.perf_counter() - t0
    if clock:
        clock.add("accumulate", t_add, len(leak))
        clock.add("score_1101_keys", t_score, 1)
    n_true, n_wrong = len(keys["true"]), len(keys["wrong"])
    true_z = sc[:n_true]
    wrong = sc[n_true : n_true + n_wrong]
    null = sc[n_true + n_wrong :]
    cands = {f"true{i}": float(z) for i, z in enumerate(true_z)}
    cands.update({f"wrong{i}": float(z) for i, z in enumerate(wrong)})
    verdict = stats.attribute(cands, null.tolist(), 1e-6, model_sf=wm.score_tail_bound)
    named = sorted(a.candidate for a in verdict if a.attributed)
    return {
        "z_true": [round(float(z), 2) for z in true_z],
        "z_wrong_max": round(float(wrong.max()), 2),
        "null_mean": round(float(null.mean()), 3),
        "null_std": round(float(null.std(ddof=1)), 3),
        "named_ok": named == sorted(f"true{i}" for i in range(n_true)),
        "named": named,
        "periods": len(acc.periods),
    }


def flicker(
    marked_y: list[np.ndarray], plain_y: list[np.ndarray], masks: list[np.ndarray]
) -> tuple[float, float]:
    """(mean |d_t - d_t-1| per flat pixel, RMS of the frame-to-frame change of the flat mean)."""
    per_pixel: list[float] = []
    means: list[float] = []
    prev: np.ndarray | None = None
    prev_flat: np.ndarray | None = None
    for a, b, m in zip(marked_y, plain_y, masks, strict=True):
        d = a.astype(np.float32) - b.astype(np.float32)
        flat = m < 0.4
        if prev is not None and prev_flat is not None:
            both = flat & prev_flat
            if both.any():
                per_pixel.append(float(np.abs(d[both] - prev[both]).mean()))
                means.append(float(d[both].mean() - prev[both].mean()))
        prev, prev_flat = d, flat
    if not per_pixel:
        return 0.0, 0.0
    return statistics.fmean(per_pixel), math.sqrt(statistics.fmean(x * x for x in means))


def run_case(
    work: Path,
    scene: str,
    seed: int,
    params: wm.MarkParams,
    args: argparse.Namespace,
    cache: dict[str, Any],
    clock: Clock,
) -> dict[str, Any]:
    w, h, fps = args.width, args.height, args.fps
    ck = f"{scene}-{seed}"
    if ck not in cache:
        src = write_bodycam_clip(
            work / f"src-{ck}.mp4",
            seconds=args.seconds,
            width=w,
            height=h,
            fps=fps,
            seed=seed,
            night=scene == "night",
            audio=False,
        )
        frames, times = decode(src, clock)
        t0 = time.perf_counter()
        masks = [wm.perceptual_mask(y_of(f)) for f in frames]
        clock.add("mask", time.perf_counter() - t0, len(frames))
        plain_path = encode(frames, work / f"plain-{ck}.mp4", args.export_crf, fps, clock)
        plain, _ = decode(plain_path, clock)
        # The encoder's own divergence: +-1 on a random 5 % of luma pixels (PSNR ~ 61 dB
        # before encoding, invisible) changes its decisions as much as any mark does.
        rng = np.random.default_rng(seed)
        dithered = []
        for f in frames:
            y = y_of(f).astype(np.int16)
            hit = rng.random(y.shape) < 0.05
            y[hit] += rng.choice(np.array([-1, 1], np.int16), size=int(hit.sum()))
            dithered.append(with_luma(f, np.clip(y, 0, 255).astype(np.uint8)))
        dpath = encode(dithered, work / f"dither-{ck}.mp4", args.export_crf, fps)
        dith_y = [y_of(f) for f in decode(dpath)[0]]
        plain_y0 = [y_of(f) for f in plain]
        orig_y0 = [y_of(f) for f in frames]
        ref = {
            "floor_psnr": mean_psnr(dith_y, plain_y0),
            "floor_ssim": mean_ssim(dith_y, plain_y0),
            "plain_psnr_orig": mean_psnr(plain_y0, orig_y0),
            "plain_ssim_orig": mean_ssim(plain_y0, orig_y0),
            "floor_flicker_px": flicker(dith_y, plain_y0, masks)[0],
        }
        cache[ck] = (frames, times, masks, plain, ref)
    frames, times, masks, plain, ref = cache[ck]
    plain_y = [y_of(f) for f in plain]
    orig_y = [y_of(f) for f in frames]

    secret = f"bench-secret-{seed}".encode().ljust(32, b".")
    key = wm.derive_key(secret, f"export-{scene}-{seed}")
    keys = {
        "true": [key],
        "wrong": [wm.derive_key(secret, f"other-{i}") for i in range(100)],
        "null": wm.null_keys(secret, 1000),
    }
    emb = wm.Embedder(key, w, h, params)
    t0 = time.perf_counter()
    marked_y = [emb.mark_luma(y, t, m) for y, t, m in zip(orig_y, times, masks, strict=True)]
    clock.add("embed", time.perf_counter() - t0, len(frames))
    marked = [with_luma(f, y) for f, y in zip(frames, marked_y, strict=True)]
    tag = f"{ck}-{params.strength}-{params.grid_w}x{params.grid_h}-{params.period_s}"
    export_path = encode(marked, work / f"export-{tag}.mp4", args.export_crf, fps, clock)
    export, _ = decode(export_path, clock)
    export_y = [y_of(f) for f in export]

    pre_dt = []
    for i in range(1, len(frames)):
        flat = masks[i] < 0.4
        if flat.any():
            m1 = emb.mark(times[i]) * masks[i] * params.strength
            m0 = emb.mark(times[i - 1]) * masks[i - 1] * params.strength
            pre_dt.append(float(np.abs(m1[flat] - m0[flat]).mean()))
    fl_px, fl_mean = flicker(export_y, plain_y, masks)
    psnr_orig = mean_psnr(export_y, orig_y)
    ssim_orig = mean_ssim(export_y, orig_y)
    row: dict[str, Any] = {
        "scene": scene,
        "seed": seed,
        "params": params.to_dict(),
        "psnr_mark": round(mean_psnr(marked_y, orig_y), 2),
        "psnr_export": round(mean_psnr(export_y, plain_y), 2),
        "ssim_export": round(mean_ssim(export_y, plain_y), 5),
        "floor_psnr": round(ref["floor_psnr"], 2),
        "floor_ssim": round(ref["floor_ssim"], 5),
        "floor_flicker_px": round(ref["floor_flicker_px"], 4),
        "psnr_orig_plain": round(ref["plain_psnr_orig"], 2),
        "psnr_orig_export": round(psnr_orig, 2),
        "ssim_orig_plain": round(ref["plain_ssim_orig"], 5),
        "ssim_orig_export": round(ssim_orig, 5),
        "flicker_pre_px": round(statistics.fmean(pre_dt) if pre_dt else 0.0, 4),
        "flicker_px": round(fl_px, 4),
        "flicker_mean": round(fl_mean, 4),
        "mask_mean": round(float(np.mean([m.mean() for m in masks])), 3),
        "leaks": {},
    }
    for crf in args.crfs:
        leak_path = encode(export, work / f"leak-{tag}-{crf}.mp4", crf, fps, clock)
        leak, _ = decode(leak_path, clock)
        row["leaks"][f"crf{crf}"] = detect(leak, orig_y, times, masks, params, keys, clock)
    for crf in args.long_gop_crfs:
        # x264's default keyframe interval (250 frames): P-frames skip slow changes.
        leak_path = encode(export, work / f"leak-{tag}-{crf}-long.mp4", crf, fps, clock, gop=0)
        leak, _ = decode(leak_path, clock)
        row["leaks"][f"crf{crf}_longgop"] = detect(leak, orig_y, times, masks, params, keys, clock)
    small = [resize_planes(f, w // 2, h // 2) for f in export]
    leak_path = encode(small, work / f"leak-{tag}-half.mp4", 23, fps, clock)
    leak, _ = decode(leak_path, clock)
    row["leaks"]["half_crf23"] = detect(leak, orig_y, times, masks, params, keys, clock)
    row["leaks"]["half_crf23_matched"] = detect(
        leak, orig_y, times, masks, params, keys, clock, matched=True
    )
    # A copy that never went through the export system (the unmarked encode): nobody
    # may be named.
    row["leaks"]["original"] = detect(plain, orig_y, times, masks, params, keys, clock)
    return row


def configs(args: argparse.Namespace) -> list[wm.MarkParams]:
    base = wm.MarkParams()
    if args.strength is not None:
        base = replace(base, strength=args.strength)
    if args.grid:
        gw, gh = (int(v) for v in args.grid.lower().split("x"))
        base = replace(base, grid_w=gw, grid_h=gh)
    if args.period is not None:
        base = replace(base, period_s=args.period)
    if not args.sweep:
        return [base]
    out = [replace(base, strength=s) for s in (0.5, 0.75, 1.0, 1.5)]
    out += [
        replace(base, grid_w=gw, grid_h=gh)
        for gw, gh in ((32, 18), (48, 27), (64, 36))
        if (gw, gh) != (base.grid_w, base.grid_h)
    ]
    out += [replace(base, period_s=ps) for ps in (0.25, 1.0) if ps != base.period_s]
    return out


def table(rows: list[dict[str, Any]], crfs: list[int], long_crfs: list[int]) -> str:
    leaks = [f"crf{c}" for c in crfs] + [f"crf{c}_longgop" for c in long_crfs]
    leaks += ["half_crf23", "half_crf23_matched"]
    short = [f"z{c}" for c in crfs] + [f"z{c}L" for c in long_crfs] + ["zhalf", "zhalf_m"]
    head = (
        f"{'scene':5} {'seed':>4} {'str':>4} {'grid':>5} {'per':>4} "
        f"{'PSNRvP':>6} {'SSIMvP':>6} {'floorP':>6} {'floorS':>6} "
        f"{'dPSNRo':>6} {'dSSIMo':>7} {'flk_pre':>7} {'flk_px':>6} {'flk_mu':>6} {'flkflr':>6} "
        + " ".join(f"{name:>7}" for name in short)
        + f" {'wrong':>5} {'unmk':>5} {'ok':>3}"
    )
    lines = [head, "-" * len(head)]
    for r in rows:
        p = r["params"]
        lk = r["leaks"]
        zs = " ".join(f"{lk[name]['z_true'][0]:>7.1f}" for name in leaks)
        wrong = max(lk[name]["z_wrong_max"] for name in leaks)
        ok = all(lk[name]["named_ok"] for name in leaks) and not lk["original"]["named"]
        lines.append(
            f"{r['scene']:5} {r['seed']:>4} {p['strength']:>4.2f} "
            f"{p['grid_w']:>2}x{p['grid_h']:<2} {p['period_s']:>4.2f} "
            f"{r['psnr_export']:>6.2f} {r['ssim_export']:>6.4f} "
            f"{r['floor_psnr']:>6.2f} {r['floor_ssim']:>6.4f} "
            f"{r['psnr_orig_export'] - r['psnr_orig_plain']:>6.2f} "
            f"{r['ssim_orig_export'] - r['ssim_orig_plain']:>7.4f} "
            f"{r['flicker_pre_px']:>7.3f} {r['flicker_px']:>6.3f} {r['flicker_mean']:>6.3f} "
            f"{r['floor_flicker_px']:>6.3f} {zs} {wrong:>5.2f} "
            f"{lk['original']['z_true'][0]:>5.2f} {'yes' if ok else 'NO':>3}"
        )
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=360)
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--scenes", nargs="+", default=["day", "night"], choices=["day", "night"])
    ap.add_argument("--export-crf", type=int, default=23)
    ap.add_argument("--crfs", type=int, nargs="+", default=[23, 30, 38])
    ap.add_argument(
        "--long-gop-crfs",
        type=int,
        nargs="*",
        default=[30, 38],
        help="leak re-encodes with x264's default 250-frame keyframe interval",
    )
    ap.add_argument("--strength", type=float, default=None)
    ap.add_argument("--grid", default=None, help="WxH, e.g. 32x18")
    ap.add_argument("--period", type=float, default=None)
    ap.add_argument("--sweep", action="store_true", help="try several strengths/grids/periods")
    ap.add_argument("--json", action="store_true", help="print one JSON document")
    ap.add_argument("--progress", action="store_true", help="a table row on stderr per case")
    args = ap.parse_args()

    clock = Clock()
    rows: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory(prefix="bench-wm-") as tmp:
        work = Path(tmp)
        for scene in args.scenes:
            for seed in args.seeds:
                cache: dict[str, Any] = {}
                for params in configs(args):
                    rows.append(run_case(work, scene, seed, params, args, cache, clock))
                    if args.progress:
                        line = table(rows[-1:], args.crfs, args.long_gop_crfs).splitlines()[-1]
                        print(line, file=sys.stderr, flush=True)
    cost = {
        name: round(clock.ms(name), 3)
        for name in ("decode", "mask", "embed", "encode", "accumulate", "score_1101_keys")
    }
    threshold = stats.z_threshold(1e-6, 100)
    doc = {
        "clip": f"{args.seconds:g} s {args.width}x{args.height} @ {args.fps} fps",
        "export_crf": args.export_crf,
        "z_threshold_alpha1e-6_n100": round(threshold, 3),
        "cost_ms": cost,
        "rows": rows,
    }
    if args.json:
        print(json.dumps(doc, indent=2))
        return
    print(f"clip {doc['clip']}, export CRF {args.export_crf}, z threshold {threshold:.2f}")
    print(table(rows, args.crfs, args.long_gop_crfs))
    print("cost per frame (ms; score_1101_keys: per whole clip):")
    for name, v in cost.items():
        print(f"  {name:16} {v:8.2f}")


if __name__ == "__main__":
    main()
