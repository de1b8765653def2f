/**
 * `SemaphoreSet`: a System V semaphore set (`semget`/`semop`/`semctl`).
 *
 * @module
 */
import type { SyncWaitOptions } from "../_sys/block.ts";
import { Errno, errno } from "../_sys/errno.ts";
import { forgetOnExit, removeOnExit } from "../_sys/exit_cleanup.ts";
import type { WaitOptions } from "../_sys/park.ts";
import * as v from "../_sys/validate.ts";
import { yieldCpu } from "../_sys/waiter.ts";
import { ipcError } from "../errors.ts";
import {
  checkIpcId,
  checkKey,
  IPC,
  IPC_PRIVATE,
  type IpcPermStat,
  keyHex,
  permOf,
  timeOf,
} from "./_ipc.ts";
import { checkAmount, INTERNAL, perform, performSync, SetCore, tryOps } from "./_sem_core.ts";

const OP_WHAT = "Cannot operate on semaphore set";
import { limits, SEM_UNDO, SEMBUF_SHORTS, SEMCTL, semidDs, SEMVMX, sys } from "./_sem_sys.ts";
import { Semaphore } from "./semaphore.ts";

/** Options for {@linkcode SemaphoreSet.create}. */
export interface SemaphoreSetOptions {
  /**
   * The key other processes open the set by (e.g. from `ftok()`), or
   * `IPC_PRIVATE` (0, the default) for a set reached only by its id
   * ({@linkcode SemaphoreSet.fromId}).
   */
  key?: number;
  /**
   * How many semaphores, 1 to SEMMSL (32000 by default). Defaults to the
   * length of `initial` if that is an array, else 1.
   */
  count?: number;
  /**
   * Initial values, 0–32767: one number for every semaphore, or one per
   * semaphore. Default 0. Applied only when this call creates the set.
   */
  initial?: number | readonly number[];
  /** Permission bits, default `0o600` (owner read/alter). */
  mode?: number;
  /**
   * Fail with `EEXIST` if a set with this key exists (`IPC_EXCL`, the
   * default). With `false`, an existing set is opened instead — its values
   * are left alone, and it must have at least `count` semaphores.
   */
  exclusive?: boolean;
  /**
   * Remove the set when this process ends (`semctl IPC_RMID`; waiters in
   * other processes then fail with `EIDRM`): when the process exits normally
   * — its event loop runs dry, `process.exit()`, `Deno.exit()` — or is ended
   * by `SIGINT`, `SIGTERM` or `SIGHUP`. A program that listens for that
   * signal itself (`process.on("SIGINT", …)`) has chosen to handle it, so
   * then nothing is removed and the process is left running; the set goes
   * when it exits. `remove()` (or `removeById()`) before then cancels this.
   * `SIGKILL` and crashes cannot be caught: `sysipc reap` removes what such a
   * process left behind. With `exclusive: false`, this holds for an existing
   * object it opened too. Default `false`.
   */
  removeOnExit?: boolean;
}

/** One operation of {@linkcode SemaphoreSet.op}: a `struct sembuf`. */
export interface SemaphoreOp {
  /** Which semaphore (0 to `count - 1`). */
  index: number;
  /**
   * Negative: wait until the value is at least `-delta`, then subtract it.
   * Positive: add it. Zero: wait until the value is 0. −32767 to 32767.
   */
  delta: number;
  /** `SEM_UNDO`: the kernel reverts this operation when the process exits. */
  undo?: boolean;
}

/**
 * What {@linkcode SemaphoreSet.stat} returns (`struct semid_ds`): the owner,
 * creator and mode every System V object has, and the set's size and times.
 */
export interface SemaphoreSetStat extends IpcPermStat {
  /** How many semaphores (`sem_nsems`). */
  count: number;
  /** Time of the last `semop` (`sem_otime`), `null` if none yet. */
  lastOpTime: Date | null;
  /** Time of creation or of the last `semctl` change (`sem_ctime`). */
  changeTime: Date | null;
}

/** `Semaphore`'s constructor, private to users: only `at()` calls it. */
type SemaphoreConstructor = new (
  set: SemaphoreSet,
  core: SetCore,
  index: number,
  internal: symbol,
) => Semaphore;

/**
 * How long `open()` waits (ms) for a set created moments ago to be
 * initialised (see {@linkcode SemaphoreSet.open}).
 */
const INIT_WAIT_MS = 10;
/** Sets whose `sem_ctime` is older than this (s) are taken as initialised. */
const INIT_RECENT_S = 2;

function checkCount(count: unknown): number {
  return v.integer(count, "count", { min: 1, max: limits().semmsl, limit: "SEMMSL" });
}

function checkValues(values: unknown, count: number, name: string): Uint16Array {
  const out = new Uint16Array(count);
  if (typeof values === "number") {
    out.fill(checkAmount(values, name, 0));
    return out;
  }
  const all = v.array(values, name, `a number or an array of ${count} numbers`);
  if (all.length !== count) {
    throw v.rangeError(
      name,
      `an array of one value per semaphore (${count})`,
      `${all.length} values`,
    );
  }
  for (let i = 0; i < count; i++) out[i] = checkAmount(all[i], `${name}[${i}]`, 0);
  return out;
}

/** A short synchronous sleep (µs). */
function pause(us: number): void {
  const ts = new BigInt64Array([0n, BigInt(us * 1000)]);
  sys().nanosleep(ts, null);
}

/**
 * A System V semaphore set: `count` semaphores in the kernel, shared by every
 * process that knows its key or id, living until someone removes it
 * (`remove()`, or `ipcrm -s`). Use {@linkcode SemaphoreSet.at} for one
 * semaphore (P/V, `lock()`), {@linkcode SemaphoreSet.op} for several at once.
 *
 * The handle holds no descriptor or mapping. `[Symbol.dispose]` cancels the
 * waits pending through it and makes it unusable; it does not remove the set
 * (removal is always explicit). Requires `--allow-ffi`.
 *
 * @example A producer and a consumer signal each other (here in one process)
 * ```ts
 * import { SemaphoreSet } from "@sysipc/sysipc/sem";
 * using set = SemaphoreSet.create({ count: 2, initial: [1, 0] });
 * const [empty, full] = set;
 * await empty.acquire(); // P(empty)
 * full.release(); //        V(full)
 * await full.acquire(); //  P(full)
 * empty.release(); //       V(empty)
 * console.log(set.getValues()); // [1, 0]
 * set.remove();
 * ```
 */
export class SemaphoreSet {
  readonly #core: SetCore;
  readonly #sems: (Semaphore | undefined)[];

  // create(), open() and fromId() make these; the check stops JavaScript callers too.
  private constructor(core: SetCore, internal?: symbol) {
    if (internal !== INTERNAL) {
      throw new TypeError(
        "SemaphoreSet is not constructed directly: use SemaphoreSet.create(), open() or fromId()",
      );
    }
    this.#core = core;
    this.#sems = new Array(core.count);
  }

  /**
   * Creates a semaphore set (`semget` with `IPC_CREAT | IPC_EXCL`) and sets
   * its initial values (`SETALL`).
   *
   * Between `semget` and `SETALL` another process could open the set and see
   * (or change) values that are about to be overwritten — the classic System
   * V race. The window is a few µs (both calls run back to back, in one
   * synchronous step); to close it for openers, `create()` then performs one
   * net-zero `semop` on semaphore 0 (+1 −1, atomically), which stamps
   * `sem_otime`, and {@linkcode SemaphoreSet.open} waits briefly while a
   * fresh set has no `sem_otime` (Stevens, UNP vol. 2, §11.2). A side effect:
   * `at(0).lastPid` is the creator until someone else operates on it.
   *
   * @param options `key` (default IPC_PRIVATE), `count` (default 1 or
   *   `initial.length`), `initial` (default 0), `mode` (default `0o600`),
   *   `exclusive` (default true), `removeOnExit` (default false: remove the
   *   set when this process ends, see {@linkcode SemaphoreSetOptions.removeOnExit}).
   * @returns The new (or, with `exclusive: false`, existing) set.
   * @throws {TypeError} For a key, count, value or mode that is not an
   *   integer, `initial` that is neither a number nor an array, or a
   *   `removeOnExit` that is not a boolean.
   * @throws {RangeError} For a key that does not fit in 32 bits, a count
   *   outside 1–SEMMSL, values outside 0–32767, a mode above `0o777`, or an
   *   `initial` array of the wrong length.
   * @throws {IpcError} `EEXIST` if the key is taken (and `exclusive`);
   *   `ENOSPC` at the system's limit of sets or semaphores; `EINVAL` if an
   *   existing set opened with `exclusive: false` has fewer than `count`.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ count: 3, initial: [1, 0, 5] });
   * console.log(set.count, set.getValues()); // 3 [1, 0, 5]
   * set.remove();
   * ```
   *
   * @example Gone when the process ends, even by Ctrl+C
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ initial: 1, removeOnExit: true });
   * console.log(set.at(0).value); // 1: removed at exit, or on SIGINT, SIGTERM, SIGHUP
   * ```
   */
  static create(options: SemaphoreSetOptions = {}): SemaphoreSet {
    const o = v.options(options);
    const key = o.key === undefined ? IPC_PRIVATE : checkKey(o.key);
    const count = checkCount(o.count ?? (Array.isArray(o.initial) ? o.initial.length : 1));
    const values = checkValues(o.initial ?? 0, count, "initial");
    const mode = v.mode(o.mode);
    const exclusive = v.boolean(o.exclusive, "exclusive", true);
    const atExit = v.boolean(o.removeOnExit, "removeOnExit", false);
    const s = sys();
    const id = s.semget(key, count, IPC.CREAT | IPC.EXCL | mode);
    if (id < 0) {
      const e = errno();
      if (e === Errno.EEXIST && !exclusive) {
        const set = SemaphoreSet.#openKey(key, count, "create");
        if (atExit) removeAtExit(set.id);
        return set;
      }
      throw ipcError("Cannot create semaphore set", "semget", e, `key ${keyHex(key)}`);
    }
    const core = new SetCore(id, key, count);
    // Initialise at once, then stamp sem_otime with a net-zero operation.
    let e = 0;
    if (values.some((v) => v !== 0) && s.semctl_buf(id, 0, SEMCTL.SETALL, values) < 0) e = errno();
    if (e === 0) {
      const stamp = values[0] < SEMVMX
        ? new Int16Array([0, 1, IPC.NOWAIT, 0, -1, IPC.NOWAIT])
        : new Int16Array([0, -1, IPC.NOWAIT, 0, 1, IPC.NOWAIT]);
      e = tryOps(id, stamp, 2n);
    }
    if (e !== 0) {
      s.semctl(id, 0, IPC.RMID, 0n);
      throw core.fail("Cannot initialise semaphore set", "semctl", e);
    }
    if (atExit) removeAtExit(id);
    return new SemaphoreSet(core, INTERNAL);
  }

  /**
   * Opens an existing set by key (`semget` without `IPC_CREAT`).
   *
   * If the set was created in the last 2 seconds and no `semop` has run on it
   * yet (`sem_otime` is 0), its creator may still be setting the initial
   * values; `open()` then waits up to 10 ms (synchronously) for the creator's
   * first operation. Sets made by `SemaphoreSet.create()` are stamped at once;
   * other programs' fresh sets cost at most that wait.
   *
   * @param key The key (e.g. from `ftok()`); not IPC_PRIVATE.
   * @returns The set.
   * @throws {TypeError} If `key` is not an integer.
   * @throws {RangeError} If `key` does not fit in 32 bits, or is IPC_PRIVATE
   *   (a private set is reached by id: {@linkcode SemaphoreSet.fromId}).
   * @throws {IpcError} `ENOENT` if no set has this key; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * const key = 0x1f2e_0001;
   * using created = SemaphoreSet.create({ key, initial: 7 });
   * using opened = SemaphoreSet.open(key); // typically in another process
   * console.log(opened.id === created.id, opened.at(0).value); // true 7
   * created.remove();
   * ```
   */
  static open(key: number): SemaphoreSet {
    const k = checkKey(key);
    if (k === IPC_PRIVATE) {
      throw v.rangeError(
        "key",
        "a key other than IPC_PRIVATE, which names no set to open (reach a private set by its id with SemaphoreSet.fromId())",
        k,
      );
    }
    return SemaphoreSet.#openKey(k, 0, "open");
  }

  static #openKey(key: number, count: number, how: "open" | "create"): SemaphoreSet {
    const id = sys().semget(key, count, 0);
    if (id < 0) {
      throw ipcError(
        how === "open" ? "Cannot open semaphore set" : "Cannot create semaphore set",
        "semget",
        errno(),
        `key ${keyHex(key)}`,
      );
    }
    return SemaphoreSet.#adopt(id, "Cannot open semaphore set");
  }

  /**
   * Opens a set by its id — how other processes reach an `IPC_PRIVATE` set
   * (pass them `set.id`, e.g. on the command line). Waits like
   * {@linkcode SemaphoreSet.open} for a just-created set.
   *
   * @param id The id (`set.id`, or the `semid` column of `ipcs -s`).
   * @returns The set.
   * @throws {TypeError} If `id` is not an integer.
   * @throws {RangeError} If `id` is negative or above 2147483647.
   * @throws {IpcError} `EINVAL` if no set has this id; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ count: 2 });
   * using same = SemaphoreSet.fromId(set.id); // typically in a child process
   * console.log(same.count); // 2
   * set.remove();
   * ```
   */
  static fromId(id: number): SemaphoreSet {
    return SemaphoreSet.#adopt(checkIpcId(id), "Cannot open semaphore set");
  }

  static #adopt(id: number, what: string): SemaphoreSet {
    const L = semidDs();
    const probe = new SetCore(id, 0, 0);
    let st = probe.statInto();
    if (!st.ok) throw ipcError(what, "semctl", st.errno, `id ${id}`);
    if (st.buf.getBigInt64(L.OTIME, true) === 0n) {
      const fresh = Date.now() / 1000 - Number(st.buf.getBigInt64(L.CTIME, true)) < INIT_RECENT_S;
      const until = performance.now() + INIT_WAIT_MS;
      for (let i = 0; fresh && performance.now() < until; i++) {
        if (i < 20) yieldCpu();
        else pause(200);
        st = probe.statInto();
        if (!st.ok) throw ipcError(what, "semctl", st.errno, `id ${id}`);
        if (st.buf.getBigInt64(L.OTIME, true) !== 0n) break;
      }
    }
    const key = st.buf.getInt32(L.KEY, true);
    const count = Number(st.buf.getBigUint64(L.NSEMS, true));
    return new SemaphoreSet(new SetCore(id, key, count), INTERNAL);
  }

  /**
   * Removes a set by id without opening it (`semctl IPC_RMID`), as
   * `ipcrm -s` does. Every process waiting on it is woken with `EIDRM`.
   *
   * @param id The id.
   * @throws {TypeError} If `id` is not an integer.
   * @throws {RangeError} If `id` is negative or above 2147483647.
   * @throws {IpcError} `EINVAL` if no set has this id; `EPERM` without permission.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * const set = SemaphoreSet.create();
   * SemaphoreSet.removeById(set.id);
   * ```
   */
  static removeById(id: number): void {
    const i = checkIpcId(id);
    forgetOnExit(exitName(i));
    if (sys().semctl(i, 0, IPC.RMID, 0n) < 0) {
      throw ipcError("Cannot remove semaphore set", "semctl", errno(), `id ${i}`);
    }
  }

  /** The kernel's id for the set (`semid`, as `ipcs -s` shows it). */
  get id(): number {
    return this.#core.id;
  }

  /** The key (0 for IPC_PRIVATE). */
  get key(): number {
    return this.#core.key;
  }

  /** How many semaphores the set holds. */
  get count(): number {
    return this.#core.count;
  }

  /**
   * One semaphore of the set (the same object every time).
   *
   * @param index 0 to `count - 1`.
   * @returns The semaphore.
   * @throws {TypeError} If `index` is not an integer.
   * @throws {RangeError} If `index` is out of range.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ count: 2, initial: [0, 4] });
   * console.log(set.at(1).value); // 4
   * set.remove();
   * ```
   */
  at(index: number): Semaphore {
    checkIndex(index, this.#core.count);
    return this.#sems[index] ??= new (Semaphore as unknown as SemaphoreConstructor)(
      this,
      this.#core,
      index,
      INTERNAL,
    );
  }

  /**
   * The semaphores in order: `const [mutex, empty, full] = set`.
   *
   * @returns An iterator over `at(0)` … `at(count - 1)`.
   */
  *[Symbol.iterator](): IterableIterator<Semaphore> {
    for (let i = 0; i < this.#core.count; i++) yield this.at(i);
  }

  /**
   * Performs several operations atomically (one `semop`): either all of them
   * happen, or none and it waits until all can. E.g. take two semaphores
   * together, or take one and give another in the same instant. Operations
   * are applied in order, so the same index may appear more than once
   * (`[{ index: 0, delta: -1 }, { index: 0, delta: 1 }]` waits until
   * semaphore 0 is positive without keeping it).
   *
   * A `signal` or `timeout` that ends the wait never leaves the operations
   * half-done: if they complete at the moment of an abort and only took or
   * waited, what they took is given back before the promise rejects; if they
   * also added to a semaphore, the promise resolves (see the module notes).
   *
   * @param ops 1 to SEMOPM (500 by default) operations.
   * @param options `signal` and `timeout` (ms).
   * @returns A promise that resolves once every operation is done.
   * @throws {TypeError} If `ops` is not an array of `{ index, delta, undo? }`
   *   with integer index and delta.
   * @throws {RangeError} If `ops` is empty or longer than SEMOPM, an index is
   *   out of range, or a delta is outside −32767–32767.
   * @throws {DOMException} `TimeoutError`, `AbortError` (disposed) or `signal.reason`.
   * @throws {IpcError} `EIDRM` if the set is removed; `ERANGE` if a value
   *   would exceed 32767.
   *
   * @example Take two semaphores together or not at all
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ count: 2, initial: [1, 1] });
   * await set.op([{ index: 0, delta: -1 }, { index: 1, delta: -1 }]);
   * console.log(set.getValues()); // [0, 0]
   * set.remove();
   * ```
   */
  op(ops: readonly SemaphoreOp[], options?: WaitOptions): Promise<void> {
    try {
      const o = v.options(options);
      const timeout = v.waitOptions(o);
      const buf = this.#sembufs(ops);
      return perform(this.#core, buf, BigInt(ops.length), o.signal, timeout, OP_WHAT);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * {@linkcode SemaphoreSet.op}, blocking the calling thread: the operations
   * are done atomically, waiting in `semtimedop` on this thread, as a C
   * program does, with no `await` and no thread hop. It blocks the calling
   * thread (the event loop too); for Workers and command-line tools that
   * want C's latency.
   *
   * @param ops 1 to SEMOPM (500 by default) operations.
   * @param options `timeout` (ms). There is no `signal`: nothing could abort
   *   a blocked thread.
   * @throws {TypeError} As for `op()`, or for a `signal`.
   * @throws {RangeError} As for `op()`.
   * @throws {DOMException} `TimeoutError` when `timeout` passes first;
   *   `InvalidStateError` if the handle was disposed.
   * @throws {IpcError} `EIDRM` if the set is (or gets) removed; `ERANGE` if
   *   a value would exceed 32767.
   *
   * @example Take two semaphores together or not at all, in a command-line tool
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ count: 2, initial: [1, 1] });
   * set.opSync([{ index: 0, delta: -1 }, { index: 1, delta: -1 }], { timeout: 1000 });
   * console.log(set.getValues()); // [0, 0]
   * set.remove();
   * ```
   */
  opSync(ops: readonly SemaphoreOp[], options?: SyncWaitOptions): void {
    const timeout = v.syncWaitOptions(v.options(options), "opSync()");
    const buf = this.#sembufs(ops);
    performSync(this.#core, buf, BigInt(ops.length), timeout, OP_WHAT);
  }

  /** Checks `ops` and the handle; the `struct sembuf`s, flags with `IPC_NOWAIT`. */
  #sembufs(ops: readonly SemaphoreOp[]): Int16Array {
    const core = this.#core;
    v.array(ops, "ops", "an array of { index, delta, undo? }");
    const max = limits().semopm;
    if (ops.length < 1 || ops.length > max) {
      throw v.rangeError("ops", `an array of 1 to ${max} operations (SEMOPM)`, ops.length);
    }
    const buf = new Int16Array(ops.length * SEMBUF_SHORTS);
    for (let i = 0; i < ops.length; i++) {
      const op = ops[i];
      v.object(op, `ops[${i}]`, "an object { index, delta, undo? }");
      checkIndex(op.index, core.count, `ops[${i}].index`);
      const d = v.integer(op.delta, `ops[${i}].delta`, {
        min: -SEMVMX,
        max: SEMVMX,
        limit: "SEMVMX",
      });
      const undo = v.boolean(op.undo, `ops[${i}].undo`, false);
      buf[i * 3] = op.index;
      buf[i * 3 + 1] = d;
      buf[i * 3 + 2] = IPC.NOWAIT | (undo ? SEM_UNDO : 0);
    }
    core.check(OP_WHAT, "semop");
    return buf;
  }

  /**
   * Every semaphore's value (`semctl GETALL`).
   *
   * @returns The values, index by index.
   * @throws {IpcError} `EIDRM` if the set was removed.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ initial: [3, 1] });
   * console.log(set.getValues()); // [3, 1]
   * set.remove();
   * ```
   */
  getValues(): number[] {
    const core = this.#core;
    const what = "Cannot read semaphore set values";
    core.check(what, "semctl");
    const out = new Uint16Array(core.count);
    if (sys().semctl_buf(core.id, 0, SEMCTL.GETALL, out) < 0) {
      throw core.fail(what, "semctl", errno());
    }
    return Array.from(out);
  }

  /**
   * Sets every semaphore's value at once (`semctl SETALL`), waking waiters
   * it satisfies. Like any `SETALL`, it clears every process's `SEM_UNDO`
   * adjustments on the set: use it to (re)initialise, not while others hold locks.
   *
   * @param values One value per semaphore (0–32767), or one for all.
   * @throws {TypeError} If a value is not an integer.
   * @throws {RangeError} If a value is outside 0–32767, or the array length is not `count`.
   * @throws {IpcError} `EIDRM` if the set was removed.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ count: 2 });
   * set.setValues([5, 6]);
   * console.log(set.getValues()); // [5, 6]
   * set.remove();
   * ```
   */
  setValues(values: number | readonly number[]): void {
    const core = this.#core;
    const buf = checkValues(values, core.count, "values");
    const what = "Cannot set semaphore set values";
    core.check(what, "semctl");
    if (sys().semctl_buf(core.id, 0, SEMCTL.SETALL, buf) < 0) {
      throw core.fail(what, "semctl", errno());
    }
  }

  /**
   * The set's status (`semctl IPC_STAT`, `struct semid_ds`): what `ipcs -s`
   * shows.
   *
   * @returns Key, count, permissions, owner, creator and times.
   * @throws {IpcError} `EIDRM` if the set was removed.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * using set = SemaphoreSet.create({ count: 4, mode: 0o640 });
   * const st = set.stat();
   * console.log(st.count, st.mode.toString(8)); // 4 640
   * set.remove();
   * ```
   */
  stat(): SemaphoreSetStat {
    const core = this.#core;
    const what = "Cannot read semaphore set status";
    core.check(what, "semctl");
    const st = core.statInto();
    if (!st.ok) throw core.fail(what, "semctl", st.errno);
    const L = semidDs();
    const b = st.buf;
    return {
      ...permOf(b),
      count: Number(b.getBigUint64(L.NSEMS, true)),
      lastOpTime: timeOf(b.getBigInt64(L.OTIME, true)),
      changeTime: timeOf(b.getBigInt64(L.CTIME, true)),
    };
  }

  /**
   * Removes the set from the system (`semctl IPC_RMID`). Every process
   * waiting on it — here or elsewhere — is woken: its wait rejects with
   * `IpcError` code `EIDRM`, and any later use fails with `EIDRM`. A second
   * call on the same handle does nothing.
   *
   * @throws {IpcError} `EPERM` if this user may not remove it; `EIDRM` if
   *   another process already removed it.
   *
   * @example
   * ```ts
   * import { SemaphoreSet } from "@sysipc/sysipc/sem";
   * const set = SemaphoreSet.create();
   * set.remove();
   * try {
   *   set.at(0).release();
   * } catch (e) {
   *   console.log((e as { code: string }).code); // "EIDRM"
   * }
   * ```
   */
  remove(): void {
    const core = this.#core;
    if (core.removed) return;
    const what = "Cannot remove semaphore set";
    core.check(what, "semctl");
    forgetOnExit(exitName(core.id));
    if (sys().semctl(core.id, 0, IPC.RMID, 0n) < 0) throw core.fail(what, "semctl", errno());
    core.removed = true;
  }

  /**
   * Lets go of the handle: every wait pending through it (on any of its
   * semaphores) is cancelled and rejects with a `DOMException` named
   * `"AbortError"` — within about a millisecond: the thread waiting in
   * `semtimedop` is interrupted — so no thread stays blocked; later calls throw
   * `InvalidStateError`. A `lock()` taken before can still be released. The
   * set itself stays in the system: removal is explicit ({@linkcode remove}).
   * Idempotent.
   */
  [Symbol.dispose](): void {
    this.#core.dispose();
  }
}

/** How a set is registered for removal at exit (and named in a warning). */
function exitName(id: number): string {
  return `semaphore set id ${id}`;
}

/** Registers the set `id` for removal when the process ends. */
function removeAtExit(id: number): void {
  removeOnExit(
    exitName(id),
    "semctl IPC_RMID",
    () => sys().semctl(id, 0, IPC.RMID, 0n) < 0 ? errno() : 0,
  );
}

/** A semaphore index: 0 to `count - 1`. */
export function checkIndex(index: unknown, count: number, name = "index"): number {
  return v.integer(index, name, { min: 0, max: count - 1 });
}
