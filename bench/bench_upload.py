"""A large resumable upload (tus) over loopback to `custodes serve`, its connection dropped
half-way and resumed once, finishing as evidence with the right SHA-256.

    .venv/bin/python bench/bench_upload.py [--size-mb 2048] [--drop-at 0.5] [--json]

Makes a valid video of about --size-mb (bench_ingest's raw 1280x720 Matroska), starts the
web server (uvicorn, the app `custodes serve` runs) on an embedded vault in a temporary
folder, and with an API token: POST /api/v1/uploads; one PATCH carrying the whole file
whose connection the client cuts after --drop-at of it; HEAD for the offset kept; a PATCH
with the rest, whose answer is the evidence (ingest: stage + hash + probe + commit). It
reports the throughput of each part, the time of the last request (the ingest), and the
server's peak resident memory (the file is streamed to disk, never held whole).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx

sys.path.insert(0, str(Path(__file__).parent))
from bench_ingest import machine, make_video
from custodes import bootstrap
from custodes.config import Settings
from custodes.services import auth, cases, users

CHUNK = 4 << 20


class Cut(Exception):
    """The client drops the connection."""


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _body(path: Path, start: int, stop_after: int | None) -> Iterator[bytes]:
    sent = 0
    with open(path, "rb") as fh:
        fh.seek(start)
        while chunk := fh.read(CHUNK):
            if stop_after is not None and sent + len(chunk) > stop_after:
                raise Cut
            sent += len(chunk)
            yield chunk


def _peak_rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return float("nan")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--size-mb", type=int, default=2048)
    ap.add_argument("--drop-at", type=float, default=0.5)
    ap.add_argument("--http", choices=["auto", "h11", "httptools"], default="auto")
    ap.add_argument("--json", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        src = Path(tmp) / "bodycam.mkv"
        t0 = time.perf_counter()
        make_video(src, args.size_mb)
        size = src.stat().st_size
        digest = hashlib.sha256()
        with open(src, "rb") as fh:
            while block := fh.read(8 << 20):
                digest.update(block)
        sha = digest.hexdigest()
        made_s = time.perf_counter() - t0

        home = Path(tmp) / "vault"
        vault = bootstrap.init_vault(Settings(home=home))
        users.add_user(vault, "admin", "rec", "records", "correct horse battery staple")
        cases.add_case(vault, "rec", "C-UPLOAD", "bench")
        token = auth.create_token(vault, "admin", "rec", timedelta(hours=2)).token
        vault.engine.dispose()

        port = _free_port()
        env = {**os.environ, "CUSTODES_HOME": str(home)}
        server = subprocess.Popen(
            [
                *(sys.executable, "-m", "uvicorn", "--factory"),
                "custodes.web.app:app_from_environment",
                *("--host", "127.0.0.1", "--port", str(port), "--log-level", "warning"),
                *("--http", args.http),
            ],
            env=env,
        )
        try:
            base = f"http://127.0.0.1:{port}"
            headers = {"Authorization": f"Bearer {token}", "Tus-Resumable": "1.0.0"}
            with httpx.Client(base_url=base, headers=headers, timeout=600) as client:
                for _ in range(300):
                    try:
                        if client.get("/healthz").status_code == 200:
                            break
                    except httpx.TransportError:
                        time.sleep(0.1)
                meta = ",".join(
                    f"{k} {base64.b64encode(v.encode()).decode()}"
                    for k, v in {"case": "C-UPLOAD", "filename": src.name, "sha256": sha}.items()
                )
                r = client.post(
                    "/api/v1/uploads",
                    headers={"Upload-Length": str(size), "Upload-Metadata": meta},
                )
                assert r.status_code == 201, r.text
                url = r.headers["Location"]
                patch = {"Content-Type": "application/offset+octet-stream"}

                t1 = time.perf_counter()
                cut_after = int(size * args.drop_at)
                try:
                    client.patch(
                        url,
                        content=_body(src, 0, cut_after),
                        headers={**patch, "Upload-Offset": "0", "Content-Length": str(size)},
                    )
                    raise AssertionError("the first PATCH was meant to be cut")
                except Cut:
                    pass
                first_s = time.perf_counter() - t1
                # Resume as tus-js-client does: ask the offset (HEAD waits for the
                # cut request to end on the server), send the rest; on 409, again.
                t2 = time.perf_counter()
                attempts = 0
                for _ in range(10):
                    attempts += 1
                    kept = int(client.head(url).headers["Upload-Offset"])
                    r = client.patch(
                        url,
                        content=_body(src, kept, None),
                        headers={
                            **patch,
                            "Upload-Offset": str(kept),
                            "Content-Length": str(size - kept),
                        },
                    )
                    if r.status_code != 409:
                        break
                    time.sleep(1)
                rest_s = time.perf_counter() - t2
                assert r.status_code == 204, r.text
                evidence_id = r.headers["Custodes-Evidence-Id"]
                shown = client.get(url).json()
                assert shown["sha256"] == sha and shown["evidence_id"] == evidence_id
            peak = _peak_rss_mb(server.pid)
        finally:
            server.terminate()
            server.wait(timeout=30)
        for blob in (home / "blobs").rglob("*"):
            if blob.is_file():
                blob.chmod(0o600)
                blob.unlink()
    mb = size / 1e6
    out = {
        "machine": machine(),
        "http": args.http,
        "file_mb": round(mb, 1),
        "made_s": round(made_s, 1),
        "cut_after_mb": round(cut_after / 1e6, 1),
        "kept_mb": round(kept / 1e6, 1),
        "first_patch_s": round(first_s, 2),
        "first_patch_mb_s": round(kept / 1e6 / first_s, 1),
        "resume_attempts": attempts,
        "resumed_patch_s": round(rest_s, 2),
        "resumed_patch_mb_s_incl_ingest": round((size - kept) / 1e6 / rest_s, 1),
        "total_s": round(first_s + rest_s, 2),
        "overall_mb_s": round(mb / (first_s + rest_s), 1),
        "server_peak_rss_mb": round(peak, 1),
        "evidence": evidence_id,
        "sha256_ok": True,
    }
    if args.json:
        print(json.dumps(out, indent=2))
    else:
        for k, v in out.items():
            print(f"{k:32} {v}")


if __name__ == "__main__":
    main()
