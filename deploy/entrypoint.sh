#!/bin/sh
# Entrypoint of the sparrow image: resolve SPARK_LOCAL_IP=auto, then run the given command.
#
# Local Spark (the default) binds to 127.0.0.1. On a cluster (compose profile `spark`) every JVM —
# master, worker, executors and the driver inside the offline job — must bind to and advertise an
# address the others can reach; `auto` picks this container's own address on the compose network.
set -eu
if [ "${SPARK_LOCAL_IP:-}" = "auto" ]; then
    SPARK_LOCAL_IP="$(python3 -c 'import socket; print(socket.gethostbyname(socket.gethostname()))')"
    export SPARK_LOCAL_IP
fi
exec "$@"
