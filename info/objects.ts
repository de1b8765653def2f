/**
 * Every IPC object on the machine (in this IPC namespace), as typed records:
 * System V segments, semaphore sets and queues from `/proc/sysvipc/*`, POSIX
 * shared memory and named semaphores from `/dev/shm`, POSIX queues from the
 * `mqueue` file system wherever it is mounted. What `ipcs`, `lsipc` and
 * `ls /dev/shm` show, in one list; the `sysipc ls` command prints it.
 *
 * @module
 */
import { listDir, readText } from "../_sys/procfs.ts";
import { type FileStat, pathStat } from "../_sys/stat.ts";
import * as v from "../_sys/validate.ts";
import type { IpcPermStat } from "../sysv/_ipc.ts";
import type { MessageQueueStat } from "../sysv/message_queue.ts";
import type { SemaphoreSetStat } from "../sysv/semaphore_set.ts";
import type { SharedMemoryStat } from "../sysv/shared_memory.ts";

/** The kinds of IPC object, as `sysipc ls --kind` names them. */
export type IpcObjectKind = "shm" | "sem" | "msg" | "posix-shm" | "posix-sem" | "posix-mq";

/** Every kind, in the order `listObjects()` returns them. */
export const IPC_OBJECT_KINDS: readonly IpcObjectKind[] = Object.freeze([
  "shm",
  "sem",
  "msg",
  "posix-shm",
  "posix-sem",
  "posix-mq",
]);

/** What every record has. */
export interface IpcObjectBase {
  /** The kind of object. */
  kind: IpcObjectKind;
  /** The permission bits (`0o600`). */
  mode: number;
  /** The owner's user id. */
  uid: number;
  /** The owner's group id. */
  gid: number;
  /** The owner's user name (from `/etc/passwd`), or the uid as a string. */
  user: string;
}

/**
 * What every System V record has: `struct ipc_perm` and the ctime, named as
 * the objects' own `stat()` names them.
 */
export interface SysvObjectInfo
  extends
    IpcObjectBase,
    Pick<IpcPermStat, "key" | "mode" | "uid" | "gid" | "creatorUid" | "creatorGid"> {
  /** `"shm"`, `"sem"` or `"msg"`. */
  kind: "shm" | "sem" | "msg";
  /** The kernel's id (what `ipcrm -m/-s/-q` takes). */
  id: number;
  /** Creation, or the last `IPC_SET` (`ctime`). */
  changeTime: Date | null;
}

/** A System V shared memory segment (`/proc/sysvipc/shm`): `SharedMemory.stat()`'s fields and more. */
export interface SysvSharedMemoryInfo extends
  SysvObjectInfo,
  Pick<
    SharedMemoryStat,
    "size" | "attachCount" | "creatorPid" | "lastPid" | "attachTime" | "detachTime" | "removed"
  > {
  /** `"shm"`. */
  kind: "shm";
  /** Resident bytes. */
  rss: number;
  /** Swapped-out bytes. */
  swap: number;
}

/** A System V semaphore set (`/proc/sysvipc/sem`). */
export interface SysvSemaphoreSetInfo
  extends SysvObjectInfo, Pick<SemaphoreSetStat, "count" | "lastOpTime"> {
  /** `"sem"`. */
  kind: "sem";
}

/** A System V message queue (`/proc/sysvipc/msg`); its `maxBytes` only `stat()` tells. */
export interface SysvMessageQueueInfo extends
  SysvObjectInfo,
  Pick<
    MessageQueueStat,
    "messageCount" | "bytes" | "lastSendPid" | "lastReceivePid" | "sendTime" | "receiveTime"
  > {
  /** `"msg"`. */
  kind: "msg";
}

/** What every POSIX record has: a name and the file behind it. */
export interface PosixObjectInfo extends IpcObjectBase {
  /** `"posix-shm"`, `"posix-sem"` or `"posix-mq"`. */
  kind: "posix-shm" | "posix-sem" | "posix-mq";
  /** The name as `shm_open`/`sem_open`/`mq_open` take it: `"/jobs"`. */
  name: string;
  /** The file: `/dev/shm/jobs`, `/dev/shm/sem.jobs`, `/dev/mqueue/jobs`. */
  path: string;
  /** The file's size in bytes (for a queue: the bytes of messages waiting). */
  size: number;
  /** The last change of its contents. */
  modifyTime: Date;
  /** The last change of its inode (creation, size, owner, mode). */
  changeTime: Date;
  /** Creation, where the file system records it, else `null`. */
  birthTime: Date | null;
  /** The device of its file system, `"major:minor"`: with `inode`, what tells it apart. */
  device: string;
  /** Its inode number (a process maps or holds it open by that, whatever the name says). */
  inode: number;
}

/** A POSIX shared memory object (`shm_open`). */
export interface PosixSharedMemoryInfo extends PosixObjectInfo {
  /** `"posix-shm"`. */
  kind: "posix-shm";
}

/** A POSIX named semaphore (`sem_open`). */
export interface PosixSemaphoreInfo extends PosixObjectInfo {
  /** `"posix-sem"`. */
  kind: "posix-sem";
}

/** A POSIX message queue (`mq_open`). */
export interface PosixMessageQueueInfo extends PosixObjectInfo {
  /** `"posix-mq"`. */
  kind: "posix-mq";
  /** The pid registered for `mq_notify`, or 0. */
  notifyPid: number;
}

/** One IPC object, told apart by `kind`. */
export type IpcObjectInfo =
  | SysvSharedMemoryInfo
  | SysvSemaphoreSetInfo
  | SysvMessageQueueInfo
  | PosixSharedMemoryInfo
  | PosixSemaphoreInfo
  | PosixMessageQueueInfo;

/** Options of {@linkcode listObjects}. */
export interface ListObjectsOptions {
  /** Only these kinds (default: every kind). */
  kinds?: readonly IpcObjectKind[];
}

/** Where glibc keeps POSIX shared memory and named semaphores. */
export const SHM_DIR = "/dev/shm";

/**
 * Lists the IPC objects this process can see: System V ones in its IPC
 * namespace (all of them, whoever owns them: `/proc/sysvipc` shows every
 * object), POSIX ones in `/dev/shm` and in the first mounted `mqueue` file
 * system (none when it is not mounted: see `limits().mqueueMount`).
 *
 * @param options `kinds` to list only some.
 * @returns The records, by kind (in {@linkcode IPC_OBJECT_KINDS} order),
 *   then by id or name.
 * @throws {TypeError} If `kinds` is not an array of known kinds.
 *
 * @example Our segment, as `ipcs -m` sees it
 * ```ts
 * import { listObjects, SharedMemory } from "@sysipc/sysipc";
 * using shm = SharedMemory.create({ size: 4096 });
 * try {
 *   for (const o of listObjects({ kinds: ["shm"] })) {
 *     if (o.kind === "shm" && o.id === shm.id) console.log(o.size, o.attachCount); // 4096 1
 *   }
 * } finally {
 *   shm.remove();
 * }
 * ```
 */
export function listObjects(options?: ListObjectsOptions): IpcObjectInfo[] {
  const kinds = checkKinds(v.options(options).kinds);
  const users = userNames();
  const out: IpcObjectInfo[] = [];
  for (const kind of IPC_OBJECT_KINDS) {
    if (!kinds.includes(kind)) continue;
    if (kind === "shm" || kind === "sem" || kind === "msg") out.push(...sysvObjects(kind, users));
    else out.push(...posixObjects(kind, users));
  }
  return out;
}

/** Checks a `kinds` option: `undefined` means every kind. */
export function checkKinds(kinds: unknown, name = "kinds"): readonly IpcObjectKind[] {
  if (kinds === undefined) return IPC_OBJECT_KINDS;
  const list = v.array(kinds, name, `an array of ${IPC_OBJECT_KINDS.join(", ")}`);
  return list.map((k, i) => v.oneOf(k, `${name}[${i}]`, IPC_OBJECT_KINDS));
}

// ---------------------------------------------------------------------------
// System V: /proc/sysvipc/{shm,sem,msg}
// ---------------------------------------------------------------------------

/** `SHM_DEST` in a segment's `perms` column: marked for removal. */
const SHM_DEST = 0o1000;

/**
 * The rows of `/proc/sysvipc/<kind>` as name → text, by the header's column
 * names (so a kernel that adds columns changes nothing).
 */
export function sysvRows(kind: "shm" | "sem" | "msg"): Record<string, string>[] {
  const [header, ...lines] = (readText(`/proc/sysvipc/${kind}`) ?? "").split("\n");
  const names = header?.trim().split(/\s+/) ?? [];
  return lines.filter((l) => l.trim() !== "").map((l) => {
    const f = l.trim().split(/\s+/);
    return Object.fromEntries(names.map((n, i) => [n, f[i] ?? ""]));
  });
}

function sysvObjects(kind: "shm" | "sem" | "msg", users: Map<number, string>): IpcObjectInfo[] {
  const out: IpcObjectInfo[] = [];
  for (const r of sysvRows(kind)) {
    const n = (c: string) => Number(r[c] ?? 0);
    const time = (c: string) => (n(c) > 0 ? new Date(n(c) * 1000) : null);
    const perms = parseInt(r.perms ?? "0", 8);
    const base = {
      id: n(kind === "shm" ? "shmid" : kind === "sem" ? "semid" : "msqid"),
      key: n("key") >>> 0,
      mode: perms & 0o777,
      uid: n("uid"),
      gid: n("gid"),
      user: users.get(n("uid")) ?? String(n("uid")),
      creatorUid: n("cuid"),
      creatorGid: n("cgid"),
      changeTime: time("ctime"),
    };
    if (kind === "shm") {
      out.push({
        kind,
        ...base,
        size: n("size"),
        attachCount: n("nattch"),
        creatorPid: n("cpid"),
        lastPid: n("lpid"),
        attachTime: time("atime"),
        detachTime: time("dtime"),
        removed: (perms & SHM_DEST) !== 0,
        rss: n("rss"),
        swap: n("swap"),
      });
    } else if (kind === "sem") {
      out.push({ kind, ...base, count: n("nsems"), lastOpTime: time("otime") });
    } else {
      out.push({
        kind,
        ...base,
        messageCount: n("qnum"),
        bytes: n("cbytes"),
        lastSendPid: n("lspid"),
        lastReceivePid: n("lrpid"),
        sendTime: time("stime"),
        receiveTime: time("rtime"),
      });
    }
  }
  return out.sort((a, b) => (a as SysvObjectInfo).id - (b as SysvObjectInfo).id);
}

// ---------------------------------------------------------------------------
// POSIX: /dev/shm and the mqueue file system
// ---------------------------------------------------------------------------

/** The `S_IFREG` type bits. */
const S_IFMT = 0o170000;
const S_IFREG = 0o100000;

/**
 * Where the `mqueue` file system is mounted for this process (the first
 * mount in `/proc/self/mounts`), or `null` when it is not — then POSIX
 * queues exist and work but cannot be listed.
 */
export function mqueueMount(): string | null {
  for (const line of (readText("/proc/self/mounts") ?? "").split("\n")) {
    const [, dir, type] = line.split(" ");
    if (type === "mqueue" && dir) {
      return dir.replace(/\\([0-7]{3})/g, (_, o) => String.fromCharCode(parseInt(o, 8)));
    }
  }
  return null;
}

/** Where POSIX objects of `kind` have their files, or `null` (no mqueue mount). */
export function posixDir(kind: "posix-shm" | "posix-sem" | "posix-mq"): string | null {
  return kind === "posix-mq" ? mqueueMount() : SHM_DIR;
}

/**
 * The record of the POSIX object named `name` (`"/jobs"`), or `undefined`
 * if there is none — or nowhere to look (`posixDir()` is `null`).
 */
export function posixObjectNamed(
  kind: "posix-shm" | "posix-sem" | "posix-mq",
  name: string,
): IpcObjectInfo | undefined {
  const dir = posixDir(kind);
  // glibc keeps a named semaphore "/x" in /dev/shm/sem.x.
  const file = kind === "posix-sem" ? `sem.${name.slice(1)}` : name.slice(1);
  return dir === null ? undefined : posixObject(kind, `${dir}/${file}`, name);
}

function posixObjects(
  kind: "posix-shm" | "posix-sem" | "posix-mq",
  users: Map<number, string>,
): IpcObjectInfo[] {
  const dir = posixDir(kind);
  if (dir === null) return [];
  const out: IpcObjectInfo[] = [];
  for (const file of listDir(dir) ?? []) {
    const isSem = file.startsWith("sem.");
    if (kind === "posix-sem" && !isSem || kind === "posix-shm" && isSem) continue;
    const name = `/${kind === "posix-sem" ? file.slice("sem.".length) : file}`;
    const info = posixObject(kind, `${dir}/${file}`, name, users);
    if (info) out.push(info);
  }
  return out;
}

/**
 * The record of one POSIX object, from its file, or `undefined` if it is
 * not there (or not a regular file).
 */
function posixObject(
  kind: "posix-shm" | "posix-sem" | "posix-mq",
  path: string,
  name: string,
  users: Map<number, string> = userNames(),
): IpcObjectInfo | undefined {
  const st = pathStat(path);
  if ("errno" in st || (st.mode & S_IFMT) !== S_IFREG) return undefined;
  const base = posixBase(name, path, st, users);
  if (kind !== "posix-mq") return { kind, ...base };
  // "QSIZE:129 NOTIFY:0 SIGNO:0 NOTIFY_PID:0" (fs/mqueue.c)
  const text = readText(path) ?? "";
  const field = (f: string) => Number(new RegExp(`${f}:\\s*(\\d+)`).exec(text)?.[1] ?? 0);
  return { kind, ...base, size: field("QSIZE"), notifyPid: field("NOTIFY_PID") };
}

function posixBase(name: string, path: string, st: FileStat, users: Map<number, string>) {
  return {
    name,
    path,
    mode: st.mode & 0o7777,
    uid: st.uid,
    gid: st.gid,
    user: users.get(st.uid) ?? String(st.uid),
    size: st.size,
    modifyTime: st.modifyTime,
    changeTime: st.changeTime,
    birthTime: st.birthTime,
    device: st.dev,
    inode: st.ino,
  };
}

/** uid → user name, from `/etc/passwd` (users known only to NSS services show as numbers). */
export function userNames(): Map<number, string> {
  const users = new Map<number, string>();
  for (const line of (readText("/etc/passwd") ?? "").split("\n")) {
    const [name, , uid] = line.split(":");
    if (name && uid && /^\d+$/.test(uid) && !users.has(Number(uid))) users.set(Number(uid), name);
  }
  return users;
}
