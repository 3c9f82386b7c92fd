"""Issue 20: the archive index (``custodes.media.archive``) against the linear search.

accuracy
    ``--sources`` generated bodycam sources (``write_bodycam_clip``, 320x180 30 fps,
    ``--source-seconds`` each, distinct seeds, day and night) are fingerprinted and
    indexed among ``--accuracy-hours`` hours of distractor keys. Queries are made by the
    tracing attack suite (``bench/attacks.py``: each class's own parameters and final
    H.264 carrier; 10 s, camcording 30 s) plus speed changes (``simulate_leak`` with
    ``rate``, which the suite does not have). Each query is located twice in the same
    run: by ``locate`` over every source's fingerprint (the linear search trace uses
    today; ``max_speed_change`` 0.07 for the speed classes, as a caller must ask for
    it) and by ``locate_in_archive`` (index candidates, exact search on them only). A
    hit is the right source with the leak's middle mapped within 0.5 s of the truth.
    The ``unrelated`` class cuts queries from generated clips that are not in the
    vault: any match there is a wrong source above threshold.
scale
    The inverted files of ``--hours`` hours of indexed footage (default 1,000 and
    10,000), table by table. Distractor keys are drawn to match the real sources' key
    statistics: each bit's balance and the chance that a bit changes between
    consecutive keys of one source (a Markov chain per bit), measured on the real
    sources' keys and stated in the record. The accuracy queries are run against
    each: candidate time, exact time (candidates in distractor sources are scored
    against a stand-in hour of real fingerprints played backwards: there is no
    fingerprint behind a drawn key, and what the exact stage costs does not depend on
    what it finds), the rank of the right source, the in-memory size and the build time.

    .venv/bin/python bench/bench_archive.py [--quick] [--hours 1000 10000]

Records in ``bench/results/archive.json``. The machine is shared (other sessions'
work runs alongside): times are upper bounds.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import statistics
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
sys.path.insert(0, str(REPO / "src"))
sys.path.insert(0, str(BENCH))

import attacks  # noqa: E402
from custodes.media import archive as arc  # noqa: E402
from custodes.media.fingerprint import Fingerprint, fingerprint_video  # noqa: E402
from custodes.media.leak import simulate_leak  # noqa: E402
from custodes.media.locate import SourceMatch, locate  # noqa: E402
from custodes.media.synth import write_bodycam_clip  # noqa: E402

OUT = BENCH / "out" / "archive"
RESULTS = BENCH / "results"
LOG = sys.stderr

# Attack-suite classes used (raw/collusion classes are the watermark's business).
SUITE = (
    "h264",
    "hevc",
    "scale_320x180",
    "crop",
    "letterbox",
    "vertical",
    "banner",
    "logo_caption",
    "fps",
    "tone",
    "noise",
    "mirror",
    "camcord",
)
SPEEDS = {"speed-5%": 0.95, "speed+3%": 1.03, "speed+6%": 1.06}


def log(*a: Any) -> None:
    print(*a, file=LOG, flush=True)


def machine() -> dict[str, Any]:
    cpu = platform.machine()
    for line in Path("/proc/cpuinfo").read_text().splitlines():
        if line.startswith("model name"):
            cpu = line.split(":", 1)[1].strip()
            break
    return {
        "nproc": os.cpu_count(),
        "cpu": cpu,
        "load_1min": round(os.getloadavg()[0], 2),
        "python": platform.python_version(),
        "numpy": np.__version__,
        "shared": "yes: several other sessions ran on the same 2 cores",
    }


def make_sources(n: int, seconds: float, seed0: int) -> dict[str, tuple[Path, Fingerprint]]:
    OUT.mkdir(parents=True, exist_ok=True)
    out = {}
    for i in range(n):
        p = OUT / f"src{seed0 + i}_{seconds:g}s.mp4"
        if not p.exists():
            write_bodycam_clip(
                p, seconds=seconds, width=320, height=180, fps=30, seed=seed0 + i,
                audio=False, night=i % 3 == 2,
            )  # fmt: skip
        out[f"EV{seed0 + i}"] = (p, fingerprint_video(p))
    return out


def make_queries(
    sources: dict[str, tuple[Path, Fingerprint]],
    unrelated: dict[str, tuple[Path, Fingerprint]],
    trials: int,
    rng: np.random.Generator,
) -> list[dict[str, Any]]:
    queries = []
    for cls in [*SUITE, *SPEEDS, "unrelated"]:
        for k in range(trials):
            pool = unrelated if cls == "unrelated" else sources
            sid = sorted(pool)[int(rng.integers(len(pool)))]
            path, fp = pool[sid]
            secs = 30.0 if cls == "camcord" else 10.0
            rate = SPEEDS.get(cls, 1.0)
            start = float(rng.uniform(0.5, fp.duration_s - rate * secs - 0.5))
            dest = OUT / f"q_{cls}_{k}.mp4"
            if cls in SPEEDS:
                simulate_leak(
                    path, dest, start_s=start, seconds=secs, transform="reencode", rate=rate,
                    seed=k,
                )  # fmt: skip
            else:
                made = attacks.make_leak(
                    "crop" if cls == "unrelated" else cls,
                    [attacks.Input(path, 0.0)], start, secs, dest, rng,
                )  # fmt: skip
                dest = Path(made["path"])
            queries.append(
                {
                    "cls": cls,
                    "path": dest,
                    "source": sid if cls != "unrelated" else None,
                    "start": start,
                    "rate": rate,
                    "seconds": secs,
                    "fp": fingerprint_video(dest),
                }
            )
        log(f"  queries {cls}: {trials}")
    return queries


QUICK = (
    ("reencode", None, 1.0),
    ("crop", None, 1.0),
    ("mirror", None, 1.0),
    ("vertical", None, 1.0),
    ("banner", None, 1.0),
    ("scale", 25.0, 1.0),
    ("reencode", None, 1.05),
    ("camcord", None, 1.0),
)


def quick_queries(
    sources: dict[str, tuple[Path, Fingerprint]], rng: np.random.Generator
) -> list[dict[str, Any]]:
    """For the scale part alone: one query per transform by ``simulate_leak``."""
    out = []
    for k, (tr, fps, rate) in enumerate(QUICK):
        sid = sorted(sources)[k % len(sources)]
        path, fp = sources[sid]
        start = float(rng.uniform(0.5, fp.duration_s - rate * 10 - 0.5))
        dest = OUT / f"s_{tr}_{k}.mp4"
        simulate_leak(path, dest, start_s=start, seconds=10, transform=tr, fps=fps, rate=rate)
        out.append(
            {"cls": f"{tr}{'@' + str(fps) if fps else ''}{'x' + str(rate) if rate != 1 else ''}",
             "source": sid, "start": start, "rate": rate, "seconds": 10.0,
             "fp": fingerprint_video(dest)}
        )  # fmt: skip
    return out


def judge(q: dict[str, Any], matches: list[SourceMatch]) -> dict[str, Any]:
    best = matches[0] if matches else None
    if q["source"] is None:
        return {"hit": best is None, "found": best.source_id if best else None}
    if best is None:
        return {"hit": False, "found": None, "err_s": None}
    mid = 0.5 * q["seconds"]
    err = best.to_source(mid) - (q["start"] + q["rate"] * mid)
    return {
        "hit": best.source_id == q["source"] and abs(err) <= 0.5,
        "found": best.source_id,
        "err_s": round(err, 3),
        "score": round(best.score, 3),
        "z": round(best.z, 1),
    }


# ------------------------------------------------------------------ vpdq, a peer


def vpdq_hashes(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Meta's vpdq of a video, every frame: (PDQ hashes (n, 4) uint64, timestamps), the
    frames of quality under 50 left out (as vpdq's own matcher does)."""
    import vpdq  # optional: pip install vpdq (needs the libav* headers to build)

    feats = [f for f in vpdq.computeHash(str(path), seconds_per_hash=0) if f.quality >= 50]
    if not feats:
        return np.zeros((0, 4), np.uint64), np.zeros(0)
    raw = b"".join(bytes.fromhex(f.hex) for f in feats)
    return np.frombuffer(raw, ">u8").astype(np.uint64).reshape(-1, 4), np.array(
        [f.timestamp for f in feats]
    )


def vpdq_match(
    q: tuple[np.ndarray, np.ndarray], src: dict[str, tuple[np.ndarray, np.ndarray]]
) -> tuple[str | None, float, float]:
    """vpdq's matching (query-match percentage: the leak's hashes within Hamming
    distance 31 of some hash of the source), every source in turn (vpdq has no index):
    (best source or None under 50 %, its percentage, median source-minus-leak time)."""
    best: tuple[str | None, float, float] = (None, 0.0, 0.0)
    qh, qt = q
    if len(qh) == 0:
        return best
    for sid, (sh, st) in src.items():
        d = np.zeros((len(qh), len(sh)), np.int32)
        for w in range(4):
            d += np.bitwise_count(qh[:, w, None] ^ sh[None, :, w]).astype(np.int32)
        j = np.argmin(d, axis=1)
        ok = d[np.arange(len(qh)), j] <= 31
        pct = 100.0 * float(ok.mean())
        if pct > best[1]:
            shift = float(np.median(st[j[ok]] - qt[ok])) if ok.any() else 0.0
            best = (sid, pct, shift)
    return best if best[1] >= 50.0 else (None, best[1], 0.0)


def vpdq_side_by_side(
    sources: dict[str, tuple[Path, Fingerprint]], queries: list[dict[str, Any]]
) -> dict[str, Any]:
    t0 = time.perf_counter()
    c0 = time.process_time()
    src = {sid: vpdq_hashes(p) for sid, (p, _fp) in sources.items()}
    hours = sum(fp.duration_s for _p, fp in sources.values()) / 3600
    hash_s, hash_cpu = time.perf_counter() - t0, time.process_time() - c0
    rows = []
    for q in queries:
        t0, c0 = time.perf_counter(), time.process_time()
        qh = vpdq_hashes(q["path"])
        t1, c1 = time.perf_counter(), time.process_time()
        sid, pct, shift = vpdq_match(qh, src)
        match_cpu = time.process_time() - c1
        if q["source"] is None:
            hit = sid is None
        else:
            mid = 0.5 * q["seconds"]
            err = mid + shift - (q["start"] + q["rate"] * mid)
            hit = sid == q["source"] and abs(err) <= 0.5
        rows.append(
            {
                "cls": q["cls"],
                "vpdq": {"hit": hit, "found": sid, "match_pct": round(pct, 1)},
                "hash_query_s": round(t1 - t0, 3),
                "match_cpu_s": round(match_cpu, 4),
            }
        )
        log(f"  vpdq {q['cls']:14s} {rows[-1]['vpdq']}")
    return {
        "hits": summarise(rows, "vpdq"),
        "source_hashing_s": round(hash_s, 1),
        "source_hashing_cpu_s": round(hash_cpu, 1),
        "source_hours": round(hours, 3),
        "query_hash_s_median": round(statistics.median(r["hash_query_s"] for r in rows), 3),
        "match_cpu_s_median": round(statistics.median(r["match_cpu_s"] for r in rows), 4),
        "match_cpu_s_per_indexed_hour": round(
            statistics.median(r["match_cpu_s"] for r in rows) / max(hours, 1e-9), 3
        ),
        "rows": rows,
    }


# ------------------------------------------------------------------ distractor keys


def key_stats(keys: list[arc.SourceKeys]) -> dict[str, Any]:
    """Per-bit balance and change rate between consecutive keys of real sources."""
    bits = []
    flips = []
    for k in keys:
        b = ((k.codes[:, :, None] >> np.arange(arc.BITS, dtype=np.uint32)) & 1).astype(np.int8)
        bits.append(b.reshape(len(b), -1))
        flips.append(np.abs(np.diff(bits[-1], axis=0)))
    allb = np.concatenate(bits)
    allf = np.concatenate(flips)
    return {"p_one": allb.mean(axis=0), "p_flip": allf.mean(axis=0)}


def draw_codes(
    n: int, table: int, stats: dict[str, Any], rng: np.random.Generator, iid: bool = False
) -> np.ndarray:
    """``n`` consecutive codes of one table: per bit, a two-state Markov chain with the
    measured balance and change rate (chains restart every hour-long source)."""
    if iid:  # balanced independent bits (measured: balance 0.50, change rate 0.41)
        return rng.integers(0, 1 << arc.BITS, size=n, dtype=np.uint32)
    codes = np.zeros(n, np.uint32)
    per_hour = round(3600 * arc.HZ / arc.HOP)
    for b in range(arc.BITS):
        j = table * arc.BITS + b
        p1 = float(stats["p_one"][j])
        pf = float(stats["p_flip"][j])
        # Change points at a rate that gives the measured change rate when each new
        # state is drawn from the balance; chains restart at each hour's first key.
        rate = min(1.0, pf / max(2 * p1 * (1 - p1), 1e-9))
        change = rng.random(n, dtype=np.float32) < rate
        change[::per_hour] = True
        vals = (rng.random(int(change.sum())) < p1).astype(np.uint8)
        state = vals[np.cumsum(change) - 1]
        codes |= state.astype(np.uint32) << np.uint32(b)
    return codes


def iid_segment(n_d: int, rng: np.random.Generator) -> tuple[list[Any], list[Any], list[Any]]:
    """The inverted files of ``n_d`` keys whose codes are independent and uniform, drawn
    directly: a code's postings count is Poisson (mean ``n_d / 2**BITS``), its postings
    uniform key indices. In distribution, this is what sorting uniform codes gives
    (the measured keys: each bit 1 with probability 0.50, and consecutive keys 0.4 s
    apart independent, a bit changing with probability 0.51), without the sort."""
    present, offsets, postings = [], [], []
    for _t in range(arc.TABLES):
        counts = rng.poisson(n_d / (1 << arc.BITS), size=1 << arc.BITS).astype(np.uint32)
        starts = np.zeros((1 << arc.BITS) + 1, np.uint32)
        np.cumsum(counts, out=starts[1:])
        del counts
        present.append(None)
        offsets.append(starts)
        postings.append(rng.integers(0, n_d, size=int(starts[-1]), dtype=np.uint32))
    return present, offsets, postings


def build_scale_index(
    hours: int, real: list[arc.SourceKeys], stats: dict[str, Any], seed: int, iid: bool = False
) -> tuple[arc.ArchiveIndex, float]:
    rng = np.random.default_rng(seed)
    per_hour = round(3600 * arc.HZ / arc.HOP)
    n_d = hours * per_hour
    t0 = time.perf_counter()
    index = arc.ArchiveIndex(real)
    ids = [f"D{i:06d}" for i in range(hours)]
    lens = np.full(hours, per_hour, np.int64)
    bases = np.concatenate([[0], np.cumsum(lens)]).astype(np.int64)
    if iid:
        present, offsets, postings = iid_segment(n_d, rng)
    else:
        present, offsets, postings = [], [], []
        for t in range(arc.TABLES):
            col = draw_codes(n_d, t, stats, rng, iid)
            p, o, g = arc._csr(col)
            present.append(p)
            offsets.append(o)
            postings.append(g)
            del col
            log(f"    table {t}: {time.perf_counter() - t0:.0f}s")
    seg = arc._Segment(ids, np.zeros(hours), bases, present, offsets, postings)
    index._segments.append(seg)
    for sid in ids:
        index._keys[sid] = arc.SourceKeys(sid, 0.0, np.zeros((0, arc.TABLES), np.uint32), 3600.0)
        index._lazy[sid] = (seg, int(sid[1:]))
    return index, time.perf_counter() - t0


def sort_build_s(hours: int, rng: np.random.Generator) -> float:
    """What building the inverted files from ``hours`` of stored codes costs (one
    stable sort and one count per table: ``_Segment.build``), on uniform codes."""
    n = hours * round(3600 * arc.HZ / arc.HOP)
    t0 = time.perf_counter()
    for _t in range(arc.TABLES):
        col = rng.integers(0, 1 << arc.BITS, size=n, dtype=np.uint32)
        arc._csr(col)
        del col
    return time.perf_counter() - t0


def stand_in(fps: list[Fingerprint]) -> Fingerprint:
    """An hour of real fingerprints played backwards (matches nothing indexed)."""
    times, feats, t = [], [], 0.0
    while t < 3700:
        for fp in fps:
            times.append(fp.times - fp.times[0] + t)
            feats.append(-fp.feats[::-1])
            t += fp.duration_s
    return Fingerprint(30.0, np.concatenate(times), np.concatenate(feats))


def rss_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def summarise(rows: list[dict[str, Any]], key: str) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for cls in dict.fromkeys(r["cls"] for r in rows):
        rs = [r for r in rows if r["cls"] == cls]
        out[cls] = f"{sum(r[key]['hit'] for r in rs)}/{len(rs)}"
    hits = sum(r[key]["hit"] for r in rows if r["cls"] != "unrelated")
    n = sum(1 for r in rows if r["cls"] != "unrelated")
    out["all_in_vault"] = f"{hits}/{n}"
    return out


def write(result: dict[str, Any], args: argparse.Namespace) -> None:
    RESULTS.mkdir(exist_ok=True)
    name = args.out or ("archive_quick.json" if args.quick else "archive.json")
    (RESULTS / name).write_text(json.dumps(result, indent=1, default=str) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--sources", type=int, default=6)
    ap.add_argument("--source-seconds", type=float, default=60.0)
    ap.add_argument("--trials", type=int, default=3)
    ap.add_argument("--accuracy-hours", type=int, default=100)
    ap.add_argument("--hours", type=int, nargs="*", default=[1000, 10000])
    ap.add_argument("--scale-queries", type=int, default=12)
    ap.add_argument("--budget-s", type=float, default=1500.0)
    ap.add_argument(
        "--iid",
        action="store_true",
        help="scale: distractor codes with balanced independent bits (fast to draw) "
        "instead of the per-bit Markov chains",
    )
    ap.add_argument(
        "--scale-only",
        action="store_true",
        help="only the scale part, with one simulate_leak query per transform",
    )
    ap.add_argument("--out", default=None, help="record name in bench/results/")
    ap.add_argument(
        "--vpdq",
        action="store_true",
        help="accuracy: Meta's vpdq (pip install vpdq) on the same sources and queries",
    )
    ap.add_argument(
        "--snapshot-hours",
        type=int,
        default=10000,
        help="scale: save the index as a snapshot and time its load, up to this size",
    )
    ap.add_argument(
        "--sort-hours",
        type=int,
        default=0,
        help="time the inverted files' build by sorting this many hours of codes",
    )
    args = ap.parse_args()
    if args.quick:
        args.sources, args.trials, args.hours, args.accuracy_hours = 3, 1, [100], 10
    t_start = time.perf_counter()
    rng = np.random.default_rng(20)
    log("sources")
    sources = make_sources(args.sources, args.source_seconds, 300)
    unrelated = make_sources(2, args.source_seconds, 900)
    fps = {k: fp for k, (_p, fp) in sources.items()}
    real_keys = [arc.source_keys(k, fp) for k, fp in fps.items()]
    stats = key_stats(real_keys)
    log("queries")
    if args.scale_only:
        queries = quick_queries(sources, rng)
    else:
        queries = make_queries(sources, unrelated, args.trials, rng)
    standin = stand_in(list(fps.values()))

    def fetch(sid: str) -> Fingerprint | None:
        return fps.get(sid, standin)

    if args.scale_only:
        args.accuracy_hours = 1
    log(f"accuracy index: {args.accuracy_hours} h of distractors")
    acc_index, _ = build_scale_index(args.accuracy_hours, real_keys, stats, 1)
    rows = []
    for q in [] if args.scale_only else queries:
        speed = 0.07 if q["rate"] != 1.0 else 0.0
        t0 = time.perf_counter()
        lin = locate(q["fp"], fps, max_speed_change=speed)
        t_lin = time.perf_counter() - t0
        t0 = time.perf_counter()
        idx = arc.locate_in_archive(q["fp"], acc_index, fetch)
        t_idx = time.perf_counter() - t0
        rows.append(
            {
                "cls": q["cls"],
                "linear": judge(q, lin),
                "index": judge(q, idx),
                "linear_s": round(t_lin, 3),
                "index_s": round(t_idx, 3),
            }
        )
        log(f"  {q['cls']:14s} linear {rows[-1]['linear']} index {rows[-1]['index']}")
    vp: dict[str, Any] | None = None
    if args.vpdq and not args.scale_only:
        try:
            vp = vpdq_side_by_side(sources, queries)
        except ImportError as exc:
            vp = {"error": f"vpdq not installed: {exc}"}
    result: dict[str, Any] = {
        "command": "bench/bench_archive.py " + " ".join(sys.argv[1:]),
        "machine": machine(),
        "params": {
            "hz": arc.HZ,
            "window": arc.WINDOW,
            "hop": arc.HOP,
            "tables": arc.TABLES,
            "bits": arc.BITS,
            "probes": arc.PROBES,
            "pairs": arc.PAIRS,
            "clear_votes": arc.CLEAR_VOTES,
            "clear_ratio": arc.CLEAR_RATIO,
            "index_version": arc.INDEX_VERSION,
            "rates": arc.RATES,
            "smooth": arc.SMOOTH,
            "key_channels": arc.KEY_CHANNELS,
            "sources": args.sources,
            "source_seconds": args.source_seconds,
            "trials_per_class": args.trials,
            "accuracy_distractor_hours": args.accuracy_hours,
        },
        "key_stats": {
            "p_one_mean": round(float(stats["p_one"].mean()), 3),
            "p_flip_mean": round(float(stats["p_flip"].mean()), 3),
        },
        "accuracy": {
            "linear": summarise(rows, "linear"),
            "index": summarise(rows, "index"),
            "misses": [r for r in rows if not (r["linear"]["hit"] and r["index"]["hit"])],
        },
        "vpdq": vp,
        "scale": [],
        "scale_distractors": "iid uniform codes, inverted files drawn directly (iid_segment)"
        if args.iid
        else "per-bit Markov chains",
    }
    # At scale: every in-vault query (or one in len/scale_queries) and every query of
    # footage not in the vault (a hit there: nothing reported).
    inv = [q for q in queries if q["cls"] != "unrelated"]
    qs = inv[:: max(1, len(inv) // args.scale_queries)]
    qs += [q for q in queries if q["cls"] == "unrelated"]
    for hours in args.hours:
        if time.perf_counter() - t_start > args.budget_s:
            result["scale"].append({"hours": hours, "skipped": "time budget spent"})
            continue
        acc_index = None
        log(f"scale: {hours} h")
        index, build_s = build_scale_index(hours, real_keys, stats, hours, args.iid)
        cand_t, exact_t, ranks, early, hits, cpu_t = [], [], [], 0, 0, []
        per_query = []
        for q in qs:
            t0 = time.perf_counter()
            cands = index.candidates(q["fp"], limit=arc.ARCHIVE_CANDIDATES)
            cand_t.append(time.perf_counter() - t0)
            rank = next((i for i, c in enumerate(cands) if c.source_id == q["source"]), None)
            if q["source"] is not None:
                ranks.append(rank)
            early += bool(cands) and not cands[0].complete
            t0 = time.perf_counter()
            c0 = time.process_time()
            found = arc.locate_in_archive(q["fp"], index, fetch)
            exact_t.append(time.perf_counter() - t0)
            cpu_t.append(time.process_time() - c0)
            hit = judge(q, found)["hit"]
            hits += hit
            per_query.append(
                {
                    "cls": q["cls"],
                    "hit": hit,
                    "rank": rank,
                    "votes": cands[rank].votes if rank is not None else None,
                    "best_other_votes": max(
                        (c.votes for c in cands if c.source_id != q["source"]), default=0
                    ),
                    "cpu_s": round(cpu_t[-1], 3),
                    "wall_s": round(exact_t[-1], 3),
                }
            )
        snap: dict[str, Any] = {}
        if hours <= args.snapshot_hours:
            folder = OUT / "snapshot"
            t0 = time.perf_counter()
            index.save(folder)
            snap["snapshot_save_s"] = round(time.perf_counter() - t0, 1)
            snap["snapshot_bytes"] = sum(f.stat().st_size for f in folder.rglob("*") if f.is_file())
            t0 = time.perf_counter()
            loaded = arc.ArchiveIndex.load(folder)
            snap["snapshot_load_s"] = round(time.perf_counter() - t0, 3)
            lt = []
            for q in qs:
                t0 = time.perf_counter()
                arc.locate_in_archive(q["fp"], loaded, fetch)
                lt.append(time.perf_counter() - t0)
            snap["loaded_query_s_first"] = round(lt[0], 3)
            snap["loaded_query_s_median"] = round(statistics.median(lt), 3)
            del loaded
        result["scale"].append(
            {
                "hours": hours,
                "index_bytes": index.nbytes,
                "bytes_per_hour": round(index.nbytes / hours),
                "stored_key_bytes_per_hour": 4 * arc.TABLES * round(3600 * arc.HZ / arc.HOP),
                "build_s": round(build_s, 1),
                "queries": len(qs),
                "query_s_median": round(statistics.median(exact_t), 3),
                "query_s_max": round(max(exact_t), 3),
                "query_cpu_s_median": round(statistics.median(cpu_t), 3),
                "query_cpu_s_max": round(max(cpu_t), 3),
                "load_1min": round(os.getloadavg()[0], 1),
                "candidates_s_median": round(statistics.median(cand_t), 3),
                "right_source_in_candidates": f"{sum(r is not None for r in ranks)}/{len(ranks)}",
                "right_source_first": f"{sum(r == 0 for r in ranks)}/{len(ranks)}",
                "stopped_at_speed_1": f"{early}/{len(qs)}",
                "found_within_0.5s": f"{hits}/{len(qs)}",
                **snap,
                "max_rss_mb": round(rss_mb()),
                "per_query": per_query,
            }
        )
        log(f"  { {k: v for k, v in result['scale'][-1].items() if k != 'per_query'} }")
        del index
        write(result, args)
    if args.sort_hours:
        result["sort_build"] = {
            "hours": args.sort_hours,
            "build_s": round(sort_build_s(args.sort_hours, np.random.default_rng(5)), 1),
        }
        log(f"  {result['sort_build']}")
    result["elapsed_s"] = round(time.perf_counter() - t_start)
    write(result, args)
    print(json.dumps({k: result[k] for k in ("accuracy", "scale")}, indent=1, default=str))


if __name__ == "__main__":
    main()
