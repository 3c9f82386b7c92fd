"""The vault's Ed25519 signing key on disk, and Ed25519 verification.

The private key is a PKCS #8 PEM file readable by its owner only (mode 0600). It is
created once, atomically: written to a temporary file in the same folder, fsynced,
then hard-linked into place, which fails instead of replacing a key that already
exists (a no-clobber rename), and the folder is fsynced. Only ``custodes init`` creates
a key (:meth:`Ed25519Signer.load_or_create`); everything else loads it
(:meth:`Ed25519Signer.load`) and refuses a key that is missing, damaged or not the one
the vault published: a new key would sign checkpoints nobody can check. A key file that
others can read is refused as well.

``cryptography`` errors are mapped to custodes errors here, at the edge.
"""

from __future__ import annotations

import contextlib
import errno
import os
import stat
import tempfile
from pathlib import Path

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from custodes.core.checkpoint import check_key_name, vkey
from custodes.core.errors import CustodesError, IntegrityFailure, InvalidInput

__all__ = ["Ed25519Signer", "ed25519_verify"]

_KEY_FILE_MODE = 0o600


class Ed25519Signer:
    """An Ed25519 signer for signed notes (implements ``custodes.core.ports.Signer``)."""

    __slots__ = ("_key", "_name", "_public_key")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        self._name = check_key_name(name)
        self._key = private_key
        self._public_key = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls, name: str) -> Ed25519Signer:
        """A signer with a fresh random key (kept in memory only)."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_seed(cls, name: str, seed: bytes) -> Ed25519Signer:
        """A signer from a 32-byte RFC 8032 private key (seed)."""
        try:
            return cls(name, Ed25519PrivateKey.from_private_bytes(seed))
        except (ValueError, TypeError) as exc:
            raise InvalidInput("an Ed25519 private key seed must be 32 bytes") from exc

    @classmethod
    def load_or_create(cls, path: Path, name: str) -> Ed25519Signer:
        """Load the key at ``path``, or create it (mode 0600, atomically) if absent.

        An existing key file is never overwritten. If another process creates the key
        at the same moment, its key wins and is loaded.
        """
        check_key_name(name)
        path = Path(path)
        if not path.exists():
            # FileExistsError: created concurrently by someone else; load theirs.
            with contextlib.suppress(FileExistsError):
                _create_key_file(path)
        return cls(name, _load_key_file(path))

    @classmethod
    def load(cls, path: Path, name: str, *, expected_vkey: str | None = None) -> Ed25519Signer:
        """Load the existing key at ``path``; never create one.

        A missing, unreadable-as-a-key or non-Ed25519 file raises IntegrityFailure, and so
        does a key whose verifier key differs from ``expected_vkey`` (the published one).
        """
        check_key_name(name)
        path = Path(path)
        if not path.exists() and not path.is_symlink():
            raise IntegrityFailure(
                f"the vault's signing key {path} is missing; restore it from backup",
                advice="only 'custodes init' makes a key: a new one would not match the "
                "published key, and checkpoints signed with it would not verify",
            )
        signer = cls(name, _load_key_file(path))
        if expected_vkey is not None and signer.vkey != expected_vkey:
            raise IntegrityFailure(
                f"the vault's signing key {path} (key id {_key_id(signer.vkey)}) does not "
                f"match the published key (key id {_key_id(expected_vkey)}); "
                "restore the right key from backup",
            )
        return signer

    @property
    def name(self) -> str:
        return self._name

    @property
    def public_key(self) -> bytes:
        """The raw 32-byte Ed25519 public key."""
        return self._public_key

    @property
    def vkey(self) -> str:
        """The signed-note verifier key string to give to verifiers."""
        return vkey(self._name, self._public_key)

    def sign(self, message: bytes) -> bytes:
        """A 64-byte Ed25519 signature of ``message``."""
        return self._key.sign(bytes(message))

    def __repr__(self) -> str:  # never show the private key
        return f"Ed25519Signer({self.vkey!r})"


def ed25519_verify(public_key: bytes, signature: bytes, message: bytes) -> None:
    """Verify an Ed25519 signature; raise IntegrityFailure if it is wrong.

    Matches ``custodes.core.ports.Ed25519Verify``.
    """
    try:
        key = Ed25519PublicKey.from_public_bytes(bytes(public_key))
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise IntegrityFailure("not a valid Ed25519 public key") from exc
    try:
        key.verify(bytes(signature), bytes(message))
    except InvalidSignature as exc:
        raise IntegrityFailure("Ed25519 signature does not verify") from exc
    except (ValueError, TypeError) as exc:
        raise IntegrityFailure("malformed Ed25519 signature") from exc


# --------------------------------------------------------------------------- files


def _key_id(vkey_str: str) -> str:
    """The hex key id of a signed-note verifier key string (``name+keyid+key``)."""
    parts = vkey_str.split("+", 2)  # base64 may contain '+', the name may not
    return parts[1] if len(parts) == 3 else "?"


def _load_key_file(path: Path) -> Ed25519PrivateKey:
    try:
        with path.open("rb") as fh:
            mode = os.fstat(fh.fileno()).st_mode
            data = fh.read()
    except FileNotFoundError as exc:
        raise InvalidInput(f"signing key {path} does not exist") from exc
    except OSError as exc:
        raise CustodesError(
            f"cannot read signing key {path}: {exc.strerror or exc}",
            advice="check the key file's owner and permissions",
        ) from exc
    if not stat.S_ISREG(mode):
        raise InvalidInput(f"signing key {path} is not a regular file")
    if os.name == "posix" and mode & 0o077:
        raise InvalidInput(
            f"signing key {path} is readable by other users (mode {stat.S_IMODE(mode):o})",
            advice=f"restrict it with: chmod 600 {path}",
        )
    try:
        key = serialization.load_pem_private_key(data, password=None)
    except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
        raise IntegrityFailure(
            f"signing key {path} is damaged: not an unencrypted PKCS #8 PEM private key; "
            "restore it from backup"
        ) from exc
    if not isinstance(key, Ed25519PrivateKey):
        raise IntegrityFailure(
            f"signing key {path} is not an Ed25519 key; restore the vault's key from backup"
        )
    return key


def _create_key_file(path: Path) -> None:
    """Write a new PKCS #8 PEM key to ``path``; FileExistsError if it appeared meanwhile."""
    pem = Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    folder = path.parent
    try:
        folder.mkdir(mode=0o700, parents=True, exist_ok=True)
        fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=folder)
    except OSError as exc:
        raise CustodesError(
            f"cannot create signing key in {folder}: {exc.strerror or exc}",
            advice="check that the key folder exists and is writable",
        ) from exc
    tmp = Path(tmp_name)
    try:
        try:
            with os.fdopen(fd, "wb") as fh:
                os.fchmod(fh.fileno(), _KEY_FILE_MODE)  # mkstemp uses 0600; be explicit
                fh.write(pem)
                fh.flush()
                os.fsync(fh.fileno())
            _link_no_clobber(tmp, path)
            _fsync_dir(folder)
        except FileExistsError:
            raise
        except OSError as exc:
            raise CustodesError(
                f"cannot write signing key {path}: {exc.strerror or exc}",
                advice="check free space and permissions of the key folder",
            ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()


def _link_no_clobber(src: Path, dst: Path) -> None:
    """Atomically make ``dst`` name ``src``'s file, failing if ``dst`` exists."""
    try:
        os.link(src, dst)
    except FileExistsError:
        raise
    except OSError as exc:
        # Filesystems without hard links: rename after an existence check. The window
        # between the check and the rename is the only non-atomic part.
        if exc.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV):
            raise
        if dst.exists():
            raise FileExistsError(errno.EEXIST, "signing key already exists", str(dst)) from exc
        os.rename(src, dst)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    fd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
