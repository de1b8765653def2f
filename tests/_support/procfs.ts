/**
 * Readers of /proc for the tests, the same on Deno, Node.js and Bun: small
 * files (`readProcText`), this process's open descriptors and what each is,
 * its thread count, zombies, and the System V IPC objects that `ipcs` lists.
 * Fixtures import this file too, so it needs nothing but the library's libc
 * binding.
 *
 * @module
 */
import assert from "node:assert/strict";
import { libc, listDir, readLink, readText } from "./lib.ts";

// Deno 2.9 asks for --allow-all before it reads anything under /proc, so the
// readers here go through libc (the library's own readers, and these calls).
const sys = libc(
  {
    // int fcntl(int fd, int cmd, ... /* long arg */);
    fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
    // int statx(int dirfd, const char *pathname, int flags, unsigned int mask, struct statx *buf);
    statx: { parameters: ["i32", "buffer", "i32", "u32", "buffer"], result: "i32" },
  } as const,
);
const F_GETFD = 1;
const F_GETFL = 3;

/**
 * Reads a small text file (such as one under /proc) through libc.
 * Returns `undefined` if it cannot be opened.
 */
export const readProcText: (path: string) => string | undefined = readText;

/**
 * The names in a directory (without `.` and `..`), sorted, through libc —
 * Deno 2.9 asks for --allow-all before it lists `/dev/shm`. `undefined` if
 * it cannot be opened.
 */
export { listDir };

/** A file's permission bits (`statx`), or `undefined` if it does not exist. */
export function fileMode(path: string): number | undefined {
  const st = new Uint8Array(256);
  if (sys().statx(-100, new TextEncoder().encode(path + "\0"), 0, 0x2, st) !== 0) return undefined;
  return (st[28] | (st[29] << 8)) & 0o7777;
}

/** The file status flags of an open descriptor (`F_GETFL`). */
export function fdFlags(fd: number): number {
  const r = sys().fcntl(fd, F_GETFL, 0);
  assert.ok(r >= 0, `fd ${fd} is not open`);
  return r;
}

/**
 * The open descriptors of this process: every number below the soft
 * `RLIMIT_NOFILE` (at most 65536) that `fcntl(F_GETFD)` accepts — what
 * `/proc/self/fd` lists. The kernel hands out the lowest free number, so a
 * leaked descriptor shows up low; the cap keeps the scan short where Node
 * and Bun raise the limit to a million.
 */
export function openFds(): number[] {
  const limits = readProcText("/proc/self/limits") ?? "";
  const soft = Number(limits.match(/Max open files\s+(\d+)/)?.[1] ?? 65536);
  const fds: number[] = [];
  for (let fd = 0; fd < Math.min(soft, 1 << 16); fd++) {
    if (sys().fcntl(fd, F_GETFD, 0) >= 0) fds.push(fd);
  }
  return fds;
}

/** What an open descriptor is (`readlink /proc/self/fd/N`): `pipe:[1234]`, a path, … */
export function fdTarget(fd: number): string {
  const target = readLink(`/proc/self/fd/${fd}`);
  return typeof target === "string" ? target : "?";
}

/** The open descriptors and what each is (one closed meanwhile is left out). */
export function fdTable(): Map<number, string> {
  const table = new Map<number, string>();
  for (const fd of openFds()) {
    const target = fdTarget(fd);
    if (target !== "?" || sys().fcntl(fd, F_GETFD, 0) >= 0) table.set(fd, target);
  }
  return table;
}

/** How many threads this process has (`Threads:` in /proc/self/status). */
export function threadCount(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readProcText("/proc/self/status") ?? "")?.[1] ?? 0);
}

/** Whether a process is a zombie (exited, not reaped). */
export function isZombie(pid: number): boolean {
  const stat = readProcText(`/proc/${pid}/stat`);
  if (stat === undefined) return false; // gone: reaped
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}

/** One System V IPC object as `/proc/sysvipc/*` lists it. */
export interface IpcObject {
  kind: "shm" | "sem" | "msg";
  key: number;
  id: number;
}

/** Every System V shared memory segment, semaphore set and message queue (what `ipcs` shows). */
export function ipcObjects(): IpcObject[] {
  const out: IpcObject[] = [];
  for (const kind of ["shm", "sem", "msg"] as const) {
    const text = readProcText(`/proc/sysvipc/${kind}`) ?? "";
    for (const line of text.split("\n").slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 2 || f[0] === "") continue;
      out.push({ kind, key: Number(f[0]), id: Number(f[1]) });
    }
  }
  return out;
}

/** Whether this process runs as root (some tests become another user). */
export function isRoot(): boolean {
  return /^Uid:\s+0\s/m.test(readProcText("/proc/self/status") ?? "");
}
