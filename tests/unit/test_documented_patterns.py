"""The URL fields are checked with cheap patterns (fast cold start) and shown with the bounded ones: both must
accept the same strings and fail with the same errors, and the schema must show the bounded pattern."""

from __future__ import annotations

import random
from typing import Annotated, Any

import pytest
from pydantic import BaseModel, ConfigDict, StringConstraints, ValidationError

from fenxiao.schemas.common import HttpsUrl, from_validation_error
from fenxiao.schemas.settings import BackgroundUrl

pytestmark = pytest.mark.unit

BOUNDED_HTTPS = Annotated[str, StringConstraints(pattern=r"^https://[^\s]{1,500}$", max_length=508)]
BOUNDED_BACKGROUND = Annotated[
    str,
    StringConstraints(
        pattern=r"^(https://[^\s]{1,500}|http://127\.0\.0\.1:[0-9]{1,5}/[^\s]{0,400})$", max_length=508
    ),
]


def _model(url_type: Any) -> type[BaseModel]:
    class Doc(BaseModel):
        model_config = ConfigDict(extra="forbid", strict=True, frozen=True)
        image_url: url_type | None = None

    return Doc


def _outcome(model: type[BaseModel], value: object) -> tuple[Any, ...]:
    try:
        return ("ok", model.model_validate({"image_url": value}).model_dump())
    except ValidationError as exc:
        error = from_validation_error(exc)
        return ("error", error.message, error.code, error.field, exc.errors(include_url=False))


def _cases() -> list[object]:
    cases: list[object] = [None, 5, "", "https://", "https://x", "https://x\n", "https://a b", "http://x"]
    for n in (0, 399, 400, 401, 420, 491, 492, 499, 500, 501, 507, 508):
        for prefix in (
            "https://",
            "http://127.0.0.1:8/",
            "http://127.0.0.1:12345/",
            "http://127.0.0.1:123456/",
        ):
            cases.append(prefix + "x" * n)
    rnd = random.Random(16)
    alphabet = "ab/:.1\u00a0 \t\n\x1c\u3000é"
    for _ in range(1500):
        prefix = rnd.choice(["https://", "http://127.0.0.1:80/", "http://127.0.0.1:99999/", "htt", ""])
        size = rnd.choice([0, 1, 5, 30, 398, 400, 401, 499, 500, 501])
        cases.append(prefix + "".join(rnd.choice(alphabet) for _ in range(size)))
    return cases


@pytest.mark.parametrize(
    ("cheap", "bounded"),
    [(HttpsUrl, BOUNDED_HTTPS), (BackgroundUrl, BOUNDED_BACKGROUND)],
    ids=["https", "poster"],
)
def test_cheap_pattern_answers_as_the_bounded_one(cheap: Any, bounded: Any) -> None:
    new, old = _model(cheap), _model(bounded)
    assert new.model_json_schema() == old.model_json_schema()
    for value in _cases():
        assert _outcome(new, value) == _outcome(old, value), repr(value)[:80]
