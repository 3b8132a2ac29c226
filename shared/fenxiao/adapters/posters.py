"""Posters (代言推广海报): a background with the member's mini-program code and nickname on it, drawn with Pillow.

A custom background is checked before a single pixel is decoded: at most 5 MB, PNG or JPEG by its magic
bytes and by Pillow's reading of the header, at most 4096×4096 pixels (so a small file that inflates to
gigabytes — a decompression bomb — is refused from its header). Without one, the built-in 750×1334
background is drawn in code with its own layout. The nickname is drawn with Noto Sans SC (OFL, shipped
in the package: see shared/scripts/fetch_font.py). The answer is a PNG, or a JPEG when the PNG would be
over 1 MB.
"""

from __future__ import annotations

import functools
import io
import warnings
from dataclasses import dataclass
from pathlib import Path

import urllib3
from PIL import Image, ImageDraw, ImageFont

MAX_BACKGROUND_BYTES = 5 * 1024 * 1024
MAX_BACKGROUND_SIDE = 4096
MAX_OUTPUT_BYTES = 1_000_000
MAX_NICKNAME_CHARS = 20
DEFAULT_SIZE = (750, 1334)
BACKGROUND_FIELD = "ui.poster.image_url"
FONT_PATH = (
    Path(__file__).resolve().parent.parent / "assets" / "fonts" / "NotoSansSC-Regular-chinese-simplified.woff"
)
FETCH_TIMEOUT = urllib3.Timeout(connect=3.0, read=10.0)
_PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
_JPEG_MAGIC = b"\xff\xd8\xff"


class PosterInputError(Exception):
    """The poster cannot be made from this input; ``field`` names the setting that is at fault."""

    def __init__(self, field: str, message: str) -> None:
        super().__init__(f"{field}: {message}")
        self.field = field
        self.message = message


@dataclass(frozen=True)
class CodeBox:
    """Where the mini-program code goes: its top-left corner and side, in background pixels."""

    x: int
    y: int
    size: int


@dataclass(frozen=True)
class NicknameBox:
    """Where the nickname goes: the top-left of its text, its size in pixels and its colour (#RRGGBB)."""

    x: int
    y: int
    font_size: int
    colour: str


@dataclass(frozen=True)
class PosterLayout:
    code: CodeBox
    nickname: NicknameBox | None = None


DEFAULT_LAYOUT = PosterLayout(
    CodeBox(x=215, y=830, size=320), NicknameBox(x=80, y=640, font_size=44, colour="#FFFFFF")
)


@dataclass(frozen=True)
class RenderedPoster:
    body: bytes
    content_type: str
    width: int
    height: int


def check_background(data: bytes) -> Image.Image:
    """The background, opened and fully decoded, or PosterInputError naming ``ui.poster.image_url``."""
    if len(data) > MAX_BACKGROUND_BYTES:
        raise PosterInputError(BACKGROUND_FIELD, f"the image is {len(data)} bytes; at most 5 MB")
    if not (data.startswith(_PNG_MAGIC) or data.startswith(_JPEG_MAGIC)):
        raise PosterInputError(BACKGROUND_FIELD, "not a PNG or JPEG image")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            image = Image.open(io.BytesIO(data), formats=["PNG", "JPEG"])  # reads the header only
            width, height = image.size
            if width > MAX_BACKGROUND_SIDE or height > MAX_BACKGROUND_SIDE:
                raise PosterInputError(
                    BACKGROUND_FIELD, f"the image is {width}×{height} pixels; at most 4096×4096"
                )
            image.load()
    except PosterInputError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning):
        raise PosterInputError(BACKGROUND_FIELD, "the image has too many pixels; at most 4096×4096") from None
    except (OSError, ValueError, SyntaxError):
        raise PosterInputError(BACKGROUND_FIELD, "not a readable PNG or JPEG image") from None
    return image


def render_poster(
    background: bytes | None, code_image: bytes, layout: PosterLayout | None, nickname: str | None
) -> RenderedPoster:
    """The poster: ``background`` (None: the built-in one, with DEFAULT_LAYOUT when ``layout`` is None)."""
    if background is None:
        canvas = default_background()
        layout = layout or DEFAULT_LAYOUT
    else:
        canvas = check_background(background).convert("RGB")
        if layout is None:
            raise ValueError("a custom background needs its layout")
    _check_inside(canvas, layout.code)
    code = Image.open(io.BytesIO(code_image)).convert("RGBA")
    # Nearest-neighbour keeps a QR code's modules sharp when enlarged; Lanczos keeps them clean when reduced.
    resample = Image.Resampling.NEAREST if code.width < layout.code.size else Image.Resampling.LANCZOS
    code = code.resize((layout.code.size, layout.code.size), resample)
    canvas.paste(code, (layout.code.x, layout.code.y), code)
    if nickname and layout.nickname is not None:
        box = layout.nickname
        ImageDraw.Draw(canvas).text(
            (box.x, box.y), nickname[:MAX_NICKNAME_CHARS], font=_font(box.font_size), fill=box.colour
        )
    return _encode(canvas)


def _check_inside(canvas: Image.Image, code: CodeBox) -> None:
    if code.x < 0 or code.y < 0 or code.x + code.size > canvas.width or code.y + code.size > canvas.height:
        raise PosterInputError(
            "ui.poster.code",
            f"the code box ({code.x}, {code.y}, size {code.size}) does not fit the "
            f"{canvas.width}×{canvas.height} background",
        )


def _encode(canvas: Image.Image) -> RenderedPoster:
    out = io.BytesIO()
    canvas.save(out, format="PNG", compress_level=6)
    if out.tell() <= MAX_OUTPUT_BYTES:
        return RenderedPoster(out.getvalue(), "image/png", canvas.width, canvas.height)
    for quality in (90, 80, 70, 60, 50, 40):
        out = io.BytesIO()
        canvas.save(out, format="JPEG", quality=quality, optimize=True)
        if out.tell() <= MAX_OUTPUT_BYTES:
            return RenderedPoster(out.getvalue(), "image/jpeg", canvas.width, canvas.height)
    raise PosterInputError(BACKGROUND_FIELD, "the poster cannot be encoded in 1 MB; use a simpler background")


@functools.lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.FreeTypeFont:
    return ImageFont.truetype(str(FONT_PATH), size)


@functools.lru_cache(maxsize=1)
def _default_background_png() -> bytes:
    """The built-in 750×1334 background, drawn once per container: a red-to-orange band with the title,
    a white card below for the code."""
    width, height = DEFAULT_SIZE
    image = Image.new("RGB", DEFAULT_SIZE, "#FFF7F0")
    draw = ImageDraw.Draw(image)
    top, bottom = (0xE4, 0x39, 0x3C), (0xFF, 0x99, 0x00)
    band = 760
    for y in range(band):
        t = y / (band - 1)
        draw.line(
            [(0, y), (width, y)], fill=tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True))
        )
    draw.rounded_rectangle((60, 780, width - 60, height - 80), radius=28, fill="#FFFFFF")
    draw.text((80, 200), "我要代言", font=_font(96), fill="#FFFFFF")
    draw.text((80, 340), "好物推荐 · 扫码成为我的粉丝", font=_font(40), fill="#FFF3E0")
    draw.text((width // 2, height - 130), "长按识别小程序码", font=_font(32), fill="#999999", anchor="mm")
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def default_background() -> Image.Image:
    return Image.open(io.BytesIO(_default_background_png())).convert("RGB")


_pool = urllib3.PoolManager(retries=False, maxsize=4)


def fetch_background(url: str, *, allow_loopback_http: bool = False) -> bytes:
    """The custom background's bytes, fetched over HTTPS (at most 5 MB, read in chunks so a larger one is
    never held whole). ``allow_loopback_http`` lets the local stack serve test images from 127.0.0.1."""
    loopback = url.startswith(("http://127.0.0.1:", "http://127.0.0.1/", "http://localhost:"))
    if not (url.startswith("https://") or (allow_loopback_http and loopback)):
        raise PosterInputError(BACKGROUND_FIELD, "must be an https:// URL")
    try:
        answer = _pool.request("GET", url, preload_content=False, timeout=FETCH_TIMEOUT, redirect=False)
    except urllib3.exceptions.HTTPError as exc:
        raise PosterInputError(BACKGROUND_FIELD, f"could not be fetched ({type(exc).__name__})") from None
    complete = False
    try:
        if answer.status != 200:
            raise PosterInputError(BACKGROUND_FIELD, f"could not be fetched (HTTP {answer.status})")
        declared = answer.headers.get("Content-Length")
        if declared is not None and declared.isdecimal() and int(declared) > MAX_BACKGROUND_BYTES:
            raise PosterInputError(BACKGROUND_FIELD, f"the image is {declared} bytes; at most 5 MB")
        chunks: list[bytes] = []
        size = 0
        for chunk in answer.stream(64 * 1024):
            size += len(chunk)
            if size > MAX_BACKGROUND_BYTES:
                raise PosterInputError(BACKGROUND_FIELD, "the image is over 5 MB")
            chunks.append(chunk)
        complete = True
    except urllib3.exceptions.HTTPError as exc:
        raise PosterInputError(BACKGROUND_FIELD, f"could not be fetched ({type(exc).__name__})") from None
    finally:
        if complete:
            answer.release_conn()
        else:
            answer.close()  # an answer left half read must not go back to the pool
    return b"".join(chunks)
