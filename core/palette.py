"""The category colours: one palette for the project store and the app.

32 colours picked greedily so that each is as far as possible (CIELAB distance) from all the
ones before it, starting from the Okabe-Ito orange and limited to mid lightness (CIE L*
40-88) and clear chroma (C* > 35), so every one shows as a colour over a photo. The first
24 are at least 34 Delta-E (CIE76) apart; the old 12-colour palette repeated
after 12 categories, which drew "person" and "bird" alike in a 21-category project.
"""

from __future__ import annotations

from collections.abc import Iterable

PALETTE: tuple[str, ...] = (
    "#e69f00",
    "#780fff",
    "#00c3ff",
    "#00ff00",
    "#f00078",
    "#0f782d",
    "#784ba5",
    "#ff0f00",
    "#ffa596",
    "#00f0d2",
    "#b4e14b",
    "#ff00e1",
    "#785a1e",
    "#f0c3ff",
    "#b42d2d",
    "#1ef078",
    "#e1d287",
    "#0069ff",
    "#964b69",
    "#f087ff",
    "#1e69a5",
    "#1e9687",
    "#788700",
    "#961ec3",
    "#87d287",
    "#ff783c",
    "#7896ff",
    "#2da500",
    "#ff87c3",
    "#c30f96",
    "#ff004b",
    "#e1d200",
)


def palette_color(index: int) -> str:
    """The palette's colour for a category id or position: stable, cycling past the end."""
    return PALETTE[index % len(PALETTE)]


def next_unused_color(used: Iterable[str], count: int) -> str:
    """The first palette colour nobody uses yet, else the one `count` (categories so far) picks."""
    taken = {c.lower() for c in used if c}
    return next((c for c in PALETTE if c not in taken), palette_color(count))


def hex_to_lab(color: str) -> tuple[float, float, float]:
    """CIELAB (D65) of a "#rrggbb" colour."""
    text = color.lstrip("#")
    if len(text) != 6:
        raise ValueError(f"not a #rrggbb colour: {color!r}")
    linear = []
    for i in (0, 2, 4):
        c = int(text[i : i + 2], 16) / 255.0
        linear.append(c / 12.92 if c <= 0.04045 else ((c + 0.055) / 1.055) ** 2.4)
    r, g, b = linear
    xyz = (
        (0.4124 * r + 0.3576 * g + 0.1805 * b) / 0.95047,
        0.2126 * r + 0.7152 * g + 0.0722 * b,
        (0.0193 * r + 0.1192 * g + 0.9505 * b) / 1.08883,
    )
    fx, fy, fz = (
        v ** (1 / 3) if v > (6 / 29) ** 3 else v / (3 * (6 / 29) ** 2) + 4 / 29 for v in xyz
    )
    return 116 * fy - 16, 500 * (fx - fy), 200 * (fy - fz)


def color_distance(a: str, b: str) -> float:
    """CIE76 Delta-E between two "#rrggbb" colours (about 2.3 is just noticeable)."""
    la, lb = hex_to_lab(a), hex_to_lab(b)
    return sum((x - y) ** 2 for x, y in zip(la, lb, strict=True)) ** 0.5
