/**
 * `spawn()` and `Child`: run a program with our pipe ends as its stdio or as
 * extra descriptors, via `posix_spawn` (no `fork()` in a multi-threaded runtime).
 *
 * @module
 */
import { cString, getBackend, libc, type Pointer } from "../_ffi/mod.ts";
import { environEntries, environPointer } from "../_sys/environ.ts";
import { Errno, errno } from "../_sys/errno.ts";
import { listDir } from "../_sys/procfs.ts";
import { signalName } from "../_sys/signals.ts";
import { fdStat, fileType, S_IFDIR, S_IFIFO } from "../_sys/stat.ts";
import * as v from "../_sys/validate.ts";
import { POLL, waitReady } from "../_sys/waiter.ts";
import { IpcError, ipcError } from "../errors.ts";
import { F } from "./_sys.ts";
import { PipeEnd } from "./pipe_end.ts";
import type { Channel } from "../channel/channel.ts";
import { CHANNEL_FD_ENV } from "../channel/_layout.ts";

const sys = libc(
  {
    // int posix_spawn_file_actions_init(posix_spawn_file_actions_t *fa);
    posix_spawn_file_actions_init: { parameters: ["buffer"], result: "i32" },
    // int posix_spawn_file_actions_destroy(posix_spawn_file_actions_t *fa);
    posix_spawn_file_actions_destroy: { parameters: ["buffer"], result: "i32" },
    // int posix_spawn_file_actions_adddup2(posix_spawn_file_actions_t *fa, int fd, int newfd);
    posix_spawn_file_actions_adddup2: { parameters: ["buffer", "i32", "i32"], result: "i32" },
    // int posix_spawn_file_actions_addclose(posix_spawn_file_actions_t *fa, int fd);
    posix_spawn_file_actions_addclose: { parameters: ["buffer", "i32"], result: "i32" },
    // int posix_spawn_file_actions_addopen(fa, int fd, const char *path, int oflag, mode_t mode);
    posix_spawn_file_actions_addopen: {
      parameters: ["buffer", "i32", "buffer", "i32", "u32"],
      result: "i32",
    },
    // int posix_spawn_file_actions_addchdir_np(fa, const char *path);  (glibc ≥ 2.29)
    posix_spawn_file_actions_addchdir_np: { parameters: ["buffer", "buffer"], result: "i32" },
    // int posix_spawnattr_init(posix_spawnattr_t *attr);
    posix_spawnattr_init: { parameters: ["buffer"], result: "i32" },
    // int posix_spawnattr_destroy(posix_spawnattr_t *attr);
    posix_spawnattr_destroy: { parameters: ["buffer"], result: "i32" },
    // int posix_spawnattr_setflags(posix_spawnattr_t *attr, short flags);
    posix_spawnattr_setflags: { parameters: ["buffer", "i16"], result: "i32" },
    // int posix_spawnattr_setsigdefault(attr, const sigset_t *sigdefault);
    posix_spawnattr_setsigdefault: { parameters: ["buffer", "buffer"], result: "i32" },
    // int posix_spawnattr_setsigmask(attr, const sigset_t *sigmask);
    posix_spawnattr_setsigmask: { parameters: ["buffer", "buffer"], result: "i32" },
    // int posix_spawnp(pid_t *pid, const char *file, const posix_spawn_file_actions_t *fa,
    //                  const posix_spawnattr_t *attr, char *const argv[], char *const envp[]);
    posix_spawnp: {
      parameters: ["buffer", "buffer", "buffer", "buffer", "buffer", "pointer"],
      result: "i32",
    },
    // int pidfd_open(pid_t pid, unsigned int flags);  (glibc ≥ 2.36; fd is O_CLOEXEC)
    pidfd_open: { parameters: ["i32", "u32"], result: "i32" },
    // int pidfd_send_signal(int pidfd, int sig, siginfo_t *info, unsigned int flags);
    pidfd_send_signal: { parameters: ["i32", "i32", "pointer", "u32"], result: "i32" },
    // pid_t waitpid(pid_t pid, int *wstatus, int options);
    waitpid: { parameters: ["i32", "buffer", "i32"], result: "i32" },
    // int fcntl(int fd, int cmd, ... /* long arg */);  see pipe/_sys.ts on variadics
    fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
    // int close(int fd);
    close: { parameters: ["i32"], result: "i32" },
    // int open(const char *pathname, int flags);
    open: { parameters: ["buffer", "i32"], result: "i32" },
  } as const,
);

const POSIX_SPAWN_SETSIGDEF = 0x04;
const POSIX_SPAWN_SETSIGMASK = 0x08;
const O_RDWR = 2;
const O_ACCMODE = 3;
const O_NONBLOCK = 0o4000;
const O_NOCTTY = 0o400;
const O_CLOEXEC = 0o2000000;
const S_IFCHR = 0o020000;
const WNOHANG = 1;
const SIGSET_BYTES = 128;
const FILE_ACTIONS_BYTES = 80; // glibc x86-64 and aarch64; rounded up below for safety
const SPAWNATTR_BYTES = 336;
const ENOTDIR = 20;

/** The close-on-exec descriptor flag (`F_GETFD`). */
const FD_CLOEXEC = 1;

/** A handle that owns a descriptor (`fd` is `-1` once it is closed): a `PipeEnd`, a `PosixSharedMemory`. */
export interface DescriptorHandle {
  /** The descriptor, `-1` once closed. */
  readonly fd: number;
}

/**
 * Where a child's descriptor comes from: our pipe end, ours (`"inherit"`:
 * the same file, handed over blocking even where the runtime made ours
 * non-blocking, as Node.js does with stdin) or `/dev/null`.
 */
export type Stdio = PipeEnd | "inherit" | "null";

type Source = DescriptorHandle | "inherit" | "null";

/** Options for {@linkcode spawn}. */
export interface SpawnOptions {
  /** Arguments after the program name. */
  args?: readonly string[];
  /** Working directory of the child. */
  cwd?: string | URL;
  /** Variables to set in the child, on top of this process's environment. */
  env?: Readonly<Record<string, string>>;
  /** Start from an empty environment instead of this process's (default `false`). */
  clearEnv?: boolean;
  /** The child's descriptor 0 (default `"inherit"`). */
  stdin?: Stdio;
  /** The child's descriptor 1 (default `"inherit"`). */
  stdout?: Stdio;
  /** The child's descriptor 2 (default `"inherit"`). */
  stderr?: Stdio;
  /**
   * Extra descriptors for the child, by number ≥ 3: any open handle that
   * owns a descriptor — a pipe end, shared memory — as `{ 3: p.writeEnd,
   * 4: mem }`. The child gets its own copy; the parent's stays open.
   */
  fds?: Readonly<Record<number, DescriptorHandle>>;
  /**
   * A {@linkcode Channel} for the child, on its descriptor 3 and named in its
   * environment (`SYSIPC_CHANNEL_FD=3`): the child takes its side with
   * `Channel.fromParent()`.
   */
  channel?: Channel;
}

/** How a child ended. */
export interface ChildStatus {
  /** `true` when it exited with code 0. */
  success: boolean;
  /** The exit code, or 128 + the signal number if a signal killed it. */
  code: number;
  /** The name of the signal that killed it, or `null`. */
  signal: string | null;
}

const SPAWNED: unique symbol = Symbol("sysipc.spawned");

/** A running (or finished) child process started by {@linkcode spawn}. */
export class Child {
  /** The child's process id. */
  readonly pid: number;
  /** Resolves when the child ends; it is reaped then (no zombie is left). */
  readonly status: Promise<ChildStatus>;
  #pidfd: number;
  #done = false;

  // spawn() makes these; the check stops JavaScript callers too.
  private constructor(pid: number, pidfd: number, internal?: symbol) {
    if (internal !== SPAWNED) {
      throw new TypeError("Child is not constructed directly: use spawn()");
    }
    this.pid = pid;
    this.#pidfd = pidfd;
    this.status = this.#reap();
  }

  async #reap(): Promise<ChildStatus> {
    const st = new Int32Array(1);
    try {
      for (;;) {
        const r = sys().waitpid(this.pid, st, WNOHANG);
        if (r === this.pid) break;
        if (r < 0) {
          const e = errno();
          if (e === Errno.EINTR) continue;
          throw ipcError("Cannot wait for child", "waitpid", e, `pid ${this.pid}`);
        }
        await waitReady(this.#pidfd, POLL.IN);
      }
    } finally {
      this.#done = true;
      sys().close(this.#pidfd);
      this.#pidfd = -1;
    }
    const w = st[0];
    const termsig = w & 0x7f;
    if (termsig === 0) {
      const code = (w >> 8) & 0xff;
      return { success: code === 0, code, signal: null };
    }
    return { success: false, code: 128 + termsig, signal: signalName(termsig) };
  }

  /**
   * Sends a signal to the child (through its pidfd, so a recycled pid is never hit).
   *
   * @param signal A name such as `"SIGTERM"` (default) or a number.
   * @throws {TypeError | RangeError} For an unknown signal.
   * @throws {IpcError} `ESRCH` once the child has been reaped.
   */
  kill(signal: string | number = "SIGTERM"): void {
    const sig = v.signal(signal);
    if (this.#done) {
      throw new IpcError(
        `Cannot signal child (pidfd_send_signal, pid ${this.pid}): ESRCH`,
        Errno.ESRCH,
        "pidfd_send_signal",
      );
    }
    if (sys().pidfd_send_signal(this.#pidfd, sig, null, 0) < 0) {
      throw ipcError("Cannot signal child", "pidfd_send_signal", errno(), `pid ${this.pid}`);
    }
  }
}

const STDIO = 'an open PipeEnd, "inherit" or "null"';

function checkStdio(value: unknown, name: string): Stdio {
  if (value === undefined) return "inherit";
  if (value === "inherit" || value === "null") return value;
  return checkPipeEnd(value, name, STDIO);
}

function checkPipeEnd(value: unknown, name: string, allowed = "an open PipeEnd"): PipeEnd {
  if (!(value instanceof PipeEnd)) throw v.typeError(name, allowed, value);
  if (value.closed) throw v.typeError(name, allowed, value, "a closed PipeEnd");
  return value;
}

const HANDLE = "an open handle that owns a descriptor (a PipeEnd, a PosixSharedMemory)";

function checkHandle(value: unknown, name: string): DescriptorHandle {
  if (value instanceof PipeEnd) return checkPipeEnd(value, name, HANDLE);
  const fd = typeof value === "object" && value !== null
    ? (value as { fd?: unknown }).fd
    : undefined;
  if (typeof fd !== "number" || !Number.isInteger(fd)) throw v.typeError(name, HANDLE, value);
  if (fd < 0) throw v.typeError(name, HANDLE, value, "a closed handle");
  return value as DescriptorHandle;
}

/** `env`'s entries, checked: names non-empty without `=`, values strings; neither holds NUL. */
function checkEnv(env: unknown): [string, string][] {
  const entries = Object.entries(v.object(env, "env", "an object of strings"));
  for (const [k, value] of entries) {
    v.string(k, "env key", { empty: false, without: ["="] });
    v.string(value, v.member("env", k));
  }
  return entries;
}

/**
 * Starts `command` (looked up on `PATH` like a shell) as a child process.
 * Pipe ends given as `stdin`/`stdout`/`stderr` or in `fds` become the child's
 * descriptors; the parent keeps its own copies, so close them when the child
 * owns the end (that is how the reader later sees end of file). The child
 * starts with default signal dispositions and an empty signal mask.
 * Requires `--allow-ffi`.
 *
 * @param command Program name or path.
 * @param options Arguments, working directory, environment and descriptors.
 * @returns The running child.
 * @throws {TypeError | RangeError} For a bad command or options, before anything starts.
 * @throws {IpcError} `ENOENT` (`syscall` `"statx"`, `path` the directory) if
 *   `cwd` does not exist, `ENOTDIR` if it is not a directory; `ENOENT` if the
 *   program does not exist, `EACCES` if it cannot be run.
 *
 * @example `ls -l | grep` with our pipe between two children
 * ```ts
 * import { pipe, spawn } from "@sysipc/sysipc/pipe";
 * const p = pipe();
 * const ls = spawn("ls", { args: ["-l"], stdout: p.writeEnd });
 * const grep = spawn("grep", { args: ["json"], stdin: p.readEnd });
 * p.close(); // the children hold the ends now
 * console.log((await ls.status).success, (await grep.status).code);
 * ```
 */
export function spawn(command: string, options?: SpawnOptions): Child {
  // Every argument is checked before anything is made or started.
  const o = v.options(options);
  v.string(command, "command", { empty: false });
  const args = o.args === undefined ? [] : v.array(o.args, "args", "an array of strings");
  args.forEach((a, i) => v.string(a, `args[${i}]`));
  const cwdPath = o.cwd === undefined ? undefined : v.path(o.cwd, "cwd");
  const clearEnv = v.boolean(o.clearEnv, "clearEnv", false);
  const envEntries = o.env === undefined ? [] : checkEnv(o.env);
  // Target descriptor → source.
  const plan = new Map<number, Source>([
    [0, checkStdio(o.stdin, "stdin")],
    [1, checkStdio(o.stdout, "stdout")],
    [2, checkStdio(o.stderr, "stderr")],
  ]);
  if (o.channel !== undefined) plan.set(3, checkHandle(o.channel, "channel"));
  if (o.fds !== undefined) {
    for (
      const [k, end] of Object.entries(
        v.object(o.fds, "fds", "an object of open handles (PipeEnd, PosixSharedMemory)"),
      )
    ) {
      const target = Number(k);
      if (!Number.isInteger(target) || target < 3 || target > 1023) {
        throw v.rangeError("fds key", "an integer from 3 to 1023", JSON.stringify(k));
      }
      if (target === 3 && o.channel !== undefined) {
        throw new TypeError("fds[3] and channel both want the child's descriptor 3: pass one");
      }
      plan.set(target, checkHandle(end, v.member("fds", k)));
    }
  }

  const file = cString(command);
  const argStrings = [command, ...(args as string[])].map((a) => cString(a));
  let cwd: Uint8Array<ArrayBuffer> | undefined;
  if (cwdPath !== undefined) {
    // A missing directory would otherwise fail the child's chdir and be
    // reported by posix_spawnp as if the program were missing.
    cwd = cString(cwdPath);
    const type = fileType(cwd);
    if (type !== S_IFDIR) {
      throw ipcError(
        `Cannot use cwd for ${JSON.stringify(command)}`,
        "statx",
        type < 0 ? -type : ENOTDIR,
        cwdPath,
        cwdPath,
      );
    }
  }

  let envp: Pointer;
  const keep: unknown[] = [];
  const b = getBackend();
  if (o.channel !== undefined) envEntries.push([CHANNEL_FD_ENV, "3"]);
  if (o.env === undefined && !clearEnv && o.channel === undefined) {
    envp = environPointer();
  } else {
    const env = new Map<string, string>();
    if (!clearEnv) {
      for (const kv of environEntries()) {
        const i = kv.indexOf("=");
        if (i > 0) env.set(kv.slice(0, i), kv.slice(i + 1));
      }
    }
    for (const [k, value] of envEntries) env.set(k, value);
    const strs = [...env].map(([k, value]) => cString(`${k}=${value}`));
    const arr = new BigUint64Array(strs.length + 1);
    strs.forEach((s, i) => arr[i] = b.addressOf(s));
    keep.push(strs, arr);
    envp = b.pointerFrom(b.addressOf(arr));
  }
  const argv = new BigUint64Array(argStrings.length + 1);
  argStrings.forEach((s, i) => argv[i] = b.addressOf(s));

  const s = sys();
  const fa = new Uint8Array(Math.max(FILE_ACTIONS_BYTES, 128));
  const attr = new Uint8Array(Math.max(SPAWNATTR_BYTES, 512));
  const temps: number[] = [];
  const maxTarget = Math.max(...plan.keys());
  s.posix_spawn_file_actions_init(fa);
  s.posix_spawnattr_init(attr);
  try {
    const devNull = cString("/dev/null");
    for (const [target, src] of plan) {
      if (src === "null") {
        check(s.posix_spawn_file_actions_addopen(fa, target, devNull, O_RDWR, 0), "addopen");
        continue;
      }
      // "inherit" hands over our own descriptor `target` explicitly, like a
      // pipe end: Node.js marks its stdio close-on-exec (checked on Node 20),
      // so merely leaving it alone gave the child no stdin/stdout/stderr.
      // One we have closed stays closed in the child.
      const fd = src === "inherit" ? target : src.fd;
      if (src === "inherit" && s.fcntl(fd, F.GETFD, 0) < 0) continue;
      // Duplicate above every target first: then no dup2 clobbers a source,
      // and dup2 onto the target always clears close-on-exec.
      const tmp = src === "inherit"
        ? blockingCopy(fd, maxTarget + 1)
        : s.fcntl(fd, F.DUPFD_CLOEXEC, maxTarget + 1);
      if (tmp < 0) {
        throw ipcError("Cannot prepare child descriptor", "fcntl", errno(), `fd ${fd}`);
      }
      temps.push(tmp);
      check(s.posix_spawn_file_actions_adddup2(fa, tmp, target), "adddup2");
    }
    // The child gets what it is given and nothing more: close every other
    // descriptor we hold that would survive exec — ours are all close-on-exec,
    // but one inherited from our own parent, or a runtime's, may not be.
    for (const name of listDir("/proc/self/fd") ?? []) {
      const fd = Number(name);
      if (plan.has(fd) || temps.includes(fd)) continue;
      const flags = s.fcntl(fd, F.GETFD, 0);
      if (flags < 0 || (flags & FD_CLOEXEC) !== 0) continue;
      check(s.posix_spawn_file_actions_addclose(fa, fd), "addclose");
    }
    if (cwd) check(s.posix_spawn_file_actions_addchdir_np(fa, cwd), "addchdir_np");
    // Default dispositions for every signal (Deno and Node ignore SIGPIPE;
    // `ls | head` needs it back) and an empty mask.
    const all = new Uint8Array(SIGSET_BYTES);
    all.fill(0xff, 0, 8);
    all[1] &= ~(1 << (9 - 1 - 8)) & 0xff; // SIGKILL cannot be defaulted…
    all[2] &= ~(1 << (19 - 1 - 16)) & 0xff; // …nor SIGSTOP
    check(s.posix_spawnattr_setsigdefault(attr, all), "setsigdefault");
    check(s.posix_spawnattr_setsigmask(attr, new Uint8Array(SIGSET_BYTES)), "setsigmask");
    check(
      s.posix_spawnattr_setflags(attr, POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETSIGMASK),
      "setflags",
    );

    const pidOut = new Int32Array(1);
    const rc = s.posix_spawnp(pidOut, file, fa, attr, argv, envp);
    keep.length = 0;
    if (rc !== 0) {
      throw ipcError(`Cannot run ${JSON.stringify(command)}`, "posix_spawnp", rc, command, command);
    }
    const pid = pidOut[0];
    const pidfd = s.pidfd_open(pid, 0);
    if (pidfd < 0) {
      const e = errno();
      // Without a pidfd we cannot wait asynchronously: reap what we can and fail.
      s.waitpid(pid, new Int32Array(1), WNOHANG);
      throw ipcError("Cannot watch child", "pidfd_open", e, `pid ${pid}`);
    }
    return new (Child as unknown as new (pid: number, pidfd: number, internal: symbol) => Child)(
      pid,
      pidfd,
      SPAWNED,
    );
  } finally {
    for (const t of temps) s.close(t);
    s.posix_spawn_file_actions_destroy(fa);
    s.posix_spawnattr_destroy(attr);
  }
}

/**
 * A copy of our own stdio descriptor `fd` for a child (numbered `min` or
 * above, close-on-exec) that is never non-blocking where it matters. A
 * runtime may make its stdio non-blocking — Node.js does to stdin once
 * `process.stdin` is touched, which importing `node:process` in an ES module
 * does — and a program that reads a non-blocking stdin fails at once with
 * EAGAIN (sh's `read`, `cat`). O_NONBLOCK belongs to the open file
 * description, which a dup shares and which the runtime relies on, so it is
 * not cleared there: a pipe, FIFO or terminal is opened again through
 * `/proc/self/fd` — a new description of the same file — non-blocking, so
 * the open cannot wait for a peer, and then made blocking. Anything else, or
 * a reopen that fails (a write end whose readers are gone), is duplicated as
 * it is.
 */
function blockingCopy(fd: number, min: number): number {
  const s = sys();
  const flags = s.fcntl(fd, F.GETFL, 0);
  if (flags >= 0 && (flags & O_NONBLOCK) !== 0) {
    const st = fdStat(fd);
    if ("type" in st && (st.type === S_IFIFO || st.type === S_IFCHR)) {
      const path = cString(`/proc/self/fd/${fd}`);
      const again = s.open(path, (flags & O_ACCMODE) | O_NONBLOCK | O_NOCTTY | O_CLOEXEC);
      if (again >= 0) {
        s.fcntl(again, F.SETFL, s.fcntl(again, F.GETFL, 0) & ~O_NONBLOCK);
        const copy = s.fcntl(again, F.DUPFD_CLOEXEC, min);
        s.close(again);
        return copy;
      }
    }
  }
  return s.fcntl(fd, F.DUPFD_CLOEXEC, min);
}

function check(rc: number, what: string): void {
  if (rc !== 0) throw ipcError("Cannot prepare child", `posix_spawn_file_actions_${what}`, rc);
}
