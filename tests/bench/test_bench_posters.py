"""Posters: CPU to render the built-in poster (goal ≤ 300 ms on this machine) and what a repeat costs."""

from __future__ import annotations

import io
import statistics
import time

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
