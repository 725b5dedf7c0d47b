"""Generated SVG posters: valid standalone XML whatever the title, deterministic, text escaped."""

from __future__ import annotations

import xml.etree.ElementTree as ET

from hypothesis import given, settings
from hypothesis import strategies as st

from webui.posters import GENRE_COLOURS, genre_colour, poster_svg, wrap_title

SVG = "{http://www.w3.org/2000/svg}"


@settings(max_examples=200, deadline=None)
@given(
    movie_id=st.integers(min_value=1, max_value=10**9),
    title=st.text(max_size=200),
    year=st.one_of(st.none(), st.integers(min_value=1870, max_value=2100)),
    genres=st.lists(st.text(max_size=20), max_size=5),
)
def test_any_title_gives_valid_svg(movie_id: int, title: str, year: int | None, genres: list[str]) -> None:
    root = ET.fromstring(poster_svg(movie_id, title, year, genres))
    assert root.tag == f"{SVG}svg"
    assert root.get("viewBox") == "0 0 200 300"
    assert not [el for el in root.iter() if el.tag in (f"{SVG}script", f"{SVG}image", f"{SVG}foreignObject")]


def test_markup_in_title_stays_text() -> None:
    title = '<script>alert("x")</script> & "quotes"'
    svg = poster_svg(7, title, 1999, ["Comedy"])
    assert "<script>" not in svg
    root = ET.fromstring(svg)
    assert root.get("aria-label") == title
    lines = [t.text for t in root.iter(f"{SVG}tspan")]
    assert "".join(lines).replace("-", "").replace(" ", "") == title.replace(" ", "")


def test_poster_is_deterministic_and_differs_between_movies() -> None:
    assert poster_svg(1, "Heat", 1995, ["Action"]) == poster_svg(1, "Heat", 1995, ["Action"])
    assert poster_svg(1, "Heat", 1995, ["Action"]) != poster_svg(2, "Heat", 1995, ["Action"])
    svg = poster_svg(1, "Heat", 1995, ["Action", "Crime"])
    assert GENRE_COLOURS["Action"] in svg and GENRE_COLOURS["Crime"] in svg and "1995" in svg


def test_wrap_title() -> None:
    assert wrap_title("Toy Story") == ["Toy Story"]
    lines = wrap_title("The Lord of the Rings: The Fellowship of the Ring and Many More Words Here")
    assert len(lines) == 5 and lines[-1].endswith("…")
    assert all(len(line) <= 16 for line in lines)
    assert all(len(line) <= 15 for line in wrap_title("Supercalifragilisticexpialidocious"))


def test_unknown_genre_colour_is_stable_hex() -> None:
    colour = genre_colour("Space Opera")
    assert colour == genre_colour("Space Opera") and len(colour) == 7 and colour.startswith("#")
