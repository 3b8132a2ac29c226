"""Ids chosen by the mall (shop, member, order, product, line, refund, review and withdrawal ids)."""

from __future__ import annotations

import re

ID_PATTERN = r"[A-Za-z0-9_.:\-]{1,64}"
"""1–64 characters of ``A-Z a-z 0-9 _ . : -``: URL-safe, so a signed path is the path as sent, and never
``#``, which the storage keys use as their separator."""

ID_SCHEMA_PATTERN = f"^{ID_PATTERN}$"  # for JSON Schema and pydantic, whose regexes search

_ID = re.compile(ID_PATTERN)


def is_id(text: str) -> bool:
    """The whole text is an id (``fullmatch``: a trailing newline is not allowed)."""
    return _ID.fullmatch(text) is not None
