"""Checkpoints of the audit log and the signed notes that carry them.

Implements two C2SP specifications, compatible with golang.org/x/mod/sumdb/note:

* c2sp.org/signed-note (Ed25519 signatures only, signature type 0x01). A note is a
  text ending in a newline, a blank line, then signature lines
  ``"— <key name> <base64(key ID || signature)>"`` (EM DASH U+2014). The key ID is
  ``SHA-256(key name || 0x0A || 0x01 || 32-byte public key)[:4]``; the verifier key
  string is ``"<name>+<hex key ID>+<base64(0x01 || public key)>"``. Signatures by
  other keys (witness cosignatures, rotated keys) are parsed and ignored.
* c2sp.org/tlog-checkpoint: the note text ``"<origin>\\n<tree size>\\n<base64 root>\\n"``
  followed by optional non-empty extension lines.

Signing and verifying are passed in (:class:`~custodes.core.ports.Signer` and
:data:`~custodes.core.ports.Ed25519Verify`), so this module stays free of crypto
libraries. Malformed input raises InvalidInput; :func:`open_note` raises
IntegrityFailure for a note that does not carry a valid signature by the key.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from custodes.core.errors import IntegrityFailure, InvalidInput
from custodes.core.ports import Ed25519Verify, Signer

__all__ = [
    "ED25519_SIGNATURE_TYPE",
    "Checkpoint",
    "check_key_name",
    "key_id",
    "open_note",
    "parse_checkpoint",
    "parse_note",
    "parse_vkey",
    "sign_note",
    "vkey",
]

ED25519_SIGNATURE_TYPE = 0x01
"""The signed-note signature type byte of Ed25519."""

ROOT_HASH_SIZE = 32
PUBLIC_KEY_SIZE = 32
SIGNATURE_SIZE = 64
MAX_SIGNATURES = 100
"""Notes with more signature lines are rejected (the spec requires accepting 16)."""

_SIG_PREFIX = "— "  # EM DASH U+2014, space
_TREE_SIZE = re.compile(r"0|[1-9][0-9]*")
_KEY_ID_HEX = re.compile(r"[0-9a-fA-F]{8}")
_MAX_TREE_SIZE = (1 << 64) - 1


# --------------------------------------------------------------------------- helpers


def _b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _b64decode(text: str, what: str) -> bytes:
    """Strict, canonical standard base64 (RFC 4648 §4, with padding)."""
    try:
        data = base64.b64decode(text.encode("ascii"), validate=True)
    except (binascii.Error, UnicodeEncodeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not valid base64") from exc
    if _b64encode(data) != text:
        raise InvalidInput(f"{what} is not canonical base64")
    return data


def _decode_text(data: bytes, what: str) -> str:
    """UTF-8 text with no ASCII control characters other than newline."""
    if not isinstance(data, bytes | bytearray):
        raise InvalidInput(f"{what} must be bytes")
    try:
        text = bytes(data).decode("utf-8")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{what} is not valid UTF-8") from exc
    if any(c < " " and c != "\n" for c in text):
        raise InvalidInput(f"{what} contains control characters")
    return text


def _is_valid_name(name: str) -> bool:
    return bool(name) and "+" not in name and not any(c.isspace() or c < " " for c in name)


def check_key_name(name: str) -> str:
    """Return ``name`` if it is a valid key name (non-empty, no spaces, no ``+``)."""
    if not isinstance(name, str) or not _is_valid_name(name):
        raise InvalidInput(
            f"invalid key name {name!r}: it must be non-empty, without spaces or '+'"
        )
    return name


def _check_public_key(public_key: bytes) -> bytes:
    if not isinstance(public_key, bytes | bytearray) or len(public_key) != PUBLIC_KEY_SIZE:
        raise InvalidInput(f"an Ed25519 public key must be {PUBLIC_KEY_SIZE} bytes")
    return bytes(public_key)


# ----------------------------------------------------------------------- checkpoints


@dataclass(frozen=True)
class Checkpoint:
    """A signed tree head of a transparency log (c2sp.org/tlog-checkpoint)."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        if not isinstance(self.origin, str) or not self.origin:
            raise InvalidInput("checkpoint origin must be a non-empty string")
        if any(c < " " for c in self.origin):
            raise InvalidInput("checkpoint origin must be one line without control characters")
        if isinstance(self.size, bool) or not isinstance(self.size, int):
            raise InvalidInput("checkpoint tree size must be an integer")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise InvalidInput(f"checkpoint tree size {self.size} is out of range")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != ROOT_HASH_SIZE:
            raise InvalidInput(f"checkpoint root hash must be {ROOT_HASH_SIZE} bytes")
        if not isinstance(self.extensions, tuple):
            raise InvalidInput("checkpoint extensions must be a tuple of lines")
        for line in self.extensions:
            if not isinstance(line, str) or not line or any(c < " " for c in line):
                raise InvalidInput("checkpoint extension lines must be non-empty single lines")

    def body(self) -> bytes:
        """The note text: origin, size, base64 root hash, extension lines, each + LF."""
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines).encode("utf-8")


def parse_checkpoint(text: bytes) -> Checkpoint:
    """Parse a checkpoint note text strictly; raises InvalidInput when malformed."""
    decoded = _decode_text(text, "checkpoint")
    if not decoded.endswith("\n"):
        raise InvalidInput("checkpoint must end with a newline")
    lines = decoded[:-1].split("\n")
    if len(lines) < 3:
        raise InvalidInput("checkpoint needs an origin, a tree size and a root hash line")
    origin, size_text, root_text, *extensions = lines
    if not origin:
        raise InvalidInput("checkpoint origin line is empty")
    if not _TREE_SIZE.fullmatch(size_text):
        raise InvalidInput(f"checkpoint tree size {size_text!r} is not a decimal number")
    size = int(size_text)
    if size > _MAX_TREE_SIZE:
        raise InvalidInput(f"checkpoint tree size {size_text} does not fit in 64 bits")
    root_hash = _b64decode(root_text, "checkpoint root hash")
    if len(root_hash) != ROOT_HASH_SIZE:
        raise InvalidInput(f"checkpoint root hash must be {ROOT_HASH_SIZE} bytes")
    if any(not line for line in extensions):
        raise InvalidInput("checkpoint extension lines must not be empty")
    return Checkpoint(origin, size, root_hash, tuple(extensions))


# ----------------------------------------------------------------------------- keys


def key_id(name: str, public_key: bytes) -> bytes:
    """The 4-byte key ID: SHA-256(name || 0x0A || 0x01 || public key)[:4]."""
    check_key_name(name)
    pk = _check_public_key(public_key)
    material = name.encode("utf-8") + b"\n" + bytes((ED25519_SIGNATURE_TYPE,)) + pk
    return hashlib.sha256(material).digest()[:4]


def vkey(name: str, public_key: bytes) -> str:
    """The verifier key string ``<name>+<hex8 key ID>+<base64(0x01 || public key)>``."""
    pk = _check_public_key(public_key)
    encoded = _b64encode(bytes((ED25519_SIGNATURE_TYPE,)) + pk)
    return f"{name}+{key_id(name, pk).hex()}+{encoded}"


def parse_vkey(s: str) -> tuple[str, bytes]:
    """Parse a verifier key string into (name, raw 32-byte Ed25519 public key).

    Checks the key ID against the name and key; raises InvalidInput when it does not
    match, when the key is not Ed25519, or when anything is malformed.
    """
    if not isinstance(s, str):
        raise InvalidInput("a verifier key must be a string")
    parts = s.split("+", 2)  # base64 may contain '+', the name may not
    if len(parts) != 3:
        raise InvalidInput("a verifier key looks like <name>+<key id>+<key>")
    name, id_hex, key_b64 = parts
    if not _is_valid_name(name):
        raise InvalidInput(f"verifier key has an invalid name {name!r}")
    if not _KEY_ID_HEX.fullmatch(id_hex):
        raise InvalidInput("verifier key ID must be 8 hexadecimal digits")
    key = _b64decode(key_b64, "verifier key")
    if not key or key[0] != ED25519_SIGNATURE_TYPE:
        raise InvalidInput("verifier key is not an Ed25519 (type 0x01) key")
    public_key = key[1:]
    if len(public_key) != PUBLIC_KEY_SIZE:
        raise InvalidInput(f"an Ed25519 public key must be {PUBLIC_KEY_SIZE} bytes")
    if key_id(name, public_key) != bytes.fromhex(id_hex):
        raise InvalidInput(
            f"verifier key ID {id_hex} does not match the key",
            advice="the verifier key string was altered or mistyped",
        )
    return name, public_key


# ---------------------------------------------------------------------------- notes


def sign_note(text: bytes, signer: Signer) -> bytes:
    """Sign ``text`` as a note: text, blank line, one signature line by ``signer``."""
    decoded = _decode_text(text, "note text")
    if not decoded.endswith("\n"):
        raise InvalidInput("note text must end with a newline")
    name = check_key_name(signer.name)
    public_key = _check_public_key(signer.public_key)
    signature = signer.sign(bytes(text))
    if len(signature) != SIGNATURE_SIZE:
        raise InvalidInput(f"an Ed25519 signature must be {SIGNATURE_SIZE} bytes")
    encoded = _b64encode(key_id(name, public_key) + signature)
    return bytes(text) + b"\n" + f"{_SIG_PREFIX}{name} {encoded}\n".encode()


def parse_note(note: bytes) -> tuple[bytes, list[tuple[str, bytes, bytes]]]:
    """Split a signed note into its text and its signatures, verifying nothing.

    Returns ``(text, [(key name, 4-byte key ID, signature), ...])`` in note order.
    Raises InvalidInput when the note is malformed.
    """
    decoded = _decode_text(note, "signed note")
    split = decoded.rfind("\n\n")
    if split < 0:
        raise InvalidInput("signed note has no blank line before its signatures")
    text, block = decoded[: split + 1], decoded[split + 2 :]
    if not block or not block.endswith("\n"):
        raise InvalidInput("signed note must end with signature lines ending in newline")
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise InvalidInput(f"signed note has more than {MAX_SIGNATURES} signatures")
    signatures: list[tuple[str, bytes, bytes]] = []
    for line in lines:
        if not line.startswith(_SIG_PREFIX):
            raise InvalidInput("signed note has a line that is not a signature")
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not _is_valid_name(name):
            raise InvalidInput(f"signed note has an invalid key name {name!r}")
        raw = _b64decode(b64, "note signature")
        if len(raw) < 5:
            raise InvalidInput("note signature is too short")
        signatures.append((name, raw[:4], raw[4:]))
    return text.encode("utf-8"), signatures


def open_note(note: bytes, vkey_str: str, verify: Ed25519Verify) -> bytes:
    """Return the text of ``note`` once a signature by ``vkey_str`` has verified.

    Every signature line with the key's name and key ID must verify; signatures by
    other keys are ignored. Raises IntegrityFailure when the note is malformed, has no
    signature by the key, or carries a bad one; InvalidInput for a malformed vkey.
    """
    name, public_key = parse_vkey(vkey_str)
    kid = key_id(name, public_key)
    label = f"{name}+{kid.hex()}"
    try:
        text, signatures = parse_note(note)
    except InvalidInput as exc:
        raise IntegrityFailure(f"malformed signed note: {exc}") from exc
    verified = False
    for sig_name, sig_kid, signature in signatures:
        if sig_name != name or sig_kid != kid:
            continue
        if len(signature) != SIGNATURE_SIZE:
            raise IntegrityFailure(f"invalid signature by key {label}: wrong length")
        try:
            verify(public_key, signature, text)
        except IntegrityFailure as exc:
            raise IntegrityFailure(
                f"invalid signature by key {label}",
                advice="the note was altered after it was signed, or the key is wrong",
            ) from exc
        verified = True
    if not verified:
        raise IntegrityFailure(
            f"note has no signature by key {label}",
            advice="check that the verifier key is the vault's public key",
        )
    return text


def note_text(note: bytes) -> bytes:
    """A signed note's text: everything before the blank line that opens the signatures."""
    idx = note.find(b"\n\n")
    return note[: idx + 1] if idx >= 0 else note
