"""Running a test on both blob stores, and tampering with a stored blob on either, as
someone with access to the folder or the bucket (not through custodes) would."""

from __future__ import annotations

from typing import Any

import pytest

from custodes.bootstrap import Vault
from custodes.storage.blobs.local import LocalBlobStore
from custodes.storage.blobs.s3 import S3BlobStore, make_client

on_both_blob_stores = pytest.mark.parametrize(
    "blob_backend", ["local", pytest.param("s3", marks=pytest.mark.s3)]
)
"""Runs a test that uses the ``vault`` fixture on the local folder and on S3 (moto)."""


def read_blob(vault: Vault, sha256: str) -> bytes:
    with vault.blobs.open(sha256) as f:
        return f.read()


def replace_blob(vault: Vault, sha256: str, data: bytes) -> None:
    """Overwrite the stored bytes of ``sha256`` behind custodes' back."""
    store = vault.blobs
    if isinstance(store, LocalBlobStore):
        path = store.local_path(sha256)
        path.chmod(0o600)  # the store keeps blobs read-only
        path.write_bytes(data)
    elif isinstance(store, S3BlobStore):
        _client(store).put_object(Bucket=store.bucket, Key=store.key(sha256), Body=data)
    else:
        raise TypeError(f"cannot tamper with {store!r}")


def flip_byte(vault: Vault, sha256: str, offset: int = 1000) -> None:
    data = bytearray(read_blob(vault, sha256))
    data[offset] ^= 1
    replace_blob(vault, sha256, bytes(data))


def remove_blob(vault: Vault, sha256: str) -> None:
    store = vault.blobs
    if isinstance(store, LocalBlobStore):
        store.local_path(sha256).unlink()
    elif isinstance(store, S3BlobStore):
        _client(store).delete_object(Bucket=store.bucket, Key=store.key(sha256))
    else:
        raise TypeError(f"cannot tamper with {store!r}")


def temp_files(vault: Vault) -> list[str]:
    """The store's temporary files on this machine (staged or downloaded blobs)."""
    store = vault.blobs
    folder = store.root / "tmp" if isinstance(store, LocalBlobStore) else None
    if isinstance(store, S3BlobStore):
        folder = store.scratch
    if folder is None:
        raise TypeError(f"no temporary folder known for {store!r}")
    return sorted(p.name for p in folder.glob("*")) if folder.exists() else []


def _client(store: S3BlobStore) -> Any:
    """A client of the same server without the store's no-overwrite hook."""
    endpoint = store._client.meta.endpoint_url
    return make_client(endpoint_url=endpoint, addressing_style="path")
