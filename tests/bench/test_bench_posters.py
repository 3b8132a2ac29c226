"""Posters: CPU to render the built-in poster (goal ≤ 300 ms on this machine) and what a repeat costs (no
render, no WeChat call: the stored image is answered)."""

from __future__ import annotations

import io
import statistics
import time
from typing import Any

import pytest
import segno
import zxingcpp
from PIL import Image

from fenxiao.adapters import posters

pytestmark = pytest.mark.bench

RUNS = 20


def test_render_default_poster_cpu(report) -> None:
    qr = io.BytesIO()
    segno.make("pLygHa16AHYF", error="m").save(qr, kind="png", scale=8, border=4)
    code = qr.getvalue()
    started = time.process_time()
    first = posters.render_poster(None, code, None, "茶馆小王")  # draws the built-in background once
    first_ms = (time.process_time() - started) * 1000
    samples = []
    for _ in range(RUNS):
        started = time.process_time()
        poster = posters.render_poster(None, code, None, "茶馆小王")
        samples.append((time.process_time() - started) * 1000)
    assert [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(poster.body)))] == ["pLygHa16AHYF"]
    assert poster.body == first.body  # the same input renders the same bytes (so the stored key is stable)
    report(
        "poster render (built-in background, 750x1334)",
        {
            "first render in a container, CPU ms (draws the background)": round(first_ms, 1),
            f"median CPU ms of {RUNS} renders (goal <= 300)": round(statistics.median(samples), 1),
            "max CPU ms": round(max(samples), 1),
            "output": f"{poster.content_type}, {len(poster.body)} bytes (limit 1 000 000)",
            "font file bytes (Noto Sans SC, OFL)": posters.FONT_PATH.stat().st_size,
        },
    )


def test_a_cached_poster_renders_and_fetches_nothing(
    shop: Any, report: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A member's poster through the API twice: the first request fetches the code and renders; the repeat
    answers the stored image (counted: renders, WeChat calls, AWS round trips, CPU ms)."""
    import boto3

    from fenxiao import bootstrap
    from fenxiao_local.standin import Standin
    from tests.bench.counting import measuring
    from tests.support import wechatpay as wx

    outputs = boto3.client("cloudformation").describe_stacks(StackName="fenxiao-test")["Stacks"][0]["Outputs"]
    bucket = next(o["OutputValue"] for o in outputs if o["OutputKey"] == "MediaBucketName")
    standin = Standin(wx.keys, "127.0.0.1", 0)
    standin.start()
    renders: list[int] = []
    original = posters.render_poster

    def counted(*args: Any, **kwargs: Any) -> Any:
        renders.append(1)
        return original(*args, **kwargs)

    monkeypatch.setattr(posters, "render_poster", counted)
    monkeypatch.setenv("FENXIAO_WECHAT_API_BASE_URL", standin.url)
    monkeypatch.setenv("FENXIAO_MEDIA_BUCKET", bucket)
    bootstrap.reset()
    settings = {"appid": "wxbench000000001", "appsecret": "bench-appsecret-0123456789"}
    try:
        assert shop.put(shop.path("/settings/miniprogram"), settings).status == 200
        assert shop.put(shop.path("/members/m1/distributor"), {"active": True}).status == 200
        figures: dict[str, Any] = {}
        for label in ("first request", "repeat"):
            started = time.process_time()
            with measuring() as measure:
                answer = shop.post(
                    shop.path("/members/m1/posters"), {"purpose": "promote", "nickname": "小王"}
                )
            cpu_ms = (time.process_time() - started) * 1000
            assert answer.status == 200, answer
            figures[f"{label}: renders, WeChat code calls"] = (
                f"{len(renders)}, {standin.miniprogram.calls['getwxacodeunlimit']}"
            )
            figures[f"{label}: CPU ms (client and moto included)"] = round(cpu_ms, 1)
            figures[f"{label}: AWS calls"] = measure.summary()
        assert len(renders) == 1 and standin.miniprogram.calls["getwxacodeunlimit"] == 1
    finally:
        standin.stop()
    report("poster repeat (the stored image answered)", figures)
