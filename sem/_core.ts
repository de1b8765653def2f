/**
 * Internal: the state a `SemaphoreSet` shares with its `Semaphore`s, and the
 * engine every operation goes through — one synchronous `semop` with
 * `IPC_NOWAIT`, a bounded spin, then `semtimedop` off-thread in short slices.
 *
 * @module
 */
import { Errno, errno, errnoName, IpcError, yieldCpu } from "../_ffi/mod.ts";
import { keyHex } from "../shm/key.ts";
import { IPC, SEM_UNDO, SEMBUF_SHORTS, semidDs, SEMVMX, sys } from "./_sys.ts";

/**
 * How many times an operation that would block yields the CPU and retries
 * before parking off-thread. Measured on the project's 2-core VMs (see
 * DESIGN.md): parking at once pays a 70–100 µs thread hop on every wake-up;
 * a few tens of µs of `sched_yield()` + `IPC_NOWAIT` retries lets a peer on
 * the other core (or, on one core, the peer we yield to) answer first.
 */
export const SPIN_TRIES = 64;
/** Upper bound on the spin, whatever the per-try cost (µs). */
export const SPIN_MAX_US = 60;

/**
 * Length of one off-thread `semtimedop` slice (ms). A timeout is exact (the
 * last slice ends at the deadline); an abort or `[Symbol.dispose]` takes
 * effect when the slice in flight returns, so within this plus one thread hop.
 */
export const SLICE_MS = 20;

/** A resolved promise, returned by every operation that completes at once. */
export const DONE: Promise<void> = Promise.resolve();

/** One parked wait, so `[Symbol.dispose]` can cancel it. */
export interface Wait {
  cancel?: { reason: unknown };
}

/** @internal Passed to the constructors by the library's own factories. */
export const INTERNAL: unique symbol = Symbol("sysipc.sem");

/** Whether an errno says the set's id no longer exists (see {@linkcode SetCore.fail}). */
export function isGone(e: number): boolean {
  return e === Errno.EIDRM || e === Errno.EINVAL;
}

/**
 * What a `SemaphoreSet` handle and its `Semaphore`s share: the kernel id,
 * whether this process removed the set, whether the handle was disposed, and
 * the waits parked through it.
 */
export class SetCore {
  removed = false;
  disposed = false;
  readonly waits: Set<Wait> = new Set();
  readonly #stat: Uint8Array;

  constructor(readonly id: number, readonly key: number, readonly count: number) {
    this.#stat = new Uint8Array(semidDs().BYTES);
  }

  /** `id 5, key 0x1f2e` (the key only when it is not IPC_PRIVATE), for messages. */
  where(): string {
    return this.key === 0 ? `id ${this.id}` : `id ${this.id}, key ${keyHex(this.key)}`;
  }

  /**
   * The house-style error for a failed call on this set. Every argument has
   * been validated before the call, so `EINVAL` can only mean that the id no
   * longer exists: the set was removed (after `IPC_RMID` the kernel forgets
   * the id, and later calls get `EINVAL`; only a caller asleep in the kernel
   * at the moment of removal is told `EIDRM`). Both are reported as `EIDRM`.
   */
  fail(what: string, syscall: string, e: number): IpcError {
    const code = isGone(e) ? Errno.EIDRM : e;
    const gone = isGone(e) ? " (the set was removed)" : "";
    return new IpcError(
      `${what} (${syscall}, ${this.where()}): ${errnoName(code)}${gone}`,
      code,
      syscall,
    );
  }

  /** Throws if the handle was disposed or this process removed the set. */
  check(what: string, syscall: string): void {
    if (this.disposed) {
      throw new DOMException(
        `${what}: the SemaphoreSet handle was disposed (${this.where()})`,
        "InvalidStateError",
      );
    }
    if (this.removed) throw this.fail(what, syscall, Errno.EIDRM);
  }

  /** `IPC_STAT` into the shared scratch buffer; the errno on failure. */
  statInto(): { ok: true; buf: DataView } | { ok: false; errno: number } {
    const r = sys().semctl_buf(this.id, 0, IPC.STAT, this.#stat);
    if (r < 0) return { ok: false, errno: errno() };
    return { ok: true, buf: new DataView(this.#stat.buffer) };
  }

  /** Cancels every parked wait of this handle with `reason`. */
  cancelAll(reason: unknown): void {
    for (const w of this.waits) w.cancel ??= { reason };
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
    const e = errno();
    if (e !== Errno.EINTR) return e;
  }
}

/** The options every waiting operation takes. */
export interface WaitOptions {
  /** Cancels the wait: the promise rejects with `signal.reason`. */
  signal?: AbortSignal;
  /**
   * Gives up after this many milliseconds: the promise rejects with a
   * `DOMException` named `"TimeoutError"`. `0` tries once without waiting;
   * `Infinity` (the default) waits as long as it takes.
   */
  timeout?: number;
}

/** Validates `signal` and `timeout`; returns the timeout in ms (`Infinity` if none). */
export function checkWaitOptions(o: WaitOptions, method: string): number {
  const { signal, timeout } = o;
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new TypeError(`${method} option signal must be an AbortSignal`);
  }
  if (timeout === undefined) return Infinity;
  if (typeof timeout !== "number" || Number.isNaN(timeout)) {
    throw new TypeError(`${method} option timeout must be a number of milliseconds`);
  }
  if (timeout < 0) {
    throw new RangeError(`${method} option timeout must not be negative, got ${timeout}`);
  }
  return timeout;
}

/** Validates an options argument that must be an object or undefined. */
export function checkOptionsObject<T>(o: T | undefined, method: string): T {
  if (o === undefined) return {} as T;
  if (o === null || typeof o !== "object") {
    throw new TypeError(`${method} options must be an object`);
  }
  return o;
}

/** Validates a count or value: an integer in `[min, SEMVMX]`. */
export function checkAmount(n: unknown, what: string, min: number): number {
  if (typeof n !== "number" || !Number.isInteger(n)) {
    throw new TypeError(`A semaphore ${what} must be an integer, got ${String(n)}`);
  }
  if (n < min || n > SEMVMX) {
    throw new RangeError(
      `A semaphore ${what} must be between ${min} and ${SEMVMX} (SEMVMX), got ${n}`,
    );
  }
  return n;
}

/** Validates an `undo` option. */
export function checkUndo(undo: unknown, method: string): boolean {
  if (undo === undefined) return false;
  if (typeof undo !== "boolean") throw new TypeError(`${method} option undo must be a boolean`);
  return undo;
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

function timeoutError(what: string, timeout: number, core: SetCore): DOMException {
  return new DOMException(
    `${what}: timed out after ${timeout} ms (semtimedop, ${core.where()})`,
    "TimeoutError",
  );
}

/**
 * Performs `n` operations atomically (all or none), waiting if they cannot
 * be done yet. `ops` is a `struct sembuf` array whose flags include
 * `IPC_NOWAIT`; it is not kept (a wait copies it), so callers may reuse it.
 *
 * 1. One synchronous `semop` with `IPC_NOWAIT`: the uncontended path.
 * 2. On `EAGAIN`, a bounded spin: `sched_yield()` and retry, up to
 *    {@linkcode SPIN_TRIES} times or about {@linkcode SPIN_MAX_US} µs.
 * 3. Then {@linkcode park}: `semtimedop` off-thread in slices.
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
  let e = tryOps(id, ops, n);
  if (e === 0) return DONE;
  if (e !== Errno.EAGAIN) return Promise.reject(core.fail(what, "semop", e));
  if (timeout === 0) return Promise.reject(timeoutError(what, timeout, core));
  // Reading the clock costs ~0.2 µs: only when a deadline needs it, and in
  // the spin only every 8 tries (the first 8 are bounded by their count).
  const start = timeout === Infinity ? 0 : performance.now();
  let spinStart = 0;
  for (let i = 1; i <= SPIN_TRIES; i++) {
    yieldCpu();
    e = tryOps(id, ops, n);
    if (e === 0) return DONE;
    if (e !== Errno.EAGAIN) return Promise.reject(core.fail(what, "semop", e));
    if ((i & 7) === 0) {
      const now = performance.now();
      if (i === 8) spinStart = now;
      else if ((now - spinStart) * 1000 > SPIN_MAX_US) break;
    }
  }
  return park(core, ops.slice(0, Number(n) * SEMBUF_SHORTS), n, signal, timeout, start, what);
}

/**
 * Waits off the JavaScript thread with `semtimedop`, in slices of at most
 * {@linkcode SLICE_MS}, until the operations succeed, the deadline passes,
 * `signal` aborts, the handle is disposed, or the set is removed.
 *
 * errno does not survive the off-thread call, so a failed slice is explained
 * by a synchronous follow-up: before the deadline, the same operations with
 * `IPC_NOWAIT` (success: done; `EAGAIN`: the slice timed out or was
 * interrupted — `EINTR` — so wait again; `EIDRM`/`EINVAL`: removed); past
 * the deadline, `IPC_STAT` (the set exists: a timeout; it does not: removed),
 * so nothing is acquired after the deadline.
 *
 * Giving up while a slice is in flight: the slice may still succeed and take
 * the semaphores. The promise never rejects while owning them: it waits for
 * the slice, and if it succeeded, gives back what it took ({@linkcode inverseOf})
 * and then rejects. If the operations also added to a semaphore, they cannot
 * be taken back without blocking (another process may already have consumed
 * the addition), so the promise resolves instead — the operation happened,
 * the cancellation came too late. The same holds if giving back fails with
 * `ERANGE` (others pushed the value to SEMVMX meanwhile): the caller owns it.
 */
async function park(
  core: SetCore,
  nowait: Int16Array,
  n: bigint,
  signal: AbortSignal | undefined,
  timeout: number,
  start: number,
  what: string,
): Promise<void> {
  const id = core.id;
  // semtimedop must block: the same operations without IPC_NOWAIT.
  const blocking = nowait.slice();
  for (let i = 2; i < blocking.length; i += SEMBUF_SHORTS) blocking[i] &= ~IPC.NOWAIT;
  const deadline = start + timeout;
  const ts = new BigInt64Array(2); // struct timespec { time_t tv_sec; long tv_nsec; }
  const wait: Wait = {};
  const onAbort = () => {
    wait.cancel ??= { reason: signal!.reason };
  };
  signal?.addEventListener("abort", onAbort, { once: true });
  core.waits.add(wait);
  // Success of the operations: keep them, or give them back if cancelled.
  const settle = (): void => {
    if (wait.cancel === undefined) return;
    const inv = inverseOf(nowait);
    if (inv === null) return; // it also released: resolve (see above)
    if (inv.length > 0) {
      const e = tryOps(id, inv, BigInt(inv.length / SEMBUF_SHORTS));
      if (e !== 0 && !isGone(e)) return; // could not give back: the caller owns it
    }
    throw wait.cancel.reason;
  };
  try {
    for (;;) {
      if (wait.cancel !== undefined) throw wait.cancel.reason;
      let slice = SLICE_MS;
      if (timeout !== Infinity) {
        const left = deadline - performance.now();
        if (left <= 0) throw timeoutError(what, timeout, core);
        if (left < slice) slice = left;
      }
      const ns = Math.max(1000, Math.ceil(slice * 1e6));
      ts[0] = BigInt(Math.floor(ns / 1e9));
      ts[1] = BigInt(ns % 1e9);
      const r = await sys().semtimedop_wait(id, blocking, n, ts);
      if (r === 0) return settle();
      const c = wait.cancel as Wait["cancel"]; // set by an event during the await
      if (c !== undefined) throw c.reason; // the slice failed: nothing taken
      if (timeout !== Infinity && performance.now() >= deadline) {
        const st = core.statInto();
        if (!st.ok) throw core.fail(what, "semtimedop", st.errno);
        throw timeoutError(what, timeout, core);
      }
      const e = tryOps(id, nowait, n);
      if (e === 0) return settle();
      if (e === Errno.EAGAIN) continue;
      throw core.fail(what, isGone(e) ? "semtimedop" : "semop", e);
    }
  } finally {
    core.waits.delete(wait);
    signal?.removeEventListener("abort", onAbort);
  }
}
