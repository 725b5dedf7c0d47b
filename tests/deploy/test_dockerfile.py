"""Dockerfile lint without Docker: a small instruction parser and the rules this image must keep."""

from __future__ import annotations

import fnmatch
import json
import re
import shlex
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import pytest
import tomllib
from compose_helpers import DOCKERFILE, REPO


@dataclass(frozen=True)
class Instruction:
    keyword: str
    args: str
    line: int


def parse_dockerfile(text: str) -> list[Instruction]:
    """Instructions with line continuations joined and comments (also inside continuations) dropped."""
    instructions: list[Instruction] = []
    buffer: list[str] = []
    start = 0
    for number, raw in enumerate(text.splitlines(), 1):
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if buffer and line.startswith("#"):
            continue  # a comment line inside a continued instruction
        if not buffer:
            start = number
        if line.endswith("\\"):
            buffer.append(line[:-1].strip())
            continue
        buffer.append(line)
        keyword, _, args = " ".join(b for b in buffer if b).partition(" ")
        instructions.append(Instruction(keyword.upper(), args.strip(), start))
        buffer = []
    assert not buffer, "Dockerfile ends inside a continued line"
    return instructions


@pytest.fixture(scope="module")
def instructions() -> list[Instruction]:
    return parse_dockerfile(DOCKERFILE.read_text())


def _all(instructions: list[Instruction], keyword: str) -> list[Instruction]:
    return [i for i in instructions if i.keyword == keyword]


def _index(instructions: list[Instruction], keyword: str, last: bool = False) -> int:
    found = [n for n, i in enumerate(instructions) if i.keyword == keyword]
    assert found, f"no {keyword} instruction"
    return found[-1] if last else found[0]


def _dockerignore() -> list[str]:
    lines = (REPO / ".dockerignore").read_text().splitlines()
    return [ln.strip() for ln in lines if ln.strip() and not ln.strip().startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    """Whether .dockerignore excludes ``path`` (patterns match the path or one of its parents)."""
    parts = Path(path).parts
    candidates = ["/".join(parts[: n + 1]) for n in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pat = pattern.lstrip("!").strip("/")
        pat_any = pat[3:] if pat.startswith("**/") else None
        if any(
            fnmatch.fnmatchcase(c, pat) or (pat_any and fnmatch.fnmatchcase(Path(c).name, pat_any))
            for c in candidates
        ):
            ignored = not negate
    return ignored


def test_parser_handles_continuations_and_comments() -> None:
    parsed = parse_dockerfile("# c\nFROM a:1\nRUN x \\\n    # inner\n    && y\n\nUSER u\n")
    assert [(i.keyword, i.args) for i in parsed] == [("FROM", "a:1"), ("RUN", "x && y"), ("USER", "u")]
    assert _ignored(".venv/bin/python", [".venv"]) and _ignored("a/__pycache__/x.pyc", ["**/__pycache__"])
    assert not _ignored("sparrow/cli.py", [".venv", "data"])


def test_from_comes_first_and_is_pinned(instructions: list[Instruction]) -> None:
    assert instructions[0].keyword in {"FROM", "ARG"}
    assert instructions[_index(instructions, "FROM")].keyword == "FROM"
    assert all(i.keyword == "ARG" for i in instructions[: _index(instructions, "FROM")])
    image = _all(instructions, "FROM")[0].args.split()[0]
    assert ":" in image and not image.endswith(":latest"), f"unpinned base image {image}"
    assert image.startswith("python:3.11-slim")


def test_runs_as_a_non_root_user_before_the_command(instructions: list[Instruction]) -> None:
    user = _index(instructions, "USER", last=True)
    assert instructions[user].args.split(":")[0] not in {"root", "0"}
    assert user < _index(instructions, "CMD", last=True)
    assert user > _index(instructions, "RUN", last=True), "a RUN after USER would need root again"
    assert re.search(r"useradd\b.*\b" + re.escape(instructions[user].args), DOCKERFILE.read_text())


def test_healthcheck_probes_healthz(instructions: list[Instruction]) -> None:
    (check,) = _all(instructions, "HEALTHCHECK")
    assert "CMD" in check.args and "/healthz" in check.args
    assert "--timeout=" in check.args and "--start-period=" in check.args
    assert "curl" not in check.args and "wget" not in check.args, "slim images have neither; use python"


def test_no_remote_add_and_copy_sources_are_in_the_context(instructions: list[Instruction]) -> None:
    patterns = _dockerignore()
    assert not any(re.match(r"https?://", i.args.split()[0]) for i in _all(instructions, "ADD"))
    copies = _all(instructions, "COPY")
    assert copies
    for copy in copies:
        words = [w for w in shlex.split(copy.args) if not w.startswith("--")]
        for source in words[:-1]:
            assert (REPO / source).exists(), f"line {copy.line}: COPY source {source} does not exist"
            assert not _ignored(source, patterns), (
                f"line {copy.line}: COPY {source} is excluded by .dockerignore"
            )


def test_every_project_package_is_copied(instructions: list[Instruction]) -> None:
    """pyproject's package list and the COPY lines must agree, or the image misses a package."""
    config = tomllib.loads((REPO / "pyproject.toml").read_text())
    packages = {p.rstrip("*") for p in config["tool"]["setuptools"]["packages"]["find"]["include"]}
    copied = {shlex.split(c.args)[0].rstrip("/") for c in _all(instructions, "COPY")}
    assert packages <= copied, f"not copied into the image: {sorted(packages - copied)}"


def test_experiments_config_is_in_the_image(instructions: list[Instruction]) -> None:
    """The service reads its A/B config from a file; the image must hold the one it points at."""
    from online.experiments.registry import DEFAULT_EXPERIMENTS_FILE

    env = " ".join(i.args for i in _all(instructions, "ENV"))
    configured = re.search(r"\bSPARROW_EXPERIMENTS_FILE=(\S+)", env)
    target = Path(configured.group(1)) if configured else Path("/app") / DEFAULT_EXPERIMENTS_FILE
    copied = {str(Path("/app") / shlex.split(c.args)[0]) for c in _all(instructions, "COPY")}
    assert str(target) in copied and (REPO / target.relative_to("/app")).is_file()


def test_dependencies_layer_comes_before_the_sources(instructions: list[Instruction]) -> None:
    copies = [(n, shlex.split(i.args)) for n, i in enumerate(instructions) if i.keyword == "COPY"]
    pyproject_at = next(n for n, words in copies if "pyproject.toml" in words)
    sources_at = min(n for n, words in copies if words[0] in {"sparrow", "offline", "online", "webui"})
    deps_install = next(
        n
        for n, i in enumerate(instructions)
        if i.keyword == "RUN" and "pip install" in i.args and "-r" in i.args
    )
    assert pyproject_at < deps_install < sources_at


def test_dependency_extraction_reads_pyproject(instructions: list[Instruction]) -> None:
    """Run the Dockerfile's own one-liner here: it must print exactly pyproject's dependencies."""
    run = next(i for i in _all(instructions, "RUN") if "tomllib" in i.args)
    script = re.search(r'python -c "(.*?)"\s*>', run.args)
    assert script, run.args
    code = script.group(1)  # sh keeps \\n inside double quotes; python reads it as a newline escape
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    expected = tomllib.loads((REPO / "pyproject.toml").read_text())["project"]["dependencies"]
    assert out.split() == expected


def test_pip_and_apt_keep_layers_small(instructions: list[Instruction]) -> None:
    for run in _all(instructions, "RUN"):
        if "pip install" in run.args:
            assert "--no-cache-dir" in run.args, f"line {run.line}: pip install without --no-cache-dir"
        if "apt-get install" in run.args:
            assert "apt-get update" in run.args, f"line {run.line}: install without update in the same layer"
            assert "--no-install-recommends" in run.args and "rm -rf /var/lib/apt/lists" in run.args
    assert any("openjdk-17-jre-headless" in r.args for r in _all(instructions, "RUN"))


def test_runtime_environment(instructions: list[Instruction]) -> None:
    env = " ".join(i.args for i in _all(instructions, "ENV"))
    for name in ("JAVA_HOME", "SPARK_LOCAL_IP", "OMP_NUM_THREADS", "SPARROW_HOST"):
        assert re.search(rf"\b{name}=", env), f"ENV {name} missing"
    assert re.search(r"\bSPARROW_HOST=0\.0\.0\.0\b", env), (
        "the service must listen beyond loopback in a container"
    )
    java_home = re.search(r"\bJAVA_HOME=(\S+)", env).group(1)  # type: ignore[union-attr]
    assert java_home in DOCKERFILE.read_text().split("JAVA_HOME=")[0], "JAVA_HOME must be created by a RUN"


def test_entrypoint_and_cmd_are_exec_form(instructions: list[Instruction]) -> None:
    for keyword in ("ENTRYPOINT", "CMD"):
        form = json.loads(_all(instructions, keyword)[-1].args)
        assert isinstance(form, list) and form
    assert json.loads(_all(instructions, "CMD")[-1].args)[:2] == ["sparrow", "serve"]


def test_dockerignore_keeps_the_context_small() -> None:
    patterns = _dockerignore()
    for path in (".venv", "artifacts", "test-artifacts", ".git", ".pytest_cache", "data", "x/__pycache__"):
        assert _ignored(path, patterns), f".dockerignore does not exclude {path}"


def test_entrypoint_script_resolves_spark_local_ip(tmp_path: Path) -> None:
    script = REPO / "deploy" / "entrypoint.sh"
    assert subprocess.run(["sh", "-n", str(script)], capture_output=True).returncode == 0
    env = {"PATH": f"{Path(sys.executable).parent}:/usr/bin:/bin"}
    auto = subprocess.run(
        ["sh", str(script), "sh", "-c", 'echo "$SPARK_LOCAL_IP"'],
        env={**env, "SPARK_LOCAL_IP": "auto"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert re.fullmatch(r"\d+\.\d+\.\d+\.\d+", auto), auto
    fixed = subprocess.run(
        ["sh", str(script), "sh", "-c", 'echo "$SPARK_LOCAL_IP"'],
        env={**env, "SPARK_LOCAL_IP": "127.0.0.1"},
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    assert fixed == "127.0.0.1"
    failing = subprocess.run(["sh", str(script), "sh", "-c", "exit 3"], env=env)
    assert failing.returncode == 3, "the entrypoint must exec the command and keep its exit status"
