/**
 * The kernel limits that bound IPC objects, with current usage — what
 * `lsipc` shows for System V, plus POSIX queues, `/dev/shm` space and pipes.
 * The `sysipc limits` command prints it.
 *
 * @module
 */
import { cString, libc } from "../_ffi/mod.ts";
import { pagesize } from "../_mem/mapping.ts";
import { readText } from "../_sys/procfs.ts";
import { fsSpace } from "../_sys/stat.ts";
import { type IpcObjectKind, listObjects, mqueueMount, SHM_DIR } from "./objects.ts";

const sys = libc(
  {
    // int getrlimit(int resource, struct rlimit *rlim);  struct rlimit { rlim_t cur, max; }
    getrlimit: { parameters: ["i32", "buffer"], result: "i32" },
  } as const,
);
const RLIMIT_MSGQUEUE = 12;

/** One limit. */
export interface IpcLimit {
  /** What `lsipc` calls it (`SHMMNI`, `SEMMNS`, …), or ours for the rest (`MQ_QUEUES`, `SHM_FS`, …). */
  resource: string;
  /** What it bounds, in words. */
  description: string;
  /** The family it bounds. */
  kind: IpcObjectKind | "pipe";
  /**
   * The limit, in `unit`s. Exact up to 2⁵³; the kernel's "no limit"
   * values above that (`SHMALL`, `SHMMAX` by default) are rounded.
   */
  limit: number;
  /** How much is in use, in `unit`s, where the kernel tells; otherwise `null`. */
  used: number | null;
  /** `"objects"`, `"bytes"`, `"pages"`, `"semaphores"`, `"operations"`, `"messages"` or `"value"`. */
  unit: "objects" | "bytes" | "pages" | "semaphores" | "operations" | "messages" | "value";
  /**
   * Where it is set: a sysctl (`kernel.shmmni`; `kernel.sem[1]` is the
   * second field of `kernel.sem`), `ulimit -q`, `mount /dev/shm`, or `null`
   * for a constant.
   */
  setting: string | null;
}

/** Every limit, and where POSIX queues are mounted. */
export interface IpcLimits {
  /** The limits, System V first (in `lsipc` order), then POSIX, then pipes. */
  limits: IpcLimit[];
  /** Where the `mqueue` file system is mounted, or `null` (queues work but cannot be listed). */
  mqueueMount: string | null;
}

/**
 * Reads every kernel limit on IPC objects and the current usage of each
 * that has one: System V (`/proc/sys/kernel/{msg*,shm*,sem}`), POSIX queues
 * (`/proc/sys/fs/mqueue/*`, `RLIMIT_MSGQUEUE`), the space of `/dev/shm`
 * (where POSIX shared memory and named semaphores live) and pipes
 * (`/proc/sys/fs/pipe-*`). Limits the kernel does not expose are left out.
 *
 * @returns The limits and the `mqueue` mount.
 *
 * @example How close are we to the segment limit?
 * ```ts
 * import { limits } from "@sysipc/sysipc";
 * const shmmni = limits().limits.find((l) => l.resource === "SHMMNI")!;
 * console.log(`${shmmni.used} of ${shmmni.limit} segments`);
 * ```
 */
export function limits(): IpcLimits {
  const objects = listObjects();
  const count = (kind: IpcObjectKind) => objects.filter((o) => o.kind === kind).length;
  const page = pagesize();
  const mount = mqueueMount();
  const space = fsSpace(cString(SHM_DIR));
  const rlim = new BigUint64Array(2);
  const queueBytes = sys().getrlimit(RLIMIT_MSGQUEUE, new Uint8Array(rlim.buffer)) === 0
    ? Number(rlim[0])
    : NaN;
  const sem = (readText("/proc/sys/kernel/sem") ?? "").trim().split(/\s+/).map(Number);
  /** The limit a setting holds. */
  const limit = (setting: string, resource: string): number => {
    const field = /^kernel\.sem\[(\d)\]$/.exec(setting);
    if (field) return sem[Number(field[1])];
    if (setting === "-") return CONSTANTS[resource];
    if (setting === "ulimit -q") return queueBytes;
    if (setting === `mount ${SHM_DIR}`) return space?.total ?? NaN;
    return Number(readText(`/proc/sys/${setting.replaceAll(".", "/")}`)?.trim().split(/\s+/)[0]);
  };
  const used: Record<string, number | null> = {
    MSGMNI: count("msg"),
    SHMMNI: count("shm"),
    SHMALL: objects.reduce((s, o) => s + (o.kind === "shm" ? Math.ceil(o.size / page) : 0), 0),
    SEMMNI: count("sem"),
    SEMMNS: objects.reduce((s, o) => s + (o.kind === "sem" ? o.count : 0), 0),
    MQ_QUEUES: mount === null ? null : count("posix-mq"),
    SHM_FS: space ? space.total - space.free : null,
  };
  const out: IpcLimit[] = [];
  for (const line of TABLE.trim().split("\n")) {
    const [resource, kind, unit, setting, description] = line.trim().split(/ {2,}/);
    const value = limit(setting, resource);
    if (!Number.isFinite(value)) continue; // not exposed here
    out.push({
      resource,
      description,
      kind: kind as IpcLimit["kind"],
      limit: value,
      used: used[resource] ?? null,
      unit: unit as IpcLimit["unit"],
      setting: setting === "-" ? null : setting,
    });
  }
  return { limits: out, mqueueMount: mount };
}

/** The limits that are constants of the kernel, not settings. */
const CONSTANTS: Record<string, number> = { SHMMIN: 1, SEMVMX: 32767 };

/**
 * Every limit: resource, family, unit, where it is set (`-`: a constant),
 * what it bounds. System V in `lsipc`'s order and words.
 */
const TABLE = `
  MSGMNI                msg        objects     kernel.msgmni            Number of message queues
  MSGMAX                msg        bytes       kernel.msgmax            Max size of message (bytes)
  MSGMNB                msg        bytes       kernel.msgmnb            Default max size of queue (bytes)
  SHMMNI                shm        objects     kernel.shmmni            Shared memory segments
  SHMALL                shm        pages       kernel.shmall            Shared memory pages
  SHMMAX                shm        bytes       kernel.shmmax            Max size of shared memory segment (bytes)
  SHMMIN                shm        bytes       -                        Min size of shared memory segment (bytes)
  SEMMNI                sem        objects     kernel.sem[3]            Number of semaphore identifiers
  SEMMNS                sem        semaphores  kernel.sem[1]            Total number of semaphores
  SEMMSL                sem        semaphores  kernel.sem[0]            Max semaphores per semaphore set
  SEMOPM                sem        operations  kernel.sem[2]            Max number of operations per semop(2)
  SEMVMX                sem        value       -                        Semaphore max value
  MQ_QUEUES             posix-mq   objects     fs.mqueue.queues_max     Number of POSIX message queues
  MQ_MSG_MAX            posix-mq   messages    fs.mqueue.msg_max        Max messages per POSIX queue (unprivileged)
  MQ_MSGSIZE_MAX        posix-mq   bytes       fs.mqueue.msgsize_max    Max size of a POSIX queue message (bytes)
  MQ_BYTES              posix-mq   bytes       ulimit -q                POSIX queue bytes per user (RLIMIT_MSGQUEUE)
  SHM_FS                posix-shm  bytes       mount /dev/shm           Space of /dev/shm (POSIX memory and semaphores)
  PIPE_MAX_SIZE         pipe       bytes       fs.pipe-max-size         Max pipe capacity for unprivileged users (bytes)
  PIPE_USER_PAGES_SOFT  pipe       pages       fs.pipe-user-pages-soft  Pipe pages per user before pipes shrink to one page
`;
