/**
 * Stale IPC objects — what crashed programs left behind — and removing any
 * object by its record. `sysipc reap` is built on these.
 *
 * @module
 */
import { MessageQueue } from "../sysv/message_queue.ts";
import { SemaphoreSet } from "../sysv/semaphore_set.ts";
import { SharedMemory } from "../sysv/shared_memory.ts";
import { PosixMessageQueue } from "../posix/message_queue.ts";
import { PosixSemaphore } from "../posix/semaphore.ts";
import { PosixSharedMemory } from "../posix/shared_memory.ts";
import * as v from "../_sys/validate.ts";
import {
  fileKey,
  type HolderScan,
  holdersOf,
  processAlive,
  scanHolders,
  type Unscanned,
} from "./holders.ts";
import { type IpcObjectInfo, listObjects, type PosixObjectInfo } from "./objects.ts";

/** One object {@linkcode findStale} found, and why it is stale. */
export interface StaleObject {
  /** The object. */
  object: IpcObjectInfo;
  /** Why: `"no attachment; creator 4711 and last user 4712 are gone"`, … */
  reason: string;
  /** Idle for this long, in ms (since its last change, attachment or use the kernel records). */
  idleMs: number;
  /** What identifies this very object (not a later one with the same id or name). */
  identity: string;
}

/** Options of {@linkcode findStale}. */
export interface FindStaleOptions {
  /** Only objects idle for at least this long, in ms (default 600,000: ten minutes). */
  olderThan?: number;
  /** The time to measure from (default: now). */
  now?: Date;
}

/**
 * Finds IPC objects nothing uses any more:
 *
 * - **System V shared memory** with no attachment whose creator and last
 *   user (`cpid`, `lpid`) have both exited, idle (no change, attach or
 *   detach) for `olderThan`.
 * - **POSIX shared memory, named semaphores and queues** that no live
 *   process maps or holds open (every `/proc/<pid>/maps` and
 *   `/proc/<pid>/fd`, compared by inode), unchanged for `olderThan`. A
 *   process that cannot be looked into (another user's, without privilege)
 *   counts as using every object its uid could open: objects readable by
 *   others, or owned by that uid, or any object when that process is root's.
 *
 * System V semaphore sets and message queues are never reported: the kernel
 * keeps no count of their users, and a server opens them by key whenever it
 * likes — remove those by hand (`sysipc rm`).
 *
 * @param options `olderThan` (ms), `now`.
 * @returns The stale objects, in `listObjects()` order.
 * @throws {TypeError} If an option has the wrong type.
 * @throws {RangeError} If `olderThan` is negative or not finite.
 *
 * @example A dry run, as `sysipc reap` without `--yes` does
 * ```ts
 * import { findStale } from "@sysipc/sysipc";
 * for (const s of findStale({ olderThan: 60 * 60_000 })) {
 *   console.log(s.object.kind, s.reason);
 * }
 * ```
 */
export function findStale(options?: FindStaleOptions): StaleObject[] {
  const o = v.options(options);
  const olderThan = o.olderThan === undefined ? 600_000 : checkDuration(o.olderThan, "olderThan");
  const now = o.now === undefined ? Date.now() : checkDate(o.now, "now");
  return staleIn(olderThan, now);
}

/**
 * {@linkcode findStale} with its options checked, on a holder scan the
 * caller may already have (taken only if there are POSIX objects otherwise).
 */
export function staleIn(olderThan: number, now: number, scan?: HolderScan): StaleObject[] {
  const objects = listObjects({ kinds: ["shm", "posix-shm", "posix-sem", "posix-mq"] });
  if (scan === undefined && objects.some((x) => x.kind !== "shm")) scan = scanHolders();
  const out: StaleObject[] = [];
  for (const object of objects) {
    const found = object.kind === "shm"
      ? staleSegment(object, now)
      : stalePosix(object as PosixObjectInfo, now, scan!);
    if (found && found.idleMs >= olderThan) out.push({ object, ...found });
  }
  return out;
}

function staleSegment(
  o: IpcObjectInfo & { kind: "shm" },
  now: number,
): Omit<StaleObject, "object"> | undefined {
  if (o.attachCount > 0 || processAlive(o.creatorPid) || processAlive(o.lastPid)) return undefined;
  const last = Math.max(
    ...[o.changeTime, o.attachTime, o.detachTime].map((t) => t?.getTime() ?? 0),
  );
  const pids = o.lastPid <= 0 || o.lastPid === o.creatorPid
    ? `creator ${o.creatorPid} has exited${o.lastPid <= 0 ? ", never attached" : ""}`
    : `creator ${o.creatorPid} and last user ${o.lastPid} have exited`;
  return {
    reason: `no attachment; ${pids}`,
    idleMs: Math.max(0, now - last),
    identity: `shm:${o.id}:${o.key}:${o.changeTime?.getTime()}`,
  };
}

function stalePosix(
  o: PosixObjectInfo,
  now: number,
  scan: HolderScan,
): Omit<StaleObject, "object"> | undefined {
  if (holdersOf(scan.held, o).length > 0) return undefined;
  // A queue is opened by name in the IPC namespace, not through a mount: any
  // blind process may hold one. A file in /dev/shm only if its file system is mounted there.
  const couldHold = (p: Unscanned) =>
    (p.uid === 0 || p.uid === o.uid || (o.mode & 0o077) !== 0) &&
    (o.kind === "posix-mq" || p.devices === null || p.devices.has(o.device)) &&
    processAlive(p.pid);
  if (scan.unscanned.some(couldHold)) return undefined;
  const last = Math.max(o.modifyTime.getTime(), o.changeTime.getTime());
  const what = o.kind === "posix-mq" ? "holds it open" : "maps it or holds it open";
  return {
    reason: `no live process ${what}`,
    idleMs: Math.max(0, now - last),
    identity: `${o.kind}:${o.path}:${fileKey(o.device, o.inode)}`,
  };
}

/**
 * Removes one object by its record, as `sysipc rm` and `reap` do:
 * `IPC_RMID` by id for System V (without attaching), `shm_unlink`,
 * `sem_unlink` or `mq_unlink` by name for POSIX.
 *
 * @param object A record from {@linkcode listObjects} or {@linkcode findStale}.
 * @throws {IpcError} `EINVAL`/`EIDRM`/`ENOENT` if it is already gone, `EPERM`/`EACCES`
 *   without permission.
 */
export function removeObject(object: IpcObjectInfo): void {
  switch (object.kind) {
    case "shm":
      return SharedMemory.removeById(object.id);
    case "sem":
      return SemaphoreSet.removeById(object.id);
    case "msg":
      return MessageQueue.removeById(object.id);
    case "posix-shm":
      return PosixSharedMemory.unlink(object.name);
    case "posix-sem":
      return PosixSemaphore.unlink(object.name);
    case "posix-mq":
      return PosixMessageQueue.unlink(object.name);
    default:
      throw v.typeError("object", "a record from listObjects()", object);
  }
}

function checkDuration(value: unknown, name: string): number {
  if (typeof value !== "number") throw v.typeError(name, "a number of milliseconds", value);
  if (!Number.isFinite(value) || value < 0) {
    throw v.rangeError(name, "a finite number of milliseconds ≥ 0", value);
  }
  return value;
}

function checkDate(value: unknown, name: string): number {
  if (!(value instanceof Date) || Number.isNaN(value.getTime())) {
    throw v.typeError(name, "a valid Date", value);
  }
  return value.getTime();
}
