"""Ingest into the S3 blob store against ingest into a local folder, same file, same run
(issue 19; goal: S3 at no less than 0.8x the local folder's speed).

    .venv/bin/python bench/bench_ingest_s3.py [--size-mb 256] [--reps 3] [--json]

Makes the valid video of ``bench_ingest.py`` (raw frames in Matroska, incompressible),
starts moto's S3 server on a free loopback port (``python -m moto.server``), and
alternates a full ``evidence.ingest`` of that file into a fresh embedded vault with
blobs in a local folder and into a fresh one with blobs in a bucket on that server
(stage into the scratch folder while hashing, fsync, probe, upload with a SHA-256
checksum, read the object's metadata back, commit the row, its event and a signed
checkpoint). The database is SQLite in both, so that only the store differs. CPU
seconds are reported beside wall times (this process's, plus the S3 server's for S3):
on a shared machine they are the fairer figure.

moto is not AWS: it keeps objects in its own process's memory on this machine, with no
network between, no TLS and no server-side durability, so this measures custodes' S3
path (boto3, checksums, multipart, the extra copy through the scratch folder), not a
real bucket's throughput.
"""

from __future__ import annotations

import argparse
import json
import os
import secrets
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import boto3

from bench_ingest import machine, make_video
from custodes import bootstrap
from custodes.config import Settings
from custodes.services import cases, evidence


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _start_moto() -> tuple[subprocess.Popen[bytes], str]:
    port = _free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return proc, f"http://127.0.0.1:{port}"
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("moto's S3 server did not start")


def _cpu_of(pid: int) -> float:
    """CPU seconds (user + system) used so far by process ``pid`` (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _ingest(
    settings: Settings, src: Path, server: int | None = None
) -> tuple[float, float, float, str]:
    """Wall seconds, this process's CPU seconds and the S3 server's of one ingest."""
    vault = bootstrap.init_vault(settings)
    try:
        cases.add_case(vault, "admin", "C-1")
        c0, s0 = time.process_time(), _cpu_of(server) if server else 0.0
        t0 = time.perf_counter()
        ev = evidence.ingest(vault, "admin", src, "C-1")
        wall = time.perf_counter() - t0
        cpu = time.process_time() - c0
        return wall, cpu, (_cpu_of(server) - s0 if server else 0.0), ev.sha256
    finally:
        vault.engine.dispose()


def _drop_local_blobs(home: Path) -> None:
    for blob in (home / "blobs").rglob("*"):
        if blob.is_file():
            blob.chmod(0o600)
            blob.unlink()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=256)
    ap.add_argument("--reps", type=int, default=3)
    ap.add_argument("--json", action="store_true")
    ap.add_argument("--out", type=Path, default=Path("bench/results/ingest_s3.json"))
    args = ap.parse_args()
    for name in [n for n in os.environ if n.startswith("AWS_")]:
        del os.environ[name]
    os.environ.update(
        AWS_ACCESS_KEY_ID="bench", AWS_SECRET_ACCESS_KEY="bench", AWS_DEFAULT_REGION="us-east-1"
    )
    moto, endpoint = _start_moto()
    try:
        with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
            src = Path(tmp) / "bodycam.mkv"
            make_video(src, args.size_mb)
            size = src.stat().st_size
            client = boto3.client("s3", endpoint_url=endpoint)  # plain: no custodes hooks
            local_s: list[float] = []
            s3_s: list[float] = []
            local_cpu: list[float] = []
            s3_cpu: list[float] = []
            server_cpu: list[float] = []
            _ingest(Settings(home=Path(tmp) / "warm"), src)  # page cache and imports warm
            _drop_local_blobs(Path(tmp) / "warm")
            for rep in range(args.reps):
                home = Path(tmp) / f"local{rep}"
                seconds, cpu, _, sha_local = _ingest(Settings(home=home), src)
                local_s.append(seconds)
                local_cpu.append(cpu)
                _drop_local_blobs(home)
                bucket = "bench-" + secrets.token_hex(4)
                client.create_bucket(Bucket=bucket)
                on_s3 = Settings(
                    home=Path(tmp) / f"s3{rep}",
                    blob_url=f"s3://{bucket}/vault",
                    s3_endpoint_url=endpoint,
                    s3_addressing_style="path",
                )
                seconds, cpu, server, sha_s3 = _ingest(on_s3, src, moto.pid)
                s3_s.append(seconds)
                s3_cpu.append(cpu)
                server_cpu.append(server)
                assert sha_s3 == sha_local, "both stores must hold the same original"
                # moto keeps objects in memory: free them (a bench's bucket only).
                for obj in client.list_objects_v2(Bucket=bucket).get("Contents", []):
                    client.delete_object(Bucket=bucket, Key=obj["Key"])
    finally:
        moto.terminate()
        moto.wait(timeout=10)
    mb = size / 1e6
    out = {
        "bench": "ingest_s3",
        "machine": machine(),
        "file_mb": round(mb, 1),
        "s3_server": "moto 5 server mode on loopback (not AWS)",
        "local_s": [round(x, 3) for x in local_s],
        "s3_s": [round(x, 3) for x in s3_s],
        "local_mb_s": round(mb / min(local_s), 1),
        "s3_mb_s": round(mb / min(s3_s), 1),
        "ratio": round(min(local_s) / min(s3_s), 3),
        "local_cpu_s": [round(x, 2) for x in local_cpu],
        "s3_cpu_s": [round(x, 2) for x in s3_cpu],
        "s3_server_cpu_s": [round(x, 2) for x in server_cpu],
        "cpu_ratio": round(
            min(local_cpu) / min(c + m for c, m in zip(s3_cpu, server_cpu, strict=True)), 3
        ),
        "goal_ratio": 0.8,
    }
    args.out.write_text(json.dumps(out, indent=1) + "\n")
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        print(f"file   {out['file_mb']} MB; S3: {out['s3_server']}")
        print(f"local  {out['local_mb_s']:>8} MB/s  runs {out['local_s']}")
        print(f"s3     {out['s3_mb_s']:>8} MB/s  runs {out['s3_s']}")
        print(f"ratio  {out['ratio']:>8}x S3 / local (goal >= 0.8x)")
        print(
            f"cpu    local {out['local_cpu_s']} s; S3 {out['s3_cpu_s']} s "
            f"+ moto's server {out['s3_server_cpu_s']} s"
        )


if __name__ == "__main__":
    main()
