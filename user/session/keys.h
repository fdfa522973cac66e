/* SPDX-License-Identifier: GPL-2.0 */
/*
 * The keys of the session's key=value records (docs/session-format.md),
 * named once for the writer (record/) and its readers (session/,
 * analysis/replay.c, ...). A key's meaning is in the format document.
 */
#ifndef GS_SESSION_KEYS_H
#define GS_SESSION_KEYS_H

/* HOST */
#define GS_KEY_VERSION "gilscope_version"
#define GS_KEY_KERNEL "kernel"
#define GS_KEY_MACHINE "machine"
#define GS_KEY_HOSTNAME "hostname"
#define GS_KEY_CPUS "cpus"
#define GS_KEY_CLOCK "clock"
#define GS_KEY_START_NS "start_ns"
#define GS_KEY_REALTIME_AT_START_NS "realtime_at_start_ns"
#define GS_KEY_MODE "mode"	 /* GS_MODE_* */
#define GS_KEY_COMMAND "command" /* HOST and PROCESS */
#define GS_KEY_RINGBUF_BYTES "ringbuf_bytes"
#define GS_KEY_RECORDER_PID "recorder_pid"

#define GS_MODE_EXACT "exact"
#define GS_MODE_LIGHT "light"

/* PROCESS */
#define GS_KEY_PID "pid"
#define GS_KEY_SINCE_NS "since_ns"
#define GS_KEY_ORIGIN "origin" /* GS_ORIGIN_* */
#define GS_KEY_PPID "ppid"
#define GS_KEY_EXE "exe"
#define GS_KEY_INTERP "interp"
#define GS_KEY_BUILD_ID "build_id"
#define GS_KEY_DEBUG_FILE "debug_file"
#define GS_KEY_PYTHON "python"
#define GS_KEY_PYTHON_HEX "python_hex"
#define GS_KEY_GIL_METHOD "gil_method"
#define GS_KEY_GIL_METHOD_NOTE "gil_method_note"
#define GS_KEY_RUNTIME_ADDR "runtime_addr"
#define GS_KEY_GIL_ADDR "gil_addr"
#define GS_KEY_GIL_SIZE "gil_size"
#define GS_KEY_GIL_COND_OFF "gil_cond_off"
#define GS_KEY_GIL_MUTEX_OFF "gil_mutex_off"
#define GS_KEY_GIL_SWITCH_COND_OFF "gil_switch_cond_off"
#define GS_KEY_GIL_SWITCH_MUTEX_OFF "gil_switch_mutex_off"
#define GS_KEY_TAKE_GIL "take_gil"
#define GS_KEY_SIGNAL_SITES "signal_sites"
#define GS_KEY_LOCK_SITES "lock_sites"
#define GS_KEY_LOCK_RELEASE_SITES "lock_release_sites"
#define GS_KEY_PARK_SITES "park_sites"
#define GS_KEY_UNPARK_SITES "unpark_sites"
#define GS_KEY_RLOCK_WAIT_SITES "rlock_wait_sites"
#define GS_KEY_USER_LOCK "user_lock"
/* the GIL's switch counter at the start and the end, and (3.12+) the GIL
 * the interpreter says it uses: GS_KEY_..._PREFIX "start" or "end" */
#define GS_KEY_SWITCH_NUMBER_PREFIX "switch_number_"
#define GS_KEY_SWITCH_NUMBER_START "switch_number_start"
#define GS_KEY_SWITCH_NUMBER_END "switch_number_end"
#define GS_KEY_GIL_RUNTIME_ADDR_PREFIX "gil_runtime_addr_"
#define GS_KEY_GIL_LOCKED "gil_locked"
#define GS_KEY_GIL_LAST_HOLDER_TID "gil_last_holder_tid"

#define GS_ORIGIN_LAUNCH "launch"
#define GS_ORIGIN_ATTACH "attach"
#define GS_ORIGIN_FORK "fork"
#define GS_ORIGIN_EXEC "exec"

/* THREAD (threads found running at an attach) */
#define GS_KEY_TGID "tgid"
#define GS_KEY_TID "tid"
#define GS_KEY_STATE "state"
#define GS_KEY_SYSCALL "syscall"
#define GS_KEY_ARG0 "arg0"
#define GS_KEY_ARG1 "arg1"
#define GS_KEY_COMM "comm"

/* STACKS: the stack table's meta record (docs/flamegraphs.md) */
#define GS_KEY_SAMPLE_HZ "sample_hz"
#define GS_KEY_MAX_PYTHON_FRAMES "max_python_frames"
#define GS_KEY_RECORDS "records"
#define GS_KEY_BAD_RECORDS "bad_records"
#define GS_KEY_UNRESOLVED_FRAMES "unresolved_frames"
#define GS_KEY_LOST_RECORDS "lost_records"

/* TRAILER */
#define GS_KEY_END_NS "end_ns"
#define GS_KEY_EVENTS "events"
#define GS_KEY_LOST "lost"
#define GS_KEY_LOST_PREFIX "lost_" /* and the event's name */
/* switch-ins the kernel's tracepoint did not report (bpf/sched.bpf.h) */
#define GS_KEY_UNSEEN_SWITCH_INS "unseen_switch_ins"
#define GS_KEY_STOP_REASON "stop_reason"
#define GS_KEY_FINALIZED "finalized"

#endif /* GS_SESSION_KEYS_H */
