"""Posters: the code lands where the layout says and still decodes, the nickname is drawn in CJK, and every
background that is too big, too many pixels or not an image is refused from its header, naming the field."""

from __future__ import annotations

import io
import random
import struct
import zlib

import pytest
import segno
import zxingcpp
from PIL import Image

from fenxiao.adapters.posters import (
    DEFAULT_LAYOUT,
    MAX_OUTPUT_BYTES,
    CodeBox,
    NicknameBox,
    PosterInputError,
    PosterLayout,
    check_background,
    render_poster,
)

pytestmark = pytest.mark.unit


def qr_png(text: str, scale: int = 6) -> bytes:
    out = io.BytesIO()
    segno.make(text, error="m").save(out, kind="png", scale=scale, border=4)
    return out.getvalue()


def image_bytes(size: tuple[int, int], fmt: str, colour: str = "#336699") -> bytes:
    out = io.BytesIO()
    Image.new("RGB", size, colour).save(out, format=fmt)
    return out.getvalue()


def decoded(poster: bytes) -> list[str]:
    return [r.text for r in zxingcpp.read_barcodes(Image.open(io.BytesIO(poster)))]


def test_default_poster_is_750_by_1334_with_the_scene_in_its_code() -> None:
    poster = render_poster(None, qr_png("pScene42"), None, "茶馆小王")
    assert (poster.width, poster.height, poster.content_type) == (750, 1334, "image/png")
    assert len(poster.body) <= MAX_OUTPUT_BYTES
    assert Image.open(io.BytesIO(poster.body)).size == (750, 1334)
    assert decoded(poster.body) == ["pScene42"]


def test_the_nickname_is_drawn_in_its_box_and_only_when_given() -> None:
    code = qr_png("pX")
    box = DEFAULT_LAYOUT.nickname
    assert box is not None
    area = (box.x, box.y, box.x + 200, box.y + box.font_size + 10)
    with_name = Image.open(io.BytesIO(render_poster(None, code, None, "分销达人").body)).crop(area)
    without = Image.open(io.BytesIO(render_poster(None, code, None, None).body)).crop(area)
    assert with_name.tobytes() != without.tobytes()
    white = sum(1 for px in with_name.convert("RGB").get_flattened_data() if px == (255, 255, 255))
    assert white > 50  # the glyphs themselves (white on the orange band), not a blank fallback box


def test_custom_background_code_box_and_jpeg_input() -> None:
    layout = PosterLayout(
        CodeBox(x=40, y=60, size=200), NicknameBox(x=10, y=10, font_size=20, colour="#000000")
    )
    poster = render_poster(image_bytes((400, 300), "JPEG", "#FFFFFF"), qr_png("iInvite7"), layout, "Ann")
    assert (poster.width, poster.height) == (400, 300)
    assert decoded(poster.body) == ["iInvite7"]
    pixels = Image.open(io.BytesIO(poster.body)).convert("L")
    assert pixels.getpixel((5, 5)) > 200  # outside the box the white background is untouched


def test_a_code_box_outside_the_background_names_the_layout() -> None:
    layout = PosterLayout(CodeBox(x=300, y=0, size=200))
    with pytest.raises(PosterInputError) as err:
        render_poster(image_bytes((400, 300), "PNG"), qr_png("p1"), layout, None)
    assert err.value.field == "ui.poster.code"


def png_header_only(width: int, height: int) -> bytes:
    """A PNG that claims ``width``×``height`` pixels: the header of a decompression bomb."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", ihdr)
        + chunk(b"IDAT", zlib.compress(b"\0" * 64))
        + chunk(b"IEND", b"")
    )


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (b"GIF89a" + b"\0" * 100, "not a PNG or JPEG image"),
        (b"<html>not an image</html>", "not a PNG or JPEG image"),
        (b"\x89PNG\r\n\x1a\n" + b"garbage" * 10, "not a readable PNG or JPEG image"),
        (png_header_only(20000, 20000), "at most 4096×4096"),  # refused by Pillow's bomb check
        (png_header_only(5000, 5000), "5000×5000 pixels; at most 4096×4096"),
        (png_header_only(4097, 10), "4097×10 pixels"),
        (b"\x89PNG\r\n\x1a\n" + b"\0" * (5 * 1024 * 1024), "at most 5 MB"),
    ],
)
def test_bad_backgrounds_are_refused_before_decoding(data: bytes, message: str) -> None:
    with pytest.raises(PosterInputError) as err:
        check_background(data)
    assert err.value.field == "ui.poster.image_url"
    assert message in err.value.message


def test_a_poster_over_1_mb_as_png_is_answered_as_jpeg() -> None:
    # Low-amplitude noise: 2.4 MB as a PNG, well under 1 MB as a JPEG.
    grain = bytes(120 + (b & 15) for b in random.Random(7).randbytes(1100 * 1100 * 3))
    noise = Image.frombytes("RGB", (1100, 1100), grain)
    noisy = io.BytesIO()
    noise.save(noisy, format="PNG", compress_level=1)
    layout = PosterLayout(CodeBox(x=100, y=100, size=400))
    poster = render_poster(noisy.getvalue(), qr_png("pBig"), layout, None)
    assert poster.content_type == "image/jpeg"
    assert len(poster.body) <= MAX_OUTPUT_BYTES
    assert decoded(poster.body) == ["pBig"]
