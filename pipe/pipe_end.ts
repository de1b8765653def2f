/**
 * `PipeEnd`: one end of a pipe or FIFO, as promises and web streams.
 *
 * @module
 */
import { getBackend } from "../_ffi/mod.ts";
import { deadlineOf, leftUntil, pollSync, type SyncWaitOptions } from "../_sys/block.ts";
import { Errno, errno, failedErrno } from "../_sys/errno.ts";
import { readProcNumber } from "../_sys/procfs.ts";
import * as v from "../_sys/validate.ts";
import { cancelWaits, POLL, pollNow, waitReady, yieldCpu } from "../_sys/waiter.ts";
import { IpcError, ipcError, timeoutError } from "../errors.ts";
import { F, RWF_NOWAIT, sys } from "./_sys.ts";

/**
 * How many times a read or write that would block yields the CPU and retries
 * before parking on the shared waiter. Measured on 2-core VMs: parking at once
 * costs a thread hop (70–100 µs) per wake-up; ~20 yields (tens of µs) lets a
 * peer on the other core refill the pipe first.
 */
const SPIN = 20;

/** Size of the chunks the readable stream allocates when the reader brings no buffer. */
const CHUNK = 65536;

const closer = new FinalizationRegistry<number>((fd) => {
  sys().close(fd);
});

/**
 * Checks a pipe capacity: an integer from 1 to `/proc/sys/fs/pipe-max-size`
 * (what an unprivileged process may set), before any `fcntl`.
 *
 * @param bytes What was passed.
 * @param name The parameter: `"bytes"` for `setCapacity()`, `"capacity"` for `pipe()`.
 */
export function checkCapacity(bytes: unknown, name: string): number {
  const max = readProcNumber("/proc/sys/fs/pipe-max-size");
  return max === undefined
    ? v.integer(bytes, name, { min: 1, max: 0x7fff_ffff })
    : v.integer(bytes, name, { min: 1, max, limit: "fs.pipe-max-size" });
}

/**
 * One end of a pipe or FIFO: the read end or the write end. Returned by
 * {@linkcode pipe} (as `readEnd`/`writeEnd`) and by `openFifo()`, or adopted
 * from an inherited descriptor with {@linkcode PipeEnd.fromFd}.
 *
 * `read()` and `write()` never block the event loop: each is first tried
 * synchronously with `RWF_NOWAIT` (the descriptor itself stays blocking, so it
 * can be handed to a child), and only when it would block does it wait for
 * readiness off the JavaScript thread. `readSync()` and `writeSync()` block
 * the calling thread instead, as C's `read`/`write` do (for Workers and
 * command-line tools). Requires `--allow-ffi`.
 *
 * @example Reading what a writer sent
 * ```ts
 * import { pipe } from "@sysipc/sysipc/pipe";
 * using p = pipe();
 * await p.writeEnd.write(new TextEncoder().encode("hi"));
 * const buf = new Uint8Array(16);
 * const n = await p.readEnd.read(buf);
 * console.log(new TextDecoder().decode(buf.subarray(0, n ?? 0))); // "hi"
 * ```
 */
export class PipeEnd {
  #fd: number;
  #closed = false;
  #nowait = true; // false once RWF_NOWAIT proved unsupported for this fd
  #iov = new BigUint64Array(2);
  #writing: Promise<unknown> = Promise.resolve();
  #queued = 0; // write() calls not finished yet
  #countOf = -1; // the byte count #countBig holds (see #count())
  #countBig = 0n;
  #readable?: ReadableStream<Uint8Array>;
  #writable?: WritableStream<Uint8Array>;
  #token = {};

  // pipe(), openFifo() and fromFd() make these (through adoptFd()); the
  // check stops JavaScript callers too.
  private constructor(fd: number, internal?: symbol) {
    if (internal !== ADOPT) {
      throw new TypeError(
        "PipeEnd is not constructed directly: use pipe(), openFifo() or PipeEnd.fromFd()",
      );
    }
    this.#fd = fd;
    closer.register(this, fd, this.#token);
  }

  /**
   * Adopts an open descriptor, typically one a child inherited from its
   * parent (`PipeEnd.fromFd(3)`). The `PipeEnd` owns it from then on and
   * closes it on `close()`.
   *
   * @param fd The descriptor number.
   * @returns A `PipeEnd` over `fd`.
   * @throws {TypeError} If `fd` is not an integer.
   * @throws {RangeError} If `fd` is negative or too large.
   * @throws {IpcError} `EBADF` if `fd` is not open.
   *
   * @example Child side of `spawn(…, { fds: { 3: p.writeEnd } })`
   * ```ts ignore
   * import { PipeEnd } from "@sysipc/sysipc/pipe";
   * using out = PipeEnd.fromFd(3);
   * await out.write(new TextEncoder().encode("hello from the child\n"));
   * ```
   */
  static fromFd(fd: number): PipeEnd {
    v.fd(fd);
    if (sys().fcntl(fd, F.GETFD, 0) < 0) {
      throw ipcError("Cannot adopt file descriptor", "fcntl", errno(), `fd ${fd}`);
    }
    return adoptFd(fd);
  }

  /** The descriptor number (`-1` after `close()`). */
  get fd(): number {
    return this.#closed ? -1 : this.#fd;
  }

  /** Whether `close()` has been called (or a stream closed this end). */
  get closed(): boolean {
    return this.#closed;
  }

  #ensureOpen(syscall: string): number {
    if (this.#closed) {
      throw new IpcError(
        `Cannot ${syscall} a closed pipe end (${syscall}): EBADF`,
        Errno.EBADF,
        syscall,
      );
    }
    return this.#fd;
  }

  /** One non-blocking attempt: bytes moved, or -1 if it would block. */
  #try(op: "read" | "write", buf: Uint8Array): number {
    const fd = this.#fd;
    const s = sys();
    for (;;) {
      let r: number;
      if (this.#nowait) {
        this.#iov[0] = getBackend().addressOf(buf);
        this.#iov[1] = BigInt(buf.byteLength);
        r = Number(
          op === "read"
            ? s.preadv2(fd, this.#iov, 1, -1n, RWF_NOWAIT)
            : s.pwritev2(fd, this.#iov, 1, -1n, RWF_NOWAIT),
        );
      } else {
        const ready = pollNow(fd, op === "read" ? POLL.IN : POLL.OUT);
        if (ready === 0) return -1;
        r = Number(
          op === "read" ? s.read(fd, buf, buf.byteLength) : s.write(fd, buf, buf.byteLength),
        );
      }
      if (r >= 0) return r;
      const e = failedErrno();
      if (e === Errno.EAGAIN) return -1;
      if (e === Errno.EINTR) continue;
      if (e === Errno.EOPNOTSUPP && this.#nowait) {
        this.#nowait = false; // e.g. a tty: fall back to poll-then-read
        continue;
      }
      throw ipcError(
        op === "read" ? "Cannot read from pipe" : "Cannot write to pipe",
        op,
        e,
        `fd ${fd}`,
      );
    }
  }

  async #wait(op: "read" | "write"): Promise<void> {
    await waitReady(this.#fd, op === "read" ? POLL.IN : POLL.OUT);
  }

  /**
   * Reads up to `into.byteLength` bytes into `into`. Waits (without blocking
   * the event loop) while the pipe is empty and a writer is still open.
   *
   * @param into Where to put the bytes.
   * @returns The number of bytes read, or `null` at end of file (every writer closed).
   * @throws {TypeError} If `into` is not a `Uint8Array`, or is detached
   *   (transferred) while the read waits — then nothing was read.
   * @throws {IpcError} `EBADF` after `close()`, or the OS error of `read`.
   *
   * @example
   * ```ts
   * import { pipe } from "@sysipc/sysipc/pipe";
   * using p = pipe();
   * p.writeEnd.close();
   * console.log(await p.readEnd.read(new Uint8Array(8))); // null: EOF
   * ```
   */
  async read(into: Uint8Array): Promise<number | null> {
    v.uint8Array(into, "into");
    this.#ensureOpen("read");
    if (into.byteLength === 0) return 0;
    let spins = 0;
    for (;;) {
      const n = this.#try("read", into);
      if (n > 0) return n;
      if (n === 0) return null;
      if (spins++ < SPIN) {
        yieldCpu();
        continue;
      }
      spins = 0;
      await this.#wait("read");
      this.#ensureOpen("read");
      // Transferred away while we waited: reading on would be a false end of
      // file (Bun, Node) or an engine error (Deno). The bytes stay in the pipe.
      if (into.byteLength === 0) {
        throw detached("into", "read()", "nothing was read; the data stays in the pipe");
      }
    }
  }

  /**
   * Writes all of `data`. While the pipe is full it waits for the reader to
   * drain it (backpressure); nothing is dropped. Whole `write()` calls on one
   * end never interleave with each other.
   *
   * @param data The bytes to write.
   * @returns `data.byteLength`, once every byte is in the pipe.
   * @throws {TypeError} If `data` is not a `Uint8Array`, or is detached
   *   (transferred) while the write waits: its `bytesWritten` says how many
   *   bytes were written before.
   * @throws {IpcError} `EPIPE` if every reader has closed (the process is not
   *   killed), `EBADF` after `close()`.
   *
   * @example
   * ```ts
   * import { pipe } from "@sysipc/sysipc/pipe";
   * using p = pipe();
   * console.log(await p.writeEnd.write(new Uint8Array(1000))); // 1000
   * ```
   */
  write(data: Uint8Array): Promise<number> {
    let done = 0;
    try {
      v.uint8Array(data, "data");
      this.#ensureOpen("write");
      // Fast path: nothing queued ahead of us, so try at once, synchronously.
      // Most writes finish here without touching the promise queue.
      if (this.#queued === 0 && data.byteLength > 0) {
        done = Math.max(0, this.#try("write", data));
        if (done === data.byteLength) return Promise.resolve(done);
      }
    } catch (e) {
      return Promise.reject(e);
    }
    this.#queued++;
    const total = data.byteLength;
    const run = this.#writing.then(() => this.#writeAll(data, done, total)).finally(() => {
      this.#queued--;
    });
    this.#writing = run.catch(() => {});
    return run;
  }

  async #writeAll(data: Uint8Array, off: number, total: number): Promise<number> {
    let spins = 0;
    while (off < total) {
      this.#ensureOpen("write");
      if (data.byteLength !== total) {
        // Transferred away while we waited: what is left is gone, not written.
        throw detached("data", "write()", `${off} of ${total} bytes had been written`, off);
      }
      const n = this.#try("write", off === 0 ? data : data.subarray(off));
      if (n >= 0) {
        off += n;
        spins = 0;
        continue;
      }
      if (spins++ < SPIN) {
        yieldCpu();
        continue;
      }
      spins = 0;
      await this.#wait("write");
    }
    return total;
  }

  /**
   * {@linkcode PipeEnd.read}, blocking the calling thread: one `read(2)`
   * that waits in the kernel on this thread while the pipe is empty, as a C
   * program does, with no `await` and no thread hop. It blocks the calling
   * thread (the event loop too); for Workers and command-line tools that
   * want C's throughput and latency.
   *
   * @param into Where to put the bytes.
   * @param options `timeout` (ms; default `Infinity`): a `TimeoutError` if
   *   nothing arrived by then (nothing was read). There is no `signal`:
   *   nothing could abort a blocked thread.
   * @returns The number of bytes read, or `null` at end of file (every writer closed).
   * @throws {TypeError} If `into` is not a `Uint8Array`, for options of the
   *   wrong type, or a `signal`.
   * @throws {RangeError} For a negative `timeout`.
   * @throws {DOMException} `TimeoutError` when `timeout` passes first.
   * @throws {IpcError} `EBADF` after `close()`, or the OS error of `read`.
   *
   * @example
   * ```ts
   * import { pipe } from "@sysipc/sysipc/pipe";
   * using p = pipe();
   * p.writeEnd.writeSync(new TextEncoder().encode("hi"));
   * const buf = new Uint8Array(16);
   * const n = p.readEnd.readSync(buf, { timeout: 1000 });
   * console.log(new TextDecoder().decode(buf.subarray(0, n ?? 0))); // "hi"
   * ```
   */
  readSync(into: Uint8Array, options?: SyncWaitOptions): number | null {
    v.uint8Array(into, "into");
    const timeout = options === undefined
      ? Infinity
      : v.syncWaitOptions(v.options(options), "readSync()");
    const fd = this.#ensureOpen("read");
    if (into.byteLength === 0) return 0;
    const n = this.#blockSync("read", fd, into, deadlineOf(timeout), timeout);
    return n === 0 ? null : n;
  }

  /**
   * {@linkcode PipeEnd.write}, blocking the calling thread: `write(2)` waits
   * in the kernel on this thread while the pipe is full, until every byte is
   * in, as a C program does, with no `await` and no thread hop. It blocks the
   * calling thread (the event loop too); for Workers and command-line tools
   * that want C's throughput and latency.
   *
   * @param data The bytes to write.
   * @returns `data.byteLength`, once every byte is in the pipe.
   * @throws {TypeError} If `data` is not a `Uint8Array`.
   * @throws {DOMException} `InvalidStateError` while `write()` calls on this
   *   end are still pending: the bytes would interleave with theirs.
   * @throws {IpcError} `EPIPE` if every reader has closed (the process is not
   *   killed), `EBADF` after `close()`.
   *
   * @example
   * ```ts
   * import { pipe } from "@sysipc/sysipc/pipe";
   * using p = pipe();
   * console.log(p.writeEnd.writeSync(new Uint8Array(1000))); // 1000
   * ```
   */
  writeSync(data: Uint8Array): number {
    v.uint8Array(data, "data");
    const fd = this.#ensureOpen("write");
    if (this.#queued > 0) {
      throw new DOMException(
        `Cannot writeSync() (fd ${fd}): ${this.#queued} write() calls on this pipe end are still pending, and the bytes would interleave with theirs`,
        "InvalidStateError",
      );
    }
    const total = data.byteLength;
    let off = 0;
    while (off < total) {
      off += this.#blockSync(
        "write",
        fd,
        off === 0 ? data : data.subarray(off),
        Infinity,
        Infinity,
      );
    }
    return total;
  }

  /**
   * `buf.byteLength` as a bigint, kept for the next call with the same
   * length: Deno's fast FFI path takes a 64-bit argument as a bigint, and a
   * number there deoptimizes the caller — over and over (measured: a
   * `readSync()` loop spent 15 % of its CPU time re-optimizing on V8's
   * worker thread) — while a new bigint each call would be garbage.
   */
  #count(buf: Uint8Array): bigint {
    const n = buf.byteLength;
    if (n !== this.#countOf) {
      this.#countOf = n;
      this.#countBig = BigInt(n);
    }
    return this.#countBig;
  }

  /**
   * One `read`/`write` that may block this thread until `deadline`: bytes
   * moved (0 for a read: end of file). Without a deadline, the call itself
   * blocks (the descriptor is blocking unless someone made it otherwise:
   * then `poll` waits); with one, a non-blocking try, then `poll` for the
   * time left.
   */
  #blockSync(
    op: "read" | "write",
    fd: number,
    buf: Uint8Array,
    deadline: number,
    timeout: number,
  ): number {
    const events = op === "read" ? POLL.IN : POLL.OUT;
    if (deadline === Infinity) {
      const s = sys();
      for (;;) {
        const r = op === "read"
          ? s.read(fd, buf, this.#count(buf))
          : s.write(fd, buf, this.#count(buf));
        if (r >= 0) return r;
        const e = errno();
        if (e === Errno.EINTR || e === 0) continue;
        if (e === Errno.EAGAIN) { // an O_NONBLOCK descriptor (e.g. adopted with fromFd)
          pollSync(fd, events, Infinity);
          continue;
        }
        throw ipcError(
          op === "read" ? "Cannot read from pipe" : "Cannot write to pipe",
          op,
          e,
          `fd ${fd}`,
        );
      }
    }
    for (;;) {
      const n = this.#try(op, buf);
      if (n >= 0) return n;
      const left = leftUntil(deadline);
      if (left <= 0) {
        throw timeoutError(
          op === "read" ? "Cannot read from pipe" : "Cannot write to pipe",
          timeout,
          `${op}, fd ${fd}`,
        );
      }
      pollSync(fd, events, left);
    }
  }

  /**
   * The pipe's capacity in bytes (`F_GETPIPE_SZ`): 65536 by default on Linux.
   *
   * @throws {IpcError} After `close()`, or if the descriptor is not a pipe.
   */
  get capacity(): number {
    const fd = this.#ensureOpen("fcntl");
    const r = sys().fcntl(fd, F.GETPIPE_SZ, 0);
    if (r < 0) throw ipcError("Cannot read pipe capacity", "fcntl", errno(), `fd ${fd}`);
    return r;
  }

  /**
   * Changes the pipe's capacity (`F_SETPIPE_SZ`). The kernel rounds up to a
   * power-of-two number of pages and returns what it set.
   *
   * @param bytes The wanted capacity, 1 to `/proc/sys/fs/pipe-max-size`.
   * @returns The capacity now in force.
   * @throws {TypeError} If `bytes` is not an integer.
   * @throws {RangeError} If `bytes` is below 1 or above `/proc/sys/fs/pipe-max-size`.
   * @throws {IpcError} `EBUSY` if the pipe holds more than `bytes`, `EPERM` over a user limit.
   *
   * @example
   * ```ts
   * import { pipe } from "@sysipc/sysipc/pipe";
   * using p = pipe();
   * console.log(p.readEnd.setCapacity(1 << 20)); // 1048576
   * ```
   */
  setCapacity(bytes: number): number {
    checkCapacity(bytes, "bytes");
    const fd = this.#ensureOpen("fcntl");
    const r = sys().fcntl(fd, F.SETPIPE_SZ, bytes);
    if (r < 0) throw ipcError("Cannot set pipe capacity", "fcntl", errno(), `fd ${fd}`);
    return r;
  }

  /**
   * A byte `ReadableStream` over this end (supports BYOB readers). The stream
   * closes at end of file and then closes this end; cancelling it closes this
   * end too. The same stream is returned every time.
   */
  get readable(): ReadableStream<Uint8Array> {
    if (this.#readable) return this.#readable;
    this.#readable = new ReadableStream({
      type: "bytes",
      autoAllocateChunkSize: CHUNK,
      pull: async (c) => {
        const req = c.byobRequest!;
        const v = req.view!;
        const n = await this.read(new Uint8Array(v.buffer, v.byteOffset, v.byteLength));
        if (n === null) {
          this.close();
          c.close();
          req.respond(0);
        } else {
          req.respond(n);
        }
      },
      cancel: () => this.close(),
    });
    return this.#readable;
  }

  /**
   * A `WritableStream` over this end. Each chunk resolves only once it is in
   * the pipe, so a full pipe pushes back on the producer. Closing or aborting
   * the stream closes this end (the reader then sees end of file).
   */
  get writable(): WritableStream<Uint8Array> {
    if (this.#writable) return this.#writable;
    this.#writable = new WritableStream<Uint8Array>({
      write: async (chunk) => {
        await this.write(chunk);
      },
      close: async () => {
        await this.#writing;
        this.close();
      },
      abort: () => this.close(),
    });
    return this.#writable;
  }

  /**
   * Closes the descriptor. Idempotent. A pending `read()`/`write()` on this
   * end rejects with `EBADF`.
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    closer.unregister(this.#token);
    cancelWaits(
      this.#fd,
      new IpcError(
        `The pipe end was closed while waiting (close, fd ${this.#fd}): EBADF`,
        Errno.EBADF,
        "close",
      ),
    );
    sys().close(this.#fd);
  }

  /** Same as `close()`, for `using`. */
  [Symbol.dispose](): void {
    this.close();
  }
}

const ADOPT: unique symbol = Symbol("sysipc.adopt");

/**
 * A `PipeEnd` that owns `fd` from now on (the library's factories; users
 * have {@linkcode PipeEnd.fromFd}, which checks the descriptor first).
 *
 * @param fd An open descriptor.
 */
export function adoptFd(fd: number): PipeEnd {
  return new (PipeEnd as unknown as new (fd: number, internal: symbol) => PipeEnd)(fd, ADOPT);
}

/**
 * The error of a buffer detached (transferred, or its `ArrayBuffer` resized
 * away) while a `read()` or `write()` waited: a `TypeError` that says what
 * happened to the bytes, with `bytesWritten` for a write.
 */
function detached(name: string, call: string, outcome: string, bytesWritten?: number): TypeError {
  const e = new TypeError(
    `${name} was detached while ${call} waited (transferred or resized away): ${outcome}`,
  );
  return bytesWritten === undefined ? e : Object.assign(e, { bytesWritten });
}
