/**
 * Internal: the state a `SemaphoreSet` shares with its `Semaphore`s, and how
 * every operation goes through the wait engine (`_sys/park.ts`): one
 * synchronous `semop` with `IPC_NOWAIT`, a bounded spin, then `semtimedop`
 * off the JavaScript thread.
 *
 * @module
 */
import { deadlineOf, leftUntil, relativeTimespec } from "../_sys/block.ts";
import { Errno, errno, failedErrno } from "../_sys/errno.ts";
import { blocking, park, spin, type Waitable, WOULD_BLOCK } from "../_sys/park.ts";
import * as v from "../_sys/validate.ts";
import { timeoutError } from "../errors.ts";
import { IPC } from "./_ipc.ts";
import { isGone, ObjectCore } from "./_object_core.ts";
import { SEM_UNDO, SEMBUF_SHORTS, semidDs, SEMVMX, sys } from "./_sem_sys.ts";

/** A resolved promise, returned by every operation that completes at once. */
export const DONE: Promise<void> = Promise.resolve();

/** @internal Passed to the constructors by the library's own factories. */
export const INTERNAL: unique symbol = Symbol("sysipc.sem");

/**
 * What a `SemaphoreSet` handle and its `Semaphore`s share: besides the
 * {@linkcode ObjectCore} (id, removal, dispose, pending waits), the count
 * and a scratch buffer for `IPC_STAT`.
 */
export class SetCore extends ObjectCore {
  readonly #stat: Uint8Array;

  constructor(id: number, key: number, readonly count: number) {
    super(id, key, "set", "SemaphoreSet");
    this.#stat = new Uint8Array(semidDs().BYTES);
  }

  /** `IPC_STAT` into the shared scratch buffer; the errno on failure. */
  statInto(): { ok: true; buf: DataView } | { ok: false; errno: number } {
    const r = sys().semctl_buf(this.id, 0, IPC.STAT, this.#stat);
    if (r < 0) return { ok: false, errno: errno() };
    return { ok: true, buf: new DataView(this.#stat.buffer) };
  }
}

/**
 * One synchronous `semop` (the flags in `ops` carry `IPC_NOWAIT`). Returns 0
 * on success or the errno, read at once; `EINTR` is retried.
 */
export function tryOps(id: number, ops: Int16Array, n: bigint): number {
  const s = sys();
  for (;;) {
    if (s.semop(id, ops, n) === 0) return 0;
    const e = failedErrno();
    if (e !== Errno.EINTR) return e;
  }
}

/** Validates a count or value: an integer in `[min, SEMVMX]`. */
export function checkAmount(n: unknown, name: string, min: number): number {
  return v.integer(n, name, { min, max: SEMVMX, limit: "SEMVMX" });
}

/**
 * The operations that give back what a successful `ops` took — each
 * decrement as an increment, with the same `SEM_UNDO` flag so the process's
 * adjustment cancels too — or `null` if `ops` also adds to a semaphore: an
 * addition others may already have consumed cannot be taken back without
 * blocking. Zero-waits need no inverse.
 */
export function inverseOf(ops: Int16Array): Int16Array | null {
  const n = ops.length / SEMBUF_SHORTS;
  let takes = 0;
  for (let i = 0; i < n; i++) {
    const d = ops[i * SEMBUF_SHORTS + 1];
    if (d > 0) return null;
    if (d < 0) takes++;
  }
  const inv = new Int16Array(takes * SEMBUF_SHORTS);
  let k = 0;
  for (let i = 0; i < n; i++) {
    const o = i * SEMBUF_SHORTS;
    if (ops[o + 1] >= 0) continue;
    inv[k] = ops[o];
    inv[k + 1] = -ops[o + 1];
    inv[k + 2] = (ops[o + 2] & SEM_UNDO) | IPC.NOWAIT;
    k += SEMBUF_SHORTS;
  }
  return inv;
}

/**
 * Performs `n` operations atomically (all or none), waiting if they cannot
 * be done yet. `ops` is a `struct sembuf` array whose flags include
 * `IPC_NOWAIT`; it is not kept (a wait copies it), so callers may reuse it.
 *
 * One synchronous `semop` (the uncontended path: no allocation), then the
 * engine's bounded spin, then {@linkcode park} with `semtimedop` off-thread.
 *
 * @param core The set.
 * @param ops The operations (3 shorts each), flags with `IPC_NOWAIT`.
 * @param n How many.
 * @param signal Cancels the wait (already validated).
 * @param timeout Milliseconds, `Infinity` for none (already validated).
 * @param what Sentence-case description for errors: `"Cannot acquire semaphore 0"`.
 */
export function perform(
  core: SetCore,
  ops: Int16Array,
  n: bigint,
  signal: AbortSignal | undefined,
  timeout: number,
  what: string,
): Promise<void> {
  if (signal?.aborted) return Promise.reject(signal.reason);
  const id = core.id;
  const e = tryOps(id, ops, n);
  if (e === 0) return DONE;
  if (e !== Errno.EAGAIN) return Promise.reject(core.fail(what, "semop", e));
  if (timeout === 0) {
    return Promise.reject(timeoutError(what, timeout, `semtimedop, ${core.where()}`));
  }
  // The clock only matters when there is a deadline (reading it costs ~0.2 µs).
  const start = timeout === Infinity ? 0 : performance.now();
  const attempt = (): void | typeof WOULD_BLOCK => {
    const e = tryOps(id, ops, n);
    if (e === 0) return;
    if (e === Errno.EAGAIN) return WOULD_BLOCK;
    throw core.fail(what, "semop", e);
  };
  try {
    if (spin(attempt) !== WOULD_BLOCK) return DONE;
  } catch (e) {
    return Promise.reject(e);
  }
  const nowait = ops.slice(0, Number(n) * SEMBUF_SHORTS);
  return park(semWait(core, nowait, n, what, timeout), {
    signal,
    timeout,
    start,
    waits: core.waits,
  });
}

/**
 * {@linkcode perform} on the calling thread: one synchronous `semop` with
 * `IPC_NOWAIT`, the same bounded spin (on two CPUs a peer usually answers
 * within it: measured 4 µs a round trip against 55–90 µs for blocking C),
 * then `semtimedop` blocking this thread for the time left, as a C program
 * blocks in `semop`. `EINTR` is retried for the time left; `EIDRM` (or
 * `EINVAL`: the id is gone) throws `IpcError` EIDRM; when the time runs out,
 * `IPC_STAT` tells a timeout (the set exists: `TimeoutError`) from a removal.
 *
 * @param core The set (already checked).
 * @param ops The operations (3 shorts each), flags with `IPC_NOWAIT`. The
 *   flag is cleared for the blocking call and set again before returning.
 * @param n How many.
 * @param timeout Milliseconds, `Infinity` for none (already validated).
 * @param what Sentence-case description for errors.
 */
export function performSync(
  core: SetCore,
  ops: Int16Array,
  n: bigint,
  timeout: number,
  what: string,
): void {
  const id = core.id;
  const expired = () => {
    const st = core.statInto();
    if (!st.ok) return core.fail(what, "semtimedop", st.errno);
    return timeoutError(what, timeout, `semtimedop, ${core.where()}`);
  };
  const e = tryOps(id, ops, n);
  if (e === 0) return;
  if (e !== Errno.EAGAIN) throw core.fail(what, "semop", e);
  if (timeout === 0) throw expired();
  const deadline = deadlineOf(timeout);
  const attempt = (): void | typeof WOULD_BLOCK => {
    const e = tryOps(id, ops, n);
    if (e === 0) return;
    if (e === Errno.EAGAIN) return WOULD_BLOCK;
    throw core.fail(what, "semop", e);
  };
  if (spin(attempt) !== WOULD_BLOCK) return;
  const ts = deadline === Infinity ? null : new BigInt64Array(2);
  const end = Number(n) * SEMBUF_SHORTS;
  for (let i = 2; i < end; i += SEMBUF_SHORTS) ops[i] &= ~IPC.NOWAIT;
  try {
    const s = sys();
    for (;;) {
      if (ts !== null) {
        const left = leftUntil(deadline);
        if (left <= 0) throw expired();
        relativeTimespec(ts, left);
      }
      if (s.semtimedop(id, ops, n, ts) === 0) return;
      const e = errno();
      // EAGAIN: the time ran out (the deadline check above decides); EINTR:
      // a signal; 0: errno was lost — in each case, try again for the time left.
      if (e === Errno.EAGAIN || e === Errno.EINTR || e === 0) continue;
      throw core.fail(what, "semtimedop", e);
    }
  } finally {
    for (let i = 2; i < end; i += SEMBUF_SHORTS) ops[i] |= IPC.NOWAIT;
  }
}

/**
 * `semtimedop` as a {@linkcode Waitable}.
 *
 * One `semtimedop` for the time left (NULL timeout: none), on a thread that
 * a cancellation interrupts; its errno, read on that thread, says how it
 * ended: `EAGAIN` its time ran out, `EINTR` it was interrupted (both: the
 * engine decides), `EIDRM` the set was removed under it. Past the deadline,
 * `IPC_STAT` tells a timeout (the set exists) from a removal.
 *
 * A cancellation that loses the race against a grant gives back what the
 * operations took ({@linkcode inverseOf}), with the same `SEM_UNDO` flag. If
 * the operations also added to a semaphore, they cannot be taken back
 * without blocking (another process may already have consumed the
 * addition), so the wait resolves instead — the operation happened, the
 * cancellation came too late. The same holds if giving back fails with
 * `ERANGE` (others pushed the value to SEMVMX meanwhile): the caller owns it.
 */
function semWait(
  core: SetCore,
  nowait: Int16Array,
  n: bigint,
  what: string,
  timeout: number,
): Waitable<void> {
  const id = core.id;
  // semtimedop must block: the same operations without IPC_NOWAIT.
  const nowaitOff = nowait.slice();
  for (let i = 2; i < nowaitOff.length; i += SEMBUF_SHORTS) nowaitOff[i] &= ~IPC.NOWAIT;
  const ts = new BigInt64Array(2); // struct timespec { time_t tv_sec; long tv_nsec; }
  return {
    attempt() {
      const e = tryOps(id, nowait, n);
      if (e === 0) return;
      if (e === Errno.EAGAIN) return WOULD_BLOCK;
      throw core.fail(what, isGone(e) ? "semtimedop" : "semop", e);
    },
    block(ms) {
      let limit: BigInt64Array | null = null;
      if (ms !== Infinity) {
        const ns = Math.max(1000, Math.ceil(ms * 1e6));
        ts[0] = BigInt(Math.floor(ns / 1e9));
        ts[1] = BigInt(ns % 1e9);
        limit = ts;
      }
      return blocking(sys().semtimedop_wait(id, nowaitOff, n, limit), ({ result, errno }) => {
        if (result === 0) return undefined;
        if (errno === Errno.EAGAIN || errno === Errno.EINTR) return WOULD_BLOCK;
        throw core.fail(what, "semtimedop", errno);
      });
    },
    expired() {
      const st = core.statInto();
      if (!st.ok) return core.fail(what, "semtimedop", st.errno);
      return timeoutError(what, timeout, `semtimedop, ${core.where()}`);
    },
    giveBack() {
      const inv = inverseOf(nowait);
      if (inv === null) return false; // it also released: keep (see above)
      if (inv.length > 0) {
        const e = tryOps(id, inv, BigInt(inv.length / SEMBUF_SHORTS));
        if (e !== 0 && !isGone(e)) return false; // could not give back: the caller owns it
      }
      return true;
    },
  };
}
