/**
 * POSIX IPC — the objects named like files (`"/jobs"`) that C programs open
 * with `mq_open` and Python with `posix_ipc`:
 *
 * - `PosixSharedMemory`: shared memory by name (`shm_open`; what Python's
 *   `multiprocessing.shared_memory`, Boost and C programs use), anonymous
 *   memory (`memfd_create`) handed to a child by descriptor, and memory
 *   adopted from a descriptor — as a zero-copy `ArrayBuffer` and typed-array
 *   views that `close()` empties before the memory goes.
 * - `PosixSemaphore`: named semaphores (`sem_open`), and unnamed ones placed
 *   inside shared memory (`PosixSemaphore.at`), with `acquire()` as a
 *   promise and `lock()` for `using` blocks.
 * - `PosixMessageQueue`: messages with priorities; a receive takes the
 *   oldest message of the highest priority. On Linux its descriptor waits
 *   like a pipe's: a synchronous try, then readiness on the library's shared
 *   waiter, so the event loop keeps running and no thread is held per wait.
 *
 * Names are one leading `/` and up to 255 bytes without another `/` (251 for
 * a semaphore). An object lives until its name is unlinked and the last
 * handle is closed. Requires `--allow-ffi`.
 *
 * @example A message with a priority
 * ```ts
 * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
 * using q = PosixMessageQueue.create();
 * try {
 *   await q.send("hello", { priority: 2 });
 *   const m = await q.receive();
 *   console.log(new TextDecoder().decode(m.data), m.priority); // "hello" 2
 * } finally {
 *   q.unlink();
 * }
 * ```
 *
 * @module
 */
export { PosixSharedMemory } from "./shared_memory.ts";
export { MappedMemory } from "../_mem/memory.ts";
export type { TypedArrayConstructor } from "../_mem/mapping.ts";
export type {
  AnonymousSharedMemoryOptions,
  PosixSharedMemoryOpenOptions,
  PosixSharedMemoryOptions,
} from "./shared_memory.ts";
export { PosixSemaphore } from "./semaphore.ts";
export type {
  PosixSemaphoreAtOptions,
  PosixSemaphoreLock,
  PosixSemaphoreOptions,
} from "./semaphore.ts";
export { PosixMessageQueue } from "./message_queue.ts";
export type {
  PosixMessage,
  PosixMessageQueueAttributes,
  PosixMessageQueueOpenOptions,
  PosixMessageQueueOptions,
  PosixMessagesOptions,
  PosixSendOptions,
  PosixSendSyncOptions,
  PosixTrySendOptions,
} from "./message_queue.ts";
export type { WaitOptions } from "../_sys/park.ts";
export type { SyncWaitOptions } from "../_sys/block.ts";
