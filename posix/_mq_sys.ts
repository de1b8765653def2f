/**
 * The libc symbols, constants, struct layout and limits POSIX message queues
 * need (`<mqueue.h>`; in glibc's libc.so.6 since 2.34, no `-lrt`).
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";
import { readProcNumber } from "../_sys/procfs.ts";

/** `open(2)` flags `mq_open` takes (x86-64 and aarch64 Linux). */
export const O = {
  RDONLY: 0,
  WRONLY: 1,
  RDWR: 2,
  CREAT: 0o100,
  EXCL: 0o200,
  NONBLOCK: 0o4000,
  CLOEXEC: 0o2000000,
} as const;

/** Priorities are below this (`MQ_PRIO_MAX`, `sysconf(_SC_MQ_PRIO_MAX)` on Linux). */
export const MQ_PRIO_MAX = 32768;

/**
 * `struct mq_attr { long mq_flags, mq_maxmsg, mq_msgsize, mq_curmsgs; long
 * __pad[4]; }`: eight 64-bit fields on every 64-bit Linux ABI.
 */
export const MQ_ATTR = { LONGS: 8, FLAGS: 0, MAXMSG: 1, MSGSIZE: 2, CURMSGS: 3 } as const;

/** The kernel's hard ceilings, which not even a privileged process passes. */
export const HARD_MSGMAX = 65536;
export const HARD_MSGSIZEMAX = 16 * 1024 * 1024;

export const sys = libc(
  {
    // mqd_t mq_open(const char *name, int oflag, ... /* mode_t mode, struct mq_attr *attr */);
    // Variadic in C, bound with the two optional arguments fixed: on x86-64
    // and aarch64 Linux they travel in the same registers either way, and
    // glibc reads them only with O_CREAT (see the note on semctl in
    // sysv/_sem_sys.ts).
    mq_open: { parameters: ["buffer", "i32", "u32", "buffer"], result: "i32" },
    // int mq_close(mqd_t mqdes);
    mq_close: { parameters: ["i32"], result: "i32" },
    // int mq_unlink(const char *name);
    mq_unlink: { parameters: ["buffer"], result: "i32" },
    // int mq_send(mqd_t mqdes, const char *msg_ptr, size_t msg_len, unsigned int msg_prio);
    mq_send: { parameters: ["i32", "buffer", "usize", "u32"], result: "i32" },
    // ssize_t mq_receive(mqd_t mqdes, char *msg_ptr, size_t msg_len, unsigned int *msg_prio);
    // Read as 32 bits: a message is at most 16 MiB (HARD_MSGSIZEMAX), and a
    // small integer result needs no allocation before errno is read.
    mq_receive: { parameters: ["i32", "buffer", "usize", "buffer"], result: "i32" },
    // int mq_getattr(mqd_t mqdes, struct mq_attr *attr);
    mq_getattr: { parameters: ["i32", "buffer"], result: "i32" },
  } as const,
);

/** What `/proc/sys/fs/mqueue/` allows an unprivileged user, and its defaults. */
export interface MqLimits {
  /** `msg_max`: the most messages a queue may hold. */
  msgMax: number;
  /** `msgsize_max`: the longest message. */
  msgsizeMax: number;
  /** `msg_default`: a new queue's maxMessages when none is given. */
  msgDefault: number;
  /** `msgsize_default`: a new queue's messageSize when none is given. */
  msgsizeDefault: number;
}

/** The limits as they are now (they can be changed at any time by root). */
export function limits(): MqLimits {
  const read = (f: string, fallback: number) => {
    const n = readProcNumber(`/proc/sys/fs/mqueue/${f}`);
    return n === undefined ? fallback : Number(n);
  };
  return {
    msgMax: read("msg_max", 10),
    msgsizeMax: read("msgsize_max", 8192),
    msgDefault: read("msg_default", 10),
    msgsizeDefault: read("msgsize_default", 8192),
  };
}
