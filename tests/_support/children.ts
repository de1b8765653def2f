/**
 * Shared test helpers, the same on Deno, Node.js and Bun: running fixtures
 * and programs as real child processes (through the library's own `spawn()`
 * and `pipe()`), and the leak checks (open descriptors, IPC objects,
 * zombies) that stand in for Deno's sanitizers on the other runtimes.
 *
 * @module
 */
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { basename, join } from "node:path";
import { fileURLToPath } from "node:url";
import process from "node:process";
import { type Child, libc, pipe, type PipeEnd, SemaphoreSet, spawn } from "./_lib.ts";
import { childArgv, type ChildArgvOptions, runtimeName, tempDir } from "./_runtime.ts";

// Deno 2.9 asks for --allow-all before it reads anything under /proc, so the
// leak checks look through libc instead (every runtime has it).
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
    // ssize_t readlink(const char *pathname, char *buf, size_t bufsiz);
    readlink: { parameters: ["buffer", "buffer", "usize"], result: "isize" },
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

// ---------------------------------------------------------------------------
// Scripts and files
// ---------------------------------------------------------------------------

/** The URL of a fixture script (its `.ts` source; `childArgv` picks the compiled twin). */
export function fixture(name: string): URL {
  return new URL(`./fixtures/${name}`, import.meta.url);
}

/** The URL of an example script. */
export function example(name: string): URL {
  return new URL(`../examples/${name}`, import.meta.url);
}

/** The path of a file in `tests/interop/` (C sources, Python peers). */
export function interopFile(name: string): string {
  return fileURLToPath(new URL(`./interop/${name}`, import.meta.url));
}

/** `childArgv` for a fixture. */
export function fixtureArgv(
  name: string,
  args: readonly (string | number)[] = [],
  options?: ChildArgvOptions,
): [string, string[]] {
  return childArgv(fixture(name), args.map(String), options);
}

/** `childArgv` for an example. */
export function exampleArgv(name: string, args: readonly (string | number)[] = []): [
  string,
  string[],
] {
  return childArgv(example(name), args.map(String));
}

/** Whether anything exists at `path`. */
export function exists(path: string): boolean {
  return existsSync(path);
}

/** Runs `fn` with a fresh temporary directory, removed afterwards whatever happens. */
export async function withTempDir<T>(
  prefix: string,
  fn: (dir: string) => T | Promise<T>,
): Promise<T> {
  const dir = tempDir(prefix);
  try {
    return await fn(dir);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

// ---------------------------------------------------------------------------
// Child processes, through the library's spawn() and pipe()
// ---------------------------------------------------------------------------

/** Resolves after `ms` milliseconds. */
export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** Settles like `p`, or rejects with `message` once `ms` pass (the timer is always cleared). */
function within<T>(p: Promise<T>, ms: number, message: () => string): Promise<T> {
  let timer: ReturnType<typeof setTimeout> | undefined;
  const late = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(message())), Math.max(0, ms));
  });
  return Promise.race([p, late]).finally(() => clearTimeout(timer));
}

/** A child's output, read line by line from our pipe, with a deadline per line. */
export class Lines {
  #end: PipeEnd;
  #buf = "";
  #done = false;
  #chunk = new Uint8Array(4096);
  #decoder = new TextDecoder();
  #pending?: Promise<number | null>;

  constructor(end: PipeEnd) {
    this.#end = end;
  }

  async #fill(ms: number, what: () => string): Promise<void> {
    this.#pending ??= this.#end.read(this.#chunk);
    const n = await within(this.#pending, ms, what);
    this.#pending = undefined;
    if (n === null) {
      this.#done = true;
      this.#buf += this.#decoder.decode();
    } else {
      this.#buf += this.#decoder.decode(this.#chunk.subarray(0, n), { stream: true });
    }
  }

  /** The next line (without its newline); throws if none comes within `ms` or the output ends. */
  async next(ms = 15_000): Promise<string> {
    const deadline = Date.now() + ms;
    for (;;) {
      const nl = this.#buf.indexOf("\n");
      if (nl >= 0) {
        const line = this.#buf.slice(0, nl);
        this.#buf = this.#buf.slice(nl + 1);
        return line;
      }
      if (this.#done) {
        throw new Error(`the output ended mid-line or early (rest: ${JSON.stringify(this.#buf)})`);
      }
      await this.#fill(
        deadline - Date.now(),
        () => `no line within ${ms} ms (so far: ${JSON.stringify(this.#buf)})`,
      );
    }
  }

  /** The next line, parsed as JSON. */
  async json<T = Record<string, unknown>>(ms?: number): Promise<T> {
    return JSON.parse(await this.next(ms)) as T;
  }

  /**
   * Reads until `done(text)` holds for the text read so far, the output ends
   * or `ms` pass; returns that text (the caller's assertions judge it).
   */
  async readUntil(done: (text: string) => boolean, ms: number): Promise<string> {
    const deadline = Date.now() + ms;
    try {
      while (!done(this.#buf) && !this.#done && Date.now() < deadline) {
        await this.#fill(deadline - Date.now(), () => "deadline");
      }
    } catch (e) {
      if ((e as Error).message !== "deadline") throw e;
    }
    const text = this.#buf;
    this.#buf = "";
    return text;
  }

  /** Everything until end of file (at most `ms`). */
  async rest(ms = 120_000): Promise<string> {
    const deadline = Date.now() + ms;
    while (!this.#done) {
      await this.#fill(deadline - Date.now(), () => `the output did not end within ${ms} ms`);
    }
    const text = this.#buf;
    this.#buf = "";
    return text;
  }

  /** Closes our read end (a read still pending is dropped). */
  close(): void {
    this.#pending?.catch(() => {});
    this.#end.close();
  }
}

/** Processes the tests started (shm_test counts segments they created). */
export const startedPids: Set<number> = new Set([process.pid]);

/** How {@linkcode start} connects a child. */
export interface StartOptions {
  cwd?: string;
  env?: Record<string, string>;
  /** `"pipe"` gives `proc.stdin`; default `"null"`. */
  stdin?: "pipe" | "null";
  /** `"pipe"` (default) collects it for `output()` and failure messages. */
  stderr?: "pipe" | "inherit" | "null";
}

/** What a finished child said. */
export interface Output {
  success: boolean;
  code: number;
  signal: string | null;
  stdout: string;
  stderr: string;
}

/** A running child with its stdout (and stderr, stdin) on our pipes. */
export class Proc {
  readonly child: Child;
  /** Its stdout, line by line. */
  readonly stdout: Lines;
  /** Its stdin, with `stdin: "pipe"`. */
  readonly stdin?: PipeEnd;
  #stderr?: PipeEnd;
  #stderrText?: Promise<string>;

  constructor(command: string, args: readonly string[], options: StartOptions = {}) {
    const out = pipe();
    const err = options.stderr === undefined || options.stderr === "pipe" ? pipe() : undefined;
    const inp = options.stdin === "pipe" ? pipe() : undefined;
    try {
      this.child = spawn(command, {
        args: [...args],
        cwd: options.cwd,
        env: options.env,
        stdin: inp?.readEnd ?? "null",
        stdout: out.writeEnd,
        stderr: err?.writeEnd ?? (options.stderr === "inherit" ? "inherit" : "null"),
      });
    } catch (e) {
      out.close();
      err?.close();
      inp?.close();
      throw e;
    }
    startedPids.add(this.child.pid);
    out.writeEnd.close();
    err?.writeEnd.close();
    inp?.readEnd.close();
    this.stdout = new Lines(out.readEnd);
    this.stdin = inp?.writeEnd;
    this.#stderr = err?.readEnd;
  }

  get pid(): number {
    return this.child.pid;
  }

  get status(): Child["status"] {
    return this.child.status;
  }

  kill(signal?: string): void {
    this.child.kill(signal);
  }

  /** Its stderr to end of file (what was collected, with `stderr: "pipe"`). */
  stderrText(): Promise<string> {
    if (this.#stderr === undefined) return Promise.resolve("");
    this.#stderrText ??= new Lines(this.#stderr).rest();
    return this.#stderrText;
  }

  /** Waits for the child to exit, with the rest of its stdout and its stderr. */
  async output(): Promise<Output> {
    const [stdout, stderr, status] = await Promise.all([
      this.stdout.rest(),
      this.stderrText(),
      this.child.status,
    ]);
    return { ...status, stdout, stderr };
  }

  /** Writes a line to its stdin. */
  async send(line: string): Promise<void> {
    await this.stdin!.write(new TextEncoder().encode(line + "\n"));
  }

  /** Kills it if it still runs, reaps it, and closes every pipe end we hold. */
  async [Symbol.asyncDispose](): Promise<void> {
    try {
      this.child.kill("SIGKILL");
    } catch {
      // already exited
    }
    await this.child.status;
    this.stdin?.close();
    this.stdout.close();
    if (this.#stderrText) await this.#stderrText.catch(() => {});
    this.#stderr?.close();
  }
}

/** Starts a child with its stdout (and stderr, optionally stdin) on our pipes. */
export function start(command: string, args: readonly string[] = [], options?: StartOptions): Proc {
  return new Proc(command, args, options);
}

/** Starts a fixture in a new process of this runtime. */
export function startFixture(
  name: string,
  args: readonly (string | number)[] = [],
  options?: StartOptions & ChildArgvOptions,
): Proc {
  const [cmd, argv] = fixtureArgv(name, args, options);
  return start(cmd, argv, options);
}

/** Runs a program to its end and returns what it printed. */
export async function run(
  command: string,
  args: readonly string[] = [],
  options?: StartOptions,
): Promise<Output> {
  await using p = start(command, args, options);
  return await p.output();
}

/** Compiles a C file with `cc -O2` into `dir` and returns the binary's path. */
export async function compileC(src: string, dir: string, extra: string[] = []): Promise<string> {
  const out = join(dir, basename(src).replace(/\.c$/, ""));
  const r = await run("cc", ["-O2", "-o", out, src, ...extra]);
  assert.equal(r.code, 0, `cc failed: ${r.stderr}`);
  return out;
}

// ---------------------------------------------------------------------------
// Timing helpers (behavioural bounds only, never speed)
// ---------------------------------------------------------------------------

/** Whether `p` is still pending after `ms` milliseconds. */
export async function stillPending(p: Promise<unknown>, ms: number): Promise<boolean> {
  const marker = Symbol();
  let timer: ReturnType<typeof setTimeout> | undefined;
  const r = await Promise.race([
    p.then(() => undefined, () => undefined),
    new Promise((resolve) => timer = setTimeout(() => resolve(marker), ms)),
  ]);
  clearTimeout(timer);
  return r === marker;
}

/** Polls `f` until it returns true (every 5 ms, up to `ms`). */
export async function until(what: string, f: () => boolean, ms = 10_000): Promise<void> {
  const deadline = Date.now() + ms;
  while (!f()) {
    if (Date.now() > deadline) throw new Error(`timed out waiting until ${what}`);
    await sleep(5);
  }
}

/**
 * Counts event-loop turns while `body` runs: a 10 ms interval timer. The
 * proof that a wait did not block the event loop is that the timer kept
 * ticking meanwhile.
 */
export async function ticksDuring<T>(
  body: () => Promise<T>,
): Promise<{ value: T; ticks: number; ms: number }> {
  let ticks = 0;
  const timer = setInterval(() => ticks++, 10);
  const t0 = performance.now();
  try {
    const value = await body();
    return { value, ticks, ms: performance.now() - t0 };
  } finally {
    clearInterval(timer);
  }
}

// ---------------------------------------------------------------------------
// Leak checks
// ---------------------------------------------------------------------------

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
function fdTarget(fd: number): string {
  const buf = new Uint8Array(4096);
  const n = Number(
    sys().readlink(new TextEncoder().encode(`/proc/self/fd/${fd}\0`), buf, buf.length),
  );
  return n < 0 ? "?" : new TextDecoder().decode(buf.subarray(0, n));
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
function threadCount(): number {
  return Number(/^Threads:\s+(\d+)/m.exec(readProcText("/proc/self/status") ?? "")?.[1] ?? 0);
}

/**
 * The descriptors of one Worker's event loop, on the runtimes whose library
 * backend waits off-thread on a pool of Workers: Node has an epoll, an
 * eventfd and a self-pipe (both ends) per Worker, Bun an epoll and an
 * eventfd. Which Workers the pool keeps idle can change when more calls wait
 * at once than it keeps (it starts more, then lets the surplus go), so these
 * are counted rather than compared by number. Deno has no such pool: there
 * every descriptor is compared exactly.
 */
const WORKER_FDS = runtimeName === "node"
  ? { eventpoll: 1, eventfd: 1, pipePairs: 1 }
  : runtimeName === "bun"
  ? { eventpoll: 1, eventfd: 1, pipePairs: 0 }
  : undefined;

interface FdSummary {
  /** `"fd target"` of every descriptor compared exactly. */
  exact: Set<string>;
  eventpoll: number;
  eventfd: number;
  /** Pipes of which this process holds both ends and nothing else (Node's Worker self-pipes). */
  pipePairs: number;
}

function summarize(table: Map<number, string>): FdSummary {
  const s: FdSummary = { exact: new Set(), eventpoll: 0, eventfd: 0, pipePairs: 0 };
  const pipes = new Map<string, number[]>();
  for (const [fd, target] of table) {
    if (WORKER_FDS && target === "anon_inode:[eventpoll]") s.eventpoll++;
    else if (WORKER_FDS && target === "anon_inode:[eventfd]") s.eventfd++;
    else if (WORKER_FDS?.pipePairs && target.startsWith("pipe:")) {
      pipes.set(target, [...pipes.get(target) ?? [], fd]);
    } else s.exact.add(`${fd} ${target}`);
  }
  for (const [target, fds] of pipes) {
    if (fds.length === 2) s.pipePairs++;
    else for (const fd of fds) s.exact.add(`${fd} ${target}`);
  }
  return s;
}

/**
 * How `after` differs from `before` (empty: the same), and whether the
 * difference is nothing but whole Workers that have yet to exit.
 */
function fdDiff(before: FdSummary, after: FdSummary): { lines: string[]; workers: boolean } {
  const lines = [
    ...[...after.exact].filter((x) => !before.exact.has(x)).map((x) => `+ fd ${x}`),
    ...[...before.exact].filter((x) => !after.exact.has(x)).map((x) => `- fd ${x}`),
  ];
  const exactSame = lines.length === 0;
  const d = {
    eventpoll: after.eventpoll - before.eventpoll,
    eventfd: after.eventfd - before.eventfd,
    pipePairs: after.pipePairs - before.pipePairs,
  };
  for (const [k, v] of Object.entries(d)) {
    if (v !== 0) {
      lines.push(
        `${k}: ${before[k as keyof typeof d]} before, ${after[k as keyof typeof d]} after`,
      );
    }
  }
  const n = d.eventpoll;
  const workers = exactSame && WORKER_FDS !== undefined && n > 0 &&
    d.eventfd === n * WORKER_FDS.eventfd && d.pipePairs === n * WORKER_FDS.pipePairs;
  return { lines, workers };
}

/**
 * Asserts that `fn` leaves the open descriptors as it found them: the same
 * numbers, each still the same pipe, file or kernel object (on Node and Bun
 * the off-thread Workers' own descriptors are counted, see `WORKER_FDS`).
 * Only surplus Workers get time (up to a second, while the thread count is
 * above what it was) to go away; any other difference fails at once, before
 * a finalizer could close a leaked descriptor behind the test's back.
 */
export async function assertNoFdLeak(fn: () => Promise<void> | void): Promise<void> {
  await warmUpWaiter();
  const threads = threadCount();
  const before = summarize(fdTable());
  await fn();
  // Surplus Workers (more waits at once than the pool keeps) exit on their
  // own; a descriptor snapshot taken while one is closing its loop is torn.
  for (let i = 0; WORKER_FDS && i < 50 && threadCount() > threads; i++) await sleep(20);
  let diff = fdDiff(before, summarize(fdTable()));
  for (let i = 0; i < 50 && diff.workers; i++) {
    await sleep(20);
    diff = fdDiff(before, summarize(fdTable()));
  }
  assert.deepEqual(diff.lines, [], `open descriptors changed:\n${diff.lines.join("\n")}`);
}

let warm = false;

/**
 * Makes the library's lazily opened descriptors exist before a snapshot: the
 * readiness waiter's eventfd (opened once per process, the first time
 * anything waits) and, on Node and Bun, the off-thread pool's Workers (each
 * with its own event loop's descriptors; the pool keeps 4 idle ones). Four
 * semaphore waits at once park in four Workers; a pipe read parks on the
 * shared waiter.
 */
async function warmUpWaiter(): Promise<void> {
  if (!warm) {
    const set = SemaphoreSet.create();
    try {
      const sem = set.at(0);
      const waits = Array.from({ length: 4 }, () => sem.acquire({ timeout: 10_000 }));
      await until("4 warm-up waits are parked", () => sem.waitingForIncrease === 4);
      sem.release(4);
      await Promise.all(waits);
    } finally {
      set.remove();
    }
    warm = true;
  }
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
 * each suite runs its files one after another.)
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

/** Both leak checks: descriptors and `ipcs`. */
export async function assertNoLeaks(fn: () => Promise<void> | void): Promise<void> {
  await assertNoFdLeak(() => assertNoIpcLeak(fn));
}

/** Whether this process runs as root (some tests become another user). */
export function isRoot(): boolean {
  return /^Uid:\s+0\s/m.test(readProcText("/proc/self/status") ?? "");
}
