"""Tests of custodes.core.checkpoint: signed notes and tlog checkpoints.

Known-answer vectors
--------------------
* PeterNeumann / EnochRoot: golang.org/x/mod ``sumdb/note/note_test.go`` (golang/mod,
  commit 02c99138). The signer key ``PRIVATE+KEY+PeterNeumann+c74f20a3+AYEK...`` is
  0x01 followed by the 32-byte Ed25519 seed; Ed25519 is deterministic, so signing the
  same text must give the same note byte for byte (``TestSign``), and ``Open`` accepts
  both signatures given the vkeys (``TestOpen``). The malformed notes and vkey
  manglings are those of ``TestOpen`` and ``TestNewVerifier``.
* sum.golang.org: a checkpoint retrieved from https://sum.golang.org/latest on
  2024-09-23, as recorded in sigsum/sigsum-go ``pkg/checkpoint/checkpoint_test.go``
  (``TestGoSumDBCheckpoint``); the vkey is the one built into the go command
  (``cmd/go/internal/modfetch/key.go``).
* The examples of c2sp.org/tlog-checkpoint and c2sp.org/signed-note (C2SP/C2SP).
"""

from __future__ import annotations

import base64
from dataclasses import FrozenInstanceError

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from custodes.core.checkpoint import (
    Checkpoint,
    key_id,
    open_note,
    parse_checkpoint,
    parse_note,
    parse_vkey,
    sign_note,
    vkey,
)
from custodes.core.errors import IntegrityFailure, InvalidInput
from custodes.storage.keys import Ed25519Signer, ed25519_verify

PETER_SKEY_B64 = "AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz"
PETER_VKEY = "PeterNeumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW"
ENOCH_VKEY = "EnochRoot+af0cfe78+ATtqJ7zOtqQtYqOo0CpvDXNlMhV3HeJDpjrASKGLWdop"
TEXT = (
    b"If you think cryptography is the answer to your problem,\n"
    b"then you don't know what your problem is.\n"
)
PETER_SIG = (
    "— PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNXgKvqfqdng"
    "otpRZb6KE6RyyBwJnAM=\n"
).encode()
ENOCH_SIG = (
    "— EnochRoot rwz+eBzmZa0SO3NbfRGzPCpDckykFXSdeX+MNtCOXm2/5n2tiOHp+vAF1aGrQ5ovTG01oOTGwnWLo"
    "x33WWd1RvMc+QQ=\n"
).encode()

SUMDB_VKEY = "sum.golang.org+033de0ae+Ac4zctda0e5eza+HJyk9SxEdh+s3Ux18htTTAD8OuAn8"
SUMDB_CHECKPOINT = (
    "go.sum database tree\n"
    "30055305\n"
    "mXfgRcJ0bG0j3CPdKwgGWtUzBUbX67saZGRmFuJGGsM=\n"
    "\n"
    "— sum.golang.org Az3grpgEild5qw7+5dtV13Kf1C2Xurm8q4fhdxvcsDHnqNTaxL2AFjBY+2TyGKevucFcAAl"
    "WFJJYle3EJlDCrQ+y3A8=\n"
).encode()

C2SP_CHECKPOINT_TEXT = (
    b"example.com/behind-the-sofa\n20852163\nCsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I=\n"
)
C2SP_NOTE = (
    "Ognuno sta solo sul cuor della terra\n"
    "trafitto da un raggio di sole:\n"
    "\n"
    "ed è subito sera.\n"
    "\n"
    "— quasimodo.example/salvatore NnugSzTjtVAewIS+Z/iJhUPeFDkO/5QQ2i5ddnGITLlC+EhfLW9oJKO"
    "NrMouFSQU0xMcXxj99ihAQwaqP3ZekRwNtIc=\n"
).encode()

ROOT = bytes(range(32))


def peter() -> Ed25519Signer:
    return Ed25519Signer.from_seed("PeterNeumann", base64.b64decode(PETER_SKEY_B64)[1:])


# ----------------------------------------------------------------- signed notes


def test_peter_neumann_keys() -> None:
    signer = peter()
    assert vkey(signer.name, signer.public_key) == PETER_VKEY
    assert key_id(signer.name, signer.public_key).hex() == "c74f20a3"
    assert parse_vkey(PETER_VKEY) == ("PeterNeumann", signer.public_key)


def test_sign_note_matches_go() -> None:
    assert sign_note(TEXT, peter()) == TEXT + b"\n" + PETER_SIG


def test_open_note_accepts_go_notes() -> None:
    note = TEXT + b"\n" + PETER_SIG + ENOCH_SIG
    assert open_note(note, PETER_VKEY, ed25519_verify) == TEXT  # Enoch's sig ignored
    assert open_note(note, ENOCH_VKEY, ed25519_verify) == TEXT  # Peter's sig ignored
    assert open_note(TEXT + b"\n" + PETER_SIG + PETER_SIG, PETER_VKEY, ed25519_verify) == TEXT


def test_open_note_requires_a_signature_by_the_key() -> None:
    with pytest.raises(IntegrityFailure, match="no signature by key PeterNeumann\\+c74f20a3"):
        open_note(TEXT + b"\n" + ENOCH_SIG, PETER_VKEY, ed25519_verify)


def test_open_note_rejects_an_invalid_signature() -> None:
    bad = PETER_SIG[:60] + b"ABCD" + PETER_SIG[60:]
    with pytest.raises(IntegrityFailure, match="invalid signature"):
        open_note(TEXT + b"\n" + bad, PETER_VKEY, ed25519_verify)
    # A signature of the right length with one bit flipped.
    raw = bytearray(base64.b64decode(PETER_SIG.split()[-1]))
    raw[10] ^= 1
    flipped = b"\xe2\x80\x94 PeterNeumann " + base64.b64encode(bytes(raw)) + b"\n"
    with pytest.raises(IntegrityFailure, match="invalid signature by key PeterNeumann"):
        open_note(TEXT + b"\n" + flipped, PETER_VKEY, ed25519_verify)
    # A second, bad signature by the same key also fails the note.
    with pytest.raises(IntegrityFailure):
        open_note(TEXT + b"\n" + PETER_SIG + bad, PETER_VKEY, ed25519_verify)
    # So does the right signature over a different text.
    with pytest.raises(IntegrityFailure):
        open_note(TEXT.replace(b"you", b"we") + b"\n" + PETER_SIG, PETER_VKEY, ed25519_verify)


@pytest.mark.parametrize(
    "note",
    [
        TEXT,
        TEXT + b"\n",
        TEXT + b"\n" + PETER_SIG[:-1],
        b"\x01" + TEXT + b"\n" + PETER_SIG,
        b"\xff" + TEXT + b"\n" + PETER_SIG,
        TEXT
        + b"\n"
        + "— Bad Name x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FFYC2pZSNX"
        "gKvqfqdngotpRZb6KE6RyyBwJnAM=".encode(),
        TEXT + b"\n" + PETER_SIG + b"Unexpected line.\n",
        TEXT + b"\n" + PETER_SIG * 101,
        TEXT + b"\n" + PETER_SIG.replace("—".encode(), b"-"),
        TEXT.replace(b"\n", b"\r\n") + b"\r\n" + PETER_SIG,
    ],
)
def test_open_note_rejects_malformed_notes(note: bytes) -> None:
    with pytest.raises(IntegrityFailure):
        open_note(note, PETER_VKEY, ed25519_verify)
    with pytest.raises(InvalidInput):
        parse_note(note)


def test_open_note_with_a_malformed_vkey_is_invalid_input() -> None:
    with pytest.raises(InvalidInput):
        open_note(TEXT + b"\n" + PETER_SIG, "PeterNeumann+c74f20a3", ed25519_verify)


def test_parse_note_lists_every_signature() -> None:
    text, sigs = parse_note(TEXT + b"\n" + PETER_SIG + ENOCH_SIG)
    assert text == TEXT
    assert [(name, kid.hex(), len(sig)) for name, kid, sig in sigs] == [
        ("PeterNeumann", "c74f20a3", 64),
        ("EnochRoot", "af0cfe78", 64),
    ]


def test_parse_note_splits_at_the_last_blank_line() -> None:
    text, sigs = parse_note(C2SP_NOTE)
    assert text.decode().endswith("\n\ned è subito sera.\n")
    assert [name for name, _, _ in sigs] == ["quasimodo.example/salvatore"]


def test_sign_note_rejects_bad_text() -> None:
    with pytest.raises(InvalidInput):
        sign_note(b"abc", peter())  # no final newline
    with pytest.raises(InvalidInput):
        sign_note(b"a\tb\n", peter())
    with pytest.raises(InvalidInput):
        sign_note(b"\xff\n", peter())


def test_sign_note_keeps_blank_lines_inside_the_text() -> None:
    text = b"one\n\ntwo\n\n"
    signer = peter()
    note = sign_note(text, signer)
    assert open_note(note, vkey(signer.name, signer.public_key), ed25519_verify) == text


# --------------------------------------------------------------------- vkeys


def test_vkey_manglings_are_rejected() -> None:
    # TestNewVerifier: every proper substring and every single-byte increment fails.
    b = PETER_VKEY.encode()
    candidates = {b[i:j] for i in range(len(b) + 1) for j in range(i + 1, len(b) + 1)}
    candidates.discard(b)
    for i in range(len(b)):
        candidates.add(b[:i] + bytes((b[i] + 1,)) + b[i + 1 :])
    for candidate in candidates:
        with pytest.raises(InvalidInput):
            parse_vkey(candidate.decode("latin-1"))


@pytest.mark.parametrize(
    "bad",
    [
        # wrong length key, with adjusted key hash
        "PeterNeumann+cc469956+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TWBADKEY==",
        # unknown algorithm, with adjusted key hash
        "PeterNeumann+173116ae+ZRpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "Peter Neumann+c74f20a3+ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW",
        "",
    ],
)
def test_parse_vkey_rejects_bad_keys(bad: str) -> None:
    with pytest.raises(InvalidInput):
        parse_vkey(bad)


def test_parse_vkey_accepts_plus_signs_in_the_key() -> None:
    name, key = parse_vkey(SUMDB_VKEY)
    assert name == "sum.golang.org"
    assert len(key) == 32
    assert vkey(name, key) == SUMDB_VKEY


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\u00a0b", "a\u2003b", "a\nb"])
def test_key_names_without_spaces_or_plus(name: str) -> None:
    with pytest.raises(InvalidInput):
        key_id(name, bytes(32))


def test_key_id_needs_a_32_byte_key() -> None:
    with pytest.raises(InvalidInput):
        key_id("name", bytes(31))


# --------------------------------------------------------------- checkpoints


def test_sum_golang_org_checkpoint() -> None:
    text = open_note(SUMDB_CHECKPOINT, SUMDB_VKEY, ed25519_verify)
    checkpoint = parse_checkpoint(text)
    assert checkpoint.origin == "go.sum database tree"
    assert checkpoint.size == 30055305
    assert checkpoint.root_hash.hex().startswith("9977e045c2746c6d")
    assert checkpoint.extensions == ()
    assert checkpoint.body() == text
    tampered = SUMDB_CHECKPOINT.replace(b"30055305", b"30055306")
    with pytest.raises(IntegrityFailure):
        open_note(tampered, SUMDB_VKEY, ed25519_verify)


def test_c2sp_checkpoint_example() -> None:
    checkpoint = parse_checkpoint(C2SP_CHECKPOINT_TEXT)
    assert checkpoint == Checkpoint(
        "example.com/behind-the-sofa",
        20852163,
        base64.b64decode("CsUYapGGPo4dkMgIAUqom/Xajj7h2fB2MPA3j2jxq2I="),
    )
    assert checkpoint.body() == C2SP_CHECKPOINT_TEXT


def test_checkpoint_with_extensions_round_trips() -> None:
    checkpoint = Checkpoint("custodes.example/audit", 0, ROOT, ("ext one", "— two"))
    body = checkpoint.body()
    assert (
        body
        == (
            "custodes.example/audit\n0\n" + base64.b64encode(ROOT).decode() + "\next one\n— two\n"
        ).encode()
    )
    assert parse_checkpoint(body) == checkpoint


def test_signed_checkpoint_round_trips() -> None:
    signer = peter()
    checkpoint = Checkpoint("custodes.example/audit", 42, ROOT)
    note = sign_note(checkpoint.body(), signer)
    assert parse_checkpoint(open_note(note, PETER_VKEY, ed25519_verify)) == checkpoint


ROOT_B64 = base64.b64encode(ROOT).decode()
URLSAFE_B64 = base64.urlsafe_b64encode(bytes([0xFF] * 32)).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"origin\n1\n{ROOT_B64}",  # no final newline
        f"origin\n1\n{ROOT_B64}\n\n",  # empty extension line
        f"origin\n1\n{ROOT_B64}\n\next\n",
        f"\n1\n{ROOT_B64}\n",  # empty origin
        "origin\n1\n",  # no root
        f"origin\n01\n{ROOT_B64}\n",  # leading zero
        f"origin\n+1\n{ROOT_B64}\n",
        f"origin\n 1\n{ROOT_B64}\n",
        f"origin\n-1\n{ROOT_B64}\n",
        f"origin\n1.0\n{ROOT_B64}\n",
        f"origin\n\u0661\n{ROOT_B64}\n",  # ARABIC-INDIC DIGIT ONE
        f"origin\n{1 << 64}\n{ROOT_B64}\n",
        f"origin\n1\n{ROOT_B64[:-1]}\n",  # bad padding
        f"origin\n1\n{ROOT_B64.rstrip('=')}\n",
        f"origin\n1\n{base64.b64encode(bytes(31)).decode()}\n",  # not 32 bytes
        f"origin\n1\n{URLSAFE_B64}\n",  # URL alphabet
        f"origin\n1\n{ROOT_B64[:-2]}B=\n",  # non-canonical trailing bits
        f"origin\r\n1\r\n{ROOT_B64}\r\n",
        f"ori\tgin\n1\n{ROOT_B64}\n",
    ],
)
def test_parse_checkpoint_is_strict(text: str) -> None:
    with pytest.raises(InvalidInput):
        parse_checkpoint(text.encode())


def test_parse_checkpoint_rejects_bad_utf8() -> None:
    with pytest.raises(InvalidInput):
        parse_checkpoint(b"orig\xffin\n1\n" + ROOT_B64.encode() + b"\n")


@pytest.mark.parametrize(
    ("origin", "size", "root_hash", "extensions"),
    [
        ("", 1, ROOT, ()),
        ("a\nb", 1, ROOT, ()),
        ("origin", -1, ROOT, ()),
        ("origin", True, ROOT, ()),
        ("origin", 1 << 64, ROOT, ()),
        ("origin", 1, ROOT[:31], ()),
        ("origin", 1, ROOT, ("",)),
        ("origin", 1, ROOT, ("a\nb",)),
        ("origin", 1, ROOT, ["x"]),
    ],
)
def test_checkpoint_validates_its_fields(
    origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]
) -> None:
    with pytest.raises(InvalidInput):
        Checkpoint(origin, size, root_hash, extensions)


def test_checkpoint_is_frozen() -> None:
    checkpoint = Checkpoint("origin", 1, ROOT)
    with pytest.raises(FrozenInstanceError):
        checkpoint.size = 2  # type: ignore[misc]


_line_text = st.text(
    st.characters(blacklist_categories=("Cs", "Cc")),
    min_size=1,
    max_size=20,
)


@settings(max_examples=100, deadline=None)
@given(
    origin=_line_text,
    size=st.integers(0, (1 << 64) - 1),
    root_hash=st.binary(min_size=32, max_size=32),
    extensions=st.lists(_line_text, max_size=3).map(tuple),
)
def test_checkpoint_body_round_trips(
    origin: str, size: int, root_hash: bytes, extensions: tuple[str, ...]
) -> None:
    checkpoint = Checkpoint(origin, size, root_hash, extensions)
    assert parse_checkpoint(checkpoint.body()) == checkpoint
