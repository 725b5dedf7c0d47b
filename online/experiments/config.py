"""Experiment configuration: load it from YAML/JSON, validate it with clear errors, serialise it.

A config file is either a list of experiments or ``{"experiments": [...]}``; each entry is a
:class:`online.schemas.Experiment`. Validation beyond the field types: unique names, names safe as
Redis key parts, variant weights summing to 100, interleaving with exactly two distinct ranking models,
and model names the offline pipeline knows.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from offline.params import ALL_MODELS
from online import schemas
from online.errors import ServiceError

from .bucketing import BUCKETS

# names are parts of Redis keys (``ab:{experiment}:{variant}:{metric}``): no ':' or spaces; names
# starting with '_' are reserved for internal counters
_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


class ExperimentConfigError(ServiceError, ValueError):
    """The experiment configuration is invalid; the message says which experiment/variant and why."""

    status = 422
    code = "invalid_experiment_config"


def parse_experiments(data: Any, source: str = "config") -> list[schemas.Experiment]:
    """Validate decoded YAML/JSON (a list, or a mapping with key ``experiments``) into experiments."""
    if data is None:
        return []
    if isinstance(data, dict):
        if "experiments" not in data:
            raise ExperimentConfigError(f"{source}: expected a list of experiments or a mapping with key 'experiments'")
        data = data["experiments"] or []
    if not isinstance(data, list):
        raise ExperimentConfigError(f"{source}: experiments must be a list, got {type(data).__name__}")
    experiments = []
    for i, entry in enumerate(data):
        label = entry.get("name", f"#{i}") if isinstance(entry, dict) else f"#{i}"
        try:
            experiments.append(schemas.Experiment.model_validate(entry))
        except ValidationError as exc:
            raise ExperimentConfigError(f"{source}: experiment {label!r}: {_describe(exc)}") from exc
    return validate_experiments(experiments, source)


def validate_experiments(
    experiments: Iterable[schemas.Experiment], source: str = "config"
) -> list[schemas.Experiment]:
    """Check the rules the field types cannot express; return the experiments as a list."""
    experiments = list(experiments)
    seen: set[str] = set()
    for exp in experiments:
        where = f"{source}: experiment {exp.name!r}"
        if not _NAME.match(exp.name):
            raise ExperimentConfigError(f"{where}: name must match {_NAME.pattern} (it is part of Redis keys)")
        if exp.name in seen:
            raise ExperimentConfigError(f"{where}: duplicate experiment name")
        seen.add(exp.name)
        if not exp.salt.strip():
            raise ExperimentConfigError(f"{where}: salt must not be empty")
        names = [v.name for v in exp.variants]
        for name in names:
            if not _NAME.match(name):
                raise ExperimentConfigError(f"{where}: variant name {name!r} must match {_NAME.pattern}")
        if len(set(names)) != len(names):
            raise ExperimentConfigError(f"{where}: duplicate variant names in {names}")
        total = sum(v.weight for v in exp.variants)
        if total != BUCKETS:
            weights = ", ".join(f"{v.name}={v.weight}" for v in exp.variants)
            raise ExperimentConfigError(f"{where}: variant weights must sum to {BUCKETS}, got {total} ({weights})")
        for v in exp.variants:
            if v.model is not None and v.model not in ALL_MODELS:
                raise ExperimentConfigError(
                    f"{where}: variant {v.name!r} names unknown model {v.model!r} (known: {', '.join(ALL_MODELS)})"
                )
            for channel, quota in (v.recall or {}).items():
                if quota < 0:
                    raise ExperimentConfigError(f"{where}: variant {v.name!r} recall quota {channel}={quota} < 0")
        if exp.type == "interleaving":
            if len(exp.variants) != 2:
                raise ExperimentConfigError(f"{where}: interleaving needs exactly 2 variants, got {len(names)}")
            models = [v.model for v in exp.variants]
            if None in models or models[0] == models[1]:
                raise ExperimentConfigError(
                    f"{where}: interleaving needs two different ranking models, got {models}"
                )
    return experiments


def load_config_file(path: Path) -> list[schemas.Experiment]:
    """Read and validate an experiments file (``.json`` as JSON, anything else as YAML)."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as exc:
        raise ExperimentConfigError(f"cannot read experiments file {path}: {exc.strerror or exc}") from exc
    return parse_config_text(text, str(path), as_json=Path(path).suffix.lower() == ".json")


def parse_config_text(text: str, source: str = "config", as_json: bool = False) -> list[schemas.Experiment]:
    """Decode YAML (a superset of JSON) or strict JSON text and validate it."""
    try:
        data = json.loads(text) if as_json else yaml.safe_load(text)
    except (ValueError, yaml.YAMLError) as exc:
        raise ExperimentConfigError(f"{source}: not valid {'JSON' if as_json else 'YAML'}: {exc}") from exc
    return parse_experiments(data, source)


def dump_config(experiments: Iterable[schemas.Experiment]) -> str:
    """Canonical JSON of a config (how it is kept in Redis for every replica)."""
    return json.dumps({"experiments": [e.model_dump(mode="json") for e in experiments]}, sort_keys=True)


def _describe(exc: ValidationError) -> str:
    parts = []
    for err in exc.errors():
        loc = ".".join(str(p) for p in err.get("loc", ())) or "value"
        parts.append(f"{loc}: {err.get('msg', 'invalid')}")
    return "; ".join(parts)
