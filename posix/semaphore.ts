/**
 * `PosixSemaphore`: POSIX semaphores — named ones (`sem_open`, a file in
 * `/dev/shm`) and unnamed process-shared ones placed inside shared memory
 * (`sem_init` with pshared = 1).
 *
 * An acquire goes through the wait engine (`_sys/park.ts`): one synchronous
 * `sem_trywait` (glibc takes an uncontended semaphore with one atomic
 * instruction, no syscall), a bounded spin, then one `sem_clockwait` on the
 * library's own thread for the time left, which a signal interrupts on
 * abort, timeout re-check or close. While that thread waits, the memory the
 * semaphore lives in stays mapped (a pin on the mapping, or a deferred
 * `sem_close`), because glibc writes the semaphore when the wait returns.
 *
 * @module
 */
import { cString, getBackend } from "../_ffi/mod.ts";
import type { SyncWaitOptions } from "../_sys/block.ts";
import { Errno, errno, failedErrno } from "../_sys/errno.ts";
import { forgetOnExit, removeOnExit } from "../_sys/exit_cleanup.ts";
import { Lock } from "../_sys/lock.ts";
import {
  blocking,
  cancelParked,
  park,
  type Parked,
  spin,
  type WaitOptions,
  WOULD_BLOCK,
} from "../_sys/park.ts";
import * as v from "../_sys/validate.ts";
import { abortError, IpcError, timeoutError } from "../errors.ts";
import { type Mapping, mappingOf } from "../_mem/mapping.ts";
import type { MappedMemory } from "../_mem/memory.ts";
import { checkName, fail, nameOrUnique } from "./_names.ts";
import { CLOCK_MONOTONIC, SEM_T, SEM_VALUE_MAX, sys } from "./_sem_sys.ts";
import { O, SHM_DIR } from "./_shm_sys.ts";

/** Options for {@linkcode PosixSemaphore.create}. */
export interface PosixSemaphoreOptions {
  /** The starting value, 0 (the default) to 2147483647. */
  initial?: number;
  /** Permission bits, default `0o600`. Applied exactly, not masked by the umask. */
  mode?: number;
  /** Fail with `EEXIST` if the name exists (`O_EXCL`, the default); with `false`, open it instead. */
  exclusive?: boolean;
  /**
   * Unlink the name when this process ends (`sem_unlink`; processes that have
   * it open keep using it): when the process exits normally — its event loop
   * runs dry, `process.exit()`, `Deno.exit()` — or is ended by `SIGINT`,
   * `SIGTERM` or `SIGHUP`. A program that listens for that signal itself
   * (`process.on("SIGINT", …)`) has chosen to handle it, so then nothing is
   * unlinked and the process is left running; the name goes when it exits.
   * `unlink()` before then cancels this. `SIGKILL` and crashes cannot be
   * caught: `sysipc reap` removes what such a process left behind. With
   * `exclusive: false`, this holds for an existing object it opened too.
   * Default `false`.
   */
  removeOnExit?: boolean;
}

/** Options for {@linkcode PosixSemaphore.at}. */
export interface PosixSemaphoreAtOptions {
  /**
   * Initialise a new semaphore there with this value (`sem_init`): the
   * process that lays out the memory does this, once. Leave it out to use
   * the semaphore another process initialised.
   */
  initial?: number;
}

/**
 * What {@linkcode PosixSemaphore.lock} resolves to: a held unit that
 * `using` gives back at the end of the block.
 */
export interface PosixSemaphoreLock extends Disposable {
  /**
   * Gives the unit back (`sem_post`). Only the first call releases; later
   * calls do nothing. If the handle was closed meanwhile, there is nothing
   * to give it back through, and this does nothing either.
   *
   * @throws {IpcError} `EOVERFLOW` if the value is already at its maximum.
   */
  release(): void;
  /** Whether `release()` (or `[Symbol.dispose]`) has run. */
  readonly released: boolean;
}

const INTERNAL: unique symbol = Symbol("sysipc.posix_sem");
/** A resolved promise, returned by every acquire that succeeds at once. */
const DONE: Promise<void> = Promise.resolve();
/** The longest name: glibc's file is `/dev/shm/sem.<name>`, and a file name is at most 255 bytes. */
const NAME_MAX = 251;
const EXAMPLE = "/lock";

/**
 * A semaphore's address and lifetime, shared by the handle and any wait in
 * flight (which keeps it reachable, so a forgotten handle's finalizer cannot
 * close the semaphore under a blocked thread).
 */
class Core {
  readonly addr: bigint;
  readonly name: string | null;
  /** The memory an unnamed semaphore lives in; `null` for a named one (sem_open maps its own). */
  readonly host: Mapping | null;
  readonly label: string;
  readonly waits = new Set<Parked>();
  readonly #value = new Int32Array(1);
  closed = false;
  /** Waits in flight on a named semaphore: `sem_close` waits for them. */
  #inflight = 0;
  #unlisten: (() => void) | null = null;

  constructor(addr: bigint, name: string | null, host: Mapping | null, label: string) {
    this.addr = addr;
    this.name = name;
    this.host = host;
    this.label = label;
    if (host !== null) {
      this.#unlisten = host.onRelease(() => this.#end("the shared memory holding it was closed"));
    }
  }

  /** The semaphore can be used: the handle is open and its memory mapped. */
  get usable(): boolean {
    return !this.closed && (this.host === null || !this.host.released);
  }

  /** Throws why the semaphore cannot be used (call when `usable` is false). */
  unusable(what: string, syscall: string): IpcError {
    const why = this.closed ? "the handle is closed" : "the shared memory holding it was closed";
    return new IpcError(
      `${what} (${syscall}, ${this.label}): EBADF (${why})`,
      Errno.EBADF,
      syscall,
    );
  }

  /** Keeps the semaphore's memory mapped while a thread may still touch it. */
  pin(): () => void {
    if (this.host !== null) return this.host.pin();
    this.#inflight++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--this.#inflight === 0 && this.closed) sys().sem_close(this.addr);
    };
  }

  value(what: string): number {
    if (!this.usable) throw this.unusable(what, "sem_getvalue");
    if (sys().sem_getvalue(this.addr, this.#value) < 0) {
      throw fail(what, "sem_getvalue", errno(), this.label);
    }
    return this.#value[0];
  }

  /** Ends the pending waits with an AbortError saying why. */
  #end(why: string): void {
    const reason = abortError(`The PosixSemaphore wait ended: ${why} (${this.label})`);
    for (const w of this.waits) cancelParked(w, reason);
  }

  /** Closes the handle: waits end, a named semaphore is closed once none is in flight. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.#unlisten?.();
    this.#unlisten = null;
    this.#end("the handle was closed");
    if (this.host === null && this.#inflight === 0) sys().sem_close(this.addr);
  }
}

/** Closes a forgotten handle (after its last wait, if one is in flight). */
const closer = new FinalizationRegistry<Core>((core) => core.close());

/** How a name is registered for removal at exit (and named in a warning). */
function exitName(name: string): string {
  return `POSIX semaphore ${name}`;
}

/** Registers the name for `sem_unlink` when the process ends. */
function removeAtExit(name: string): void {
  const c = cString(name);
  removeOnExit(exitName(name), "sem_unlink", () => sys().sem_unlink(c) < 0 ? errno() : 0);
}

/** One synchronous `sem_trywait`: 0, or the errno (`EINTR` retried). */
function tryWait(addr: bigint): number {
  const s = sys();
  for (;;) {
    if (s.sem_trywait(addr) === 0) return 0;
    const e = failedErrno();
    if (e !== Errno.EINTR) return e;
  }
}

function checkInitial(n: unknown): number {
  return n === undefined
    ? 0
    : v.integer(n, "initial", { min: 0, max: SEM_VALUE_MAX, limit: "SEM_VALUE_MAX" });
}

/**
 * The slow path of an acquire: the spin, then one blocking `sem_clockwait`
 * (or `sem_wait` without a deadline) off the JavaScript thread, with the
 * semaphore's memory pinned until the wait has settled — including giving a
 * unit back that arrived as the wait was cancelled.
 */
async function acquireSlow(
  core: Core,
  signal: AbortSignal | undefined,
  timeout: number,
  what: string,
): Promise<void> {
  const start = timeout === Infinity ? 0 : performance.now();
  const attempt = (): void | typeof WOULD_BLOCK => {
    if (!core.usable) throw core.unusable(what, "sem_trywait");
    const e = tryWait(core.addr);
    if (e === 0) return;
    if (e === Errno.EAGAIN) return WOULD_BLOCK;
    throw fail(what, "sem_trywait", e, core.label);
  };
  if (spin(attempt) !== WOULD_BLOCK) return;
  const unpin = core.pin();
  try {
    await park<void>({
      attempt,
      block(ms) {
        if (!core.usable) throw core.unusable(what, "sem_clockwait");
        const s = sys();
        let call;
        if (ms === Infinity) call = s.sem_wait_block(core.addr);
        else {
          const ts = new BigInt64Array(2); // struct timespec, absolute on CLOCK_MONOTONIC
          s.clock_gettime(CLOCK_MONOTONIC, ts);
          const ns = ts[1] + BigInt(Math.max(1000, Math.ceil(ms * 1e6)));
          ts[0] += ns / 1_000_000_000n;
          ts[1] = ns % 1_000_000_000n;
          call = s.sem_clockwait_block(core.addr, CLOCK_MONOTONIC, ts);
        }
        return blocking(call, ({ result, errno }) => {
          if (result === 0) return undefined;
          if (errno === Errno.ETIMEDOUT || errno === Errno.EINTR) return WOULD_BLOCK;
          throw fail(what, ms === Infinity ? "sem_wait" : "sem_clockwait", errno, core.label);
        });
      },
      expired: () => timeoutError(what, timeout, `sem_clockwait, ${core.label}`),
      // The memory is still pinned: giving the unit back is safe even after a close.
      giveBack: () => sys().sem_post(core.addr) === 0,
    }, { signal, timeout, start, waits: core.waits });
  } finally {
    unpin();
  }
}

/**
 * A POSIX semaphore: a counter that `acquire()` decrements, waiting while it
 * is 0, and `release()` increments. Named semaphores (`"/lock"`) are what C
 * programs open with `sem_open` and Python with `posix_ipc.Semaphore`;
 * {@linkcode PosixSemaphore.at} places an unnamed one inside shared memory,
 * so a data structure there carries its own lock.
 *
 * An uncontended acquire or release is one libc call on the JavaScript
 * thread (glibc does it with one atomic instruction, no system call). A
 * contended acquire keeps the event loop running and takes `{ signal,
 * timeout }`.
 *
 * **No undo.** POSIX semaphores have nothing like System V's `SEM_UNDO`: a
 * process that dies while holding a unit (inside `lock()`, say) leaves it
 * taken for good. For a lock that survives a crash, use a
 * `SemaphoreSet`'s `lock()`. Requires `--allow-ffi`.
 *
 * @example A named semaphore as a lock
 * ```ts
 * import { PosixSemaphore } from "@sysipc/sysipc/posix";
 * using sem = PosixSemaphore.create(undefined, { initial: 1 });
 * try {
 *   {
 *     using _held = await sem.lock();
 *     console.log(sem.value); // 0
 *   }
 *   console.log(sem.value); // 1
 * } finally {
 *   sem.unlink();
 * }
 * ```
 */
export class PosixSemaphore {
  readonly #core: Core;
  readonly #what: { acquire: string; release: string };

  // The static factories make these; the check stops JavaScript callers too.
  private constructor(core: Core, internal?: symbol) {
    if (internal !== INTERNAL) {
      throw new TypeError(
        "PosixSemaphore is not constructed directly: use PosixSemaphore.create(), open() or at()",
      );
    }
    this.#core = core;
    this.#what = { acquire: "Cannot acquire semaphore", release: "Cannot release semaphore" };
    closer.register(this, core, this);
  }

  static #named(name: string, pointer: ReturnType<ReturnType<typeof sys>["sem_open"]>) {
    const core = new Core(getBackend().pointerValue(pointer), name, null, name);
    return new PosixSemaphore(core, INTERNAL);
  }

  /**
   * Creates a named semaphore (`sem_open` with `O_CREAT | O_EXCL`).
   *
   * @param name `/` and up to 251 bytes (`"/lock"`); `undefined` picks a
   *   unique name (read it back from {@linkcode PosixSemaphore.name}).
   * @param options `initial` (default 0), `mode` (default `0o600`), `exclusive`
   *   (default true), `removeOnExit` (default false: unlink the name when
   *   this process ends, see {@linkcode PosixSemaphoreOptions.removeOnExit}).
   * @returns The semaphore.
   * @throws {TypeError} For a malformed name or options of the wrong type
   *   (a `removeOnExit` that is not a boolean, …).
   * @throws {RangeError} For an initial value above 2147483647 or a bad mode.
   * @throws {IpcError} `EEXIST` if the name exists and `exclusive`; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * using sem = PosixSemaphore.create("/sysipc_doc_sem", { initial: 3 });
   * console.log(sem.value); // 3
   * sem.unlink();
   * ```
   *
   * @example Gone when the process ends, even by Ctrl+C
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * using sem = PosixSemaphore.create(undefined, { initial: 1, removeOnExit: true });
   * console.log(sem.value); // 1: unlinked at exit, or on SIGINT, SIGTERM, SIGHUP
   * ```
   */
  static create(name?: string, options?: PosixSemaphoreOptions): PosixSemaphore {
    const n = nameOrUnique(name, NAME_MAX, EXAMPLE);
    const o = v.options(options);
    const initial = checkInitial(o.initial);
    const mode = v.mode(o.mode);
    const exclusive = v.boolean(o.exclusive, "exclusive", true);
    const atExit = v.boolean(o.removeOnExit, "removeOnExit", false);
    const s = sys();
    const c = cString(n);
    const p = s.sem_open(c, O.CREAT | O.EXCL, mode, initial);
    if (p === null) {
      const e = errno();
      if (e === Errno.EEXIST && !exclusive) {
        const sem = PosixSemaphore.open(n);
        if (atExit) removeAtExit(n);
        return sem;
      }
      throw fail("Cannot create semaphore", "sem_open", e, n);
    }
    const sem = PosixSemaphore.#named(n, p);
    // sem_open applies the umask; make the mode exact, as everywhere else.
    if (s.chmod(cString(`${SHM_DIR}/sem.${n.slice(1)}`), mode) < 0) {
      const e = errno();
      sem.close();
      s.sem_unlink(c);
      throw fail("Cannot create semaphore", "chmod", e, n);
    }
    if (atExit) removeAtExit(n);
    return sem;
  }

  /**
   * Opens an existing named semaphore (`sem_open`).
   *
   * @param name The semaphore's name, e.g. `"/lock"`.
   * @returns The semaphore.
   * @throws {TypeError} For a malformed name.
   * @throws {IpcError} `ENOENT` if no semaphore has this name; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * using made = PosixSemaphore.create(undefined, { initial: 2 });
   * try {
   *   using other = PosixSemaphore.open(made.name!); // as another process would
   *   other.tryAcquire();
   *   console.log(made.value); // 1
   * } finally {
   *   made.unlink();
   * }
   * ```
   */
  static open(name: string): PosixSemaphore {
    const n = checkName(name, NAME_MAX, EXAMPLE);
    const p = sys().sem_open(cString(n), 0, 0, 0);
    if (p === null) throw fail("Cannot open semaphore", "sem_open", errno(), n);
    return PosixSemaphore.#named(n, p);
  }

  /**
   * Removes a semaphore's name (`sem_unlink`): no one can open it any more;
   * handles already open keep working.
   *
   * @param name The semaphore's name.
   * @throws {TypeError} For a malformed name.
   * @throws {IpcError} `ENOENT` if no semaphore has this name.
   *
   * @example
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * PosixSemaphore.create("/sysipc_doc_sem_unlink").close();
   * PosixSemaphore.unlink("/sysipc_doc_sem_unlink");
   * ```
   */
  static unlink(name: string): void {
    const n = checkName(name, NAME_MAX, EXAMPLE);
    forgetOnExit(exitName(n));
    if (sys().sem_unlink(cString(n)) < 0) {
      throw fail("Cannot unlink semaphore", "sem_unlink", errno(), n);
    }
  }

  /**
   * An unnamed, process-shared semaphore inside shared memory (32 bytes,
   * 8-byte aligned), so a data structure there carries its own lock. The
   * process that lays out the memory passes `initial` (`sem_init` with
   * pshared = 1); the others leave it out and use what is there. C peers
   * reach the same semaphore with `(sem_t *)(base + byteOffset)`.
   *
   * The semaphore lives as long as the memory: closing or resizing the
   * memory (or detaching a System V segment) ends its waits and makes it
   * unusable in this process.
   *
   * @param memory A `PosixSharedMemory` or a System V `SharedMemory`, mapped read-write.
   * @param byteOffset Where the semaphore starts: a multiple of 8, with 32 bytes after it.
   * @param options `initial`: initialise it with this value (0 to 2147483647).
   * @returns The semaphore; its `name` is `null`.
   * @throws {TypeError} If `memory` is not shared memory of this library, is
   *   closed, detached or read-only; for a non-integer offset.
   * @throws {RangeError} For a misaligned offset, one too close to the end, or a bad `initial`.
   *
   * @example A counter and its lock in one block of memory
   * ```ts
   * import { PosixSemaphore, PosixSharedMemory } from "@sysipc/sysipc/posix";
   * using mem = PosixSharedMemory.anonymous({ size: 4096 });
   * using lock = PosixSemaphore.at(mem, 0, { initial: 1 }); // bytes 0–31
   * const counter = mem.view(BigInt64Array, 32, 1);
   * {
   *   using _held = await lock.lock();
   *   counter[0] += 1n;
   * }
   * console.log(counter[0], lock.value); // 1n 1
   * ```
   */
  static at(
    memory: MappedMemory,
    byteOffset: number,
    options?: PosixSemaphoreAtOptions,
  ): PosixSemaphore {
    const host = mappingOf(memory);
    const allowed = "a PosixSharedMemory or SharedMemory";
    if (host === undefined) throw v.typeError("memory", allowed, memory);
    if (host === null) throw v.typeError("memory", allowed, memory, "closed or detached memory");
    if (host.readOnly) {
      throw v.typeError("memory", `${allowed} mapped read-write`, memory, "read-only memory");
    }
    const size = host.size;
    v.integer(byteOffset, "byteOffset", {
      min: 0,
      max: size - SEM_T.BYTES,
      limit: `the last place ${SEM_T.BYTES} bytes fit in ${size}`,
    });
    if (byteOffset % SEM_T.ALIGN !== 0) {
      throw v.rangeError("byteOffset", `a multiple of ${SEM_T.ALIGN}`, byteOffset);
    }
    const o = v.options(options);
    const addr = host.address + BigInt(byteOffset);
    const label = `${host.label}, byte ${byteOffset}`;
    if (o.initial !== undefined) {
      const initial = checkInitial(o.initial);
      if (sys().sem_init(addr, 1, initial) < 0) {
        throw fail("Cannot initialise semaphore", "sem_init", errno(), label);
      }
    }
    return new PosixSemaphore(new Core(addr, null, host, label), INTERNAL);
  }

  /** The name (`"/lock"`), or `null` for a semaphore placed in shared memory. */
  get name(): string | null {
    return this.#core.name;
  }

  /** Whether `close()` has been called, or the memory holding it was closed. */
  get closed(): boolean {
    return !this.#core.usable;
  }

  /**
   * The value now (`sem_getvalue`): a snapshot that may change at once. It
   * is never negative: waiters are not counted (Linux reports 0).
   *
   * @throws {IpcError} `EBADF` after `close()`.
   */
  get value(): number {
    return this.#core.value("Cannot read semaphore");
  }

  /**
   * Takes one unit, waiting while the value is 0. The event loop keeps
   * running; a cancelled wait has taken nothing.
   *
   * @param options `signal` cancels (rejects with `signal.reason`);
   *   `timeout` in ms (rejects with a `TimeoutError`; 0 tries once).
   * @returns Resolves once a unit is taken.
   * @throws {TypeError | RangeError} For bad options (as a rejection).
   * @throws {IpcError} `EBADF` after `close()` (as a rejection); a close
   *   during the wait rejects with an `AbortError`.
   *
   * @example
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * using sem = PosixSemaphore.create();
   * try {
   *   setTimeout(() => sem.release(), 10);
   *   await sem.acquire({ timeout: 5_000 }); // resolves once released
   * } finally {
   *   sem.unlink();
   * }
   * ```
   */
  acquire(options?: WaitOptions): Promise<void> {
    const core = this.#core;
    const what = this.#what.acquire;
    let signal: AbortSignal | undefined;
    let timeout = Infinity;
    try {
      if (options !== undefined) {
        const o = v.options(options);
        timeout = v.waitOptions(o);
        signal = o.signal;
        if (signal?.aborted) return Promise.reject(signal.reason);
      }
      if (!core.usable) throw core.unusable(what, "sem_trywait");
      // The hot path: one sem_trywait, no allocation.
      const e = tryWait(core.addr);
      if (e === 0) return DONE;
      if (e !== Errno.EAGAIN) throw fail(what, "sem_trywait", e, core.label);
      if (timeout === 0) throw timeoutError(what, 0, `sem_trywait, ${core.label}`);
    } catch (e) {
      return Promise.reject(e);
    }
    return acquireSlow(core, signal, timeout, what);
  }

  /**
   * Takes one unit, blocking the calling thread while the value is 0: one
   * `sem_trywait`, a spin of a few tens of µs (`sched_yield()` and try
   * again), then `sem_clockwait` (or `sem_wait` without a timeout) on this
   * thread, as a C program blocks, with no `await` and no thread hop. It
   * blocks the calling thread (the event loop too); for Workers and
   * command-line tools that want C's latency. Elsewhere use
   * {@linkcode PosixSemaphore.acquire}.
   *
   * @param options `timeout` in ms (then a `TimeoutError`; 0 tries once).
   *   There is no `signal`: nothing could abort a blocked thread.
   * @throws {TypeError} For options of the wrong type, or a `signal`.
   * @throws {RangeError} For a negative `timeout`.
   * @throws {DOMException} `TimeoutError` when `timeout` passes first.
   * @throws {IpcError} `EBADF` after `close()`.
   *
   * @example A command-line tool waiting its turn
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * using sem = PosixSemaphore.create(undefined, { initial: 1 });
   * try {
   *   sem.acquireSync({ timeout: 1000 }); // taken at once
   *   try {
   *     sem.acquireSync({ timeout: 50 }); // blocks this thread 50 ms
   *   } catch (e) {
   *     console.log((e as DOMException).name); // "TimeoutError"
   *   }
   * } finally {
   *   sem.unlink();
   * }
   * ```
   */
  acquireSync(options?: SyncWaitOptions): void {
    const core = this.#core;
    const what = this.#what.acquire;
    const timeout = options === undefined
      ? Infinity
      : v.syncWaitOptions(v.options(options), "acquireSync()");
    if (!core.usable) throw core.unusable(what, "sem_trywait");
    const e = tryWait(core.addr);
    if (e === 0) return;
    if (e !== Errno.EAGAIN) throw fail(what, "sem_trywait", e, core.label);
    const expired = () => timeoutError(what, timeout, `sem_clockwait, ${core.label}`);
    if (timeout === 0) throw expired();
    const s = sys();
    const start = timeout === Infinity ? 0 : performance.now();
    // The bounded spin (a peer on another CPU usually answers within it), then block.
    const attempt = (): void | typeof WOULD_BLOCK => {
      const e = tryWait(core.addr);
      if (e === 0) return;
      if (e === Errno.EAGAIN) return WOULD_BLOCK;
      throw fail(what, "sem_trywait", e, core.label);
    };
    if (spin(attempt) !== WOULD_BLOCK) return;
    let abs: BigInt64Array | null = null;
    if (timeout !== Infinity) {
      abs = new BigInt64Array(2); // struct timespec, absolute on CLOCK_MONOTONIC
      s.clock_gettime(CLOCK_MONOTONIC, abs);
      const left = start + timeout - performance.now();
      const ns = abs[1] + BigInt(Math.max(1000, Math.ceil(left * 1e6)));
      abs[0] += ns / 1_000_000_000n;
      abs[1] = ns % 1_000_000_000n;
    }
    for (;;) {
      if (
        (abs === null
          ? s.sem_wait(core.addr)
          : s.sem_clockwait(core.addr, CLOCK_MONOTONIC, abs)) === 0
      ) return;
      const e = errno();
      if (e === Errno.ETIMEDOUT) throw expired();
      if (e === Errno.EINTR || e === 0) continue; // a signal (or errno lost): wait on
      throw fail(what, abs === null ? "sem_wait" : "sem_clockwait", e, core.label);
    }
  }

  /**
   * Takes one unit if the value is above 0 (`sem_trywait`), without waiting.
   *
   * @returns Whether a unit was taken.
   * @throws {IpcError} `EBADF` after `close()`.
   *
   * @example
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * using sem = PosixSemaphore.create(undefined, { initial: 1 });
   * console.log(sem.tryAcquire(), sem.tryAcquire()); // true false
   * sem.unlink();
   * ```
   */
  tryAcquire(): boolean {
    const core = this.#core;
    if (!core.usable) throw core.unusable(this.#what.acquire, "sem_trywait");
    const e = tryWait(core.addr);
    if (e === 0) return true;
    if (e === Errno.EAGAIN) return false;
    throw fail(this.#what.acquire, "sem_trywait", e, core.label);
  }

  /**
   * Gives one unit back (`sem_post`), waking a waiter if there is one.
   *
   * @throws {IpcError} `EBADF` after `close()`; `EOVERFLOW` at 2147483647.
   *
   * @example
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * using sem = PosixSemaphore.create();
   * sem.release();
   * console.log(sem.value); // 1
   * sem.unlink();
   * ```
   */
  release(): void {
    const core = this.#core;
    if (!core.usable) throw core.unusable(this.#what.release, "sem_post");
    if (sys().sem_post(core.addr) < 0) {
      throw fail(this.#what.release, "sem_post", errno(), core.label);
    }
  }

  /**
   * Takes a unit and resolves to a lock that gives it back when disposed:
   * `using _held = await sem.lock();`.
   *
   * **A process that dies inside the block leaves the unit taken** — POSIX
   * semaphores have no undo, so the next `lock()` waits forever (or until
   * its timeout). Where a peer may crash while holding the lock, use a
   * System V `SemaphoreSet`, whose `lock()` the kernel gives back when the
   * holder dies (`SEM_UNDO`).
   *
   * @param options `signal` and `timeout`, as for `acquire()`.
   * @returns The held lock.
   * @throws {IpcError} As `acquire()` does (as a rejection).
   *
   * @example
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * using sem = PosixSemaphore.create(undefined, { initial: 1 });
   * {
   *   using _held = await sem.lock({ timeout: 1_000 });
   *   // … the critical section …
   * }
   * console.log(sem.value); // 1
   * sem.unlink();
   * ```
   */
  async lock(options?: WaitOptions): Promise<PosixSemaphoreLock> {
    await this.acquire(options);
    const core = this.#core;
    return new Lock(() => {
      if (core.usable) this.release();
    });
  }

  /**
   * Closes this handle: pending waits reject with an `AbortError`, and a
   * named semaphore is closed (`sem_close`) once no wait is in flight. The
   * semaphore itself stays (until `unlink()` for a named one, with its
   * memory for one placed with `at()`). Idempotent.
   *
   * @example
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * const sem = PosixSemaphore.create();
   * const wait = sem.acquire().catch((e) => e.name);
   * sem.close();
   * console.log(await wait); // "AbortError"
   * sem.unlink();
   * ```
   */
  close(): void {
    if (this.#core.closed) return;
    closer.unregister(this);
    this.#core.close();
  }

  /**
   * Removes this semaphore's name (`sem_unlink`); works after `close()` too.
   *
   * @throws {TypeError} For a semaphore placed in memory, which has no name.
   * @throws {IpcError} `ENOENT` if the name is gone already.
   *
   * @example
   * ```ts
   * import { PosixSemaphore } from "@sysipc/sysipc/posix";
   * const sem = PosixSemaphore.create();
   * sem.close();
   * sem.unlink();
   * ```
   */
  unlink(): void {
    const name = this.#core.name;
    if (name === null) {
      throw new TypeError(
        `Cannot unlink semaphore (${this.#core.label}): it has no name (it lives in shared memory)`,
      );
    }
    PosixSemaphore.unlink(name);
  }

  /** Same as `close()`, for `using`. A name stays: `unlink()` is always explicit. */
  [Symbol.dispose](): void {
    this.close();
  }
}
