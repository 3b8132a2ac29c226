"""Scenes: the short text a mini-program code carries (``scene`` of wxa/getwxacodeunlimit), one per member and
purpose, the same forever. The member is found from the scene by a lookup, so a scene carries no member id
and cannot be guessed from one: a purpose letter and 64 random bits in base 62 (at most 12 characters of the
32 WeChat allows)."""

from __future__ import annotations

import re

PURPOSES = ("promote", "invite")
WECHAT_SCENE = re.compile(r"[0-9A-Za-z!#$&'()*+,/:;=?@\-._~]{1,32}")  # WeChat's allowed set, 1-32 chars
_DIGITS = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
_PREFIX = {"promote": "p", "invite": "i"}


def new_scene(purpose: str, random_bytes: bytes) -> str:
    """A scene for ``purpose`` from 8 random bytes (the caller draws them: the domain does no I/O)."""
    if purpose not in _PREFIX:
        raise ValueError(f"purpose must be one of {', '.join(PURPOSES)}")
    if len(random_bytes) != 8:
        raise ValueError("a scene needs 8 random bytes")
    number = int.from_bytes(random_bytes, "big")
    digits = ""
    while True:
        number, rest = divmod(number, 62)
        digits = _DIGITS[rest] + digits
        if number == 0:
            break
    return _PREFIX[purpose] + digits


def is_scene(text: str) -> bool:
    """``text`` is a scene WeChat accepts (the whole text: ``fullmatch``)."""
    return WECHAT_SCENE.fullmatch(text) is not None
