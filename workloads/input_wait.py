"""Waiting for the user does not stop the other threads.

Scenario
    A "reader" thread blocks in input() waiting for a line on stdin, while a
    "cruncher" thread runs a pure-Python CPU loop for a known time and a
    threading.Timer ("timer") prints a message after a delay.  A Python
    learner is taught that a thread blocked on input releases the GIL, so
    the program keeps computing and the timer still fires on time.

What a correct trace shows
    "reader" is off CPU in a read() of fd 0 for input_blocked_s, holding no
    GIL; "cruncher" is on CPU for compute_s; "timer" sleeps (a timed lock
    wait) for timer_delay_s, then briefly takes the GIL to print.  No
    significant GIL waiting: cruncher is the only CPU-bound thread.

Usage
    (sleep 0.5; echo hi) | /usr/bin/python3 input_wait.py [SIZE]

    SIZE (float, default 1.0) scales the compute time (1.0 s x SIZE) and
    the timer delay (0.5 s x SIZE).  Works with stdin as a pipe or a pty.
    If stdin is closed, input() raises EOFError and that is recorded; if no
    line arrives within 10 s x SIZE the program stops waiting (input_result
    "timeout") and exits anyway.  input_result is "line", "eof", "no_stdin"
    (fd 0 closed) or "timeout".

Last stdout line: WORKLOAD-FACTS {json} with the measured time input()
blocked, the compute and timer times, and the thread tids.
"""
import json
import os
import sys
import threading
import time


def main():
    size = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    compute_s = 1.0 * size
    timer_delay_s = 0.5 * size
    input_timeout_s = 10.0 * size
    facts = {"workload": "input_wait", "pid": os.getpid(),
             "main_tid": threading.get_native_id(), "size": size,
             "compute_s": compute_s, "timer_delay_s": timer_delay_s,
             "input_result": "timeout", "input_blocked_s": None, "tids": {}}
    start = time.perf_counter()
    print_lock = threading.Lock()              # one line at a time on stdout

    def say(line):
        with print_lock:  # waits: Lock
            print(line, flush=True)

    def remember_tid():
        facts["tids"][threading.current_thread().name] = threading.get_native_id()

    def reader():
        remember_tid()
        say("reader: waiting for a line on stdin")
        t0 = time.perf_counter()
        try:
            line = input()
            facts["input_result"] = "line"
            facts["input_line"] = line
        except EOFError:                # stdin reached end of file
            facts["input_result"] = "eof"
        except RuntimeError:            # no stdin at all (fd 0 closed)
            facts["input_result"] = "no_stdin"
        facts["input_blocked_s"] = time.perf_counter() - t0
        say(f"reader: input() returned ({facts['input_result']})")

    def cruncher():
        remember_tid()
        t0 = time.perf_counter()
        loops = 0
        while time.perf_counter() - t0 < compute_s:
            loops += 1
        facts["compute_measured_s"] = time.perf_counter() - t0
        facts["compute_loops"] = loops
        say(f"cruncher: {loops} loops")

    def ring():
        remember_tid()
        facts["timer_fired_after_s"] = time.perf_counter() - start
        say("timer: ring!")

    read_thread = threading.Thread(target=reader, name="reader", daemon=True)
    crunch_thread = threading.Thread(target=cruncher, name="cruncher")
    timer = threading.Timer(timer_delay_s, ring)
    timer.name = "timer"
    for t in (read_thread, crunch_thread, timer):
        t.start()  # waits: Event
    crunch_thread.join()  # waits: join
    timer.join()  # waits: join
    # The reader is a daemon thread: if nobody ever types a line we give up
    # waiting for it and exit while it is still blocked in input().
    read_thread.join(timeout=max(0.0, input_timeout_s - (time.perf_counter() - start)))
    facts["elapsed_s"] = time.perf_counter() - start
    say("WORKLOAD-FACTS " + json.dumps(facts))
    if read_thread.is_alive():
        # Still blocked in input(): a normal interpreter shutdown could abort
        # while that thread holds the stdin buffer lock, so leave right now.
        sys.stderr.flush()
        os._exit(0)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
