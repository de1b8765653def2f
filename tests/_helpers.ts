/**
 * Shared test helpers: running fixtures as real child processes, and the
 * leak checks (open descriptors, IPC objects, zombies).
 *
 * @module
 */
import assert from "node:assert/strict";
import { pipe } from "../pipe/mod.ts";
import { libc } from "../_ffi/mod.ts";

// Deno 2.9 asks for --allow-all before it reads anything under /proc, so the
// leak checks look through libc instead (the tests have --allow-ffi anyway).
const sys = libc(
  {
    // int fcntl(int fd, int cmd, ... /* long arg */);
    fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
    // int open(const char *pathname, int flags);
    open: { parameters: ["buffer", "i32"], result: "i32" },
    // ssize_t read(int fd, void *buf, size_t count);
    read: { parameters: ["i32", "buffer", "usize"], result: "isize" },
    // int close(int fd);
    close: { parameters: ["i32"], result: "i32" },
  } as const,
);
const F_GETFD = 1;
const F_GETFL = 3;
const O_CLOEXEC = 0o2000000;

/**
 * Reads a small text file (such as one under /proc) through libc.
 * Returns `undefined` if it cannot be opened.
 */
export function readProcText(path: string): string | undefined {
  const fd = sys().open(new TextEncoder().encode(path + "\0"), O_CLOEXEC);
  if (fd < 0) return undefined;
  try {
    const parts: Uint8Array[] = [];
    for (;;) {
      const buf = new Uint8Array(4096);
      const n = Number(sys().read(fd, buf, buf.length));
      if (n <= 0) break;
      parts.push(buf.subarray(0, n));
    }
    return parts.map((p) => new TextDecoder().decode(p)).join("");
  } finally {
    sys().close(fd);
  }
}

/** The file status flags of an open descriptor (`F_GETFL`). */
export function fdFlags(fd: number): number {
  const r = sys().fcntl(fd, F_GETFL, 0);
  assert.ok(r >= 0, `fd ${fd} is not open`);
  return r;
}

/** Permissions for Deno children the tests start. */
export const CHILD_PERMS = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
];

/** `deno run` argv for a script: pass to `spawn(Deno.execPath(), { args })`. */
export function denoRun(script: string | URL, ...args: string[]): string[] {
  const path = script instanceof URL ? script.pathname : script;
  return ["run", "--quiet", ...CHILD_PERMS, path, ...args];
}

/** The URL of a fixture script. */
export function fixture(name: string): URL {
  return new URL(`./fixtures/${name}`, import.meta.url);
}

/** The URL of an example script. */
export function example(name: string): URL {
  return new URL(`../examples/${name}`, import.meta.url);
}

/**
 * The open descriptors of this process: every number below the soft
 * `RLIMIT_NOFILE` that `fcntl(F_GETFD)` accepts (what `/proc/self/fd` lists).
 */
export function openFds(): number[] {
  const limits = readProcText("/proc/self/limits") ?? "";
  const soft = Number(limits.match(/Max open files\s+(\d+)/)?.[1] ?? 65536);
  const fds: number[] = [];
  for (let fd = 0; fd < Math.min(soft, 1 << 20); fd++) {
    if (sys().fcntl(fd, F_GETFD, 0) >= 0) fds.push(fd);
  }
  return fds;
}

/** Asserts that `fn` leaves the set of open descriptors as it found it. */
export async function assertNoFdLeak(fn: () => Promise<void> | void): Promise<void> {
  await warmUpWaiter();
  const before = openFds();
  await fn();
  const after = openFds();
  assert.deepEqual(after, before, "open descriptors changed");
}

/**
 * The library's readiness waiter opens one eventfd, once per process, the
 * first time anything waits. Make that happen before a descriptor snapshot.
 */
async function warmUpWaiter(): Promise<void> {
  using p = pipe();
  const r = p.readEnd.read(new Uint8Array(1));
  await sleep(5);
  await p.writeEnd.write(new Uint8Array(1));
  await r;
}

/** Whether a process is a zombie (exited, not reaped). */
export function isZombie(pid: number): boolean {
  const stat = readProcText(`/proc/${pid}/stat`);
  if (stat === undefined) return false; // gone: reaped
  return stat.slice(stat.lastIndexOf(")") + 2).startsWith("Z");
}

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/**
 * Whether `p` is still pending after `ms` milliseconds.
 */
export async function stillPending(p: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol();
  const r = await Promise.race([
    p.then(() => undefined, () => undefined),
    sleep(ms).then(() => marker),
  ]);
  return r === marker;
}

/** Compiles a C file with `cc -O2` into a temp dir and returns the binary path. */
export async function compileC(src: URL, dir: string, extra: string[] = []): Promise<string> {
  const out = `${dir}/${src.pathname.split("/").pop()!.replace(/\.c$/, "")}`;
  const r = await new Deno.Command("cc", { args: ["-O2", "-o", out, src.pathname, ...extra] })
    .output();
  assert.equal(r.code, 0, `cc failed: ${new TextDecoder().decode(r.stderr)}`);
  return out;
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

/**
 * Asserts that `fn` leaves `ipcs` as it found it: no segment, semaphore set
 * or queue created and left behind, none removed that existed before.
 * (Other programs creating IPC objects at the same time would disturb this;
 * the suite runs its modules one after another.)
 */
export async function assertNoIpcLeak(fn: () => Promise<void> | void): Promise<void> {
  const show = (o: IpcObject) => `${o.kind} id ${o.id} key 0x${(o.key >>> 0).toString(16)}`;
  const before = new Set(ipcObjects().map(show));
  await fn();
  const after = new Set(ipcObjects().map(show));
  const added = [...after].filter((x) => !before.has(x));
  const removed = [...before].filter((x) => !after.has(x));
  assert.deepEqual({ added, removed }, { added: [], removed: [] }, "ipcs changed");
}
