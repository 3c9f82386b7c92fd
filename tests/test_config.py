"""Tests of custodes.config: where the vault's backends are."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.config import S3Location, Settings
from custodes.core.errors import InvalidInput


@pytest.mark.parametrize(
    ("url", "root"),
    [
        (None, Path("h/blobs")),
        ("/srv/blobs", Path("/srv/blobs")),
        ("rel/blobs", Path("rel/blobs")),
        ("file:///srv/blobs", Path("/srv/blobs")),
        ("file:/srv/blobs", Path("/srv/blobs")),
    ],
)
def test_blob_root_is_a_path_or_file_url(url: str | None, root: Path) -> None:
    assert Settings(home=Path("h"), blob_url=url).blob_root == root


@pytest.mark.parametrize(
    ("url", "scheme"),
    [("az://bucket/x", "az"), ("gs://b", "gs"), ("https://host/b", "https"), ("GS:b", "GS")],
)
def test_other_blob_url_schemes_are_refused(url: str, scheme: str) -> None:
    with pytest.raises(InvalidInput, match=f"unsupported blob URL scheme '{scheme}'"):
        _ = Settings(home=Path("h"), blob_url=url).blob_root


@pytest.mark.parametrize(
    ("url", "location"),
    [
        ("s3://evidence", S3Location("evidence", "")),
        ("s3://evidence/", S3Location("evidence", "")),
        ("s3://evidence/dept-a/blobs/", S3Location("evidence", "dept-a/blobs")),
        ("S3://evidence.archive/x", S3Location("evidence.archive", "x")),
    ],
)
def test_s3_blob_urls_name_a_bucket_and_prefix(url: str, location: S3Location) -> None:
    settings = Settings(home=Path("h"), blob_url=url)
    assert settings.blob_location == location
    with pytest.raises(InvalidInput, match="not a folder"):
        _ = settings.blob_root
    assert settings.resolved_blob_scratch == Path("h/blob-scratch")


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("s3://", "malformed S3 blob URL"),
        ("s3:bucket", "malformed S3 blob URL"),
        ("s3://Bucket_Name/x", "not an S3 bucket name"),
        ("s3://ab/x", "not an S3 bucket name"),
        ("s3://bucket/x?versionId=1", "malformed S3 blob URL"),
        ("s3://bucket/a/../b", "malformed key prefix"),
    ],
)
def test_malformed_s3_blob_urls_are_refused(url: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match=needle):
        _ = Settings(home=Path("h"), blob_url=url).blob_location


def test_retention_days(monkeypatch: pytest.MonkeyPatch) -> None:
    assert Settings().retention_days is None
    monkeypatch.setenv("CUSTODES_RETENTION_DAYS", "2555")
    assert Settings().retention_days == 2555
    monkeypatch.setenv("CUSTODES_RETENTION_DAYS", "0")
    with pytest.raises(ValueError, match="greater than or equal to 1"):
        Settings()
