#!/usr/bin/env python3
"""Re-fetch the poster font from the npm registry and check it is the one the repository ships.

The nickname on a poster is drawn with Noto Sans SC (SIL Open Font License 1.1), as packaged by Fontsource:
the "chinese-simplified" subset of the Regular (400) weight, WOFF (1.5 MB; Pillow's FreeType reads WOFF
directly). It is committed under shared/fenxiao/assets/fonts/ so that `sam build` needs no registry, and
never fetched at run time. This script shows where it comes from and reproduces it:

    python3 shared/scripts/fetch_font.py            # fetch, verify, compare with the committed copy
    python3 shared/scripts/fetch_font.py --write    # fetch, verify, replace the committed copy

Needs `npm` (only to download the package tarball: `npm pack`).
"""

from __future__ import annotations

import argparse
import hashlib
import subprocess
import sys
import tarfile
import tempfile
from pathlib import Path

PACKAGE = "@fontsource/noto-sans-sc@5.3.0"
TARBALL_SHA256 = "05a7abac78a6cac4bd1361e7b24c680ee820fcc2f22cf5cc92673f4cd12771c5"
MEMBER = "package/files/noto-sans-sc-chinese-simplified-400-normal.woff"
FONT_SHA256 = "dc20a86875ff056a6332c353bc9a82d199bb2e5aae1d444f912c1fbff783bfa5"
FONTS = Path(__file__).resolve().parents[1] / "fenxiao" / "assets" / "fonts"
TARGET = FONTS / "NotoSansSC-Regular-chinese-simplified.woff"


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--write", action="store_true", help="replace the committed font and licence")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(["npm", "pack", PACKAGE, "--silent"], cwd=tmp, check=True)  # noqa: S603, S607
        (tarball,) = Path(tmp).glob("*.tgz")
        if sha256(tarball.read_bytes()) != TARBALL_SHA256:
            print(f"{PACKAGE}: the tarball's SHA-256 is not the recorded one", file=sys.stderr)
            return 1
        with tarfile.open(tarball) as archive:
            font = archive.extractfile(MEMBER).read()  # type: ignore[union-attr]
            licence = archive.extractfile("package/LICENSE").read()  # type: ignore[union-attr]
    if sha256(font) != FONT_SHA256:
        print(f"{MEMBER}: SHA-256 differs from the recorded one", file=sys.stderr)
        return 1
    if args.write:
        TARGET.write_bytes(font)
        (FONTS / "OFL.txt").write_bytes(licence)
        print(f"wrote {TARGET} ({len(font)} bytes)")
        return 0
    same = TARGET.exists() and TARGET.read_bytes() == font
    print(f"{TARGET.name}: {'identical to' if same else 'DIFFERS from'} {PACKAGE} {MEMBER}")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
