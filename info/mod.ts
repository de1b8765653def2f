/**
 * Introspection — every IPC object on the machine and the limits that bound
 * them, as typed records; what the `sysipc` command (`ls`, `stat`, `rm`,
 * `reap`, `limits`) is built on:
 *
 * - `listObjects({ kinds })`: System V segments, semaphore sets and queues
 *   (`/proc/sysvipc/*`), POSIX shared memory and named semaphores
 *   (`/dev/shm`), POSIX queues (the `mqueue` mount, when there is one).
 * - `limits()`: `SHMMNI`, `SEMMNS`, `MSGMNI`, … with usage, POSIX queue
 *   limits, `/dev/shm` space, pipe limits.
 * - `findStale({ olderThan })`: what crashed programs left behind —
 *   System V segments nobody attaches whose creator and last user are gone,
 *   POSIX objects no live process maps or holds open.
 * - `removeObject(record)`: removes one, by id or name, without attaching.
 *
 * Reads `/proc` through libc: needs `--allow-ffi` (and `--allow-read`) only.
 *
 * @example What is there, and what may go
 * ```ts
 * import { findStale, listObjects } from "@sysipc/sysipc/info";
 * for (const o of listObjects()) {
 *   console.log(o.kind, "id" in o ? o.id : o.name, o.user, o.mode.toString(8));
 * }
 * console.log(findStale().length, "stale objects");
 * ```
 *
 * @module
 */
export { IPC_OBJECT_KINDS, listObjects } from "./objects.ts";
export type {
  IpcObjectBase,
  IpcObjectInfo,
  IpcObjectKind,
  ListObjectsOptions,
  PosixMessageQueueInfo,
  PosixObjectInfo,
  PosixSemaphoreInfo,
  PosixSharedMemoryInfo,
  SysvMessageQueueInfo,
  SysvObjectInfo,
  SysvSemaphoreSetInfo,
  SysvSharedMemoryInfo,
} from "./objects.ts";
export { limits } from "./limits.ts";
export type { IpcLimit, IpcLimits } from "./limits.ts";
export { findStale, removeObject } from "./stale.ts";
export type { FindStaleOptions, StaleObject } from "./stale.ts";
