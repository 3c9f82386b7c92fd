"""The audit page's checker (``web/static/audit.js``) against the Python one, under Node's
WebCrypto (the same API the browser gives it): every inclusion proof and every consistency
proof of trees of 1 to 17 leaves made by ``core.merkle`` verifies there, a proof with one
hash changed does not, and a signed note made by ``core.checkpoint`` opens with its key
and not after one character of it changed. One ``node`` run for all of it."""

from __future__ import annotations

import base64
import hashlib
import json
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from custodes.core import merkle
from custodes.core.checkpoint import Checkpoint, sign_note, vkey
from custodes.web import pages

AUDIT_JS = pages.HERE / "static" / "audit.js"

RUNNER = """
import { verifyInclusion, verifyConsistency, openNote, parseCheckpoint } from "%s";
import { readFile } from "node:fs/promises";
const cases = JSON.parse(await readFile(process.argv[2], "utf8"));
const b = (s) => Uint8Array.from(Buffer.from(s, "base64"));
const out = [];
async function outcome(fn) {
  try { await fn(); return "ok"; } catch (e) { return e.constructor.name + ": " + e.message; }
}
for (const c of cases.inclusion) {
  const proof = c.proof.map(b);
  out.push(await outcome(() => verifyInclusion(c.index, c.size, b(c.leaf), proof, b(c.root))));
}
for (const c of cases.consistency) {
  const [proof, o, n] = [c.proof.map(b), b(c.old_root), b(c.new_root)];
  out.push(await outcome(() => verifyConsistency(c.old, c.new, o, n, proof)));
}
for (const n of cases.notes) {
  out.push(await outcome(async () => parseCheckpoint(await openNote(n.note, n.vkey))));
}
console.log(JSON.stringify(out));
"""


@dataclass(frozen=True)
class _Signer:
    key: Ed25519PrivateKey
    name: str = "custodes.test"

    @property
    def public_key(self) -> bytes:
        return self.key.public_key().public_bytes_raw()

    def sign(self, message: bytes) -> bytes:
        return self.key.sign(message)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _flip(h: bytes) -> bytes:
    return bytes([h[0] ^ 1]) + h[1:]


@pytest.mark.skipif(shutil.which("node") is None, reason="needs node (Debian's nodejs)")
def test_audit_js_agrees_with_the_python_checker(tmp_path: Path) -> None:
    leaves = [merkle.leaf_hash(f"event {i}".encode()) for i in range(17)]
    inclusion, consistency, expected = [], [], []
    for size in range(1, 18):
        root = merkle.root(leaves[:size])
        for index in range(size):
            proof = merkle.inclusion_proof(index, leaves[:size])
            case = {"index": index, "size": size, "leaf": _b64(leaves[index]), "root": _b64(root)}
            inclusion.append({**case, "proof": [_b64(p) for p in proof]})
            expected.append("ok")
            if proof:  # one hash of the path changed
                bad = [_b64(p) for p in proof]
                bad[-1] = _b64(_flip(proof[-1]))
                inclusion.append({**case, "proof": bad})
                expected.append("ProofFailure")
    for new in range(1, 18):
        for old in range(1, new + 1):
            proof = merkle.consistency_proof(old, leaves[:new])
            case = {
                "old": old,
                "new": new,
                "old_root": _b64(merkle.root(leaves[:old])),
                "new_root": _b64(merkle.root(leaves[:new])),
            }
            consistency.append({**case, "proof": [_b64(p) for p in proof]})
            expected.append("ok")
            if proof:
                bad = [_b64(_flip(proof[0]))] + [_b64(p) for p in proof[1:]]
                consistency.append({**case, "proof": bad})
                expected.append("ProofFailure")
    signer = _Signer(Ed25519PrivateKey.from_private_bytes(hashlib.sha256(b"k").digest()))
    note = sign_note(Checkpoint("custodes.test/log", 17, merkle.root(leaves)).body(), signer)
    key = vkey(signer.name, signer.public_key)
    text = note.decode()
    notes = [
        {"note": text, "vkey": key},
        {"note": text.replace("\n17\n", "\n16\n"), "vkey": key},  # the signed text altered
        {"note": text, "vkey": key[:-3] + ("B" if key[-3] != "B" else "C") + key[-2:]},
    ]
    expected += ["ok", "ProofFailure", "ProofFailure"]
    vectors = tmp_path / "vectors.json"
    vectors.write_text(
        json.dumps({"inclusion": inclusion, "consistency": consistency, "notes": notes})
    )
    runner = tmp_path / "run.mjs"
    runner.write_text(RUNNER % AUDIT_JS.as_uri())
    proc = subprocess.run(
        ["node", str(runner), str(vectors)], capture_output=True, text=True, timeout=60
    )
    assert proc.returncode == 0, proc.stderr
    got = json.loads(proc.stdout)
    assert len(got) == len(expected)
    for i, (outcome, want) in enumerate(zip(got, expected, strict=True)):
        assert outcome.split(":")[0] == want, (i, outcome)
    assert len(expected) > 400
