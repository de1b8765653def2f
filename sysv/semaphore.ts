/**
 * `Semaphore`: one semaphore of a System V set, with P (`acquire`) and V
 * (`release`) as promises, and `lock()` for `using` blocks.
 *
 * @module
 */
import type { SyncWaitOptions } from "../_sys/block.ts";
import { Errno, errno } from "../_sys/errno.ts";
import { Lock } from "../_sys/lock.ts";
import type { WaitOptions } from "../_sys/park.ts";
import * as v from "../_sys/validate.ts";
import { IPC } from "./_ipc.ts";
import { checkAmount, INTERNAL, perform, performSync, type SetCore, tryOps } from "./_sem_core.ts";
import { isGone } from "./_object_core.ts";
import { SEM_UNDO, SEMCTL, sys } from "./_sem_sys.ts";
import type { SemaphoreSet } from "./semaphore_set.ts";

/** Options for {@linkcode Semaphore.acquire}. */
export interface AcquireOptions extends WaitOptions {
  /** How much to take, 1–32767 (default 1): waits until the value is at least this. */
  count?: number;
  /**
   * Let the kernel give it back if this process exits (`SEM_UNDO`), e.g. when
   * killed while holding it. Default `false`. Pair with `release(n, { undo: true })`.
   */
  undo?: boolean;
}

/** Options for {@linkcode Semaphore.acquireSync}. */
export interface AcquireSyncOptions extends SyncWaitOptions {
  /** How much to take, 1–32767 (default 1): waits until the value is at least this. */
  count?: number;
  /** `SEM_UNDO`, as in {@linkcode AcquireOptions.undo}. */
  undo?: boolean;
}

/** Options for {@linkcode Semaphore.tryAcquire}. */
export interface TryAcquireOptions {
  /** How much to take, 1–32767 (default 1). */
  count?: number;
  /** `SEM_UNDO`, as in {@linkcode AcquireOptions.undo}. */
  undo?: boolean;
}

/** Options for {@linkcode Semaphore.release}. */
export interface ReleaseOptions {
  /**
   * `SEM_UNDO`: the kernel takes this release back when the process exits.
   * Use it to give back what an `acquire({ undo: true })` took, so the two
   * adjustments cancel. Default `false`.
   */
  undo?: boolean;
}

/**
 * What {@linkcode Semaphore.lock} resolves to: a held unit of the semaphore
 * that `using` gives back at the end of the block.
 */
export interface SemaphoreLock extends Disposable {
  /**
   * Gives the unit back (`+1` with `SEM_UNDO`). Only the first call
   * releases; later calls do nothing, so a lock is never released twice. If
   * the set was removed meanwhile there is nothing to give back, and this
   * does nothing either.
   *
   * @throws {IpcError} If the kernel refuses the release (e.g. `ERANGE`:
   *   the value is already at 32767 because someone released too much).
   */
  release(): void;
  /** Whether `release()` (or `[Symbol.dispose]`) has run. */
  readonly released: boolean;
}

const NOWAIT = IPC.NOWAIT;
const NOWAIT_UNDO = IPC.NOWAIT | SEM_UNDO;

/**
 * One semaphore in a {@linkcode SemaphoreSet}, from `set.at(index)`. P is
 * {@linkcode Semaphore.acquire} (wait until the value is positive, then take
 * one), V is {@linkcode Semaphore.release} (add one, waking a waiter).
 *
 * The uncontended `acquire` is one synchronous `semop` with `IPC_NOWAIT` and
 * returns an already-settled promise. When it would block, it retries a few
 * tens of µs with `sched_yield()` in between, then waits with one
 * `semtimedop` off the JavaScript thread, so the event loop keeps running,
 * the wait is counted by {@linkcode Semaphore.waitingForIncrease} (and
 * `ipcs`) for as long as it lasts, and a `timeout` or `signal` takes effect
 * within about a millisecond. Requires `--allow-ffi`.
 *
 * @example A critical section, released even if the process is killed
 * ```ts
 * import { SemaphoreSet } from "@sysipc/sysipc/sem";
 * using set = SemaphoreSet.create({ initial: 1 });
 * const mutex = set.at(0);
 * {
 *   using _ = await mutex.lock();
 *   console.log(mutex.value); // 0: held
 * }
 * console.log(mutex.value); // 1: released at the end of the block
 * set.remove();
 * ```
 */
export class Semaphore {
  readonly #set: SemaphoreSet;
  readonly #core: SetCore;
  readonly #index: number;
  readonly #what: { acquire: string; release: string };
  // Prebuilt `struct sembuf`s for the common calls; `#scratch` for the rest.
  readonly #take1: Int16Array;
  readonly #take1Undo: Int16Array;
  readonly #give1: Int16Array;
  readonly #give1Undo: Int16Array;
  readonly #scratch: Int16Array;

  // `SemaphoreSet.at()` makes these; the check stops JavaScript callers too.
  private constructor(set: SemaphoreSet, core: SetCore, index: number, internal?: symbol) {
    if (internal !== INTERNAL) {
      throw new TypeError("Semaphore is not constructed directly: use SemaphoreSet.at()");
    }
    this.#set = set;
    this.#core = core;
    this.#index = index;
    this.#what = {
      acquire: `Cannot acquire semaphore ${index}`,
      release: `Cannot release semaphore ${index}`,
    };
    this.#take1 = new Int16Array([index, -1, NOWAIT]);
    this.#take1Undo = new Int16Array([index, -1, NOWAIT_UNDO]);
    this.#give1 = new Int16Array([index, 1, NOWAIT]);
    this.#give1Undo = new Int16Array([index, 1, NOWAIT_UNDO]);
    this.#scratch = new Int16Array([index, 0, NOWAIT]);
  }

  /** The set this semaphore belongs to. */
  get set(): SemaphoreSet {
    return this.#set;
  }

  /** Its position in the set (`sem_num`). */
  get index(): number {
    return this.#index;
  }

  #ops(delta: number, undo: boolean): Int16Array {
    if (delta === -1) return undo ? this.#take1Undo : this.#take1;
    if (delta === 1) return undo ? this.#give1Undo : this.#give1;
    const s = this.#scratch;
    s[1] = delta;
    s[2] = undo ? NOWAIT_UNDO : NOWAIT;
    return s;
  }

  /**
   * P: waits until the value is at least `count`, then subtracts `count`.
   * Resolves at once (one synchronous `semop`) when the value allows it;
   * otherwise waits without blocking the event loop.
   *
   * @param options `count` (default 1), `undo` (`SEM_UNDO`, default false),
   *   `signal`, `timeout` (ms).
   * @returns A promise that resolves once the semaphore is taken.
   * @throws {TypeError} For options of the wrong type, or a `signal` that is
   *   not an `AbortSignal` (as a rejection, like every error here).
   * @throws {RangeError} For a `count` outside 1–32767, a negative `timeout`.
   * @throws {DOMException} `TimeoutError` when `timeout` passes first;
   *   `InvalidStateError` if the set handle was disposed, or `AbortError` if
   *   it is disposed while waiting. An abort rejects with `signal.reason`.
   * @throws {IpcError} `EIDRM` if the set is (or gets) removed; `EACCES`
   *   without permission.
   *
   * @example Waiting for another process, with a deadline
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ initial: 0 });
   * try {
   *   await set.at(0).acquire({ timeout: 50 }); // nobody releases it
   * } catch (e) {
   *   console.log((e as DOMException).name); // "TimeoutError"
   * }
   * set.remove();
   * ```
   */
  acquire(options?: AcquireOptions): Promise<void> {
    const core = this.#core;
    if (options === undefined && !core.disposed && !core.removed) {
      // The hot path: one prebuilt sembuf, one semop.
      return perform(core, this.#take1, 1n, undefined, Infinity, this.#what.acquire);
    }
    try {
      const o = v.options(options);
      const count = o.count === undefined ? 1 : checkAmount(o.count, "count", 1);
      const undo = v.boolean(o.undo, "undo", false);
      const timeout = v.waitOptions(o);
      core.check(this.#what.acquire, "semop");
      return perform(core, this.#ops(-count, undo), 1n, o.signal, timeout, this.#what.acquire);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * P, blocking the calling thread: waits until the value is at least
   * `count`, then subtracts `count` — one `semop`, a spin of a few tens of
   * µs (`sched_yield()` and try again), then `semtimedop` on this thread, as
   * a C program blocks in `semop`, with no `await` and no thread hop. It
   * blocks the calling thread (the event loop too); for Workers and
   * command-line tools that want C's latency. Elsewhere use
   * {@linkcode Semaphore.acquire}.
   *
   * @param options `count` (default 1), `undo` (`SEM_UNDO`, default false),
   *   `timeout` (ms). There is no `signal`: nothing could abort a blocked thread.
   * @throws {TypeError} For options of the wrong type, or a `signal`.
   * @throws {RangeError} For a `count` outside 1–32767, a negative `timeout`.
   * @throws {DOMException} `TimeoutError` when `timeout` passes first;
   *   `InvalidStateError` if the set handle was disposed.
   * @throws {IpcError} `EIDRM` if the set is (or gets) removed; `EACCES`
   *   without permission.
   *
   * @example A worker waiting for its turn, with a deadline
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ initial: 1 });
   * set.at(0).acquireSync({ timeout: 1000 }); // taken at once
   * try {
   *   set.at(0).acquireSync({ timeout: 50 }); // blocks this thread 50 ms
   * } catch (e) {
   *   console.log((e as DOMException).name); // "TimeoutError"
   * }
   * set.remove();
   * ```
   */
  acquireSync(options?: AcquireSyncOptions): void {
    const core = this.#core;
    let ops = this.#take1;
    let timeout = Infinity;
    if (options !== undefined) {
      const o = v.options(options);
      const count = o.count === undefined ? 1 : checkAmount(o.count, "count", 1);
      ops = this.#ops(-count, v.boolean(o.undo, "undo", false));
      timeout = v.syncWaitOptions(o, "acquireSync()");
    }
    core.check(this.#what.acquire, "semop");
    performSync(core, ops, 1n, timeout, this.#what.acquire);
  }

  /**
   * Takes `count` if the value allows it right now, without waiting: one
   * synchronous `semop` with `IPC_NOWAIT`.
   *
   * @param options `count` (default 1) and `undo` (`SEM_UNDO`, default false).
   * @returns `true` if taken, `false` if the value was too low.
   * @throws {TypeError} For options of the wrong type.
   * @throws {RangeError} For a `count` outside 1–32767.
   * @throws {IpcError} `EIDRM` if the set was removed.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ initial: 1 });
   * console.log(set.at(0).tryAcquire()); // true
   * console.log(set.at(0).tryAcquire()); // false
   * set.remove();
   * ```
   */
  tryAcquire(options?: TryAcquireOptions): boolean {
    let ops = this.#take1;
    if (options !== undefined) {
      const o = v.options(options);
      const count = o.count === undefined ? 1 : checkAmount(o.count, "count", 1);
      ops = this.#ops(-count, v.boolean(o.undo, "undo", false));
    }
    const core = this.#core;
    core.check(this.#what.acquire, "semop");
    const e = tryOps(core.id, ops, 1n);
    if (e === 0) return true;
    if (e === Errno.EAGAIN) return false;
    throw core.fail(this.#what.acquire, "semop", e);
  }

  /**
   * V: adds `count` to the value, waking processes waiting for it. Never
   * waits.
   *
   * @param count How much to add, 1–32767 (default 1).
   * @param options `undo` (`SEM_UNDO`, default false).
   * @throws {TypeError} If `count` is not an integer.
   * @throws {RangeError} If `count` is outside 1–32767.
   * @throws {IpcError} `ERANGE` if the value would exceed 32767 (SEMVMX);
   *   `EIDRM` if the set was removed (by this handle, or by anyone: the kernel
   *   then answers `EINVAL` for the forgotten id, reported as `EIDRM`).
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create();
   * set.at(0).release(3);
   * console.log(set.at(0).value); // 3
   * set.remove();
   * ```
   */
  release(count?: number, options?: ReleaseOptions): void {
    let ops = this.#give1;
    if (count !== undefined || options !== undefined) {
      const n = count === undefined ? 1 : checkAmount(count, "count", 1);
      const undo = v.boolean(v.options(options).undo, "undo", false);
      ops = this.#ops(n, undo);
    }
    const core = this.#core;
    core.check(this.#what.release, "semop");
    const e = tryOps(core.id, ops, 1n);
    if (e !== 0) throw core.fail(this.#what.release, "semop", e);
  }

  /**
   * Takes one unit with `SEM_UNDO` and returns a handle that gives it back:
   * `using _ = await sem.lock()` guards a block. If the process dies while
   * holding it (even by `SIGKILL`), the kernel gives the unit back, so other
   * processes are not deadlocked. Releasing twice is harmless: only the first
   * release counts.
   *
   * @param options `signal` and `timeout` (ms), as for {@linkcode Semaphore.acquire}.
   * @returns The held lock; dispose it (or call `release()`) to give it back.
   * @throws {DOMException} `TimeoutError`, `AbortError` or `signal.reason`, as for `acquire`.
   * @throws {IpcError} `EIDRM` if the set is removed.
   *
   * @example N processes increment a shared counter one at a time
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ initial: 1 });
   * const mutex = set.at(0);
   * async function critical() {
   *   using _ = await mutex.lock();
   *   // … read-modify-write shared memory here …
   * }
   * await Promise.all([critical(), critical()]);
   * console.log(mutex.value); // 1
   * set.remove();
   * ```
   */
  async lock(options?: WaitOptions): Promise<SemaphoreLock> {
    const o = v.options(options);
    const timeout = v.waitOptions(o);
    const core = this.#core;
    core.check(this.#what.acquire, "semop");
    await perform(core, this.#take1Undo, 1n, o.signal, timeout, this.#what.acquire);
    return new Lock(() => this.#unlock());
  }

  /** A lock's release: works even after the set handle was disposed. */
  #unlock(): void {
    const core = this.#core;
    if (core.removed) return;
    const e = tryOps(core.id, this.#give1Undo, 1n);
    if (e !== 0 && !isGone(e)) throw core.fail(this.#what.release, "semop", e);
  }

  /**
   * Waits until the value is 0 (a `semop` with `sem_op` 0): e.g. until every
   * worker has checked in by taking its unit.
   *
   * @param options `signal` and `timeout` (ms).
   * @returns A promise that resolves when the value is 0.
   * @throws {DOMException} `TimeoutError`, `AbortError` or `signal.reason`, as for `acquire`.
   * @throws {IpcError} `EIDRM` if the set is removed.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ initial: 2 });
   * const pending = set.at(0);
   * const allDone = pending.waitZero();
   * pending.tryAcquire();
   * pending.tryAcquire();
   * await allDone;
   * console.log("both checked in");
   * set.remove();
   * ```
   */
  waitZero(options?: WaitOptions): Promise<void> {
    try {
      const o = v.options(options);
      const timeout = v.waitOptions(o);
      const core = this.#core;
      const what = `Cannot wait for semaphore ${this.#index} to reach zero`;
      core.check(what, "semop");
      return perform(core, this.#ops(0, false), 1n, o.signal, timeout, what);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  #ctl(cmd: number, arg: number, what: string): number {
    const core = this.#core;
    core.check(what, "semctl");
    const r = sys().semctl(core.id, this.#index, cmd, BigInt(arg)); // bigint: FFI fast path
    if (r < 0) throw core.fail(what, "semctl", errno());
    return r;
  }

  /**
   * The current value (`semctl GETVAL`).
   *
   * @throws {IpcError} `EIDRM` if the set was removed.
   */
  get value(): number {
    return this.#ctl(SEMCTL.GETVAL, 0, `Cannot read semaphore ${this.#index}`);
  }

  /**
   * Sets the value (`semctl SETVAL`), waking waiters it satisfies. Like any
   * `SETVAL`, it clears every process's `SEM_UNDO` adjustment for this
   * semaphore: use it to initialise, not while others hold locks.
   *
   * @param value 0–32767.
   * @throws {TypeError} If `value` is not an integer.
   * @throws {RangeError} If `value` is outside 0–32767 (SEMVMX).
   * @throws {IpcError} `EIDRM` if the set was removed.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create();
   * set.at(0).setValue(5);
   * console.log(set.at(0).value); // 5
   * set.remove();
   * ```
   */
  setValue(value: number): void {
    checkAmount(value, "value", 0);
    this.#ctl(SEMCTL.SETVAL, value, `Cannot set semaphore ${this.#index}`);
  }

  /**
   * How many processes are waiting for the value to increase (`GETNCNT`,
   * `semncnt`, the `ncount` of `ipcs -s -i`). Counts waits, not processes:
   * each pending {@linkcode Semaphore.acquire} of this or another process
   * counts once, for the whole time it waits (ours wait in the kernel on a
   * thread of their own; only an acquire still in its first few tens of µs
   * of retrying is not counted yet).
   *
   * @throws {IpcError} `EIDRM` if the set was removed.
   */
  get waitingForIncrease(): number {
    return this.#ctl(SEMCTL.GETNCNT, 0, `Cannot read semaphore ${this.#index}`);
  }

  /**
   * How many processes are waiting for the value to become zero (`GETZCNT`,
   * `semzcnt`).
   *
   * @throws {IpcError} `EIDRM` if the set was removed.
   */
  get waitingForZero(): number {
    return this.#ctl(SEMCTL.GETZCNT, 0, `Cannot read semaphore ${this.#index}`);
  }

  /**
   * The process id of the last process to operate on this semaphore
   * (`GETPID`, `sempid`): the last `semop` or `SETVAL`/`SETALL`; 0 if none.
   * `SemaphoreSet.create()` itself operates on semaphore 0 once (see there).
   *
   * @throws {IpcError} `EIDRM` if the set was removed.
   */
  get lastPid(): number {
    return this.#ctl(SEMCTL.GETPID, 0, `Cannot read semaphore ${this.#index}`);
  }
}
