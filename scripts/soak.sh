#!/bin/sh
# Soak test (not part of `make test`): record a Python workload with constant
# thread churn for DURATION seconds (default 600), sample the recorder's RSS
# and the session file's size every SOAK_INTERVAL seconds (default 10), then
# report. Checks: the recorder's RSS stays flat (the last sample within +20 %
# of the one at 60 s), the file grows linearly (R^2 >= 0.98, rate of the
# second half within 0.5-2x of the first), no event is lost, the report
# succeeds. Run as root from anywhere: sh scripts/soak.sh [DURATION]
#
# SOAK_KEEP=1 keeps the session file; SOAK_DIR chooses where it goes;
# SOAK_RECORD_ARGS adds options to `gilscope record` (e.g. --no-stacks).
set -eu

cd "$(dirname "$0")/.."
DURATION=${1:-600}
INTERVAL=${SOAK_INTERVAL:-10}
GILSCOPE=./gilscope
PYTHON=/usr/bin/python3
case $DURATION in
'' | *[!0-9]*)
	echo "soak: DURATION must be a whole number of seconds, not '$DURATION'" >&2
	exit 2
	;;
esac
if [ "$(id -u)" -ne 0 ]; then
	echo "soak: run as root (the recorder loads BPF programs)" >&2
	exit 2
fi
[ -x $GILSCOPE ] || make gilscope >/dev/null

WORK=$(mktemp -d "${SOAK_DIR:-/tmp}/gilscope-soak.XXXXXX")
OUT=$WORK/soak.data
SAMPLES=$WORK/samples.txt
REC=

cleanup() {
	if [ -n "$REC" ] && kill -0 "$REC" 2>/dev/null; then
		kill "$REC" 2>/dev/null || true
	fi
	if [ "${SOAK_KEEP:-0}" = 1 ]; then
		echo "soak: kept $WORK"
	else
		rm -rf "$WORK"
	fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Threads are created and end all the time: at most 24 alive, each one
# sleeps, computes or takes a shared lock for a few milliseconds.
cat >"$WORK/churn.py" <<'EOF'
import random, sys, threading, time

end = time.monotonic() + float(sys.argv[1])
lock = threading.Lock()
slots = threading.BoundedSemaphore(24)
counts = {"sleep": 0, "compute": 0, "lock": 0}
shared = [0]


def sleeper(rnd):
    time.sleep(rnd.uniform(0.001, 0.05))


def computer(rnd):
    sum(i * i for i in range(rnd.randint(1000, 60000)))


def locker(rnd):
    for _ in range(rnd.randint(1, 20)):
        with lock:
            v = shared[0]
            sum(range(2000))
            shared[0] = v + 1
        time.sleep(0.0005)


def run(kind, seed):
    try:
        KINDS[kind](random.Random(seed))
    finally:
        slots.release()


KINDS = {"sleep": sleeper, "compute": computer, "lock": locker}
rnd, n = random.Random(1), 0
while time.monotonic() < end:
    slots.acquire()
    kind = rnd.choice(list(KINDS))
    counts[kind] += 1
    n += 1
    threading.Thread(target=run, args=(kind, n), name=f"{kind}-{n}").start()
for t in threading.enumerate():
    if t is not threading.current_thread():
        t.join()
print(f"soak workload: {n} threads ({counts}), lock counter {shared[0]}")
EOF

echo "soak: recording ${DURATION} s of thread churn into $OUT (record ${SOAK_RECORD_ARGS:-} )"
# shellcheck disable=SC2086
$GILSCOPE record -q ${SOAK_RECORD_ARGS:-} -o "$OUT" -- $PYTHON "$WORK/churn.py" "$DURATION" &
REC=$!

rss_of() {
	awk -v k="$2:" '$1 == k { print $2 }' "/proc/$1/status" 2>/dev/null || true
}

printf '%8s %12s %12s %12s\n' "time_s" "rss_kb" "rss_anon_kb" "file_bytes"
: >"$SAMPLES"
start=$(date +%s)
next=$INTERVAL
while kill -0 "$REC" 2>/dev/null; do
	now=$(($(date +%s) - start))
	if [ "$now" -ge "$next" ]; then
		rss=$(rss_of "$REC" VmRSS)
		anon=$(rss_of "$REC" RssAnon)
		size=$(stat -c %s "$OUT" 2>/dev/null || echo 0)
		if [ -n "$rss" ]; then
			printf '%8d %12d %12d %12d\n' "$now" "$rss" "$anon" "$size"
			echo "$now $rss $anon $size" >>"$SAMPLES"
		fi
		next=$((next + INTERVAL))
	fi
	sleep 1
done
status=0
wait "$REC" || status=$?
REC=
echo "soak: recorder exited with $status after $(($(date +%s) - start)) s," \
	"file $(stat -c %s "$OUT") bytes"

report_ok=0
t0=$(date +%s)
$PYTHON -c 'import resource, subprocess, sys
r = subprocess.run(sys.argv[1:], stdout=open(sys.argv[-1] + ".json", "w"))
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(r.returncode)' $GILSCOPE report --json "$OUT" >"$WORK/report.rss" || report_ok=$?
mv "$OUT.json" "$WORK/report.json"
echo "soak: report --json took $(($(date +%s) - t0)) s, peak RSS $(cat "$WORK/report.rss") kB"
$GILSCOPE report "$OUT" >"$WORK/report.txt" || true
sed -n '1,12p' "$WORK/report.txt"

# Checks, from the samples and the report.
$PYTHON - "$SAMPLES" "$WORK/report.json" "$status" "$report_ok" <<'EOF'
import json, sys

samples = [tuple(map(int, l.split())) for l in open(sys.argv[1]) if l.strip()]
rec_status, report_status = int(sys.argv[3]), int(sys.argv[4])
failures = []


def check(ok, what):
    print(f"soak: {'ok  ' if ok else 'FAIL'} {what}")
    if not ok:
        failures.append(what)


check(rec_status == 0, f"recorder and workload exit status {rec_status}")
check(report_status == 0, f"report exit status {report_status}")
if len(samples) >= 3:
    ref = next((s for s in samples if s[0] >= 60), samples[0])
    last = samples[-1]
    check(last[1] <= ref[1] * 1.2,
          f"RSS flat: {ref[1]} kB at {ref[0]} s, {last[1]} kB at {last[0]} s "
          f"({100.0 * (last[1] - ref[1]) / ref[1]:+.1f} %)")
    grow = [s for s in samples if s[0] >= ref[0]]
    n = len(grow)
    mt = sum(s[0] for s in grow) / n
    ms = sum(s[3] for s in grow) / n
    stt = sum((s[0] - mt) ** 2 for s in grow)
    slope = sum((s[0] - mt) * (s[3] - ms) for s in grow) / stt if stt else 0
    sse = sum((s[3] - ms - slope * (s[0] - mt)) ** 2 for s in grow)
    sst = sum((s[3] - ms) ** 2 for s in grow)
    r2 = 1 - sse / sst if sst else 0
    half = grow[n // 2]
    r1 = (half[3] - grow[0][3]) / max(1, half[0] - grow[0][0])
    r2nd = (grow[-1][3] - half[3]) / max(1, grow[-1][0] - half[0])
    check(r2 >= 0.98 and 0.5 <= r2nd / max(r1, 1) <= 2.0,
          f"file grows linearly: {slope / 1e6 * 60:.1f} MB/min, R^2 {r2:.4f}, "
          f"rate second half / first half {r2nd / max(r1, 1):.2f}")
else:
    check(False, f"only {len(samples)} samples: run for 30 s or more")
if report_status == 0:
    data = json.load(open(sys.argv[2]))
    s = data["session"]
    threads = sum(len(p["threads"]) for p in data["processes"])
    check(s["lost"] == 0, f"lost events: {s['lost']} of {s['events']}")
    check(not s["cut_short"], "session finalized")
    print(f"soak: {s['events']} events, {threads} threads, "
          f"{s['duration_ns'] / 1e9:.1f} s")
sys.exit(1 if failures else 0)
EOF
