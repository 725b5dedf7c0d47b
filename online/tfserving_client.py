"""TensorFlow Serving: a REST ranking client and the model-repository sync that feeds the server.

With ``SPARROW_TFSERVING_URL`` set, the online ranker scores candidates through
:class:`TFServingRanker` instead of loading SavedModels in-process. It sends one columnar
``predict`` request per ranking call (``{"inputs": {feature: [values]}}``, the raw named features
of ``sparrow.feature_spec``) with a hard timeout, and turns every failure into a
:class:`TFServingError` the caller can map to a fallback or a 503.

TF Serving wants ``<base_path>/<model>/<integer version>/saved_model.pb``; a bundle holds
``<artifacts>/<version>/models/<model>/``. :func:`sync_model_repository` copies the current
bundle's models into that layout and writes ``models.config``; ``python -m
online.tfserving_client sync --watch 30`` keeps doing so (the compose ``tfserving-sync`` service).
"""

from __future__ import annotations

import argparse
import logging
import math
import os
import shutil
import sys
import time
from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import httpx
import numpy as np

from sparrow.bundle import BundleError, open_bundle, read_current

log = logging.getLogger(__name__)

SIGNATURE = "serving_default"
MODEL_CONFIG = "models.config"
_VERSION_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"  # the timestamp part of sparrow.bundle.new_version
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


class TFServingError(RuntimeError):
    """TF Serving failed, timed out, or answered something that is not a score per candidate."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


# --- request / response (pure functions) ------------------------------------------------------


def _column_to_json(name: str, values: np.ndarray) -> list[Any]:
    """One feature column as JSON values, by dtype: ints stay ints, floats must be finite, text is str."""
    array = np.asarray(values)
    kind = array.dtype.kind
    if kind in "iu":
        return array.astype(np.int64).tolist()
    if kind == "b":
        return array.tolist()
    if kind == "f":
        if not np.all(np.isfinite(array)):
            raise ValueError(f"feature {name!r} holds NaN or infinity, which JSON cannot carry")
        return array.astype(np.float64).tolist()
    if kind in "OUS":
        return (
            [_text(name, v) for v in array.reshape(-1)]
            if array.ndim == 1
            else [[_text(name, v) for v in row] for row in array.tolist()]
        )
    raise ValueError(f"feature {name!r} has unsupported dtype {array.dtype}")


def _text(name: str, value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, str):
        return value
    if isinstance(value, float) and math.isnan(value):
        return ""
    raise ValueError(f"feature {name!r} is a string feature but holds {type(value).__name__} {value!r}")


def predict_request(batch: Mapping[str, np.ndarray], signature_name: str = SIGNATURE) -> dict[str, Any]:
    """The columnar REST body for ``batch`` (every column the same length)."""
    lengths = {name: len(np.asarray(col)) for name, col in batch.items()}
    if len(set(lengths.values())) > 1:
        raise ValueError(f"batch columns differ in length: {lengths}")
    return {
        "signature_name": signature_name,
        "inputs": {name: _column_to_json(name, col) for name, col in batch.items()},
    }


def parse_scores(payload: Any, n: int, output: str | None = None) -> np.ndarray:
    """One float32 score per row from a predict response (columnar ``outputs`` or row ``predictions``)."""
    if not isinstance(payload, dict):
        raise TFServingError(f"TF Serving answered {type(payload).__name__}, expected a JSON object")
    if "outputs" in payload:
        values = payload["outputs"]
    elif "predictions" in payload:
        values = payload["predictions"]
    else:
        raise TFServingError(
            f"TF Serving response has neither 'outputs' nor 'predictions': {sorted(payload)}"
        )
    if isinstance(values, dict):
        if output is not None and output in values:
            values = values[output]
        elif len(values) == 1:
            values = next(iter(values.values()))
        else:
            raise TFServingError(f"model has several outputs {sorted(values)}; name one with output=")
    try:
        scores = np.asarray(values, dtype=np.float32)
    except (TypeError, ValueError) as exc:
        raise TFServingError(f"TF Serving outputs are not numbers: {exc}") from exc
    if scores.size != n:
        raise TFServingError(
            f"TF Serving returned {scores.size} scores for {n} candidates (shape {scores.shape})"
        )
    return scores.reshape(n)


# --- client --------------------------------------------------------------------------------------


class TFServingRanker:
    """Scores ranking batches with TensorFlow Serving's REST ``predict`` API.

    One pooled HTTP client (keep-alive) per instance; safe to share between request threads.
    Every call is bounded by ``timeout_s`` (connect, read and write alike).
    """

    def __init__(
        self,
        base_url: str,
        timeout_s: float = 1.0,
        signature_name: str = SIGNATURE,
        client: httpx.Client | None = None,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout_s = timeout_s
        self.signature_name = signature_name
        self._client = client or httpx.Client(timeout=httpx.Timeout(timeout_s))

    def predict_url(self, model: str, version: int | None = None) -> str:
        """``{base}/v1/models/{model}[/versions/{version}]:predict``."""
        path = f"/v1/models/{model}" + (f"/versions/{int(version)}" if version is not None else "")
        return f"{self.base_url}{path}:predict"

    def score(
        self, model: str, batch: dict[str, np.ndarray], version: int | None = None, output: str | None = None
    ) -> np.ndarray:
        """Scores (float32, one per row of ``batch``) from ``model``.

        ``version`` pins the TF Serving version (see :func:`tfserving_version`) so scores come from
        the bundle the rest of the request uses; while the server has not loaded that version yet
        (it polls its model directory) the call falls back to the latest version it has.
        """
        n = len(next(iter(batch.values()))) if batch else 0
        if n == 0:
            return np.zeros(0, dtype=np.float32)
        body = predict_request(batch, self.signature_name)
        try:
            return self._post(model, body, n, version, output)
        except TFServingError as exc:
            if version is None or exc.status != 404:
                raise
            log.warning("tfserving model %s version %s not loaded yet; using latest", model, version)
            return self._post(model, body, n, None, output)

    def _post(
        self, model: str, body: dict[str, Any], n: int, version: int | None, output: str | None
    ) -> np.ndarray:
        url = self.predict_url(model, version)
        try:
            response = self._client.post(url, json=body, timeout=self.timeout_s)
        except httpx.TimeoutException as exc:
            raise TFServingError(f"TF Serving timed out after {self.timeout_s}s at {url}") from exc
        except httpx.HTTPError as exc:
            raise TFServingError(f"TF Serving unreachable at {url}: {exc}") from exc
        try:
            payload = response.json()
        except ValueError as exc:
            raise TFServingError(
                f"TF Serving {response.status_code} at {url}: not JSON ({response.text[:200]!r})",
                response.status_code,
            ) from exc
        if response.status_code != 200:
            message = payload.get("error", payload) if isinstance(payload, dict) else payload
            raise TFServingError(
                f"TF Serving {response.status_code} for model {model!r}: {message}", response.status_code
            )
        return parse_scores(payload, n, output)

    def close(self) -> None:
        self._client.close()

    def __enter__(self) -> TFServingRanker:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


# --- model repository for the tensorflow/serving container --------------------------------------


def tfserving_version(bundle_version: str) -> int:
    """TF Serving's integer version for a bundle: microseconds since the epoch of its timestamp.

    Monotonic in publish order (as bundle versions are), so TF Serving's "latest" is the newest bundle.
    """
    stamp = bundle_version.split("-", 1)[0]
    try:
        moment = datetime.strptime(stamp, _VERSION_TIME_FORMAT).replace(tzinfo=timezone.utc)
    except ValueError as exc:
        raise ValueError(
            f"bundle version {bundle_version!r} does not start with a {_VERSION_TIME_FORMAT} stamp"
        ) from exc
    return (moment - _EPOCH) // timedelta(microseconds=1)  # integer arithmetic: no float rounding


def model_config_text(base_paths: Mapping[str, str], keep_versions: int = 2) -> str:
    """A ``models.config`` (text protobuf ModelServerConfig) serving each model's newest versions."""
    entries = "".join(
        "  config {\n"
        f'    name: "{name}"\n'
        f'    base_path: "{base_paths[name]}"\n'
        '    model_platform: "tensorflow"\n'
        f"    model_version_policy {{ latest {{ num_versions: {keep_versions} }} }}\n"
        "  }\n"
        for name in sorted(base_paths)
    )
    return "model_config_list {\n" + entries + "}\n"


def sync_model_repository(
    artifacts: Path, out: Path, serving_root: str | None = None, keep_versions: int = 2
) -> dict[str, int]:
    """Copy the current bundle's SavedModels to ``out/<model>/<int version>/`` and write ``models.config``.

    Each version directory is copied under a non-numeric temporary name and renamed into place, so
    TF Serving (which polls ``out``) never loads a half-copied model. ``serving_root`` is where the
    TF Serving container sees ``out`` (default: ``out`` itself). Returns ``{model: version}``.
    """
    bundle = open_bundle(artifacts)
    version = tfserving_version(bundle.version)
    out = Path(out)
    synced: dict[str, int] = {}
    for name in bundle.models():
        target = out / name / str(version)
        if not target.exists():
            staging = out / name / f".staging-{version}-{os.getpid()}"
            shutil.rmtree(staging, ignore_errors=True)
            shutil.copytree(bundle.model_dir(name), staging)
            os.replace(staging, target)
            log.info("tfserving model %s: bundle %s -> version %d", name, bundle.version, version)
        _prune_versions(out / name, keep_versions)
        synced[name] = version
    root = (serving_root or str(out)).rstrip("/")
    config = model_config_text({name: f"{root}/{name}" for name in synced}, keep_versions)
    tmp = out / f".{MODEL_CONFIG}.tmp"
    tmp.write_text(config)
    os.replace(tmp, out / MODEL_CONFIG)
    return synced


def _prune_versions(model_dir: Path, keep: int) -> None:
    versions = sorted(
        (int(p.name) for p in model_dir.iterdir() if p.is_dir() and p.name.isdigit()), reverse=True
    )
    for old in versions[keep:]:
        shutil.rmtree(model_dir / str(old), ignore_errors=True)


def build_parser() -> argparse.ArgumentParser:
    """The ``python -m online.tfserving_client`` command line (``sync``)."""
    parser = argparse.ArgumentParser(
        prog="python -m online.tfserving_client", description=__doc__.split("\n")[0]
    )
    commands = parser.add_subparsers(dest="command", required=True)
    sync = commands.add_parser(
        "sync", help="Lay the current bundle's models out for TF Serving (+ models.config)."
    )
    sync.add_argument("--artifacts", type=Path, required=True, help="Artifacts directory (holds `current`).")
    sync.add_argument("--out", type=Path, required=True, help="TF Serving model base directory to write.")
    sync.add_argument("--serving-root", default=None, help="Path of --out inside the TF Serving container.")
    sync.add_argument("--keep", type=int, default=2, help="Versions kept per model.")
    sync.add_argument(
        "--watch", type=float, default=0.0, help="Re-check `current` every N seconds (0: once)."
    )
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m online.tfserving_client sync --artifacts DIR --out DIR [--watch SECONDS]``."""
    parser = build_parser()
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    args.out.mkdir(parents=True, exist_ok=True)
    last: str | None = "\0never-synced"  # differs from every `current`, so the first pass always syncs
    while True:
        current = read_current(args.artifacts)
        if current != last:
            try:
                synced = sync_model_repository(args.artifacts, args.out, args.serving_root, args.keep)
                log.info("tfserving repository at %s: %s", args.out, synced)
                last = current
            except BundleError as exc:
                if not args.watch:
                    print(f"error: {exc}", file=sys.stderr)
                    return 1
                log.warning("no servable bundle yet: %s", exc)
        if not args.watch:
            return 0
        time.sleep(args.watch)


if __name__ == "__main__":
    sys.exit(main())
