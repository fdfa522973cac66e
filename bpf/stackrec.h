/* SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause */
/*
 * Python and native stacks: what the BPF side shares with userspace.
 *
 * A stack is walked at moments that already cost a probe hit (take_gil's
 * entry, a switch-out) and by a sampler at a low rate. BPF interns stacks
 * itself: a stack's id is a 64-bit hash of the process and its frames; the
 * frames go to userspace once, through the `stacks` ring buffer, and every
 * later use is only the id in a GS_EV_STACK event (bpf/gilscope.h).
 */
#ifndef GS_STACKREC_H
#define GS_STACKREC_H

#include "gilscope.h"

#define GS_PY_MAX_FRAMES 128 /* deeper stacks keep their innermost frames */
#define GS_NATIVE_MAX_FRAMES 32
#define GS_FRAME_HEAD 128 /* the head of a frame read at once: 3.9's f_lasti */

/* a32 of GS_EV_STACK: the moment the stack was taken */
enum gs_stack_why {
	/* take_gil's entry: a GIL wait begins. Sent only when the stack
	 * differs from the thread's previous one of this kind: a GIL wait
	 * without it has the thread's last GIL_WAIT stack, and so do the
	 * switch-outs of a thread asleep in take_gil, which send nothing. */
	GS_STK_GIL_WAIT = 1,
	GS_STK_OFFCPU = 2,  /* switched out to sleep (blocking, lock wait) */
	GS_STK_PREEMPT = 3, /* switched out while runnable (preempted) */
	GS_STK_SAMPLE = 4,  /* the on-CPU sampler */
};

/* flags of GS_EV_STACK */
#define GS_STKF_NO_TSTATE 0x2 /* the thread's PyThreadState is not known */
#define GS_STKF_KERNEL 0x4    /* a sample taken while in the kernel */
#define GS_STKF_STALE 0x8     /* the known PyThreadState is another thread's */

/* flags of a stack record */
#define GS_STACKF_TRUNCATED 0x1 /* deeper than GS_PY_MAX_FRAMES */
#define GS_STACKF_FAULT 0x2	/* a frame could not be read: the rest is cut */

enum gs_stack_kind {
	GS_SREC_PYTHON = 1, /* data[]: (code object, last instruction) pairs */
	GS_SREC_NATIVE = 2, /* data[]: user instruction pointers, leaf first */
	GS_SREC_CODE = 3,   /* struct gs_code_rec */
};

/*
 * A code object's identity in stacks: its address, with a 16-bit tag of
 * its co_filename and co_name pointers in the top bits (user addresses
 * fit in 47). A code object freed and its address taken by another one
 * then names another code, not the first one's name (exec'd code freed at
 * start-up, a thread's target compiled later at the same address).
 */
#define GS_CODE_ADDR_MASK ((1ULL << 48) - 1)

static inline unsigned long long gs_code_word(unsigned long long code,
					      unsigned long long filename,
					      unsigned long long name)
{
	unsigned long long h = filename * 0x9e3779b97f4a7c15ULL ^
			       name * 0xc2b2ae3d27d4eb4fULL;

	return (code & GS_CODE_ADDR_MASK) | (h >> 48) << 48;
}

/* One interned stack, as BPF sends it (n frames; data sized to match). */
struct gs_stack_rec {
	unsigned long long id;
	unsigned int tgid;
	unsigned short kind;
	unsigned short n;
	unsigned int flags;
	unsigned int pad;
	/* Python: frame i (leaf first) at data[2i] (gs_code_word of its
	 * PyCodeObject *) and data[2i+1] (last instruction pointer);
	 * native: data[i] */
	unsigned long long data[GS_PY_MAX_FRAMES * 2];
};

#define GS_STACK_REC_HEADER 24 /* bytes before data[] */

#define GS_CODE_NAME 96
#define GS_CODE_FILE 192
#define GS_CODE_LINETABLE 512

/*
 * A code object as BPF read it, sent once before the first stack that
 * names it: the recorder reads it from /proc/PID/mem too, but a module's
 * code is freed once imported and a process may be gone by then. Strings
 * are read when compact ASCII (else empty); the location table is cut at
 * GS_CODE_LINETABLE bytes (linetable_len tells its real length).
 */
struct gs_code_rec {
	unsigned long long id; /* 0 */
	unsigned int tgid;
	unsigned short kind; /* GS_SREC_CODE */
	unsigned short n;    /* bytes of linetable[] sent */
	unsigned int flags, pad;
	unsigned long long code; /* gs_code_word of the PyCodeObject * */
	int firstlineno;
	unsigned int linetable_len;
	char qualname[GS_CODE_NAME];
	char filename[GS_CODE_FILE];
	unsigned char linetable[GS_CODE_LINETABLE];
};

#define GS_CODE_REC_HEADER __builtin_offsetof(struct gs_code_rec, linetable)

/*
 * How to walk the frames of one process's interpreter (map `py_conf`, keyed
 * by tgid): offsets from user/record/pyver.c's table.
 */
struct gs_pyconf {
	struct gs_gil gil; /* the GIL (addr 0: unknown), whatever the method */
	unsigned short gil_cond, gil_switch_cond;
	unsigned short tstate_frame; /* PyThreadState -> cframe (3.11) */
	unsigned short cframe_frame; /* -> current frame, GS_OFF_NONE: none */
	unsigned short frame_code, frame_previous, frame_instr, frame_owner;
	/* frames owned by owner_cstack or above are the interpreter's own
	 * (no code), 0xff: none */
	unsigned char owner_cstack;
	unsigned char learn_tstate; /* no take_gil probe: learn at acquisitions */
	unsigned char instr_size;   /* frame_instr: 8 a pointer, 4 f_lasti */
	unsigned char ref_tag_bits; /* _PyStackRef tag bits of frame_code */
	unsigned short frame_head; /* bytes of a frame read (<= GS_FRAME_HEAD) */
	/* PyCodeObject fields, str and bytes layout (gs_code_rec) */
	unsigned short code_qualname, code_filename, code_firstlineno;
	unsigned short code_linetable, str_state, str_ascii_data;
	unsigned short bytes_size, bytes_data;
};

/* Per thread (map `py_threads`, keyed by tid). */
struct gs_pythread {
	unsigned long long tstate;
	unsigned long long gil_cond; /* the GIL's cond, for the cache check */
	unsigned long long py_id; /* Python stack at the last take_gil entry */
	unsigned int sent;	  /* a GIL_WAIT event carried py_id */
	unsigned int cached; /* py_id is valid while the thread waits on cond */
	/* Python stack of its last switch-out asleep on the GIL's cond or
	 * mutex (no take_gil probe), wait_flags its GS_STKF_* */
	unsigned long long wait_py;
	unsigned int wait_flags;
	unsigned int last_is_wait; /* its last STACK event was that one */
};

#endif /* GS_STACKREC_H */
