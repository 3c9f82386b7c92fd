"""Tests of custodes.config: where the vault's backends are."""

from __future__ import annotations

from pathlib import Path

import pytest

from custodes.config import Settings
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
    [("s3://bucket/x", "s3"), ("gs://b", "gs"), ("https://host/b", "https"), ("S3:b", "S3")],
)
def test_other_blob_url_schemes_are_refused(url: str, scheme: str) -> None:
    with pytest.raises(InvalidInput, match=f"unsupported blob URL scheme '{scheme}'"):
        _ = Settings(home=Path("h"), blob_url=url).blob_root
