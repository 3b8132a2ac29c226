"""Scenes: short, WeChat-valid, derived from random bits the caller draws."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from fenxiao.domain.scenes import PURPOSES, is_scene, new_scene

pytestmark = pytest.mark.unit


@given(st.sampled_from(PURPOSES), st.binary(min_size=8, max_size=8))
def test_every_scene_is_valid_for_wechat_and_short(purpose: str, bits: bytes) -> None:
    scene = new_scene(purpose, bits)
    assert is_scene(scene)
    assert len(scene) <= 12
    assert scene[0] == purpose[0]


def test_scenes_differ_with_their_bits_and_purpose() -> None:
    assert new_scene("promote", b"\0" * 8) == "p0"
    assert new_scene("promote", b"\xff" * 8) == "pLygHa16AHYF"
    assert new_scene("invite", b"\xff" * 8) == "iLygHa16AHYF"


@pytest.mark.parametrize("text", ["", "a" * 33, "p1\n", "p 1", "p%1", "p\u4e2d"])
def test_invalid_scenes(text: str) -> None:
    assert not is_scene(text)


def test_bad_arguments() -> None:
    with pytest.raises(ValueError, match="purpose"):
        new_scene("share", b"\0" * 8)
    with pytest.raises(ValueError, match="8 random bytes"):
        new_scene("promote", b"\0" * 7)
