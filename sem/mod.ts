/**
 * System V semaphores (the same names as `@sysipc/sysipc/sysv`, kept as
 * their own entry point): `SemaphoreSet` (a set of counters in the kernel,
 * shared by every process that knows its key or id) and `Semaphore` (one of
 * them, with P = `acquire()` and V = `release()` as promises, and `lock()` for
 * `using` blocks that the kernel unlocks even if the process is killed).
 *
 * An uncontended `acquire()` is one synchronous `semop` with `IPC_NOWAIT`. A
 * blocked one spins a few tens of µs (`sched_yield()` and retry), then waits
 * with one `semtimedop` on a thread of the library's own, so the event loop
 * keeps running and the wait stays in the kernel's queue the whole time
 * (`waitingForIncrease` and `ipcs -s -i` count it). A `timeout`, an
 * `AbortSignal` or disposing the set handle ends the wait within a
 * millisecond or so (the thread is interrupted with a signal).
 * A timeout rejects with a `DOMException` named `"TimeoutError"`, an abort
 * with `signal.reason`, a removal of the set with `IpcError` code `EIDRM`.
 *
 * Cancelling while the kernel grants the wait: a wait that is aborted (or
 * whose handle is disposed) never rejects while holding what it took — if the
 * in-flight `semtimedop` succeeds, what it took is given back first. An
 * `op()` that also adds to a semaphore cannot be taken back without blocking,
 * so it resolves instead: the operation happened.
 *
 * A pending wait keeps the process alive, like a pending read: a program
 * whose last act is waiting on a semaphore nobody releases does not exit.
 * End such waits with a `timeout`, a `signal`, `[Symbol.dispose]` on the set
 * handle, or by removing the set. Requires `--allow-ffi`.
 *
 * @example Two semaphores make two tasks take turns (ping-pong)
 * ```ts
 * import { SemaphoreSet } from "@sysipc/sysipc/sem";
 * using set = SemaphoreSet.create({ count: 2, initial: [1, 0] });
 * const [ping, pong] = set;
 * const log: string[] = [];
 * const player = async (me: string, mine: typeof ping, theirs: typeof ping) => {
 *   for (let i = 0; i < 3; i++) {
 *     await mine.acquire(); // P(mine): wait for my turn
 *     log.push(me);
 *     theirs.release(); //     V(theirs): hand over
 *   }
 * };
 * await Promise.all([player("ping", ping, pong), player("pong", pong, ping)]);
 * console.log(log.join(" ")); // "ping pong ping pong ping pong"
 * set.remove();
 * ```
 *
 * @module
 */
export { IPC_PRIVATE, Semaphore, SemaphoreSet } from "../sysv/mod.ts";
export type {
  AcquireOptions,
  AcquireSyncOptions,
  ReleaseOptions,
  SemaphoreLock,
  SemaphoreOp,
  SemaphoreSetOptions,
  SemaphoreSetStat,
  SyncWaitOptions,
  TryAcquireOptions,
  WaitOptions,
} from "../sysv/mod.ts";
