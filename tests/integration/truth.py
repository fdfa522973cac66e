"""An independent measurement of a recorded run: bpftrace on take_gil.

`record_with_truth` runs `gilscope record -- PROGRAM` under bpftrace, whose
script measures gilscope's child, the program, from its first instruction,
thread by thread, with the textbook probes and nothing of gilscope's: an
uprobe on take_gil's entry, one on each `call pthread_cond_signal` of the
interpreter (take_gil's signals the GIL's switch_cond right after it took
the GIL; drop_gil's, and its inlined copies', signal its cond when it has
let the GIL go: the argument in %rdi tells which), the futex and scheduler
tracepoints.
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
wait). The call sites stand for moments that came before them (take_gil
set the GIL locked, drop_gil set it free, then called): where the thread
was switched out right at the call (its user instruction pointer at the
switch-out was the call's address: preempted there, or asleep there in `D`
state on a page fault; or one past it: trapped at the int3, whose way back
to user space preempts before it runs the handlers), the moment is the
switch-out, and late_ns adds up by how much later the handlers ran.
Without that, a release preempted there ran on for milliseconds in the
truth's hold (2.2 ms in a kept run). So every switch-out is noted, not only
preemptions: a thread asleep in a call stands at the call's return, never
at these addresses.
A release stands before its call too: drop_gil sets the GIL free, then
calls. A holder switched out on its way (a page fault's `D` sleep, a
preemption) with the GIL already free, or another's, let it go by that
switch-out: each switch-out of a holder reads the GIL's locked word and
last holder (its own thread state, read at its take), and the release is
the earlier of the two. A writer in a fresh clone's run slept in `D` state
36 us after its take with the GIL free, then stalled 1.7 ms with no event
on either CPU before the call: its hold is the 36 us, not 1.84 ms.
Until 6 Dec 2026 the truth's take and release were libc's
pthread_cond_signal entry (bpftrace 0.17 refuses an address inside a
function; it takes the call's file offset with --unsafe, see
bench/gil_bpftrace.py). A thread held up between the call and libc's
entry ran on in the truth's hold: preempted at the PLT stub (8 ms of the
main thread's start-up in one run), asleep there on a page fault, or on
CPU with no switch at all: 2.1 ms of a waiter's one release in a fresh
clone's run (a vCPU stall), which no switch-out can date.
A take_gil call begins at the instruction that calls it (each `call` or
`jmp` to take_gil is probed; at its entry if reached otherwise), unless the
thread was switched out between the two: a thread preempted on its way has
not called yet, and begins at take_gil's entry.
Why a take_gil that does not sleep holds from its call: it is no wait, and
nothing else can take the GIL meanwhile, but under these very probes its
start lasts 5-20 us on this VM, where it takes well under one without them:
the hundreds of takes of an interpreter's start-up would move milliseconds
of the truth's own cost out of the main thread's hold (from take_gil's
entry, as until 6 Dec 2026: the main thread's holds 2.8-4.6 ms under
gilscope's in 10 runs, from gilscope's probe on the call to bpftrace's on
the entry; from the call: 0.6-1.1 ms). One preempted before it took the
GIL left the GIL free meanwhile: its hold starts at the take.

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

GIL_LAST_HOLDER_OFF = 0x8   # struct _gil_runtime_state, 3.9-3.13
GIL_LOCKED_OFF = 0x10
GIL_COND_OFF = 0x20
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


def uprobes(python, sites):
    """bpftrace's attach points for instructions of PYTHON: by file offset
    (it refuses an address inside a function; see the docstring)."""
    return ",\n".join(f"uprobe:{python}:{gil_bpftrace.file_offset(python, site):#x}"
                       for site in sites)


def script(python):
    """The bpftrace program for PYTHON (Debian's non-PIE 3.11)."""
    take, _ = gil_bpftrace.resolve(python)
    cond = gil_bpftrace.gil_cond(python)
    gil = cond - GIL_COND_OFF
    switch_cond = gil + GIL_SWITCH_COND_OFF
    child = "curtask->real_parent->tgid == cpid"
    calls = gil_bpftrace.cond_signal_calls(python)
    assert calls, f"{python}: no call of pthread_cond_signal@plt"
    signal_calls = uprobes(python, calls)
    take_calls = uprobes(python, gil_bpftrace.calls_to(python, take[0]))
    assert take_calls, f"{python}: no call of take_gil"
    # $now: the thread switched out right at this call (at it, or trapped
    # one past it) reached it at the switch-out
    preempted_at_probe = """	if (@pre_ip[tid] == reg("ip") || @pre_ip[tid] == reg("ip") + 1) {
		$now = @pre_at[tid];
		@late_ns[tid] += nsecs - $now;
	}
	delete(@pre_ip[tid]);
"""
    # $now: a thread switched out after it had let the GIL go (the GIL
    # read free, or another's, at that switch-out) released it by then
    released_before = """	if (@released_at[tid] && @released_at[tid] < $now) {
		$now = @released_at[tid];
	}
	delete(@released_at[tid]);
"""
    return f"""// GIL wait and hold per thread of the command's children (see truth.py)
tracepoint:sched:sched_switch /{child}/
{{
	@pre_at[args->prev_pid] = nsecs;
	delete(@called_at[args->prev_pid]);
	if (@hold_start[args->prev_pid] && !@released_at[args->prev_pid]) {{
		$locked = *uptr((int32 *){gil + GIL_LOCKED_OFF:#x});
		$holder = *uptr((uint64 *){gil + GIL_LAST_HOLDER_OFF:#x});
		if ($locked == 0 ||
		    (@tstate[args->prev_pid] && $holder != @tstate[args->prev_pid])) {{
			@released_at[args->prev_pid] = nsecs;
		}}
	}}
	@pre_ip[args->prev_pid] = ((struct pt_regs *)((uint64)curtask->stack +
				    {THREAD_SIZE} - {PT_REGS_SIZE}))->ip;
}}

{take_calls}
/{child}/
{{
	@called_at[tid] = nsecs;
}}

uprobe:{python}:{take[0]:#x} /{child}/
{{
	$begin = nsecs;
	if (@called_at[tid]) {{
		$begin = @called_at[tid];
		delete(@called_at[tid]);
	}}
	@wait_start[tid] = $begin;
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

{signal_calls}
/{child} && reg("di") == {switch_cond:#x} && @wait_start[tid]/
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
	delete(@released_at[tid]);
	@tstate[tid] = *uptr((uint64 *){gil + GIL_LAST_HOLDER_OFF:#x});
	@takes[tid] = count();
}}

{signal_calls}
/{child} && reg("di") == {cond:#x} && @hold_start[tid]/
{{
	$now = nsecs;
{preempted_at_probe}{released_before}	@hold_ns[tid] += $now - @hold_start[tid];
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
	$now = nsecs;
{released_before}	@hold_ns[tid] += $now - @hold_start[tid];
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
	clear(@called_at);
	clear(@released_at);
	clear(@tstate);
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
    # --unsafe: the call sites are inside functions (see the docstring)
    run = subprocess.run(["bpftrace", "--unsafe", "-c", cmd, str(bt)], capture_output=True, text=True,
                         timeout=timeout, env=env)
    assert run.returncode == 0, run.stderr
    return Truth(run, report(out), out, parse_maps(run.stdout))
