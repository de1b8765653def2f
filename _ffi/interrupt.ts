/**
 * Interrupting a call blocked on one of the pool's threads, with a signal.
 *
 * Installed once per process: a handler for one real-time signal
 * (`SIGRTMIN + 8`), without `SA_RESTART`, whose address is libc's
 * `getppid` — a function that touches nothing (the signal number it is
 * handed is ignored). A signal handled while a thread is blocked in
 * `semop`/`semtimedop`, `msgrcv`/`msgsnd`, `sem_wait` or a futex wait makes
 * the call fail with `EINTR` (those are never restarted, with or without
 * `SA_RESTART`; a FIFO `open()` is not restarted without it). Only a pool
 * thread is ever sent the signal (`tgkill`), so no runtime thread sees it.
 *
 * @module
 */
import type { Bound } from "./types.ts";

/** How far above `SIGRTMIN` the cancel signal is. */
export const SIGNAL_OFFSET = 8;

/** The symbols this module needs (libc). */
export const INTERRUPT_SYMBOLS = {
  // int __libc_current_sigrtmin(void); — glibc's SIGRTMIN (34: NPTL keeps 32 and 33).
  __libc_current_sigrtmin: { parameters: [], result: "i32" },
  // int sigaction(int signum, const struct sigaction *act, struct sigaction *oldact);
  sigaction: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
  // void *dlsym(void *handle, const char *symbol); — RTLD_DEFAULT is NULL.
  dlsym: { parameters: ["pointer", "buffer"], result: "usize" },
  // pid_t getpid(void);
  getpid: { parameters: [], result: "i32" },
  // int tgkill(pid_t tgid, pid_t tid, int sig);
  tgkill: { parameters: ["i32", "i32", "i32"], result: "i32" },
} as const;

/**
 * glibc's `struct sigaction` on 64-bit Linux (x86-64, checked with
 * `offsetof()`; aarch64 uses the same generic glibc layout): `sa_handler` at
 * 0, `sa_mask` (128 bytes) at 8, `int sa_flags` at 136, `sa_restorer` at 144
 * (glibc's `sigaction()` fills it in itself); 152 bytes.
 */
const SIGACTION = { BYTES: 152, HANDLER: 0, FLAGS: 136 } as const;

/** Sends the cancel signal to pool threads. */
export interface Interrupter {
  /** The signal number. */
  readonly signal: number;
  /** Signals thread `tid` of this process. */
  interrupt(tid: number): void;
}

/**
 * Installs the handler (once per process, whichever module copy asks) and
 * returns the {@linkcode Interrupter}. Throws if the signal already has a
 * handler that is not ours: another library owns it.
 *
 * @param sys {@linkcode INTERRUPT_SYMBOLS}, bound synchronously.
 */
export function installInterrupter(sys: Bound<typeof INTERRUPT_SYMBOLS>): Interrupter {
  const signal = sys.__libc_current_sigrtmin() + SIGNAL_OFFSET;
  const handler = BigInt(sys.dlsym(null, new TextEncoder().encode("getppid\0")));
  if (handler === 0n) throw new Error("sysipc could not find getppid() in the C library");
  const old = new BigInt64Array(SIGACTION.BYTES / 8);
  if (sys.sigaction(signal, null, old) !== 0) {
    throw new Error(`sysipc could not read the handler of signal ${signal} (sigaction)`);
  }
  const prev = old[SIGACTION.HANDLER / 8];
  if (prev !== 0n && prev !== handler) {
    throw new Error(
      `sysipc cancels blocked calls with signal ${signal} (SIGRTMIN+${SIGNAL_OFFSET}), ` +
        "but something else in this process already handles it",
    );
  }
  if (prev === 0n) {
    const act = new BigInt64Array(SIGACTION.BYTES / 8); // empty sa_mask
    act[SIGACTION.HANDLER / 8] = handler;
    new Int32Array(act.buffer)[SIGACTION.FLAGS / 4] = 0; // no SA_RESTART, no SA_SIGINFO
    if (sys.sigaction(signal, act, null) !== 0) {
      throw new Error(`sysipc could not install a handler for signal ${signal} (sigaction)`);
    }
  }
  const pid = sys.getpid();
  return {
    signal,
    interrupt(tid: number) {
      sys.tgkill(pid, tid, signal);
    },
  };
}
