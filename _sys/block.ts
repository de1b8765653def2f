/**
 * Waiting on the calling thread, for the `…Sync` variants (`acquireSync()`,
 * `receiveSync()`, `readSync()`, …): the blocking call is made right here,
 * as a C program makes it, with no thread hop and no `await`. A timeout is
 * the kernel's own where the call has a timed form (`semtimedop`,
 * `sem_clockwait`, `poll`); for `msgrcv`/`msgsnd`, which have none, a
 * POSIX timer aimed at the calling thread ({@linkcode ThreadTimer})
 * interrupts the call with the library's cancel signal (installed without
 * `SA_RESTART`, see `_ffi/interrupt.ts`), the call fails with `EINTR`, and
 * the caller sees its deadline has passed.
 *
 * @module
 */
import { installInterrupter, INTERRUPT_SYMBOLS } from "../_ffi/interrupt.ts";
import { libc } from "../_ffi/mod.ts";
import { ipcError } from "../errors.ts";
import { Errno, errno } from "./errno.ts";

const interruptSys = libc(INTERRUPT_SYMBOLS);

const sys = libc(
  {
    // int poll(struct pollfd *fds, nfds_t nfds, int timeout);  (here: blocks this thread)
    poll: { parameters: ["buffer", "u64", "i32"], result: "i32" },
    // pid_t gettid(void);  (glibc ≥ 2.30)
    gettid: { parameters: [], result: "i32" },
    // int timer_create(clockid_t clockid, struct sigevent *sevp, timer_t *timerid);
    timer_create: { parameters: ["i32", "buffer", "buffer"], result: "i32" },
    // int timer_settime(timer_t timerid, int flags, const struct itimerspec *new,
    //                   struct itimerspec *old);  timer_t is a pointer-sized id.
    timer_settime: { parameters: ["u64", "i32", "buffer", "buffer"], result: "i32" },
    // int timer_delete(timer_t timerid);
    timer_delete: { parameters: ["u64"], result: "i32" },
  } as const,
);

/** The options of every wait that blocks the calling thread (the `…Sync` methods). */
export interface SyncWaitOptions {
  /**
   * Gives up after this many milliseconds with a `DOMException` named
   * `"TimeoutError"`. `0` tries once without waiting; `Infinity` (the
   * default) waits as long as it takes.
   */
  timeout?: number;
}

/** `CLOCK_MONOTONIC`. */
const CLOCK_MONOTONIC = 1;
/** `sigev_notify`: deliver the signal to one thread (`sigev_notify_thread_id`). */
const SIGEV_THREAD_ID = 4;
/**
 * After its first expiry the timer fires again this often (ms) until it is
 * disarmed: a signal that lands just before the call enters the kernel
 * (nothing to interrupt yet) is followed by another, so the call can never
 * sleep past its deadline by more than this.
 */
const REFIRE_MS = 10;

/** The point in time (`performance.now()`) a timeout ends; `Infinity` for none. */
export function deadlineOf(timeout: number): number {
  return timeout === Infinity ? Infinity : performance.now() + timeout;
}

/** Milliseconds left until `deadline` (≤ 0: passed; `Infinity` for none). */
export function leftUntil(deadline: number): number {
  return deadline === Infinity ? Infinity : deadline - performance.now();
}

/**
 * Fills a `struct timespec` (two 64-bit fields) with a relative duration of
 * `ms` milliseconds, at least 1 µs (0 would mean "don't wait").
 */
export function relativeTimespec(ts: BigInt64Array, ms: number): BigInt64Array {
  const ns = Math.max(1000, Math.ceil(ms * 1e6));
  ts[0] = BigInt(Math.floor(ns / 1e9));
  ts[1] = BigInt(ns % 1e9);
  return ts;
}

const pfd = new Int32Array(2); // struct pollfd { int fd; short events; short revents; }
const pfd16 = new Int16Array(pfd.buffer);

/**
 * Blocks this thread in `poll(2)` until `fd` is ready for `events`, for at
 * most `ms` milliseconds (`Infinity`: no limit).
 *
 * @returns The revents; 0 when the time ran out; -1 when a signal
 *   interrupted it (`EINTR`: the caller retries for the time left).
 * @throws {IpcError} If `poll` fails otherwise.
 */
export function pollSync(fd: number, events: number, ms: number): number {
  pfd[0] = fd;
  pfd16[2] = events;
  pfd16[3] = 0;
  // poll's timeout is whole ms: round up, so the call never returns early.
  const limit = ms === Infinity ? -1 : Math.min(0x7fff_ffff, Math.max(0, Math.ceil(ms)));
  const r = sys().poll(pfd, 1n, limit);
  if (r > 0) return pfd16[3];
  if (r === 0) return 0;
  const e = errno();
  if (e === Errno.EINTR || e === 0) return -1;
  throw ipcError("Cannot wait for the descriptor", "poll", e, `fd ${fd}`);
}

/**
 * A POSIX timer (`timer_create`, `CLOCK_MONOTONIC`) that sends the library's
 * cancel signal to the thread that made it: armed before a blocking call
 * with no timed form, disarmed right after, deleted when the wait is over
 * (a timer kept per thread would outlive a Worker that exits).
 */
export class ThreadTimer {
  readonly #id: bigint;
  readonly #spec = new BigInt64Array(4); // struct itimerspec { it_interval; it_value; }
  #deleted = false;

  private constructor(id: bigint) {
    this.#id = id;
  }

  /** A new timer aimed at the calling thread. */
  static create(): ThreadTimer {
    // The handler must exist before the first signal: without it a
    // real-time signal would end the process.
    const { signal } = installInterrupter(interruptSys());
    const s = sys();
    const ev = new Int32Array(16); // struct sigevent, 64 bytes
    ev[2] = signal; // sigev_signo
    ev[3] = SIGEV_THREAD_ID; // sigev_notify
    ev[4] = s.gettid(); // sigev_notify_thread_id
    const out = new BigUint64Array(1);
    if (s.timer_create(CLOCK_MONOTONIC, ev, out) !== 0) {
      throw ipcError("Cannot create a timer for a timed wait", "timer_create", errno());
    }
    return new ThreadTimer(out[0]);
  }

  /** Fires in `ms` milliseconds, then every {@linkcode REFIRE_MS} until disarmed. */
  arm(ms: number): void {
    const spec = this.#spec;
    relativeTimespec(spec.subarray(2, 4), ms);
    relativeTimespec(spec.subarray(0, 2), REFIRE_MS);
    if (sys().timer_settime(this.#id, 0, spec, null) !== 0) {
      throw ipcError("Cannot arm the timer of a timed wait", "timer_settime", errno());
    }
  }

  /** Stops it (a signal already sent is handled harmlessly). */
  disarm(): void {
    this.#spec.fill(0n);
    sys().timer_settime(this.#id, 0, this.#spec, null);
  }

  /** Deletes it (`timer_delete`). Idempotent. */
  delete(): void {
    if (this.#deleted) return;
    this.#deleted = true;
    sys().timer_delete(this.#id);
  }
}
