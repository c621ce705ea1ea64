#!/usr/bin/env bash
# stance classify inside Apache Spark: the same predictions and aggregates as one machine.
#
#   examples/spark/run.sh IN_DIR OUT_DIR [--master URL] [--articles PATH] [--partitions N]
#                         [--model DIR] [--stance BIN] [-- CLASSIFY-FLAGS]
#
# IN_DIR: a folder (or file) of Parquet or JSONL comment tables. Writes OUT_DIR/comments/
# (Parquet parts), OUT_DIR/threads/, authors/, daily/. Spark runs local[2] unless --master
# says otherwise; extra spark-submit options go in $SPARK_SUBMIT_OPTS_EXTRA (e.g.
# "--files stance --archives e5.tar.gz#e5" for a cluster, see the README, "Beyond one machine").
#
# Environment: STANCE_SPARK_PYTHON (a Python with pyspark and pyarrow; default python3),
# STANCE_BIN (the stance binary; default `stance` on PATH, else this clone's release build),
# STANCE_MODEL_DIR (the encoder folder, read by every stance process).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
python=${STANCE_SPARK_PYTHON:-python3}
master="local[2]"
args=()
while [[ $# -gt 0 ]]; do
    case $1 in
        --master) master=$2; shift 2 ;;
        --) args+=("$@"); break ;;
        *) args+=("$1"); shift ;;
    esac
done
if [[ -z ${STANCE_BIN:-} ]]; then
    if command -v stance >/dev/null; then
        STANCE_BIN=$(command -v stance)
    else
        STANCE_BIN="${CARGO_TARGET_DIR:-$here/../../target}/release/stance"
    fi
fi
export STANCE_BIN
export PYSPARK_PYTHON=$python PYSPARK_DRIVER_PYTHON=$python
submit=$("$python" -c 'import os, pyspark; print(os.path.join(os.path.dirname(pyspark.__file__), "bin", "spark-submit"))')
local_conf=()
if [[ $master == local* ]]; then
    # Small shuffles for the aggregates; no web UI.
    local_conf=(--conf spark.sql.shuffle.partitions=4 --conf spark.ui.enabled=false)
fi
# shellcheck disable=SC2086
exec "$submit" --master "$master" "${local_conf[@]}" \
    --conf spark.sql.session.timeZone=UTC --conf spark.log.level=WARN \
    --conf spark.sql.execution.arrow.maxRecordsPerBatch=100000 \
    ${SPARK_SUBMIT_OPTS_EXTRA:-} \
    "$here/stance_spark.py" "${args[@]}"
