"""Tests of custodes.storage.db: which database URLs make an engine."""

from __future__ import annotations

import pytest

from custodes.core.errors import InvalidInput
from custodes.storage.db import make_engine


@pytest.mark.parametrize(
    ("url", "needle"),
    [
        ("bogus://x", "unsupported database URL 'bogus://x'"),
        ("mysql://u:s3cret@h/db", "unsupported database URL 'mysql://u:***@h/db'"),
        ("postgresql+nodriver://u:s3cret@h/db", "'postgresql+nodriver://u:***@h/db'"),
        ("not a url", "not a URL"),
    ],
)
def test_unsupported_urls_are_bad_input_without_the_password(url: str, needle: str) -> None:
    with pytest.raises(InvalidInput, match="database URL") as info:
        make_engine(url)
    assert needle in str(info.value)
    assert "s3cret" not in str(info.value) and "\n" not in str(info.value)


@pytest.mark.parametrize("url", ["sqlite://", "postgresql://u:pw@127.0.0.1:1/db"])
def test_supported_urls_make_an_engine_without_connecting(url: str) -> None:
    make_engine(url).dispose()
