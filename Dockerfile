# One image for every role of Sparrow RecSys: the offline job (Spark driver + TensorFlow training),
# the online service (FastAPI), and, in the `spark` compose profile, the Spark master and workers
# themselves — so driver and executors always run the same Spark and the same Python packages.
#
#   docker build -t sparrow-recsys .
#   docker run --rm -p 8000:8000 -v $PWD/artifacts:/app/artifacts sparrow-recsys
#
# bookworm is pinned on purpose: it is the Debian release that ships a JRE 17 (Spark 4 needs Java 17+).
FROM python:3.11-slim-bookworm

# A headless JRE for Spark; `mkdir man1` works around the JRE postinst failing on slim images.
RUN mkdir -p /usr/share/man/man1 \
    && apt-get update \
    && apt-get install -y --no-install-recommends openjdk-17-jre-headless procps \
    && rm -rf /var/lib/apt/lists/* \
    # one JAVA_HOME for amd64 and arm64 builds alike
    && ln -s "/usr/lib/jvm/java-17-openjdk-$(dpkg --print-architecture)" /usr/lib/jvm/java-17

ENV JAVA_HOME=/usr/lib/jvm/java-17 \
    # local[*] Spark binds to loopback; the `spark` profile sets SPARK_LOCAL_IP=auto (see deploy/entrypoint.sh)
    SPARK_LOCAL_IP=127.0.0.1 \
    # FAISS/TF/BLAS: one OpenMP thread per process keeps latency steady (STACK-NOTES: FAISS)
    OMP_NUM_THREADS=1 \
    TF_CPP_MIN_LOG_LEVEL=2 \
    PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    # executors started by a worker from this image use the same interpreter as the driver
    PYSPARK_PYTHON=python3 \
    SPARROW_ARTIFACTS=/app/artifacts \
    SPARROW_DATA_DIR=/app/data/ml-latest-small \
    SPARROW_EXPERIMENTS_FILE=/app/experiments.yaml \
    SPARROW_HOST=0.0.0.0 \
    SPARROW_PORT=8000

WORKDIR /app

# Dependencies first, from pyproject.toml alone: this heavy layer (TensorFlow, pyspark, ~2 GB) is
# rebuilt only when the dependency list changes, not on every source edit.
COPY pyproject.toml README.md ./
RUN python -c "import tomllib; print('\n'.join(tomllib.load(open('pyproject.toml', 'rb'))['project']['dependencies']))" \
        > /tmp/requirements.txt \
    && pip install --no-cache-dir -r /tmp/requirements.txt \
    && rm /tmp/requirements.txt

# Then the project itself (no dependency resolution: they are all installed above).
COPY sparrow ./sparrow
COPY offline ./offline
COPY online ./online
COPY webui ./webui
# the A/B experiments the service runs (PUT /admin/experiments replaces them for every replica)
COPY experiments.yaml ./
RUN pip install --no-cache-dir --no-deps . \
    && rm -rf build ./*.egg-info

COPY deploy/entrypoint.sh /usr/local/bin/sparrow-entrypoint

# A non-root user owning the directories that compose mounts as named volumes (a fresh named
# volume takes the ownership of the image directory it is mounted on).
RUN useradd --create-home --uid 1000 --shell /usr/sbin/nologin sparrow \
    && mkdir -p /app/artifacts /app/data /app/spark-work /app/tfserving \
    && chown -R sparrow:sparrow /app/artifacts /app/spark-work /app/tfserving \
    && chmod 0755 /usr/local/bin/sparrow-entrypoint
USER sparrow

EXPOSE 8000
# Liveness only (the process answers); compose checks readiness on /readyz for the online service.
HEALTHCHECK --interval=15s --timeout=4s --start-period=60s --retries=3 \
    CMD python -c "import os, urllib.request; urllib.request.urlopen('http://127.0.0.1:%s/healthz' % os.environ.get('SPARROW_PORT', '8000'), timeout=3)" || exit 1

ENTRYPOINT ["sparrow-entrypoint"]
CMD ["sparrow", "serve"]
