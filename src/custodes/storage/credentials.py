"""The certificate that signs the Content Credentials (C2PA manifests) of released copies.

A department configures its own: ``CUSTODES_C2PA_CERT`` (a PEM chain, signing
certificate first), ``CUSTODES_C2PA_KEY`` (its PKCS #8 PEM private key, readable by its
owner only) and, optionally, ``CUSTODES_C2PA_TRUST_ANCHORS`` (the root(s) a reader
should trust; by default the last certificate of the chain).

On the embedded default nothing is configured, and the vault makes its own on first use
under ``<home>/keys/c2pa/``: a root certificate ("<agency> custodes root", ten years)
and a signing certificate it issues (two years; digitalSignature, emailProtection,
as C2PA's certificate profile asks of a signer), both ECDSA P-256. The root's private
key signs that one certificate and is then thrown away, so the vault holds no key that
could issue another signer. The folder is written whole under a temporary name and
renamed into place, so a crash leaves either nothing or a complete set, and a set that
exists is never replaced. A reader trusts such a copy once it is given the root
(``custodes provenance --root`` prints it, for the department to publish).

``cryptography`` errors are mapped to custodes errors here, at the edge.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import hashlib
import os
import shutil
import stat
import tempfile
from dataclasses import dataclass
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from custodes.core.errors import InvalidInput

__all__ = [
    "SigningCredential",
    "chain_root_pem",
    "load_credential",
    "load_or_create_credential",
    "read_trust_anchors",
]

FOLDER = Path("keys") / "c2pa"
CHAIN_FILE = "signer-chain.pem"
KEY_FILE = "signer-key.pem"
ROOT_FILE = "root.pem"


@dataclass(frozen=True)
class SigningCredential:
    """A C2PA signing certificate chain, its key, and the roots a reader should trust."""

    chain_pem: bytes  # signing certificate first, then any intermediates (and the root)
    key_pem: bytes
    anchors_pem: bytes
    alg: str  # C2PA's name: es256, es384, es512, ps256, ed25519
    origin: str  # "department" (configured) or "self-made" (embedded default)

    @property
    def subject(self) -> str:
        return _certs(self.chain_pem, "the signing chain")[0].subject.rfc4514_string()

    @property
    def cert_sha256(self) -> str:
        der = _certs(self.chain_pem, "the signing chain")[0].public_bytes(
            serialization.Encoding.DER
        )
        return hashlib.sha256(der).hexdigest()


def _certs(pem: bytes, what: str) -> list[x509.Certificate]:
    try:
        certs = x509.load_pem_x509_certificates(pem)
    except ValueError as exc:
        raise InvalidInput(f"{what} is not a PEM certificate chain") from exc
    if not certs:
        raise InvalidInput(f"{what} holds no certificate")
    return certs


def _alg(key: object) -> str:
    if isinstance(key, ec.EllipticCurvePrivateKey):
        names = {"secp256r1": "es256", "secp384r1": "es384", "secp521r1": "es512"}
        if key.curve.name not in names:
            raise InvalidInput(f"C2PA cannot sign with the EC curve {key.curve.name}")
        return names[key.curve.name]
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key, rsa.RSAPrivateKey):
        return "ps256"
    raise InvalidInput("the C2PA key must be an EC (P-256/384/521), Ed25519 or RSA key")


def _read_private(path: Path) -> bytes:
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read the C2PA key {path}: {exc.strerror}") from exc
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise InvalidInput(f"{path} can be read by others; chmod 600 it")
    return data


def _read(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {what} {path}: {exc.strerror}") from exc


def load_credential(
    cert: Path, key: Path, anchors: Path | None = None, *, origin: str = "department"
) -> SigningCredential:
    """Load and check a configured chain and key: the key must match the certificate."""
    chain_pem = _read(cert, "the C2PA certificate")
    key_pem = _read_private(key)
    chain = _certs(chain_pem, str(cert))
    try:
        private = serialization.load_pem_private_key(key_pem, password=None)
    except (ValueError, TypeError) as exc:
        raise InvalidInput(f"{key} is not an unencrypted PEM private key") from exc
    alg = _alg(private)
    mine = private.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    theirs = (
        chain[0]
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    if mine != theirs:
        raise InvalidInput(f"{key} is not the key of the first certificate in {cert}")
    if anchors is not None:
        anchors_pem = _read(anchors, "the C2PA trust anchors")
        _certs(anchors_pem, str(anchors))
    else:
        anchors_pem = chain[-1].public_bytes(serialization.Encoding.PEM)
    return SigningCredential(chain_pem, key_pem, anchors_pem, alg, origin)


def chain_root_pem(cert: Path) -> bytes:
    """The last certificate of the PEM chain in ``cert`` (the root a reader trusts by
    default), as PEM."""
    chain = _certs(cert.read_bytes(), str(cert))
    return chain[-1].public_bytes(serialization.Encoding.PEM)


def read_trust_anchors(path: Path) -> bytes:
    """PEM root certificates to trust, read from ``path`` and checked, so that a wrong
    file is named as such (not blamed on the copy being checked). A private key is
    refused outright."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from exc
    if b"PRIVATE KEY-----" in data:
        raise InvalidInput(
            f"{path} holds a private key: trust anchors are root certificates only "
            "(and a private key should not be passed around)"
        )
    try:
        certs = x509.load_pem_x509_certificates(data)
    except ValueError:
        certs = []
    if not certs:
        raise InvalidInput(f"{path} holds no PEM certificate (trust anchors are root certificates)")
    return data


def self_made_credential_exists(home: Path) -> bool:
    """Whether the vault's self-made credential (made on first use) is on disk."""
    return (home / FOLDER / KEY_FILE).exists()


def load_or_create_credential(home: Path, agency: str) -> SigningCredential:
    """The vault's self-made credential under ``home/keys/c2pa``, made on first use."""
    folder = home / FOLDER
    if not (folder / KEY_FILE).exists():
        folder.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
        tmp = Path(tempfile.mkdtemp(prefix=".c2pa-", dir=folder.parent))
        try:
            _issue(tmp, agency)
            # A directory rename onto an existing non-empty folder fails: a set made
            # concurrently by another process wins, and is loaded below.
            with contextlib.suppress(OSError):
                os.rename(tmp, folder)
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
    return load_credential(
        folder / CHAIN_FILE, folder / KEY_FILE, folder / ROOT_FILE, origin="self-made"
    )


def _name(common: str, agency: str) -> x509.Name:
    org = agency.strip()[:64] or "custodes"
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COMMON_NAME, common[:64]),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, org),
        ]
    )


def _issue(folder: Path, agency: str) -> None:
    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    root_key = ec.generate_private_key(ec.SECP256R1())
    root_name = _name(f"{agency} custodes root", agency)
    root = (
        x509.CertificateBuilder()
        .subject_name(root_name)
        .issuer_name(root_name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=3650))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(False, False, False, False, False, True, True, False, False),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    key = ec.generate_private_key(ec.SECP256R1())
    signer = (
        x509.CertificateBuilder()
        .subject_name(_name(f"{agency} evidence releases", agency))
        .issuer_name(root_name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - dt.timedelta(minutes=5))
        .not_valid_after(now + dt.timedelta(days=730))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(True, False, False, False, False, False, False, False, False),
            critical=True,
        )
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.EMAIL_PROTECTION]), False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    pem = serialization.Encoding.PEM
    files = {
        ROOT_FILE: root.public_bytes(pem),
        CHAIN_FILE: signer.public_bytes(pem) + root.public_bytes(pem),
        KEY_FILE: key.private_bytes(
            pem, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        ),
    }
    for name, data in files.items():
        fd = os.open(folder / name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, data)
            os.fsync(fd)
        finally:
            os.close(fd)
    dfd = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(dfd)
    finally:
        os.close(dfd)
