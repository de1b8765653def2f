/**
 * System V IPC — the kernel objects `ipcs` lists, found by a key both sides
 * agree on (`ftok()`) or by id:
 *
 * - `SharedMemory`: a segment whose memory is a zero-copy `ArrayBuffer` with
 *   typed-array views; what one process writes, the others see at once.
 *   `detach()` empties every view before unmapping, so no call can read
 *   unmapped memory.
 * - `SemaphoreSet` and `Semaphore`: counters in the kernel with P =
 *   `acquire()` and V = `release()` as promises, atomic multi-semaphore
 *   `op()`, and `lock()` for `using` blocks that the kernel unlocks even if
 *   the process is killed.
 * - `MessageQueue`: typed messages in the kernel; `send()` waits while the
 *   queue is full, `receive()` picks by type and waits while nothing matches.
 *
 * Every object lives in the kernel until `remove()` (or `ipcrm`), not until
 * the process exits. An uncontended `acquire()` is one synchronous `semop`;
 * a blocked one spins a few tens of µs, then waits off the JavaScript thread,
 * so the event loop keeps running. Waits take `{ signal, timeout }`: a
 * timeout rejects with a `DOMException` named `"TimeoutError"`, an abort with
 * `signal.reason`, a removal of the set with `IpcError` code `EIDRM`.
 * `stat()` of every object reports `key`, `mode`, `uid`, `gid`,
 * `creatorUid`, `creatorGid` and its times as `Date | null`.
 * Requires `--allow-ffi`.
 *
 * @example Shared memory guarded by a semaphore
 * ```ts
 * import { SemaphoreSet, SharedMemory } from "@sysipc/sysipc/sysv";
 * using shm = SharedMemory.create({ size: 8 });
 * using set = SemaphoreSet.create({ initial: 1 });
 * try {
 *   const counter = shm.view(BigInt64Array, 0, 1);
 *   {
 *     using _ = await set.at(0).lock(); // released at the end of the block
 *     counter[0] += 1n;
 *   }
 *   console.log(counter[0], shm.stat().attachCount); // 1n 1
 * } finally {
 *   shm.remove();
 *   set.remove();
 * }
 * ```
 *
 * @module
 */
export { ftok } from "./ftok.ts";
export { IPC_PRIVATE } from "./_ipc.ts";
export type { IpcPermStat } from "./_ipc.ts";
export { SharedMemory } from "./shared_memory.ts";
export { MappedMemory } from "../_mem/memory.ts";
export type {
  SharedMemoryCreateOptions,
  SharedMemoryOpenOptions,
  SharedMemoryStat,
  TypedArrayConstructor,
} from "./shared_memory.ts";
export { SemaphoreSet } from "./semaphore_set.ts";
export type { SemaphoreOp, SemaphoreSetOptions, SemaphoreSetStat } from "./semaphore_set.ts";
export { Semaphore } from "./semaphore.ts";
export type {
  AcquireOptions,
  AcquireSyncOptions,
  ReleaseOptions,
  SemaphoreLock,
  TryAcquireOptions,
} from "./semaphore.ts";
export type { WaitOptions } from "../_sys/park.ts";
export type { SyncWaitOptions } from "../_sys/block.ts";
export { MessageQueue } from "./message_queue.ts";
export type {
  Message,
  MessageQueueOptions,
  MessageQueueStat,
  MessagesOptions,
  ReceiveOptions,
  ReceiveSyncOptions,
  SendOptions,
  SendSyncOptions,
  TryReceiveOptions,
  TrySendOptions,
} from "./message_queue.ts";
