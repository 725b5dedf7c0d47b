"""Request and response models of the REST API (the exact shapes in /openapi.json).

Routers, the web UI and tests all use these; the legacy SparrowRecSys URLs have their own
shapes in ``online/legacy_shapes.py``.
"""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, Field

# the similar lists of sparrow.bundle.SIMILAR_LISTS (tests/online/test_online_blend.py checks they agree)
SimilarModel = Literal["item2vec", "deepwalk", "node2vec", "als", "itemcf", "genre"]
MovieSort = Literal["rating", "popularity", "year"]
EventType = Literal["click", "view"]  # ratings go to POST /api/ratings (they carry a rating)


class ErrorDetail(BaseModel):
    code: str = Field(description="Machine-readable error code, e.g. not_found, invalid_parameter.")
    message: str = Field(description="Human-readable explanation naming the offending parameter.")


class ErrorResponse(BaseModel):
    error: ErrorDetail


class Movie(BaseModel):
    movieId: int
    title: str
    year: int | None = None
    genres: list[str] = Field(default_factory=list)
    avgRating: float = 0.0
    ratingCount: int = 0
    ratingStddev: float = 0.0
    imdbId: str | None = None
    tmdbId: str | None = None


class MoviePage(BaseModel):
    items: list[Movie]
    page: int
    size: int
    total: int


class ScoredMovie(Movie):
    score: float


class SimilarResponse(BaseModel):
    movieId: int
    model: SimilarModel
    items: list[ScoredMovie]


class RatingEntry(BaseModel):
    movieId: int
    title: str | None = None
    rating: float
    timestamp: int


class User(BaseModel):
    userId: int
    known: bool = Field(description="False for a user with no offline history (cold start).")
    features: dict[str, float | int | str] = Field(default_factory=dict)
    history: list[RatingEntry] = Field(default_factory=list, description="Recent ratings, newest first.")
    realtimePositives: list[int] = Field(default_factory=list, description="Nearline positives, newest first.")


class RecItem(BaseModel):
    movieId: int
    title: str
    score: float
    channels: list[str] = Field(default_factory=list, description="Recall channels that brought this item.")
    year: int | None = None
    genres: list[str] = Field(default_factory=list)


class Recommendations(BaseModel):
    userId: int | None
    experiment: str | None = None
    variant: str | None = None
    model: str
    degraded: bool = Field(False, description="True when a dependency was down and fallbacks answered.")
    items: list[RecItem]


class SessionRequest(BaseModel):
    liked: list[int] = Field(min_length=1, max_length=200)
    size: int = Field(20, ge=1, le=200)


class RatingIn(BaseModel):
    userId: int = Field(ge=1, le=2**62)
    movieId: int = Field(ge=1, le=2**62)
    rating: float = Field(ge=0.5, le=5.0, multiple_of=0.5)
    timestamp: int | None = Field(None, ge=0)


class EventIn(BaseModel):
    userId: int = Field(ge=1, le=2**62)
    movieId: int = Field(ge=1, le=2**62)
    type: EventType
    experiment: str | None = Field(None, max_length=100)
    variant: str | None = Field(None, max_length=100)


class Accepted(BaseModel):
    accepted: bool = True
    id: str = Field(description="Id of the event in the durable stream/log.")


class Variant(BaseModel):
    name: str
    weight: int = Field(ge=0, le=100, description="Share of the 100 buckets.")
    model: str | None = None
    recall: dict[str, int] | None = Field(None, description="Recall quota overrides, channel -> count.")
    ann_index: Literal["flat", "hnsw", "lsh"] | None = None


class Experiment(BaseModel):
    name: str
    type: Literal["ab", "interleaving"] = "ab"
    salt: str
    enabled: bool = True
    traffic: int = Field(
        100, ge=0, le=100,
        description="Share of users (0..100) in this experiment; the first enabled experiment whose traffic "
        "holds the user applies.",
    )
    variants: list[Variant] = Field(min_length=1)


class VariantReport(BaseModel):
    name: str
    exposures: int
    clicks: int
    ctr: float
    ci_low: float
    ci_high: float
    p_value: float | None = Field(None, description="Two-proportion z-test of this variant against the first one.")
    wins: int | None = Field(None, description="Interleaving: impressions this variant's team won.")


class ExperimentReport(BaseModel):
    name: str
    type: Literal["ab", "interleaving"]
    variants: list[VariantReport]
    p_value: float | None = Field(
        None, description="A/B: two-proportion z-test between the first two variants; interleaving: sign test of wins."
    )
    test: str | None = Field(None, description="The test behind p_value (z-test for A/B, sign test for interleaving).")
    impressions: int | None = Field(None, description="Interleaving: interleaved lists served.")
    ties: int | None = Field(None, description="Interleaving: impressions with equal clicks for both teams.")


class Health(BaseModel):
    status: Literal["ok"]


class ReloadOut(BaseModel):
    version: str | None = Field(description="The version served after the reload.")
    changed: bool = Field(description="True when a new version was swapped in.")


class Ready(BaseModel):
    ready: bool
    version: str | None
    store: str
    detail: str | None = None
