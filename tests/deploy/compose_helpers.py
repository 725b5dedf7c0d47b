"""Reading docker-compose.yml the way `docker compose` does, for tests that have no Docker engine.

Only what the deploy tests need: load the file, resolve ``${VAR:-default}`` interpolation with an
environment (default: none set, so defaults apply), and describe services (image, command,
mounts, ports, environment).
"""

from __future__ import annotations

import re
import sys
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[2]
COMPOSE_FILE = REPO / "docker-compose.yml"
ENV_EXAMPLE = REPO / ".env.example"
DOCKERFILE = REPO / "Dockerfile"
VENV_BIN = Path(sys.executable).parent

# ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?err}, ${VAR?err}, $VAR ; $$ is a literal $
_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<braced>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?+])(?P<arg>[^}]*))?\}"
    r"|(?P<plain>[A-Za-z_][A-Za-z0-9_]*))"
)


def variables_in(text: str) -> set[str]:
    """Names of the variables a compose file interpolates."""
    return {
        m.group("braced") or m.group("plain") for m in _INTERPOLATION.finditer(text) if not m.group("escaped")
    }


def interpolate(value: Any, env: Mapping[str, str]) -> Any:
    """Resolve interpolation in every string of ``value`` (recursively), as compose does."""
    if isinstance(value, str):
        return _INTERPOLATION.sub(lambda m: _resolve(m, env), value)
    if isinstance(value, list):
        return [interpolate(v, env) for v in value]
    if isinstance(value, dict):
        return {k: interpolate(v, env) for k, v in value.items()}
    return value


def _resolve(match: re.Match[str], env: Mapping[str, str]) -> str:
    if match.group("escaped"):
        return "$"
    name = match.group("braced") or match.group("plain")
    op, arg = match.group("op"), match.group("arg") or ""
    value = env.get(name)
    if op in (":-", "-"):
        return arg if (value is None or (op == ":-" and value == "")) else value
    if op in (":?", "?"):
        if value is None or (op == ":?" and value == ""):
            raise KeyError(f"compose variable {name} is required: {arg}")
        return value
    if op in (":+", "+"):
        return arg if value else ""
    return value or ""


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """docker-compose.yml with interpolation resolved against ``env`` (default: nothing set)."""
    raw = yaml.safe_load(COMPOSE_FILE.read_text())
    return interpolate(raw, env or {})


@dataclass(frozen=True)
class Mount:
    source: str
    target: str
    read_only: bool

    @property
    def is_bind(self) -> bool:
        return self.source.startswith((".", "/"))


def mounts(service: Mapping[str, Any]) -> list[Mount]:
    """The service's volumes (short syntax ``source:target[:ro]``)."""
    out = []
    for spec in service.get("volumes", []):
        parts = spec.split(":")
        out.append(Mount(parts[0], parts[1], len(parts) > 2 and "ro" in parts[2].split(",")))
    return out


def host_path(service: Mapping[str, Any], container_path: str) -> Path | None:
    """The repository path a container path of a bind mount comes from (None if not bind-mounted)."""
    for mount in sorted(mounts(service), key=lambda m: -len(m.target)):
        if mount.is_bind and (
            container_path == mount.target or container_path.startswith(mount.target + "/")
        ):
            return (REPO / mount.source / container_path[len(mount.target) :].lstrip("/")).resolve()
    return None


def uses_project_image(service: Mapping[str, Any]) -> bool:
    """Whether the service runs the image built from this repository's Dockerfile."""
    return "build" in service


def command(service: Mapping[str, Any]) -> list[str]:
    cmd = service.get("command", [])
    return cmd.split() if isinstance(cmd, str) else [str(c) for c in cmd]


def environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    env = service.get("environment", {})
    if isinstance(env, list):
        return dict((item.split("=", 1) + [None])[:2] for item in env)  # type: ignore[misc]
    return {k: (None if v is None else str(v)) for k, v in env.items()}


def env_example_variables() -> dict[str, str]:
    """Variables .env.example documents (commented-out ``# NAME=value`` lines count)."""
    found = {}
    for line in ENV_EXAMPLE.read_text().splitlines():
        m = re.match(r"^#?\s*([A-Z][A-Z0-9_]*)=(\S*)", line)
        if m:
            found[m.group(1)] = m.group(2)
    return found


def dependency_conditions(service: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    deps = service.get("depends_on", {})
    if isinstance(deps, list):
        return {d: {"condition": "service_started", "required": True} for d in deps}
    return {name: {"required": True, **spec} for name, spec in deps.items()}
