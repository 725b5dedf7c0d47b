#!/usr/bin/env bash
# The offline pipeline one step per process, each under /usr/bin/time -v: its wall time and the peak RSS
# of its largest process (the Spark JVM for the Spark steps) land in WORK/time-<step>.txt, the step's own
# seconds in <artifacts>/work/steps.json. Used for the ML-25M-shaped runs quoted in the README:
#   .venv/bin/sparrow data synth --users 162541 --movies 59047 --ratings 25000000 --out /tmp/offw/synth-25m
#   bash bench/offline_steps.sh /tmp/offw/synth-25m /tmp/offw/artifacts-25m 12g
# Steps meet only through the work directory, so a stopped run resumes from any step:
#   STEPS="models bundle" bash bench/offline_steps.sh ...
set -euo pipefail
DATA=${1:?usage: offline_steps.sh DATA_DIR ARTIFACTS [DRIVER_MEMORY]}
ARTIFACTS=${2:?usage: offline_steps.sh DATA_DIR ARTIFACTS [DRIVER_MEMORY]}
DRIVER_MEMORY=${3:-4g}
STEPS=${STEPS:-ingest features split embeddings similar models bundle}
cd "$(dirname "$0")/.."
export JAVA_HOME=${JAVA_HOME:-/usr/lib/jvm/java-17-openjdk-amd64} SPARK_LOCAL_IP=127.0.0.1
export TF_CPP_MIN_LOG_LEVEL=2 OMP_NUM_THREADS=1 PYSPARK_PYTHON="$PWD/.venv/bin/python"
mkdir -p "$ARTIFACTS"
# the scale runs' training settings, from the one place bench.offline_scaling keeps them
read -ra SCALE_ARGS <<< "$(.venv/bin/python -c 'from bench.offline_scaling import scale_cli_args; print(*scale_cli_args())')"
for step in $STEPS; do
  echo "== $step $(date -u +%FT%TZ)"
  /usr/bin/time -v -o "$ARTIFACTS/time-$step.txt" .venv/bin/sparrow offline "$step" --data-dir "$DATA" \
    --artifacts "$ARTIFACTS" --driver-memory "$DRIVER_MEMORY" "${SCALE_ARGS[@]}"
  grep -E "Elapsed|Maximum resident" "$ARTIFACTS/time-$step.txt"
done
echo "== done $(date -u +%FT%TZ)"
