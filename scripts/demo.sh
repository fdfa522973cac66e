#!/bin/sh
# The main job on a fresh Debian 12 machine: install what is missing, build,
# trace a sample workload with Debian's own python3, print the report.
# Leaves demo/cpu_threads.data, demo/report.txt and demo/report.json.
# Run as root from the repository: sudo scripts/demo.sh
set -eu
cd "$(dirname "$0")/.."

sh scripts/install-deps.sh
make -s
mkdir -p demo
echo "== tracing: four threads factorizing numbers (workloads/cpu_threads.py)"
./gilscope record -o demo/cpu_threads.data -- /usr/bin/python3 workloads/cpu_threads.py --threads-only
./gilscope report demo/cpu_threads.data | tee demo/report.txt
./gilscope report --json demo/cpu_threads.data > demo/report.json
echo
echo "== files: demo/cpu_threads.data (session), demo/report.txt, demo/report.json"
