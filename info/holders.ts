/**
 * Which processes use which files: every process's shared mappings
 * (`/proc/<pid>/maps`) and open descriptors (`/proc/<pid>/fd`), by device and
 * inode — the only way to tell whether a POSIX shared memory object, named
 * semaphore or queue is in use, since the kernel keeps no count for them.
 * Inodes, not paths: `sem_open` maps a temporary file before linking it to
 * its name, so the mapping shows the temporary, deleted path; a queue's
 * descriptor shows `/name`, relative to a mount that may not exist.
 *
 * @module
 */
import { listDir, readLink, readText } from "../_sys/procfs.ts";
import { pathStat } from "../_sys/stat.ts";

/** What a scan of every process found. */
export interface HolderScan {
  /** `"major:minor:inode"` → the pids that map it or hold it open. */
  held: Map<string, number[]>;
  /**
   * Processes that could not be looked into (another user's, without
   * privilege; a sandbox's init): any of them may hold anything its uid may
   * open, on the file systems it has mounted.
   */
  unscanned: Unscanned[];
}

/** A process {@linkcode scanHolders} could not look into. */
export interface Unscanned {
  /** Its pid. */
  pid: number;
  /** Its real uid. */
  uid: number;
  /**
   * The devices (`"major:minor"`) of the file systems it has mounted
   * (`/proc/<pid>/mountinfo`, readable by all), or `null` if unknown: it
   * cannot have opened a file by path on a file system it does not see.
   */
  devices: Set<string> | null;
}

/** The key of a file in {@linkcode HolderScan.held}. */
export function fileKey(dev: string, ino: number): string {
  return `${dev}:${ino}`;
}

/**
 * Scans every process in `/proc` (this one included).
 *
 * @returns What each process maps or holds open, and which it could not see.
 */
export function scanHolders(): HolderScan {
  const held = new Map<string, number[]>();
  const unscanned: Unscanned[] = [];
  const add = (key: string, pid: number) => {
    const pids = held.get(key);
    if (!pids) held.set(key, [pid]);
    else if (pids[pids.length - 1] !== pid) pids.push(pid);
  };
  for (const entry of listDir("/proc") ?? []) {
    if (!/^\d+$/.test(entry)) continue;
    const pid = Number(entry);
    const maps = readText(`/proc/${pid}/maps`);
    const fds = listDir(`/proc/${pid}/fd`);
    if (maps === undefined || fds === undefined) {
      const uid = processUid(pid);
      if (uid !== undefined) unscanned.push({ pid, uid, devices: mountedDevices(pid) }); // else: gone
      continue;
    }
    for (const line of maps.split("\n")) {
      // 7f1e…-7f1e… rw-s 00000000 00:1b 2562   /dev/shm/jobs
      const f = line.split(/\s+/, 6);
      if (f.length < 6 || f[1]?.[3] !== "s" || f[4] === "0") continue;
      const [major, minor] = f[3].split(":").map((h) => parseInt(h, 16));
      add(fileKey(`${major}:${minor}`, Number(f[4])), pid);
    }
    for (const fd of fds) {
      const target = readLink(`/proc/${pid}/fd/${fd}`);
      if (typeof target !== "string" || !target.startsWith("/")) continue; // pipes, sockets, …
      const st = pathStat(`/proc/${pid}/fd/${fd}`, true);
      if (!("errno" in st)) add(fileKey(st.dev, st.ino), pid);
    }
  }
  return { held, unscanned };
}

/** The devices of the file systems a process sees (`/proc/<pid>/mountinfo`), or `null`. */
function mountedDevices(pid: number): Set<string> | null {
  const text = readText(`/proc/${pid}/mountinfo`);
  if (text === undefined) return null;
  // 91 87 0:43 / /dev/shm rw,relatime - tmpfs none rw
  return new Set(text.split("\n").map((l) => l.split(" ")[2]).filter((d) => d));
}

/**
 * The live processes that map or hold open the file `device:inode`, by a
 * scan's `held` map.
 */
export function holdersOf(
  held: Map<string, number[]>,
  file: { device: string; inode: number },
): number[] {
  return (held.get(fileKey(file.device, file.inode)) ?? []).filter(processAlive);
}

/** The real uid of a process (`Uid:` in `/proc/<pid>/status`), or `undefined` if it is gone. */
export function processUid(pid: number): number | undefined {
  const m = /^Uid:\s+(\d+)/m.exec(readText(`/proc/${pid}/status`) ?? "");
  return m ? Number(m[1]) : undefined;
}

/**
 * Whether a process is alive: it exists in `/proc` and is not a zombie
 * (a zombie has exited and holds nothing). Pid 0 is "nobody".
 */
export function processAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  const stat = readText(`/proc/${pid}/stat`);
  if (stat === undefined) return false;
  return !stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}
