"""stop_spark ends the gateway JVM (its heap is what TensorFlow needs next) and Spark can start again."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import pytest

from tests.sparrow_testing import require

pytestmark = pytest.mark.spark

# run in a child: the test session's shared Spark (conftest) must not lose its JVM
CHILD = """
import json
from pyspark import SparkContext
from offline.spark_session import get_spark, stop_spark

spark = get_spark(master="local[1]", app_name="stop-test", shuffle_partitions=1, driver_memory="512m")
first = SparkContext._gateway.proc
out = {"first_count": spark.range(5).count()}
stop_spark()
out["first_exit"] = first.poll()
out["gateway_cleared"] = SparkContext._gateway is None
spark = get_spark(master="local[1]", app_name="stop-test", shuffle_partitions=1, driver_memory="512m")
second = SparkContext._gateway.proc
out["second_count"] = spark.range(7).count()
out["new_jvm"] = second.pid != first.pid
stop_spark(shutdown_jvm=False)
out["kept_alive"] = second.poll() is None
stop_spark()
out["second_exit"] = second.poll()
print("RESULT " + json.dumps(out))
"""


def test_stop_spark_ends_the_gateway_jvm_and_spark_restarts() -> None:
    require(shutil.which("java") is not None or bool(os.environ.get("JAVA_HOME")), "Java (for Spark)")
    proc = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True, timeout=300)
    lines = [ln for ln in proc.stdout.splitlines() if ln.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, proc.stderr[-2000:]
    out = json.loads(lines[-1][len("RESULT ") :])
    assert out["first_count"] == 5 and out["second_count"] == 7
    assert out["first_exit"] is not None, "the gateway JVM outlived stop_spark()"
    assert out["gateway_cleared"] and out["new_jvm"]
    assert out["kept_alive"], "stop_spark(shutdown_jvm=False) must leave the JVM running"
    assert out["second_exit"] is not None
