"""An independent measurement of a recorded run: bpftrace on take_gil.

`record_with_truth` runs `gilscope record -- PROGRAM` under bpftrace, whose
script measures gilscope's child, the program, from its first instruction,
thread by thread, with the textbook probes and nothing of gilscope's: an
uprobe on take_gil's entry, one on libc's pthread_cond_signal (take_gil
signals the GIL's switch_cond right after it took the GIL; drop_gil signals
its cond when it lets it go), the futex and scheduler tracepoints.
    wait_ns  take_gil entry -> the take, for the calls that slept in a futex
             on the GIL (its mutex or cond) in between
    hold_ns  the take -> the release, or the thread's exit; the take is at
             take_gil's entry for a call that neither slept nor was
             preempted before it took the GIL
    takes    takes (switch_cond signals in take_gil)
    late_ns  how much later than their moments the handlers of probes
             preempted right at their instruction ran (see below)
    lock_ns  asleep (switch-out to wakeup) in a futex wait on anything but
             the GIL: threading locks, conditions, joins
    on_cpu_ns  switch-in to switch-out (or exit), as the scheduler's
             tracepoint reports them
    switch_ins  how many of those runs
A probe's moment is when its handler runs: when the probed instruction
runs. take_gil's entry is that (a thread preempted at it has not begun to
wait). The two pthread_cond_signal probes stand for moments that came
before the call (take_gil set the GIL locked, drop_gil set it free, then
signalled): where the thread was preempted right at the call's breakpoint
(its user instruction pointer at the switch-out was the probe's address,
or one past it: trapped at the int3, whose way back to user space preempts
before it runs the handlers), the moment is the switch-out, and late_ns adds
up by how much later the handlers ran. Without that, a release preempted
there ran on for milliseconds in the truth's hold (2.2 ms in a kept run).
The same for a thread preempted on its way to the call: at a `call
pthread_cond_signal@plt` instruction (gilscope's probe there: trapped,
its handler not run yet) or at the PLT stub (gilscope's probe returns to
user space there, a point where a loaded CPU preempts). Under load the
main thread's start-up holds ran on 8 ms and 4 ms in one run, a writer's
5.5 ms in another (5 Dec 2026). Or asleep on its way there, not in a
call (`D` state: a page fault): the main thread's hold ran on 5.8 ms while
it started a thread. So every switch-out is noted, not only preemptions:
a thread asleep in a call stands at the call's return, never at these
addresses.
Why a take_gil that does not sleep holds from its entry: it is no wait, and
nothing else can take the GIL meanwhile, but under these very probes its
start lasts 5-20 us on this VM, where it takes well under one without them:
the hundreds of takes of an interpreter's start-up would move milliseconds
of the truth's own cost out of the main thread's hold. One preempted before
it took the GIL left the GIL free meanwhile: its hold starts at the take.

Addresses: take_gil from the -dbg package's debug file, the GIL from
_PyRuntime (non-PIE 3.11: bench/gil_bpftrace.py). bpftrace's tracepoints
need tracefs, which a fresh machine does not mount: it is mounted here.
"""
import ast
import os
import re
import subprocess
import sys

from conftest import GILSCOPE, PYTHON, ROOT, Traced, report

sys.path.insert(0, os.path.join(ROOT, "bench"))
import gil_bpftrace  # noqa: E402

GIL_COND_OFF = 0x20   # struct _gil_runtime_state, 3.9-3.13
GIL_SWITCH_COND_OFF = 0x78
GIL_SIZE = 0xd0
# where a task's user registers sit: the top of its kernel stack (x86-64,
# 16 KiB stacks without KASAN) less struct pt_regs
THREAD_SIZE = 16384
PT_REGS_SIZE = 168
TRACEFS = "/sys/kernel/tracing"


def ensure_tracefs():
    if not os.path.exists(os.path.join(TRACEFS, "events")):
        subprocess.run(["mount", "-t", "tracefs", "nodev", TRACEFS], check=True)


def script(python):
    """The bpftrace program for PYTHON (Debian's non-PIE 3.11)."""
    take, _ = gil_bpftrace.resolve(python)
    cond = gil_bpftrace.gil_cond(python)
    gil = cond - GIL_COND_OFF
    switch_cond = gil + GIL_SWITCH_COND_OFF
    libc, signal = gil_bpftrace.libc_of(python)
    child = "curtask->real_parent->tgid == cpid"
    plt, calls = gil_bpftrace.cond_signal_calls(python)
    assert plt is not None, f"{python}: no call of pthread_cond_signal@plt"
    # a call trapped at gilscope's breakpoint stands one past it
    on_the_way = " ||\n\t    ".join(f"@pre_ip[tid] == {ip:#x}"
                                     for ip in (plt, *calls, *(c + 1 for c in calls)))
    # $now: the thread preempted right at this breakpoint (at it, or
    # trapped one past it), or on its way there (at a call of it, or the
    # PLT stub the call goes through) reached it at the switch-out
    preempted_at_probe = f"""	if (@pre_ip[tid] == reg("ip") || @pre_ip[tid] == reg("ip") + 1 ||
	    {on_the_way}) {{
		$now = @pre_at[tid];
		@late_ns[tid] += nsecs - $now;
	}}
	delete(@pre_ip[tid]);
"""
    return f"""// GIL wait and hold per thread of the command's children (see truth.py)
tracepoint:sched:sched_switch /{child}/
{{
	@pre_at[args->prev_pid] = nsecs;
	@pre_ip[args->prev_pid] = ((struct pt_regs *)((uint64)curtask->stack +
				    {THREAD_SIZE} - {PT_REGS_SIZE}))->ip;
}}

uprobe:{python}:{take[0]:#x} /{child}/
{{
	@wait_start[tid] = nsecs;
	delete(@pre_ip[tid]);
}}

tracepoint:sched:sched_switch /@wait_start[args->prev_pid]/
{{
	@preempted[args->prev_pid] = 1;
}}

tracepoint:syscalls:sys_enter_futex
/@wait_start[tid] && args->uaddr >= {gil:#x} && args->uaddr < {gil + GIL_SIZE:#x} &&
 ((args->op & 0x7f) == 0 || (args->op & 0x7f) == 9)/
{{
	@slept[tid] = 1;
}}

uprobe:{libc}:{signal:#x} /{child} && arg0 == {switch_cond:#x} && @wait_start[tid]/
{{
	$now = nsecs;
{preempted_at_probe}	if (@slept[tid]) {{
		@wait_ns[tid] += $now - @wait_start[tid];
		@hold_start[tid] = $now;
	}} else if (@preempted[tid]) {{
		@hold_start[tid] = $now;
	}} else {{
		@hold_start[tid] = @wait_start[tid];
	}}
	delete(@slept[tid]);
	delete(@preempted[tid]);
	delete(@wait_start[tid]);
	@takes[tid] = count();
}}

uprobe:{libc}:{signal:#x} /{child} && arg0 == {cond:#x} && @hold_start[tid]/
{{
	$now = nsecs;
{preempted_at_probe}	@hold_ns[tid] += $now - @hold_start[tid];
	delete(@hold_start[tid]);
}}

tracepoint:sched:sched_switch
{{
	if ({child} && @on_since[args->prev_pid]) {{
		@on_cpu_ns[args->prev_pid] += nsecs - @on_since[args->prev_pid];
		@switch_ins[args->prev_pid] = count();
	}}
	delete(@on_since[args->prev_pid]);
	@on_since[args->next_pid] = nsecs;
}}

tracepoint:sched:sched_process_exit /{child} && @on_since[tid]/
{{
	@on_cpu_ns[tid] += nsecs - @on_since[tid];
	delete(@on_since[tid]);
}}

tracepoint:syscalls:sys_enter_futex
/{child} && (args->uaddr < {gil:#x} || args->uaddr >= {gil + GIL_SIZE:#x}) &&
 ((args->op & 0x7f) == 0 || (args->op & 0x7f) == 9)/
{{
	@in_lock_wait[tid] = 1;
}}

tracepoint:syscalls:sys_exit_futex /@in_lock_wait[tid]/
{{
	delete(@in_lock_wait[tid]);
}}

tracepoint:sched:sched_switch /@in_lock_wait[args->prev_pid] && args->prev_state != 0/
{{
	@lock_asleep[args->prev_pid] = nsecs;
}}

tracepoint:sched:sched_wakeup /@lock_asleep[args->pid]/
{{
	@lock_ns[args->pid] += nsecs - @lock_asleep[args->pid];
	delete(@lock_asleep[args->pid]);
}}

tracepoint:sched:sched_process_exit /@hold_start[tid]/
{{
	@hold_ns[tid] += nsecs - @hold_start[tid];
	delete(@hold_start[tid]);
}}

END
{{
	clear(@wait_start);
	clear(@hold_start);
	clear(@slept);
	clear(@preempted);
	clear(@in_lock_wait);
	clear(@lock_asleep);
	clear(@pre_at);
	clear(@pre_ip);
	clear(@on_since);
}}
"""


def parse_maps(text):
    """{map name: {tid: value}} from bpftrace's exit output."""
    maps = {}
    for m in re.finditer(r"^@(\w+)\[(\d+)\]: (\d+)$", text, re.M):
        maps.setdefault(m.group(1), {})[int(m.group(2))] = int(m.group(3))
    return maps


class Truth(Traced):
    """A traced run with bpftrace's maps of the same run."""
    def __init__(self, run, data, path, maps):
        super().__init__(run, data, path)
        self.maps = maps

    @property
    def facts(self):
        """The program's WORKLOAD-FACTS-PY line (a Python literal)."""
        for line in reversed(self.run.stdout.splitlines()):
            if line.startswith("WORKLOAD-FACTS-PY "):
                return ast.literal_eval(line[len("WORKLOAD-FACTS-PY "):])
        raise AssertionError("no WORKLOAD-FACTS-PY line in:\n" + self.run.stdout[-2000:])

    def truth(self, name, tid):
        return self.maps.get(name, {}).get(tid, 0)


def record_with_truth(tmp_path, argv, record_args=(), python=PYTHON, timeout=120, env=None):
    """Record PYTHON ARGV... with gilscope, measured by bpftrace."""
    out = str(tmp_path / "session.data")
    bt = tmp_path / "gil.bt"
    ensure_tracefs()
    bt.write_text(script(os.path.realpath(python)))
    cmd = " ".join([GILSCOPE, "record", "-q", "-o", out, *record_args, "--", python, *argv])
    run = subprocess.run(["bpftrace", "-c", cmd, str(bt)], capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert run.returncode == 0, run.stderr
    return Truth(run, report(out), out, parse_maps(run.stdout))
