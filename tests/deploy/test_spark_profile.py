"""The `spark` profile without Docker: its master and worker command lines, started for real.

A standalone master and worker are launched with the compose file's own arguments (hosts mapped to
loopback, ports to free ones) through the image's entrypoint with ``SPARK_LOCAL_IP=auto``, and a
driver like the offline job's runs a Python lambda on the executor: the driver is reachable from the
executor and the executor's Python has the driver's packages.
"""

from __future__ import annotations

import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from compose_helpers import REPO, VENV_BIN, command, load_compose
from sparrow_testing import free_port, stop_process

pytestmark = [pytest.mark.spark, pytest.mark.slow]

ENTRYPOINT = REPO / "deploy" / "entrypoint.sh"


def _env() -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SPARROW_")}
    env.update({"PATH": f"{VENV_BIN}{os.pathsep}{os.environ.get('PATH', '')}", "SPARK_LOCAL_IP": "auto"})
    return env


def _wait_port(port: int, proc: subprocess.Popen[bytes], log: Path, timeout_s: float = 120) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            pytest.fail(f"exited with {proc.returncode}:\n{log.read_text(errors='replace')[-3000:]}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.5)
    pytest.fail(f"port {port} not listening after {timeout_s}s:\n{log.read_text(errors='replace')[-3000:]}")


@pytest.fixture
def cluster(tmp_path: Path) -> Iterator[str]:
    from sparrow_testing import require

    require(bool(os.environ.get("JAVA_HOME")) or subprocess.run(["which", "java"]).returncode == 0, "Java")
    services = load_compose()["services"]
    master_cmd, worker_cmd = command(services["spark-master"]), command(services["spark-worker"])
    port, ui_port, worker_ui = free_port(), free_port(), free_port()

    def swap(cmd: list[str], option: str, value: str) -> list[str]:
        out = list(cmd)
        out[out.index(option) + 1] = value
        return out

    master_cmd = swap(
        swap(swap(master_cmd, "--host", "127.0.0.1"), "--port", str(port)), "--webui-port", str(ui_port)
    )
    url = f"spark://127.0.0.1:{port}"
    assert worker_cmd[-1].startswith("spark://spark-master:")
    worker_cmd = swap(
        swap(swap(worker_cmd[:-1], "--cores", "1"), "--memory", "1g"), "--work-dir", str(tmp_path / "w")
    )
    worker_cmd += ["--webui-port", str(worker_ui), url]

    procs: list[subprocess.Popen[bytes]] = []
    logs = []
    try:
        for name, cmd in (("master", master_cmd), ("worker", worker_cmd)):
            log = tmp_path / f"{name}.log"
            logs.append(log)
            with open(log, "wb") as fh:
                procs.append(
                    subprocess.Popen(
                        ["sh", str(ENTRYPOINT), *cmd], env=_env(), stdout=fh, stderr=subprocess.STDOUT
                    )
                )
            if name == "master":
                _wait_port(port, procs[0], log)
        _wait_port(worker_ui, procs[1], logs[1])
        yield url
    finally:
        for proc in reversed(procs):
            stop_process(proc, timeout_s=20)


def test_offline_driver_runs_python_on_the_profile_cluster(cluster: str) -> None:
    script = (
        "from offline.spark_session import get_spark, stop_spark\n"
        f"spark = get_spark(master={cluster!r}, driver_memory='1g')\n"
        "import sys\n"
        "rdd = spark.sparkContext.parallelize(range(100), 2)\n"
        "print('SUM', rdd.map(lambda x: x * x).sum())\n"
        "here = tuple(sys.version_info[:2])\n"
        "print('SAME_PYTHON', rdd.map(lambda _: tuple(sys.version_info[:2])).distinct().collect() == [here])\n"
        "stop_spark()\n"
    )
    env = {**_env(), "SPARROW_SPARK_DRIVER_MEMORY": "1g"}
    result = subprocess.run(
        ["sh", str(ENTRYPOINT), str(VENV_BIN / "python"), "-c", script],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=REPO,
    )
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-3000:]
    assert "SUM 328350" in result.stdout
    assert "SAME_PYTHON True" in result.stdout, "executors run a different Python than the driver"
