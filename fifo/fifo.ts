/**
 * `mkfifo()` and `openFifo()`: named pipes between unrelated processes.
 *
 * @module
 */
import { cString, libc } from "../_ffi/mod.ts";
import { Errno, errno } from "../_sys/errno.ts";
import { removeOnExit } from "../_sys/exit_cleanup.ts";
import { fdStat, fileType, S_IFIFO } from "../_sys/stat.ts";
import * as v from "../_sys/validate.ts";
import { IpcError, ipcError } from "../errors.ts";
import { adoptFd, type PipeEnd } from "../pipe/pipe_end.ts";
import { blocking, park, WOULD_BLOCK, type WouldBlock } from "../_sys/park.ts";
import { F, O_CLOEXEC, sys as pipeSys } from "../pipe/_sys.ts";

const O_RDONLY = 0;
const O_WRONLY = 1;
const O_NONBLOCK = 0o4000;

const sys = libc(
  {
    // int mkfifo(const char *pathname, mode_t mode);
    mkfifo: { parameters: ["buffer", "u32"], result: "i32" },
    // int open(const char *pathname, int flags, ... /* mode_t mode */);  (no O_CREAT here: no mode)
    open: { parameters: ["buffer", "i32"], result: "i32" },
    // The same call on a thread of the library's own, where a FIFO open waits
    // for its peer: a signal interrupts it (EINTR, never restarted) and its
    // errno is read there (`cancellable`).
    open_blocking: {
      name: "open",
      parameters: ["buffer", "i32"],
      result: "i32",
      cancellable: true,
    },
    // int chmod(const char *pathname, mode_t mode);
    chmod: { parameters: ["buffer", "u32"], result: "i32" },
    // int close(int fd);
    close: { parameters: ["i32"], result: "i32" },
    // char *getcwd(char *buf, size_t size);
    getcwd: { parameters: ["buffer", "usize"], result: "pointer" },
    // int unlink(const char *pathname);
    unlink: { parameters: ["buffer"], result: "i32" },
  } as const,
);

/** Options for {@linkcode mkfifo}. */
export interface MkfifoOptions {
  /** Permission bits, default `0o600` (owner read/write). Applied exactly, not masked by umask. */
  mode?: number;
  /**
   * Remove the FIFO when this process ends (`unlink`, if a FIFO is still
   * at that path — a relative path is taken from the working directory of
   * the moment `mkfifo()` runs): when the process exits normally — its event
   * loop runs dry, `process.exit()`, `Deno.exit()` — or is ended by
   * `SIGINT`, `SIGTERM` or `SIGHUP`. A program that listens for that signal
   * itself (`process.on("SIGINT", …)`) has chosen to handle it, so then
   * nothing is removed and the process is left running; the FIFO goes when
   * it exits. `SIGKILL` and crashes cannot be caught: `sysipc reap` removes
   * what such a process left behind. Default `false`.
   */
  removeOnExit?: boolean;
}

/**
 * Creates a FIFO (named pipe) at `path`. Requires `--allow-ffi`.
 *
 * @param path Where to create it.
 * @param options `mode`: permission bits (default `0o600`); `removeOnExit`
 *   (default false): remove the FIFO when this process ends, see
 *   {@linkcode MkfifoOptions.removeOnExit}.
 * @throws {TypeError} For a path that is empty, not a string/file URL, or contains NUL,
 *   options that are not an object, a mode that is not an integer, or a
 *   `removeOnExit` that is not a boolean.
 * @throws {RangeError} For a mode outside `0`–`0o777`.
 * @throws {IpcError} `EEXIST` if something exists at `path`, `ENOENT` if the directory is missing.
 *
 * @example
 * ```ts
 * import { mkfifo } from "@sysipc/sysipc/fifo";
 * const dir = Deno.makeTempDirSync();
 * mkfifo(`${dir}/myfifo`, { mode: 0o644 });
 * console.log(Deno.statSync(`${dir}/myfifo`).isFifo); // true
 * Deno.removeSync(dir, { recursive: true });
 * ```
 *
 * @example Gone when the process ends, even by Ctrl+C
 * ```ts
 * import { mkfifo } from "@sysipc/sysipc/fifo";
 * import { tmpdir } from "node:os";
 * const path = `${tmpdir()}/sysipc_doc_fifo_${Deno.pid}`;
 * mkfifo(path, { removeOnExit: true }); // unlinked at exit, or on SIGINT, SIGTERM, SIGHUP
 * console.log(Deno.statSync(path).isFifo); // true
 * ```
 */
export function mkfifo(path: string | URL, options?: MkfifoOptions): void {
  const p = v.path(path);
  const o = v.options(options);
  const mode = v.mode(o.mode);
  const atExit = v.boolean(o.removeOnExit, "removeOnExit", false);
  // Where to remove it from later, whatever the working directory is then.
  const absolute = atExit && !p.startsWith("/") ? `${cwd()}/${p}` : p;
  const c = cString(p);
  if (sys().mkfifo(c, mode) < 0) throw ipcError("Cannot create FIFO", "mkfifo", errno(), p, p);
  setModeExactly(c, p, mode);
  if (atExit) removeAtExit(absolute);
}

const O_PATH = 0o10000000;
const O_NOFOLLOW = 0o400000;

/**
 * mkfifo applies the umask: set the mode the caller asked for exactly — on
 * the FIFO just made, never on what someone may have swapped in at `path`
 * since (a symbolic link to their file, which `chmod(path)` would follow).
 * So: take hold of what is at `path` without following a link (`O_PATH |
 * O_NOFOLLOW`), check that it is a FIFO, and change the mode of that inode
 * through the descriptor (`/proc/self/fd/N` names the inode, not the path).
 */
function setModeExactly(c: Uint8Array<ArrayBuffer>, p: string, mode: number): void {
  const fd = sys().open(c, O_PATH | O_NOFOLLOW | O_CLOEXEC);
  if (fd < 0) throw ipcError("Cannot set FIFO mode", "open", errno(), p, p);
  try {
    const st = fdStat(fd);
    if ("errno" in st) throw ipcError("Cannot set FIFO mode", "statx", st.errno, p, p);
    if (st.type !== S_IFIFO) {
      throw new IpcError(
        `Cannot set FIFO mode (chmod, ${p}): EEXIST — the FIFO was replaced before its mode ` +
          "was set; nothing else was changed",
        Errno.EEXIST,
        "chmod",
        { path: p },
      );
    }
    if (sys().chmod(cString(`/proc/self/fd/${fd}`), mode) < 0) {
      throw ipcError("Cannot set FIFO mode", "chmod", errno(), p, p);
    }
  } finally {
    sys().close(fd);
  }
}

/** Registers the FIFO at the absolute path `abs` for removal when the process ends. */
function removeAtExit(abs: string): void {
  const c = cString(abs);
  removeOnExit(`FIFO ${abs}`, "unlink", () => {
    // Only a FIFO: whatever replaced it at that path is not ours.
    if (fileType(c) !== S_IFIFO) return Errno.ENOENT;
    return sys().unlink(c) < 0 ? errno() : 0;
  });
}

/** The working directory (`getcwd`; no file system permission needed). */
function cwd(): string {
  for (let size = 4096;; size *= 4) {
    const buf = new Uint8Array(size);
    if (sys().getcwd(buf, BigInt(size)) !== null) {
      return new TextDecoder().decode(buf.subarray(0, buf.indexOf(0)));
    }
    const e = errno();
    if (e !== Errno.ERANGE) throw ipcError("Cannot read the working directory", "getcwd", e);
  }
}

/** Options for {@linkcode openFifo}. */
export interface OpenFifoOptions {
  /**
   * Cancels a pending open: the promise rejects with `signal.reason`, and
   * no other process waiting on the FIFO notices. An open that completed as
   * the signal fired resolves all the same.
   */
  signal?: AbortSignal;
}

/** Only pipes and FIFOs answer `F_GETPIPE_SZ`: an ABI-independent type check. */
function isFifo(fd: number): boolean {
  return pipeSys().fcntl(fd, F.GETPIPE_SZ, 0) >= 0;
}

/**
 * Opens the FIFO at `path` for reading or writing. Like `open(2)` on a FIFO,
 * it waits until the other side opens too (a reader waits for a writer and
 * vice versa), but without blocking the event loop: the blocking open runs
 * off the JavaScript thread, and an `AbortSignal` cancels it. A pending
 * reader always holds a thread of the library's own; a pending writer, when
 * the library's threads are all taken by other waits, tries again after
 * short pauses instead. Requires `--allow-ffi`.
 *
 * @param path The FIFO (see {@linkcode mkfifo}).
 * @param access `"read"` or `"write"`.
 * @param options `signal` to cancel while waiting for the peer.
 * @returns The open end, ready for `read()`/`write()` or the streams.
 * @throws {TypeError} For a bad path, access, options or signal, or a path that is not a FIFO.
 * @throws {IpcError} `ENOENT` if nothing is at `path`, `EACCES` without permission.
 *
 * @example A reader and a writer in one process
 * ```ts
 * import { mkfifo, openFifo } from "@sysipc/sysipc/fifo";
 * const dir = Deno.makeTempDirSync();
 * const path = `${dir}/myfifo`;
 * mkfifo(path);
 * const [reader, writer] = await Promise.all([openFifo(path, "read"), openFifo(path, "write")]);
 * await writer.write(new TextEncoder().encode("hello world\n"));
 * writer.close();
 * console.log(await new Response(reader.readable).text()); // "hello world\n"
 * Deno.removeSync(dir, { recursive: true });
 * ```
 */
export async function openFifo(
  path: string | URL,
  access: "read" | "write",
  options?: OpenFifoOptions,
): Promise<PipeEnd> {
  const p = v.path(path);
  v.oneOf(access, "access", ["read", "write"]);
  const signal = v.abortSignal(v.options(options).signal);
  signal?.throwIfAborted();
  const c = cString(p);
  const flags = (access === "read" ? O_RDONLY : O_WRONLY) | O_CLOEXEC;

  if (access === "write") return adopt(await openWriter(c, flags, p, signal), p);
  // Check it exists and is a FIFO before parking a thread on it — with
  // statx, not a non-blocking open: that would make us a reader for a
  // moment, and a writer already waiting in open() would return, write to
  // no reader once we closed it again (SIGPIPE) and leave our real open
  // waiting for a writer that is gone.
  const type = fileType(c);
  if (type < 0) throw ipcError("Cannot open FIFO", "statx", -type, p, p);
  if (type !== S_IFIFO) throw new TypeError(`Not a FIFO: ${p}`);

  // A reader's open blocks on a thread of our own until a writer opens,
  // always (however many threads are taken): trying a non-blocking open from
  // time to time is no way to wait, as it succeeds at once with no writer.
  // An abort interrupts that open (a signal: EINTR) — it never becomes the
  // peer itself, which would release every other process waiting on the FIFO
  // too (a shell's `echo > fifo` would write to a reader that then vanishes).
  // Any other interruption (a signal handler of the program's) opens again.
  for (;;) {
    const call = sys().open_blocking(c, flags);
    const cancel = () => call.cancel();
    signal?.addEventListener("abort", cancel, { once: true });
    let outcome;
    try {
      outcome = await call.done;
    } finally {
      signal?.removeEventListener("abort", cancel);
    }
    // Opened, even if the abort came meanwhile: keep it (closing it now
    // would be the disturbance we avoid), as a queue keeps a received message.
    if (outcome.result >= 0) return adopt(outcome.result, p);
    if (outcome.errno !== Errno.EINTR) {
      throw ipcError("Cannot open FIFO", "open", outcome.errno, p, p);
    }
    signal?.throwIfAborted();
  }
}

/**
 * A writer's open. If a reader is there, a non-blocking open succeeds at once
 * (adopt() clears O_NONBLOCK again: PipeEnd uses per-call RWF_NOWAIT, and the
 * descriptor may be handed to a child); if not (ENXIO), the wait engine waits
 * — a blocking open on a thread of our own, which an abort interrupts without
 * our ever becoming the peer, or, when every thread is taken, non-blocking
 * tries after short pauses (a writer's try opens only once a reader is there).
 */
function openWriter(
  c: Uint8Array,
  flags: number,
  p: string,
  signal: AbortSignal | undefined,
): Promise<number> | number {
  const attempt = (): number | WouldBlock => {
    const fd = sys().open(c, flags | O_NONBLOCK);
    if (fd >= 0) return fd;
    const e = errno();
    if (e === Errno.ENXIO /* no reader yet */) return WOULD_BLOCK;
    throw ipcError("Cannot open FIFO", "open", e, p, p);
  };
  const fd = attempt();
  if (fd !== WOULD_BLOCK) return fd;
  return park<number>({
    attempt,
    block: () =>
      blocking(sys().open_blocking(c, flags), ({ result, errno }) => {
        // Opened, even if the abort came meanwhile: kept (see openFifo).
        if (result >= 0) return result;
        if (errno === Errno.EINTR) return WOULD_BLOCK; // our abort, or a handler of the program's
        throw ipcError("Cannot open FIFO", "open", errno, p, p);
      }),
    expired: () => new Error("unreachable: an open has no deadline"),
  }, { signal, timeout: Infinity, start: 0 });
}

function adopt(fd: number, path: string): PipeEnd {
  if (!isFifo(fd)) {
    pipeSys().close(fd);
    throw new TypeError(`Not a FIFO: ${path}`);
  }
  const fl = pipeSys().fcntl(fd, F.GETFL, 0);
  if (fl >= 0 && (fl & O_NONBLOCK)) pipeSys().fcntl(fd, F.SETFL, fl & ~O_NONBLOCK);
  return adoptFd(fd);
}
