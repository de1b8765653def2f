/**
 * The libc symbols, constants, struct layouts and kernel limits System V
 * message queues need.
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";
import { IPC, IPC_PERM } from "./_ipc.ts";

/**
 * `struct msgbuf { long mtype; char mtext[]; }`: the type takes the first 8
 * bytes (a `long` on 64-bit Linux), the text follows.
 */
export const MTYPE_BYTES = 8;

/**
 * `struct msqid_ds` as glibc hands it to `msgctl(IPC_STAT)` on 64-bit Linux,
 * checked with `offsetof()` on x86-64 (glibc 2.36): `msg_perm` (`struct
 * ipc_perm`, 48 bytes), then three `time_t` and five more fields with no
 * padding between them. x86-64's `asm/msgbuf.h` and the `asm-generic` one
 * aarch64, riscv64 and loongarch64 use agree for 64-bit longs, so one layout
 * serves every 64-bit ABI. 120 bytes.
 */
export const MSQID_DS = {
  BYTES: 120,
  ...IPC_PERM,
  STIME: 48, // msg_stime (time_t): last msgsnd, 0 if none
  RTIME: 56, // msg_rtime (time_t): last msgrcv, 0 if none
  CTIME: 64, // msg_ctime (time_t): creation or last IPC_SET
  CBYTES: 72, // __msg_cbytes (unsigned long): bytes in the queue now
  QNUM: 80, // msg_qnum (msgqnum_t, unsigned long): messages in the queue now
  QBYTES: 88, // msg_qbytes (msglen_t, unsigned long): the most bytes the queue may hold
  LSPID: 96, // msg_lspid (pid_t): the last sender
  LRPID: 100, // msg_lrpid (pid_t): the last receiver
} as const;

export const sys = libc(
  {
    // int msgget(key_t key, int msgflg);
    msgget: { parameters: ["i32", "i32"], result: "i32" },
    // int msgsnd(int msqid, const void *msgp, size_t msgsz, int msgflg);
    msgsnd: { parameters: ["i32", "buffer", "usize", "i32"], result: "i32" },
    // ssize_t msgrcv(int msqid, void *msgp, size_t msgsz, long msgtyp, int msgflg);
    // Its result is read as 32 bits (the low half of the same register on
    // x86-64 and aarch64): a message is never longer than kernel.msgmax, an
    // int, so the value is the same, and a small integer result needs no
    // allocation between the call and the read of errno.
    msgrcv: { parameters: ["i32", "buffer", "usize", "i64", "i32"], result: "i32" },
    // The two calls that block, on a thread of the library's own, where a
    // signal interrupts them (EINTR: neither is ever restarted, whatever
    // SA_RESTART says) and their errno is read (`cancellable`).
    msgsnd_wait: {
      name: "msgsnd",
      parameters: ["i32", "buffer", "usize", "i32"],
      result: "i32",
      cancellable: true,
    },
    msgrcv_wait: {
      name: "msgrcv",
      parameters: ["i32", "buffer", "usize", "i64", "i32"],
      result: "i32",
      cancellable: true,
    },
    // The two again, made on the calling thread for `sendSync()` and
    // `receiveSync()`: they block that thread, as they would in C (a timeout
    // is a per-thread timer's signal, see `_sys/block.ts`).
    msgsnd_block: { name: "msgsnd", parameters: ["i32", "buffer", "usize", "i32"], result: "i32" },
    msgrcv_block: {
      name: "msgrcv",
      parameters: ["i32", "buffer", "usize", "i64", "i32"],
      result: "i32",
    },
    // int msgctl(int msqid, int cmd, struct msqid_ds *buf);
    // (IPC_STAT, IPC_SET, IPC_RMID with NULL; IPC_INFO with a struct msginfo *.)
    msgctl: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  } as const,
);

/** Kernel limits on message queues, from `msgctl(IPC_INFO)` (`struct msginfo`). */
export interface MsgLimits {
  /** `kernel.msgmax`: the longest message, in bytes (8192 by default). */
  readonly msgmax: number;
  /** `kernel.msgmnb`: a new queue's byte capacity, and what an unprivileged user may raise it to. */
  readonly msgmnb: number;
}

let limitsCache: MsgLimits | undefined;

/**
 * The kernel's limits. `struct msginfo` is seven `int`s and an `unsigned
 * short` on every ABI (`msgpool, msgmap, msgmax, msgmnb, msgmni, msgssz,
 * msgtql, msgseg`); it reflects `/proc/sys/kernel/msg*` of this IPC
 * namespace. Read once, and again with `fresh` (they can be changed at any
 * time by root). Falls back to the kernel defaults if the call fails.
 *
 * @param fresh Read them again.
 */
export function limits(fresh = false): MsgLimits {
  if (limitsCache && !fresh) return limitsCache;
  const info = new Int32Array(8);
  const ok = sys().msgctl(0, IPC.INFO, info) >= 0;
  limitsCache = ok && info[2] > 0 && info[3] > 0
    ? { msgmax: info[2], msgmnb: info[3] }
    : { msgmax: 8192, msgmnb: 16384 };
  return limitsCache;
}
