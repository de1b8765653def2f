/**
 * `PosixMessageQueue`: a POSIX message queue (`mq_open`/`mq_send`/`mq_receive`).
 *
 * On Linux a queue descriptor (`mqd_t`) is a file descriptor that `poll()`
 * understands, so a queue waits the way a pipe does: the descriptor is
 * opened `O_NONBLOCK`; a send or receive is tried synchronously, retried for
 * a few µs while yielding the CPU, and only then waits for readiness on the
 * library's shared waiter (one `poll()` off the JavaScript thread for every
 * descriptor that waits) and tries again — no thread hop per message, no
 * polling loop, and a cancelled wait has taken nothing.
 *
 * @module
 */
import { cString } from "../_ffi/cstring.ts";
import { Errno, errno, failedErrno } from "../_sys/errno.ts";
import { forgetOnExit, removeOnExit } from "../_sys/exit_cleanup.ts";
import { deadlineOf, leftUntil, pollSync, type SyncWaitOptions } from "../_sys/block.ts";
import type { WaitOptions } from "../_sys/park.ts";
import * as v from "../_sys/validate.ts";
import { cancelWaits, POLL, waitReady, yieldCpu } from "../_sys/waiter.ts";
import { abortError, IpcError, timeoutError } from "../errors.ts";
import { checkName, fail, nameOrUnique } from "./_names.ts";
import { HARD_MSGMAX, HARD_MSGSIZEMAX, limits, MQ_ATTR, MQ_PRIO_MAX, O, sys } from "./_mq_sys.ts";

/** Options for {@linkcode PosixMessageQueue.create}. */
export interface PosixMessageQueueOptions {
  /**
   * The most messages the queue holds before senders wait. Default
   * `/proc/sys/fs/mqueue/msg_default` (10); above
   * `/proc/sys/fs/mqueue/msg_max` (10) only with `CAP_SYS_RESOURCE`.
   */
  maxMessages?: number;
  /**
   * The longest message, in bytes. Default
   * `/proc/sys/fs/mqueue/msgsize_default` (8192); above
   * `/proc/sys/fs/mqueue/msgsize_max` (8192) only with `CAP_SYS_RESOURCE`.
   */
  messageSize?: number;
  /** Permission bits, default `0o600`. */
  mode?: number;
  /** Fail with `EEXIST` if the name exists (`O_EXCL`, the default); with `false`, open it instead. */
  exclusive?: boolean;
  /**
   * Unlink the name when this process ends (`mq_unlink`; the queue is
   * destroyed once every handle to it is closed): when the process exits
   * normally — its event loop runs dry, `process.exit()`, `Deno.exit()` — or
   * is ended by `SIGINT`, `SIGTERM` or `SIGHUP`. A program that listens for
   * that signal itself (`process.on("SIGINT", …)`) has chosen to handle it,
   * so then nothing is unlinked and the process is left running; the name
   * goes when it exits. `unlink()` before then cancels this. `SIGKILL` and
   * crashes cannot be caught: `sysipc reap` removes what such a process left
   * behind. With `exclusive: false`, this holds for an existing object it
   * opened too. Default `false`.
   */
  removeOnExit?: boolean;
}

/** Options for {@linkcode PosixMessageQueue.open}. */
export interface PosixMessageQueueOpenOptions {
  /** What this handle may do: `"read"`, `"write"` or `"readwrite"` (the default). */
  access?: "read" | "write" | "readwrite";
}

/** Options for {@linkcode PosixMessageQueue.send}. */
export interface PosixSendOptions extends WaitOptions {
  /** 0 (the default) to 32767: a higher priority is received first. */
  priority?: number;
}

/** Options for {@linkcode PosixMessageQueue.sendSync}. */
export interface PosixSendSyncOptions extends PosixTrySendOptions, SyncWaitOptions {}

/** Options for {@linkcode PosixMessageQueue.trySend}. */
export interface PosixTrySendOptions {
  /** 0 (the default) to 32767: a higher priority is received first. */
  priority?: number;
}

/** Options for {@linkcode PosixMessageQueue.messages}. */
export interface PosixMessagesOptions {
  /** Ends the iteration: the pending step rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/** A message as {@linkcode PosixMessageQueue.receive} gives it. */
export interface PosixMessage {
  /** The message's bytes (a copy: yours to keep). */
  data: Uint8Array;
  /** Its priority. */
  priority: number;
}

/** What {@linkcode PosixMessageQueue.attributes} returns (`struct mq_attr`). */
export interface PosixMessageQueueAttributes {
  /** The most messages the queue holds (`mq_maxmsg`). */
  maxMessages: number;
  /** The longest message, in bytes (`mq_msgsize`). */
  messageSize: number;
  /** Messages in the queue now (`mq_curmsgs`). */
  currentMessages: number;
}

const INTERNAL: unique symbol = Symbol("sysipc.pmq");
const ACCESS = ["read", "write", "readwrite"] as const;
/** How many times a send or receive that would block yields and tries again before waiting. */
const SPIN = 20;

/** Closes a forgotten handle's descriptor. */
const closer = new FinalizationRegistry<number>((fd) => {
  sys().mq_close(fd);
});

/** How a name is registered for removal at exit (and named in a warning). */
function exitName(name: string): string {
  return `POSIX message queue ${name}`;
}

/** Registers the name for `mq_unlink` when the process ends. */
function removeAtExit(name: string): void {
  const c = cString(name);
  removeOnExit(exitName(name), "mq_unlink", () => sys().mq_unlink(c) < 0 ? errno() : 0);
}

function checkPriority(p: unknown): number {
  if (p === undefined) return 0;
  return v.integer(p, "priority", { min: 0, max: MQ_PRIO_MAX - 1, limit: "MQ_PRIO_MAX" });
}

/**
 * A POSIX message queue: messages with priorities in the kernel, found by a
 * name such as `"/jobs"` (what `mq_open` takes, and what C, Python and other
 * programs open), living until the name is unlinked and the last handle is
 * closed. A receive takes the oldest message of the highest priority.
 *
 * `send()` waits while the queue is full (it never drops a message) and
 * `receive()` while it is empty; both keep the event loop running and take
 * `{ signal, timeout }`. The handle holds a descriptor: `close()` (or
 * `using`) releases it and ends its pending waits; the queue itself stays
 * until `unlink()`. Requires `--allow-ffi`.
 *
 * @example Priorities overtake arrival order
 * ```ts
 * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
 * using q = PosixMessageQueue.create(undefined, { maxMessages: 4, messageSize: 64 });
 * try {
 *   await q.send("routine");
 *   await q.send("urgent", { priority: 9 });
 *   const first = await q.receive();
 *   console.log(new TextDecoder().decode(first.data), first.priority); // "urgent" 9
 * } finally {
 *   q.unlink();
 * }
 * ```
 */
export class PosixMessageQueue {
  #fd: number;
  readonly #name: string;
  readonly #access: (typeof ACCESS)[number];
  readonly #messageSize: number;
  readonly #rx: Uint8Array;
  readonly #rxLength: bigint;
  readonly #prio = new Uint32Array(1);
  readonly #attr = new BigInt64Array(MQ_ATTR.LONGS);
  #closed = false;

  // create() and open() make these; the check stops JavaScript callers too.
  private constructor(
    fd: number,
    name: string,
    access: (typeof ACCESS)[number],
    internal?: symbol,
  ) {
    if (internal !== INTERNAL) {
      throw new TypeError(
        "PosixMessageQueue is not constructed directly: use PosixMessageQueue.create() or open()",
      );
    }
    this.#fd = fd;
    this.#name = name;
    this.#access = access;
    closer.register(this, fd, this);
    this.#messageSize = this.attributes().messageSize;
    this.#rx = new Uint8Array(this.#messageSize);
    this.#rxLength = BigInt(this.#messageSize);
  }

  /**
   * Creates a queue (`mq_open` with `O_CREAT | O_EXCL`), open for reading and
   * writing.
   *
   * @param name `/` and a name (`"/jobs"`); `undefined` picks a unique one
   *   (read it back from {@linkcode name}).
   * @param options `maxMessages`, `messageSize`, `mode` (default `0o600`),
   *   `exclusive` (default true), `removeOnExit` (default false: unlink the
   *   name when this process ends, see {@linkcode PosixMessageQueueOptions.removeOnExit}).
   * @returns The queue.
   * @throws {TypeError} For a malformed name, or options of the wrong type
   *   (a `removeOnExit` that is not a boolean, …).
   * @throws {RangeError} For a count, size or mode out of range.
   * @throws {IpcError} `EEXIST` if the name exists (and `exclusive`); `EINVAL`
   *   for a count or size past `/proc/sys/fs/mqueue/msg_max` or
   *   `msgsize_max` without privilege (the message names the file); `EMFILE`
   *   past the user's `RLIMIT_MSGQUEUE` bytes.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using q = PosixMessageQueue.create("/sysipc_doc_create", { maxMessages: 5, messageSize: 128 });
   * console.log(q.attributes()); // { maxMessages: 5, messageSize: 128, currentMessages: 0 }
   * q.unlink();
   * ```
   *
   * @example Gone when the process ends, even by Ctrl+C
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using q = PosixMessageQueue.create(undefined, { removeOnExit: true });
   * console.log(q.trySend("hi")); // true: unlinked at exit, or on SIGINT, SIGTERM, SIGHUP
   * ```
   */
  static create(name?: string, options: PosixMessageQueueOptions = {}): PosixMessageQueue {
    const n = nameOrUnique(name);
    const o = v.options(options);
    const lim = limits();
    const maxMessages = o.maxMessages === undefined
      ? lim.msgDefault
      : v.integer(o.maxMessages, "maxMessages", { min: 1, max: HARD_MSGMAX, limit: "HARD_MSGMAX" });
    const messageSize = o.messageSize === undefined
      ? lim.msgsizeDefault
      : v.integer(o.messageSize, "messageSize", {
        min: 1,
        max: HARD_MSGSIZEMAX,
        limit: "HARD_MSGSIZEMAX",
      });
    const mode = v.mode(o.mode);
    const exclusive = v.boolean(o.exclusive, "exclusive", true);
    const atExit = v.boolean(o.removeOnExit, "removeOnExit", false);
    const attr = new BigInt64Array(MQ_ATTR.LONGS);
    attr[MQ_ATTR.MAXMSG] = BigInt(maxMessages);
    attr[MQ_ATTR.MSGSIZE] = BigInt(messageSize);
    const flags = O.RDWR | O.NONBLOCK | O.CLOEXEC | O.CREAT;
    const c = cString(n);
    const fd = sys().mq_open(c, flags | O.EXCL, mode, attr);
    if (fd < 0) {
      const e = errno();
      if (e === Errno.EEXIST && !exclusive) {
        const q = PosixMessageQueue.open(n);
        if (atExit) removeAtExit(n);
        return q;
      }
      let note = "";
      if (e === Errno.EINVAL && maxMessages > lim.msgMax) {
        note =
          ` (maxMessages ${maxMessages} is above /proc/sys/fs/mqueue/msg_max, ${lim.msgMax}, ` +
          "which only a privileged process (CAP_SYS_RESOURCE) may exceed)";
      } else if (e === Errno.EINVAL && messageSize > lim.msgsizeMax) {
        note = ` (messageSize ${messageSize} is above /proc/sys/fs/mqueue/msgsize_max, ` +
          `${lim.msgsizeMax}, which only a privileged process (CAP_SYS_RESOURCE) may exceed)`;
      } else if (e === Errno.EMFILE) {
        note = " (the user's RLIMIT_MSGQUEUE bytes, or the process's descriptors, are used up)";
      }
      throw fail("Cannot create message queue", "mq_open", e, n, note);
    }
    const q = new PosixMessageQueue(fd, n, "readwrite", INTERNAL);
    if (atExit) removeAtExit(n);
    return q;
  }

  /**
   * Opens an existing queue by name.
   *
   * @param name The queue's name, e.g. `"/jobs"`.
   * @param options `access`: `"read"`, `"write"` or `"readwrite"` (default).
   * @returns The queue.
   * @throws {TypeError} For a malformed name or an unknown access.
   * @throws {IpcError} `ENOENT` if no queue has this name; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using created = PosixMessageQueue.create("/sysipc_doc_open", { maxMessages: 2, messageSize: 16 });
   * using writer = PosixMessageQueue.open("/sysipc_doc_open", { access: "write" });
   * writer.trySend("hi");
   * console.log(created.attributes().currentMessages); // 1
   * PosixMessageQueue.unlink("/sysipc_doc_open");
   * ```
   */
  static open(name: string, options: PosixMessageQueueOpenOptions = {}): PosixMessageQueue {
    const n = checkName(name);
    const o = v.options(options);
    const access = o.access === undefined ? "readwrite" : v.oneOf(o.access, "access", ACCESS);
    const mode = access === "read" ? O.RDONLY : access === "write" ? O.WRONLY : O.RDWR;
    const fd = sys().mq_open(cString(n), mode | O.NONBLOCK | O.CLOEXEC, 0, null);
    if (fd < 0) throw fail("Cannot open message queue", "mq_open", errno(), n);
    return new PosixMessageQueue(fd, n, access, INTERNAL);
  }

  /**
   * Removes a queue's name (`mq_unlink`): no one can open it any more, and it
   * is destroyed once every handle to it is closed.
   *
   * @param name The queue's name.
   * @throws {TypeError} For a malformed name.
   * @throws {IpcError} `ENOENT` if no queue has this name; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * PosixMessageQueue.create("/sysipc_doc_unlink").close();
   * PosixMessageQueue.unlink("/sysipc_doc_unlink");
   * ```
   */
  static unlink(name: string): void {
    const n = checkName(name);
    forgetOnExit(exitName(n));
    if (sys().mq_unlink(cString(n)) < 0) {
      throw fail("Cannot unlink message queue", "mq_unlink", errno(), n);
    }
  }

  /** The queue's name, e.g. `"/jobs"`. */
  get name(): string {
    return this.#name;
  }

  /** Whether {@linkcode close} was called. */
  get closed(): boolean {
    return this.#closed;
  }

  #ensureOpen(what: string): number {
    if (this.#closed) {
      throw new IpcError(
        `${what} (${this.#name}): EBADF (the PosixMessageQueue handle is closed)`,
        Errno.EBADF,
        "mq_close",
      );
    }
    return this.#fd;
  }

  /**
   * The queue's attributes now (`mq_getattr`).
   *
   * @returns Its capacity, message size and how many messages it holds.
   * @throws {IpcError} `EBADF` after `close()`.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using q = PosixMessageQueue.create(undefined, { maxMessages: 3, messageSize: 32 });
   * q.trySend("a");
   * console.log(q.attributes().currentMessages); // 1
   * q.unlink();
   * ```
   */
  attributes(): PosixMessageQueueAttributes {
    const what = "Cannot read message queue attributes";
    const fd = this.#ensureOpen(what);
    if (sys().mq_getattr(fd, this.#attr) < 0) throw fail(what, "mq_getattr", errno(), this.#name);
    return {
      maxMessages: Number(this.#attr[MQ_ATTR.MAXMSG]),
      messageSize: Number(this.#attr[MQ_ATTR.MSGSIZE]),
      currentMessages: Number(this.#attr[MQ_ATTR.CURMSGS]),
    };
  }

  /** One non-blocking `mq_send`: 0, or the errno. */
  #trySend(fd: number, data: Uint8Array, priority: number): number {
    const s = sys();
    const n = BigInt(data.length);
    for (;;) {
      if (s.mq_send(fd, data, n, priority) === 0) return 0;
      const e = failedErrno();
      if (e !== Errno.EINTR) return e;
    }
  }

  /** One non-blocking `mq_receive`: the message, `null` if empty; throws other errors. */
  #tryReceive(fd: number): PosixMessage | null {
    const s = sys();
    for (;;) {
      const r = s.mq_receive(fd, this.#rx, this.#rxLength, this.#prio);
      if (r >= 0) return { data: this.#rx.slice(0, r), priority: this.#prio[0] };
      const e = failedErrno();
      if (e === Errno.EAGAIN) return null;
      if (e === Errno.EINTR) continue;
      throw this.#fail("Cannot receive message", "mq_receive", e);
    }
  }

  #fail(what: string, syscall: string, e: number): IpcError {
    const note = e === Errno.EBADF ? ` (the handle was opened with access "${this.#access}")` : "";
    return fail(what, syscall, e, this.#name, note);
  }

  #checkSend(
    data: unknown,
    options: PosixSendOptions | undefined,
    what: string,
  ) {
    const bytes = v.bytes(data);
    const o = v.options<PosixSendOptions>(options);
    const priority = checkPriority(o.priority);
    if (bytes.length > this.#messageSize) {
      throw new RangeError(
        `data must be at most ${this.#messageSize} bytes (the queue's messageSize, ${this.#name}), got ${bytes.length} bytes`,
      );
    }
    const fd = this.#ensureOpen(what);
    return { bytes, priority, o, fd };
  }

  /**
   * Sends a message. It resolves once the message is in the queue; while the
   * queue is full it waits for room (backpressure), never drops.
   *
   * @param data The message: bytes, or a string sent as UTF-8. Empty is allowed.
   * @param options `priority` (0–32767, default 0), `signal`, `timeout` (ms).
   * @returns A promise that resolves once the message is queued.
   * @throws {TypeError} If `data` is not bytes or a string, or `priority` not an integer.
   * @throws {RangeError} If `priority` is outside 0–32767 or `data` is longer than `messageSize`.
   * @throws {DOMException} `TimeoutError`, `AbortError` (closed while waiting) or `signal.reason`.
   * @throws {IpcError} `EBADF` after `close()` or on a handle opened for reading only.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using q = PosixMessageQueue.create(undefined, { maxMessages: 1, messageSize: 8 });
   * try {
   *   await q.send("one");
   *   const second = q.send("two", { timeout: 10_000 }); // waits: the queue is full
   *   await q.receive();
   *   await second;
   *   console.log(q.attributes().currentMessages); // 1
   * } finally {
   *   q.unlink();
   * }
   * ```
   */
  async send(data: Uint8Array | string, options?: PosixSendOptions): Promise<void> {
    const what = "Cannot send message";
    const { bytes, priority, o, fd } = this.#checkSend(data, options, what);
    const timeout = v.waitOptions(o);
    const signal = o.signal;
    if (signal?.aborted) throw signal.reason;
    const start = timeout === Infinity || timeout === 0 ? 0 : performance.now();
    for (let spins = 0;; spins++) {
      const e = this.#trySend(this.#ensureOpen(what), bytes, priority);
      if (e === 0) return;
      if (e !== Errno.EAGAIN) throw this.#fail(what, "mq_send", e);
      if (spins < SPIN) {
        yieldCpu();
        continue;
      }
      spins = 0;
      await this.#ready(fd, POLL.OUT, signal, timeout, start, what, "mq_send");
    }
  }

  /**
   * {@linkcode PosixMessageQueue.send}, blocking the calling thread while the
   * queue is full (after a spin of a few tens of µs, in `poll` on this
   * thread, then `mq_send` again), with no
   * `await` and no thread hop. It blocks the calling thread (the event loop
   * too); for Workers and command-line tools that want C's latency.
   *
   * @param data The message: bytes, or a string sent as UTF-8. Empty is allowed.
   * @param options `priority` (0–32767, default 0), `timeout` (ms). There is
   *   no `signal`: nothing could abort a blocked thread.
   * @throws {TypeError} If `data` is not bytes or a string, `priority` not
   *   an integer, or a `signal` is given.
   * @throws {RangeError} If `priority` is outside 0–32767 or `data` is longer than `messageSize`.
   * @throws {DOMException} `TimeoutError` when `timeout` passes first.
   * @throws {IpcError} `EBADF` after `close()` or on a handle opened for reading only.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using q = PosixMessageQueue.create(undefined, { maxMessages: 1, messageSize: 8 });
   * try {
   *   q.sendSync("one");
   *   try {
   *     q.sendSync("two", { timeout: 50 }); // full: blocks this thread 50 ms
   *   } catch (e) {
   *     console.log((e as DOMException).name); // "TimeoutError"
   *   }
   * } finally {
   *   q.unlink();
   * }
   * ```
   */
  sendSync(data: Uint8Array | string, options?: PosixSendSyncOptions): void {
    const what = "Cannot send message";
    const { bytes, priority, o, fd } = this.#checkSend(data, options, what);
    const timeout = v.syncWaitOptions(o, "sendSync()");
    const deadline = deadlineOf(timeout);
    for (let spins = 0;; spins++) {
      const e = this.#trySend(fd, bytes, priority);
      if (e === 0) return;
      if (e !== Errno.EAGAIN) throw this.#fail(what, "mq_send", e);
      if (timeout !== 0 && spins < SPIN) {
        yieldCpu();
        continue;
      }
      spins = 0;
      this.#blockSync(fd, POLL.OUT, deadline, timeout, what, "mq_send");
    }
  }

  /** Blocks this thread in `poll` until `fd` is ready or the deadline passes (a `TimeoutError`). */
  #blockSync(
    fd: number,
    events: number,
    deadline: number,
    timeout: number,
    what: string,
    syscall: string,
  ): void {
    for (;;) {
      const left = leftUntil(deadline);
      if (left <= 0) throw timeoutError(what, timeout, `${syscall}, ${this.#name}`);
      if (pollSync(fd, events, left) !== -1) return; // ready, or the time ran out: the caller tries again
    }
  }

  /**
   * Sends a message if there is room now.
   *
   * @param data The message: bytes, or a string sent as UTF-8.
   * @param options `priority` (0–32767, default 0).
   * @returns `true` if sent, `false` if the queue is full.
   * @throws {TypeError} If `data` is not bytes or a string, or `priority` not an integer.
   * @throws {RangeError} If `priority` is outside 0–32767 or `data` is longer than `messageSize`.
   * @throws {IpcError} `EBADF` after `close()` or on a handle opened for reading only.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using q = PosixMessageQueue.create(undefined, { maxMessages: 1, messageSize: 8 });
   * console.log(q.trySend("a"), q.trySend("b")); // true false
   * q.unlink();
   * ```
   */
  trySend(data: Uint8Array | string, options?: PosixTrySendOptions): boolean {
    const what = "Cannot send message";
    const { bytes, priority, fd } = this.#checkSend(data, options, what);
    const e = this.#trySend(fd, bytes, priority);
    if (e === 0) return true;
    if (e === Errno.EAGAIN) return false;
    throw this.#fail(what, "mq_send", e);
  }

  /**
   * Receives the oldest message of the highest priority, waiting while the
   * queue is empty. A cancelled wait has taken nothing.
   *
   * @param options `signal`, `timeout` (ms).
   * @returns The message's bytes and priority.
   * @throws {DOMException} `TimeoutError`, `AbortError` (closed while waiting) or `signal.reason`.
   * @throws {IpcError} `EBADF` after `close()` or on a handle opened for writing only.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using q = PosixMessageQueue.create();
   * try {
   *   setTimeout(() => q.trySend("later", { priority: 3 }), 10);
   *   const m = await q.receive({ timeout: 5000 });
   *   console.log(new TextDecoder().decode(m.data), m.priority); // "later" 3
   * } finally {
   *   q.unlink();
   * }
   * ```
   */
  async receive(options?: WaitOptions): Promise<PosixMessage> {
    const what = "Cannot receive message";
    const o = v.options(options);
    const timeout = v.waitOptions(o);
    const signal = o.signal;
    const fd = this.#ensureOpen(what);
    if (signal?.aborted) throw signal.reason;
    const start = timeout === Infinity || timeout === 0 ? 0 : performance.now();
    for (let spins = 0;; spins++) {
      const m = this.#tryReceive(this.#ensureOpen(what));
      if (m !== null) return m;
      if (spins < SPIN) {
        yieldCpu();
        continue;
      }
      spins = 0;
      await this.#ready(fd, POLL.IN, signal, timeout, start, what, "mq_receive");
    }
  }

  /**
   * {@linkcode PosixMessageQueue.receive}, blocking the calling thread while
   * the queue is empty (after a spin of a few tens of µs, in `poll` on this
   * thread, then `mq_receive` again),
   * with no `await` and no thread hop. It blocks the calling thread (the
   * event loop too); for Workers and command-line tools that want C's latency.
   *
   * @param options `timeout` (ms). There is no `signal`: nothing could abort
   *   a blocked thread.
   * @returns The message's bytes and priority.
   * @throws {TypeError} For options of the wrong type, or a `signal`.
   * @throws {RangeError} For a negative `timeout`.
   * @throws {DOMException} `TimeoutError` when `timeout` passes first.
   * @throws {IpcError} `EBADF` after `close()` or on a handle opened for writing only.
   *
   * @example A worker taking jobs one at a time
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using q = PosixMessageQueue.create();
   * try {
   *   q.sendSync("job", { priority: 3 });
   *   const m = q.receiveSync({ timeout: 1000 });
   *   console.log(new TextDecoder().decode(m.data), m.priority); // "job" 3
   * } finally {
   *   q.unlink();
   * }
   * ```
   */
  receiveSync(options?: SyncWaitOptions): PosixMessage {
    const what = "Cannot receive message";
    const timeout = options === undefined
      ? Infinity
      : v.syncWaitOptions(v.options(options), "receiveSync()");
    const fd = this.#ensureOpen(what);
    const deadline = deadlineOf(timeout);
    for (let spins = 0;; spins++) {
      const m = this.#tryReceive(fd);
      if (m !== null) return m;
      if (timeout !== 0 && spins < SPIN) {
        yieldCpu();
        continue;
      }
      spins = 0;
      this.#blockSync(fd, POLL.IN, deadline, timeout, what, "mq_receive");
    }
  }

  /**
   * Receives a message if there is one now.
   *
   * @returns The message, or `null` if the queue is empty.
   * @throws {IpcError} `EBADF` after `close()` or on a handle opened for writing only.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * using q = PosixMessageQueue.create();
   * console.log(q.tryReceive()); // null
   * q.unlink();
   * ```
   */
  tryReceive(): PosixMessage | null {
    return this.#tryReceive(this.#ensureOpen("Cannot receive message"));
  }

  /** Waits until `fd` is ready for `events`, within what is left of `timeout`. */
  async #ready(
    fd: number,
    events: number,
    signal: AbortSignal | undefined,
    timeout: number,
    start: number,
    what: string,
    syscall: string,
  ): Promise<void> {
    const expired = () => timeoutError(what, timeout, `${syscall}, ${this.#name}`);
    if (timeout === 0) throw expired();
    if (timeout === Infinity) {
      await waitReady(fd, events, signal);
      return;
    }
    const left = start + timeout - performance.now();
    if (left <= 0) throw expired();
    const ac = new AbortController();
    const timer = setTimeout(() => ac.abort(expired()), left);
    const onAbort = () => ac.abort(signal!.reason);
    signal?.addEventListener("abort", onAbort, { once: true });
    try {
      await waitReady(fd, events, ac.signal);
    } finally {
      clearTimeout(timer);
      signal?.removeEventListener("abort", onAbort);
    }
  }

  /**
   * Receives message after message as an async iterable, until `signal`
   * aborts (the pending step rejects with `signal.reason`) or the handle is
   * closed (the iteration ends). Leaving the loop early takes nothing more.
   *
   * @param options `signal`.
   * @returns The messages, highest priority first.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * const q = PosixMessageQueue.create();
   * for (const [text, priority] of [["low", 1], ["high", 5]] as const) q.trySend(text, { priority });
   * setTimeout(() => q.close(), 50); // ends the loop below
   * for await (const m of q.messages()) console.log(new TextDecoder().decode(m.data));
   * // high, low
   * PosixMessageQueue.unlink(q.name);
   * ```
   */
  async *messages(options?: PosixMessagesOptions): AsyncGenerator<PosixMessage, void, undefined> {
    const o = v.options(options);
    const signal = v.abortSignal(o.signal);
    for (;;) {
      if (this.#closed) return;
      let m: PosixMessage;
      try {
        m = await this.receive({ signal });
      } catch (e) {
        if (this.#closed && !(signal?.aborted && e === signal.reason)) return;
        throw e;
      }
      yield m;
    }
  }

  /**
   * Closes the handle (`mq_close`): waits pending through it reject with a
   * `DOMException` named `"AbortError"`, a `messages()` loop ends. The queue
   * stays until unlinked. Idempotent.
   *
   * @example
   * ```ts
   * import { PosixMessageQueue } from "@sysipc/sysipc/posix";
   * const q = PosixMessageQueue.create();
   * q.close();
   * console.log(q.closed); // true
   * q.unlink(); // works on a closed handle
   * ```
   */
  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    const fd = this.#fd;
    closer.unregister(this);
    cancelWaits(
      fd,
      abortError(`The PosixMessageQueue handle was closed while waiting (${this.#name})`),
    );
    sys().mq_close(fd);
    this.#fd = -1;
  }

  /**
   * Removes the queue's name (see {@linkcode PosixMessageQueue.unlink}); works
   * on a closed handle too.
   *
   * @throws {IpcError} `ENOENT` if the name is already gone.
   */
  unlink(): void {
    PosixMessageQueue.unlink(this.#name);
  }

  /** Closes the handle ({@linkcode close}); the queue stays until unlinked. */
  [Symbol.dispose](): void {
    this.close();
  }
}
