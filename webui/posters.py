"""Generated SVG posters: every movie gets a distinct, deterministic poster without any external image.

The poster is a 2:3 card whose background blends the colours of the movie's first genres, with a
few shapes placed by a hash of the movie id (so neighbouring ids look different), the title
wrapped onto up to five lines, the release year and the genre names. All text is XML-escaped:
titles come from data files and must never become markup.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Sequence
from xml.sax.saxutils import escape

WIDTH = 200
HEIGHT = 300
MAX_LINE_CHARS = 15
MAX_LINES = 5

# One colour per MovieLens genre; unknown genres get a colour derived from their name.
GENRE_COLOURS: dict[str, str] = {
    "Action": "#d64933",
    "Adventure": "#e58f2a",
    "Animation": "#f2c14e",
    "Children": "#7bc67e",
    "Comedy": "#f4a259",
    "Crime": "#5b5f97",
    "Documentary": "#6c8ead",
    "Drama": "#8e5572",
    "Fantasy": "#9b5de5",
    "Film-Noir": "#3d3d3d",
    "Horror": "#7a1f1f",
    "IMAX": "#1b998b",
    "Musical": "#ef476f",
    "Mystery": "#355070",
    "Romance": "#e56b9f",
    "Sci-Fi": "#118ab2",
    "Thriller": "#4a4e69",
    "War": "#6b705c",
    "Western": "#a0522d",
}
DEFAULT_COLOUR = "#44546a"


# characters XML 1.0 forbids (control codes, lone surrogates, U+FFFE/U+FFFF): dropped from poster text
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")


def xml_text(text: str) -> str:
    """``text`` without characters that cannot appear in an XML document."""
    return _NOT_XML.sub("", text)


def genre_colour(genre: str) -> str:
    """The colour of ``genre``: the palette entry, or a stable hue derived from the name."""
    if genre in GENRE_COLOURS:
        return GENRE_COLOURS[genre]
    if not genre or genre == "(no genres listed)":
        return DEFAULT_COLOUR
    hue = int(hashlib.sha1(genre.encode()).hexdigest()[:4], 16) % 360
    return _hsl_to_hex(hue, 0.45, 0.42)


def _hsl_to_hex(hue: float, sat: float, light: float) -> str:
    """Convert HSL (degrees, 0..1, 0..1) to ``#rrggbb``."""
    chroma = (1 - abs(2 * light - 1)) * sat
    x = chroma * (1 - abs((hue / 60) % 2 - 1))
    m = light - chroma / 2
    sector = int(hue // 60) % 6
    r, g, b = [(chroma, x, 0), (x, chroma, 0), (0, chroma, x), (0, x, chroma), (x, 0, chroma), (chroma, 0, x)][
        sector
    ]
    return "#{:02x}{:02x}{:02x}".format(*(round((v + m) * 255) for v in (r, g, b)))


def wrap_title(title: str, width: int = MAX_LINE_CHARS, max_lines: int = MAX_LINES) -> list[str]:
    """Greedy word wrap of ``title`` into at most ``max_lines`` lines; long words are cut, overflow gets '…'."""
    words: list[str] = []
    for word in title.split():
        while len(word) > width:  # a single very long word is split so it cannot overflow the card
            words.append(word[: width - 1] + "-")
            word = word[width - 1 :]
        words.append(word)
    lines: list[str] = []
    current = ""
    for word in words:
        candidate = f"{current} {word}".strip()
        if len(candidate) <= width:
            current = candidate
            continue
        lines.append(current)
        current = word
    if current:
        lines.append(current)
    if len(lines) > max_lines:
        lines = lines[:max_lines]
        last = lines[-1]
        lines[-1] = (last[: width - 1] if len(last) >= width else last) + "…"
    return lines or [""]


def _shapes(seed: bytes, colours: Sequence[str]) -> list[str]:
    """A few translucent circles and a diagonal band, placed by ``seed`` (deterministic per movie)."""
    shapes = []
    for i in range(3):
        x = seed[i * 3] % WIDTH
        y = 20 + seed[i * 3 + 1] % 160
        r = 30 + seed[i * 3 + 2] % 70
        colour = colours[(i + 1) % len(colours)]
        shapes.append(f'<circle cx="{x}" cy="{y}" r="{r}" fill="{colour}" opacity="0.35"/>')
    tilt = seed[10] % 60 - 30
    shapes.append(
        f'<rect x="-40" y="{150 + seed[11] % 40}" width="{WIDTH + 80}" height="26" fill="#ffffff" '
        f'opacity="0.08" transform="rotate({tilt} {WIDTH / 2} {HEIGHT / 2})"/>'
    )
    return shapes


def poster_svg(movie_id: int, title: str, year: int | None, genres: Sequence[str]) -> str:
    """The SVG document of a movie's poster (valid standalone XML, UTF-8, no external references)."""
    title = xml_text(title)
    genres = [xml_text(g) for g in genres]
    palette = [genre_colour(g) for g in genres[:3]] or [DEFAULT_COLOUR]
    if len(palette) == 1:
        palette.append(_shade(palette[0]))
    seed = hashlib.sha256(f"movie:{movie_id}".encode()).digest()
    grad_id = f"g{movie_id}"
    lines = wrap_title(title)
    font = 22 if max(len(line) for line in lines) <= 11 else 18
    line_height = font + 4
    first_y = 118 - (len(lines) - 1) * line_height / 2
    title_tspans = "".join(
        f'<tspan x="16" y="{first_y + i * line_height:.0f}">{escape(line)}</tspan>' for i, line in enumerate(lines)
    )
    genre_text = escape(" · ".join(genres[:3]))
    year_text = escape(str(year)) if year else ""
    stops = "".join(
        f'<stop offset="{i / (len(palette) - 1):.2f}" stop-color="{c}"/>' for i, c in enumerate(palette)
    )
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{_attr(title)}">',
        f'<defs><linearGradient id="{grad_id}" x1="0" y1="0" x2="1" y2="1">{stops}</linearGradient></defs>',
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="url(#{grad_id})"/>',
        *_shapes(seed, palette),
        # a dark veil keeps white text readable on light genre colours (Animation, Comedy)
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="#000000" opacity="0.22"/>',
        f'<rect y="{HEIGHT - 70}" width="{WIDTH}" height="70" fill="#000000" opacity="0.35"/>',
        '<g font-family="Helvetica, Arial, sans-serif" fill="#ffffff" stroke="#000000" '
        'stroke-opacity="0.25" stroke-width="2" paint-order="stroke">',
        f'<text font-size="{font}" font-weight="700">{title_tspans}</text>',
        f'<text x="16" y="{HEIGHT - 40}" font-size="20" font-weight="600">{year_text}</text>',
        f'<text x="16" y="{HEIGHT - 16}" font-size="11" opacity="0.9">{genre_text}</text>',
        "</g>",
        "</svg>",
    ]
    return "\n".join(parts)


def _attr(text: str) -> str:
    """``text`` escaped for a double-quoted XML attribute."""
    return escape(text, {'"': "&quot;"})


def _shade(colour: str, factor: float = 0.55) -> str:
    """A darker version of ``#rrggbb`` (second gradient stop for single-genre movies)."""
    r, g, b = (int(colour[i : i + 2], 16) for i in (1, 3, 5))
    return "#{:02x}{:02x}{:02x}".format(*(round(v * factor) for v in (r, g, b)))


def placeholder_svg(label: str = "Unknown movie") -> str:
    """A neutral poster for an id the catalogue does not hold (served with status 404)."""
    return poster_svg(0, label, None, [])
