"""The CLI's region and mute syntax: read here, judged by the use case."""

from __future__ import annotations

import math

import pytest

from custodes.cli.commands.redaction import parse_mute
from custodes.cli.region import parse_region
from custodes.core.errors import InvalidInput
from custodes.media.redaction import RegionSeed


def test_a_region_is_time_box_and_label() -> None:
    assert parse_region("0.2:40,40,60,30:plate") == RegionSeed(0.2, 40, 40, 60, 30, "plate")
    assert parse_region("12.5:300,200,120,40") == RegionSeed(12.5, 300, 200, 120, 40)


@pytest.mark.parametrize("text", ["here", "1:2,3,4", "1:2,3,4,5,6", "x:1,2,3,4", ":1,2,3,4"])
def test_a_malformed_region_is_refused(text: str) -> None:
    with pytest.raises(InvalidInput, match="T:X,Y,W,H") as err:
        parse_region(text)
    assert err.value.field == "regions"


def test_numbers_out_of_range_are_left_to_the_use_case() -> None:
    seed = parse_region("nan:10,10,inf,50")
    assert math.isnan(seed.t_s) and seed.w == math.inf


def test_mute_ranges() -> None:
    assert parse_mute(["0-1", "2.5-3"]) == ((0.0, 1.0), (2.5, 3.0))
    with pytest.raises(InvalidInput, match="START-END"):
        parse_mute(["1:2"])
