#!/usr/bin/env python3
"""Draw Hookscope's application icon and write every file electron-builder
takes it from (docs/architecture.md, "Packaging"):

  resources/icon.png        1024x1024, macOS and the source of the others
  resources/icons/NxN.png   Linux (AppImage and deb pick sizes by name)
  resources/icon.ico        Windows (16..256, PNG-compressed entries)
  resources/icon.icns       macOS (128..1024, PNG-compressed entries)

Standard library only (zlib + struct), so it runs wherever Python 3 does and
the icons are reproducible: `python3 resources/make-icons.py`. The picture
is a vector description evaluated per pixel with supersampling (a
magnifier whose lens holds a hook), so every size is drawn, not scaled.
"""

import math
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))

BACKGROUND_TOP = (0x22, 0x2E, 0x42)
BACKGROUND_BOTTOM = (0x12, 0x18, 0x24)
LENS = (0xFF, 0xD4, 0x3B)  # Python yellow
HANDLE = (0x4B, 0x8B, 0xBE)  # Python blue
HOOK = (0xE8, 0xEE, 0xF7)

LENS_CENTER = (0.43, 0.43)
LENS_RADIUS = 0.25
LENS_WIDTH = 0.075


def rounded_square(x, y, margin=0.05, radius=0.2):
    """Inside the app tile (a square with rounded corners)."""
    lo, hi = margin, 1.0 - margin
    if x < lo or x > hi or y < lo or y > hi:
        return False
    cx = min(max(x, lo + radius), hi - radius)
    cy = min(max(y, lo + radius), hi - radius)
    return (x - cx) ** 2 + (y - cy) ** 2 <= radius * radius


def segment_distance(x, y, ax, ay, bx, by):
    dx, dy = bx - ax, by - ay
    t = max(0.0, min(1.0, ((x - ax) * dx + (y - ay) * dy) / (dx * dx + dy * dy)))
    return math.hypot(x - (ax + t * dx), y - (ay + t * dy))


def sample(x, y):
    """The colour (r, g, b, a) at (x, y) in the unit square, y downwards."""
    if not rounded_square(x, y):
        return (0, 0, 0, 0)
    colour = tuple(
        BACKGROUND_TOP[i] + (BACKGROUND_BOTTOM[i] - BACKGROUND_TOP[i]) * y for i in range(3)
    )
    # Handle first, so the lens ring lies over its inner end.
    if segment_distance(x, y, 0.60, 0.60, 0.80, 0.80) <= 0.055:
        colour = HANDLE
    r = math.hypot(x - LENS_CENTER[0], y - LENS_CENTER[1])
    if abs(r - LENS_RADIUS) <= LENS_WIDTH / 2:
        colour = LENS
    # The hook: a shank down the lens, a half-circle turning up to the left,
    # and a short barb.
    stroke = 0.022
    shank_x, top, bend_y, bend_r = 0.47, 0.29, 0.48, 0.065
    hook = segment_distance(x, y, shank_x, top, shank_x, bend_y) <= stroke
    if not hook and y >= bend_y:
        rr = math.hypot(x - (shank_x - bend_r), y - bend_y)
        hook = abs(rr - bend_r) <= stroke
    if not hook:
        tip_x = shank_x - 2 * bend_r
        hook = segment_distance(x, y, tip_x, bend_y, tip_x, bend_y - 0.04) <= stroke
    if hook:
        colour = HOOK
    return (colour[0], colour[1], colour[2], 255)


def render(size):
    """RGBA rows for a size x size icon; ss x ss samples per pixel."""
    ss = max(2, min(8, 1024 // size))
    rows = []
    for py in range(size):
        row = bytearray()
        for px in range(size):
            acc = [0.0, 0.0, 0.0, 0.0]
            for sy in range(ss):
                for sx in range(ss):
                    r, g, b, a = sample((px + (sx + 0.5) / ss) / size, (py + (sy + 0.5) / ss) / size)
                    # Premultiplied, so transparent samples do not darken edges.
                    acc[0] += r * a
                    acc[1] += g * a
                    acc[2] += b * a
                    acc[3] += a
            n = ss * ss
            alpha = acc[3] / n
            if alpha == 0:
                row += b"\0\0\0\0"
            else:
                row += bytes(
                    (
                        round(acc[0] / acc[3]),
                        round(acc[1] / acc[3]),
                        round(acc[2] / acc[3]),
                        round(alpha),
                    )
                )
        rows.append(bytes(row))
    return rows


def png(rows):
    size = len(rows)

    def chunk(kind, data):
        body = kind + data
        return struct.pack(">I", len(data)) + body + struct.pack(">I", zlib.crc32(body))

    raw = b"".join(b"\0" + row for row in rows)  # filter 0 on every row
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", struct.pack(">IIBBBBB", size, size, 8, 6, 0, 0, 0))
        + chunk(b"IDAT", zlib.compress(raw, 9))
        + chunk(b"IEND", b"")
    )


def ico(pngs):
    """ICO with PNG entries (Windows Vista and later read them)."""
    header = struct.pack("<HHH", 0, 1, len(pngs))
    offset = 6 + 16 * len(pngs)
    entries, blobs = b"", b""
    for size, data in pngs:
        dim = 0 if size >= 256 else size  # 0 means 256
        entries += struct.pack("<BBBBHHII", dim, dim, 0, 0, 1, 32, len(data), offset)
        blobs += data
        offset += len(data)
    return header + entries + blobs


def icns(pngs):
    """ICNS with PNG-compressed entries (ic07 128, ic08 256, ic09 512, ic10 1024)."""
    kinds = {128: b"ic07", 256: b"ic08", 512: b"ic09", 1024: b"ic10"}
    body = b"".join(kinds[s] + struct.pack(">I", 8 + len(d)) + d for s, d in pngs)
    return b"icns" + struct.pack(">I", 8 + len(body)) + body


def main():
    sizes = [16, 32, 48, 64, 128, 256, 512, 1024]
    encoded = {size: png(render(size)) for size in sizes}
    os.makedirs(os.path.join(HERE, "icons"), exist_ok=True)
    with open(os.path.join(HERE, "icon.png"), "wb") as f:
        f.write(encoded[1024])
    for size in [16, 32, 48, 64, 128, 256, 512]:
        with open(os.path.join(HERE, "icons", f"{size}x{size}.png"), "wb") as f:
            f.write(encoded[size])
    with open(os.path.join(HERE, "icon.ico"), "wb") as f:
        f.write(ico([(s, encoded[s]) for s in [16, 32, 48, 64, 128, 256]]))
    with open(os.path.join(HERE, "icon.icns"), "wb") as f:
        f.write(icns([(s, encoded[s]) for s in [128, 256, 512, 1024]]))


if __name__ == "__main__":
    main()
