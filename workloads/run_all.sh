#!/bin/bash
# Run every workload once at a small size; fail if one exits non-zero or its
# last stdout line is not "WORKLOAD-FACTS {valid json}".
# Usage: workloads/run_all.sh   (from anywhere; needs /usr/bin/python3, gcc)
set -u
cd "$(dirname "$0")"
PY=/usr/bin/python3
OUT=$(mktemp -d /tmp/gilscope-workloads.XXXXXX)
failed=0

run() {   # run NAME 'SHELL COMMAND'
    local name=$1 cmd=$2 rc start ms last
    start=$(date +%s%N)
    timeout 60 bash -c "$cmd" >"$OUT/$name.out" 2>"$OUT/$name.err"
    rc=$?
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    last=$(tail -n 1 "$OUT/$name.out")
    if [ $rc -ne 0 ]; then
        echo "FAIL $name: exit code $rc ($OUT/$name.err)"; failed=1
    elif [[ $last != "WORKLOAD-FACTS {"* ]] ||
         ! $PY -c 'import json, sys; json.loads(sys.argv[1])' "${last#WORKLOAD-FACTS }"; then
        echo "FAIL $name: last stdout line is not WORKLOAD-FACTS {json}"; failed=1
    else
        printf 'ok   %-28s %5d ms\n     %s\n' "$name" "$ms" "$last"
    fi
}

run cpu_threads              "$PY cpu_threads.py 0.3"
run cpu_threads-threads-only "$PY cpu_threads.py 0.3 --threads-only"
run factorize                "$PY factorize.py 0.3 --processes"
run sleepy_threads           "$PY sleepy_threads.py 0.5"
run input_wait               "(sleep 0.5; echo hi) | $PY input_wait.py 0.5"
run input_wait-eof           "$PY input_wait.py 0.3 < /dev/null"
run thread_pool              "$PY thread_pool.py 0.3"
run web_fetch                "$PY web_fetch.py 0.3"
run counter_race             "$PY counter_race.py 0.3"
run queue_pipeline           "$PY queue_pipeline.py 0.3"
run lock_turns               "$PY lock_turns.py 0.3"
run lock_turns-spin          "$PY lock_turns.py 0.3 --spin"
run dining_philosophers      "$PY dining_philosophers.py 0.25"
run generators               "$PY generators.py 0.3"
run processes                "$PY processes.py 0.3"
run processes-2              "$PY processes.py 0.3 --procs 2"
CC="gcc -O2 -g -pthread -Wall -Wextra -Werror"
run c_global_lock            "$CC -o $OUT/c_global_lock c_global_lock.c && $OUT/c_global_lock 0.3"

if [ $failed -ne 0 ]; then
    echo "SOME WORKLOADS FAILED (outputs in $OUT)"
    exit 1
fi
rm -rf "$OUT"
echo "all workloads passed"
