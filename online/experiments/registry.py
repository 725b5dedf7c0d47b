"""The experiment registry: who is in which variant, what was shown and clicked, and the reports.

Which experiment applies to a user: experiments are tried in config order; the first *enabled* one whose
``traffic`` share holds the user (an independent hash of salt and userId, mod 100) applies, so several
experiments can run side by side on disjoint traffic (give the first one ``traffic: 50``), and an
experiment with ``traffic: 100`` shadows the ones after it. Within the experiment the user's bucket
(hash(salt, userId) mod 100) picks the variant whose bucket range holds it.

Counting: exposures are counted per variant (one per movie shown, plus one impression per list); a
click or rating is counted when the movie was shown to that user in the experiment during the last day,
for the variant (A/B) or team (interleaving) that showed it — read back from the user's exposure map,
which lives in Redis when there is one, so every replica credits the same variant.
"""

from __future__ import annotations

import logging
import random
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import redis

from online import schemas
from online.errors import NotFound
from sparrow.redis_keys import RedisKeys
from sparrow.settings import Settings

from . import stats
from .bucketing import bucket, traffic_bucket, variant_for_bucket
from .config import dump_config, load_config_file, parse_config_text, validate_experiments
from .counters import Counters, CountersUnavailable, InMemoryCounters, RedisCounters
from .exploration import InMemoryMovieStats, MovieStats, RedisMovieStats, explore
from .interleaving import TEAM_A, TEAM_B, TIE, outcome

log = logging.getLogger(__name__)

DEFAULT_EXPERIMENTS_FILE = Path("experiments.yaml")
# how often assign() looks for a config another replica stored with PUT /admin/experiments
CONFIG_REFRESH_S = 10.0
# the variant name an interleaving assignment reports (both rankers contribute to the list)
INTERLEAVED = "interleaved"
# pseudo-variant of experiment-wide counters (variant names may not start with '_')
ALL = "_all"
CLICK_TYPES = frozenset({"click", "rating"})


class ExperimentNotFound(NotFound, LookupError):
    """No experiment of that name in the current config (HTTP 404)."""

    code = "experiment_not_found"


@dataclass(frozen=True)
class Assignment:
    """What a user gets in an experiment.

    ``model``/``recall``/``ann_index`` are None where the variant does not override the service
    default. For ``type == "interleaving"``, ``model`` ranks team A's list, ``interleave_with`` team
    B's, and ``variant`` is ``"interleaved"``; ``teams`` names the variants behind teams A and B.
    """

    experiment: str
    variant: str
    model: str | None
    recall: dict[str, int] | None
    ann_index: str | None
    interleave_with: str | None = None
    user_id: int | None = None
    type: str = "ab"
    bucket: int | None = None
    teams: tuple[str, str] | None = None


class ExperimentRegistry:
    """Assigns users to variants, records exposures and clicks, reports CTRs and significance."""

    def __init__(
        self,
        config: list[schemas.Experiment],
        counters: Counters,
        *,
        movie_stats: MovieStats | None = None,
        exploration_share: float = 0.0,
        refresh_s: float = CONFIG_REFRESH_S,
    ) -> None:
        self.counters = counters
        self.movie_stats = movie_stats if movie_stats is not None else InMemoryMovieStats()
        self.exploration_share = exploration_share
        self.refresh_s = refresh_s
        self._last_check = time.monotonic()
        self._shared_text: str | None = None
        self._lock = threading.Lock()
        self._set(validate_experiments(config))

    @classmethod
    def from_settings(cls, settings: Settings, redis_client: redis.Redis | None) -> ExperimentRegistry:
        """Registry of the service: config from ``settings.experiments_file`` (default ``./experiments.yaml``
        when present, else none), overridden by a config stored in Redis by ``PUT /admin/experiments``;
        Redis counters when a client is given, in-memory ones otherwise."""
        path = settings.experiments_file
        if path is None and DEFAULT_EXPERIMENTS_FILE.is_file():
            path = DEFAULT_EXPERIMENTS_FILE
        config = load_config_file(path) if path is not None else []
        if redis_client is not None:
            keys = RedisKeys(settings.redis_prefix)
            counters: Counters = RedisCounters(redis_client, keys)
            movie_stats: MovieStats = RedisMovieStats(redis_client, keys)
        else:
            counters, movie_stats = InMemoryCounters(), InMemoryMovieStats()
        registry = cls(config, counters, movie_stats=movie_stats, exploration_share=settings.exploration_share)
        try:
            registry.refresh()
        except CountersUnavailable as exc:
            log.warning("experiments: shared config not readable, using %s: %s", path, exc)
        return registry

    # --- configuration ---------------------------------------------------------------------------

    def _set(self, experiments: list[schemas.Experiment]) -> None:
        # one tuple swapped at once, so a reader never sees the list of one config and the map of another
        self._state = (tuple(experiments), {e.name: e for e in experiments})

    def experiments(self) -> list[schemas.Experiment]:
        """The current config, in evaluation order."""
        self._maybe_refresh()
        return [e.model_copy(deep=True) for e in self._state[0]]

    def get(self, name: str) -> schemas.Experiment:
        """One experiment by name; :class:`ExperimentNotFound` when unknown."""
        exp = self._state[1].get(name)
        if exp is None:
            raise ExperimentNotFound(f"experiment {name!r} not found")
        return exp

    def replace_config(self, experiments: list[schemas.Experiment]) -> list[schemas.Experiment]:
        """Validate and install a new config (``PUT /admin/experiments``), stored for every replica.

        Raises ``ExperimentConfigError`` (422) on an invalid config and :class:`CountersUnavailable`
        (503) when it cannot be stored; in both cases the current config stays. Counters are kept:
        they are keyed by experiment and variant name (changing a salt reshuffles users).
        """
        valid = validate_experiments([schemas.Experiment.model_validate(e) for e in experiments], "new config")
        text = dump_config(valid)
        with self._lock:
            self.counters.save_config(text)
            self._shared_text = text
            self._set(valid)
        return self.experiments()

    def refresh(self) -> bool:
        """Adopt the config stored by another replica, if it changed; True when it did."""
        text = self.counters.load_config()
        with self._lock:
            if text is None or text == self._shared_text:
                return False
            try:
                config = parse_config_text(text, "stored experiment config", as_json=True)
            except ValueError as exc:  # a bad stored config must not take the service down
                log.error("experiments: ignoring invalid stored config: %s", exc)
                self._shared_text = text
                return False
            self._shared_text = text
            self._set(config)
        log.info("experiments: adopted the shared config (%d experiments)", len(config))
        return True

    def _maybe_refresh(self) -> None:
        now = time.monotonic()
        if now - self._last_check < self.refresh_s:
            return
        self._last_check = now
        try:
            self.refresh()
        except CountersUnavailable as exc:
            log.warning("experiments: config refresh skipped: %s", exc)

    # --- assignment ------------------------------------------------------------------------------

    def assign(self, user_id: int) -> Assignment | None:
        """The user's assignment in the first enabled experiment whose traffic holds them, else None."""
        self._maybe_refresh()
        for exp in self._state[0]:
            if not exp.enabled:
                continue
            if exp.traffic < 100 and traffic_bucket(exp.salt, user_id) >= exp.traffic:
                continue
            user_bucket = bucket(exp.salt, user_id)
            if exp.type == "interleaving":
                team_a, team_b = exp.variants
                return Assignment(
                    experiment=exp.name, variant=INTERLEAVED, model=team_a.model,
                    recall=dict(team_a.recall) if team_a.recall else None, ann_index=team_a.ann_index,
                    interleave_with=team_b.model, user_id=user_id, type="interleaving",
                    bucket=user_bucket, teams=(team_a.name, team_b.name),
                )
            variant = variant_for_bucket(exp.variants, user_bucket)
            return Assignment(
                experiment=exp.name, variant=variant.name, model=variant.model,
                recall=dict(variant.recall) if variant.recall else None, ann_index=variant.ann_index,
                user_id=user_id, type="ab", bucket=user_bucket,
            )
        return None

    # --- counting --------------------------------------------------------------------------------

    def record_exposure(
        self, assignment: Assignment | None, movie_ids: list[int], teams: dict[int, str] | None = None
    ) -> None:
        """Count a served list: per variant (A/B) or per team (interleaving, ``teams`` from team_draft).

        With ``assignment=None`` only the exploration counters are updated. Raises
        :class:`CountersUnavailable` when Redis is down.
        """
        if self.exploration_share > 0 and movie_ids:
            self.movie_stats.add_exposures(movie_ids)
        if assignment is None or not movie_ids:
            return
        exp = self._state[1].get(assignment.experiment)
        if exp is None or exp.type != assignment.type:  # the config changed since the assignment
            return
        if exp.type == "interleaving":
            if teams is None:
                raise ValueError("an interleaving exposure needs the teams returned by team_draft")
            names = {TEAM_A: exp.variants[0].name, TEAM_B: exp.variants[1].name}
            owners = {m: teams[m] for m in movie_ids if teams.get(m) in names}
            per_team = {t: sum(1 for o in owners.values() if o == t) for t in names}
            self.counters.incr(
                [(exp.name, names[t], "exposures", n) for t, n in per_team.items()]
                + [(exp.name, ALL, "impressions", 1)]
            )
            if assignment.user_id is not None:
                self.counters.remember_exposed(exp.name, assignment.user_id, owners, replace=True)
            return
        if assignment.variant not in {v.name for v in exp.variants}:
            return
        self.counters.incr(
            [(exp.name, assignment.variant, "exposures", len(movie_ids)),
             (exp.name, assignment.variant, "impressions", 1)]
        )
        if assignment.user_id is not None:
            self.counters.remember_exposed(
                exp.name, assignment.user_id, dict.fromkeys(movie_ids, assignment.variant), replace=False
            )

    def record_event(
        self, experiment: str | None, variant: str | None, movie_id: int, type: str, user_id: int | None = None
    ) -> str | None:
        """Count a click/rating (``view`` counts nothing); return the variant credited, or None.

        With ``user_id`` (recommended) the click is credited to the variant/team that showed the movie to
        that user, whatever ``variant`` says, and only if it was shown; ``experiment=None`` then means the
        user's current experiment. Without ``user_id`` an A/B click is credited to ``variant`` as given.
        An unknown experiment is ignored (the event itself is still durable in the events stream).
        """
        if type not in CLICK_TYPES:
            return None
        if self.exploration_share > 0:
            self.movie_stats.add_click(movie_id)
        if experiment is None:
            current = self.assign(user_id) if user_id is not None else None
            if current is None:
                return None
            experiment = current.experiment
        exp = self._state[1].get(experiment)
        if exp is None:
            return None
        if user_id is None:
            if exp.type == "ab" and variant in {v.name for v in exp.variants}:
                self.counters.incr([(exp.name, variant, "clicks", 1)])
                return variant
            return None
        owner = self.counters.take_exposed(exp.name, user_id, movie_id)
        if owner is None:
            return None
        if exp.type == "ab":
            if owner not in {v.name for v in exp.variants}:
                return None
            self.counters.incr([(exp.name, owner, "clicks", 1)])
            return owner
        return self._credit_team(exp, user_id, owner)

    def _credit_team(self, exp: schemas.Experiment, user_id: int, team: str) -> str | None:
        if team not in (TEAM_A, TEAM_B):
            return None
        other = TEAM_B if team == TEAM_A else TEAM_A
        mine, theirs = self.counters.tally_click(exp.name, user_id, team, other)
        before = (mine - 1, theirs) if team == TEAM_A else (theirs, mine - 1)
        after = (mine, theirs) if team == TEAM_A else (theirs, mine)
        names = {TEAM_A: exp.variants[0].name, TEAM_B: exp.variants[1].name}
        deltas = [(exp.name, names[team], "clicks", 1)]
        # the impression's outcome may flip (none -> A, A -> tie, ...): move it between the win counters
        old, new = outcome(*before), outcome(*after)
        if old != new:
            if old is not None:
                deltas.append(self._outcome_counter(exp.name, names, old, -1))
            if new is not None:
                deltas.append(self._outcome_counter(exp.name, names, new, +1))
        self.counters.incr(deltas)
        return names[team]

    @staticmethod
    def _outcome_counter(experiment: str, names: dict[str, str], result: str, delta: int) -> tuple[str, str, str, int]:
        if result == TIE:
            return (experiment, ALL, "ties", delta)
        return (experiment, names[result], "wins", delta)

    # --- reports ---------------------------------------------------------------------------------

    def report(self, name: str) -> schemas.ExperimentReport:
        """CTR per variant with a 95% Wilson interval and the significance test of the experiment type."""
        exp = self.get(name)
        variant_names = [v.name for v in exp.variants]
        keys = [(exp.name, v, m) for v in variant_names for m in ("exposures", "clicks", "wins")]
        keys += [(exp.name, ALL, "impressions"), (exp.name, ALL, "ties")]
        values = dict(zip(keys, self.counters.get(keys), strict=True))
        rows = []
        for v in variant_names:
            exposures, clicks = values[(exp.name, v, "exposures")], values[(exp.name, v, "clicks")]
            low, high = stats.wilson_interval(clicks, exposures)
            rows.append(schemas.VariantReport(
                name=v, exposures=exposures, clicks=clicks, ctr=stats.ctr(clicks, exposures),
                ci_low=low, ci_high=high,
                wins=values[(exp.name, v, "wins")] if exp.type == "interleaving" else None,
            ))
        if exp.type == "interleaving":
            wins_a, wins_b = rows[0].wins or 0, rows[1].wins or 0
            return schemas.ExperimentReport(
                name=exp.name, type="interleaving", variants=rows, p_value=stats.sign_test(wins_a, wins_b),
                test="sign test (exact binomial, p=0.5) of impressions won, ties excluded",
                impressions=values[(exp.name, ALL, "impressions")], ties=values[(exp.name, ALL, "ties")],
            )
        first = rows[0]
        for row in rows[1:]:
            row.p_value = stats.two_proportion_z_test(row.clicks, row.exposures, first.clicks, first.exposures)
        return schemas.ExperimentReport(
            name=exp.name, type="ab", variants=rows, p_value=rows[1].p_value if len(rows) > 1 else None,
            test="two-proportion z-test (pooled), two-sided",
        )

    # --- exploration -----------------------------------------------------------------------------

    def explore(
        self, ranked: list[int], pool: Sequence[int], rng: random.Random | None = None,
        share: float | None = None, max_exposures: int | None = None,
    ) -> list[int]:
        """:func:`exploration.explore` with the configured share and counters; never fails a request
        (Redis down: the ranked list is returned unchanged)."""
        share = self.exploration_share if share is None else share
        if share <= 0:
            return list(ranked)
        try:
            return explore(list(ranked), list(pool), share, self.movie_stats, rng or random.Random(),
                           max_exposures=max_exposures)
        except CountersUnavailable as exc:
            log.warning("exploration skipped: %s", exc)
            return list(ranked)
