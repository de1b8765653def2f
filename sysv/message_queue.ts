/**
 * `MessageQueue`: a System V message queue (`msgget`/`msgsnd`/`msgrcv`/`msgctl`).
 *
 * How a waiting `send()` or `receive()` waits — a synchronous try, a bounded
 * spin, then one blocking call on a thread of the library's own that a
 * timeout, an abort or a dispose interrupts — is described in
 * `_msg_core.ts`.
 *
 * @module
 */
import { Errno, errno } from "../_sys/errno.ts";
import { forgetOnExit, removeOnExit } from "../_sys/exit_cleanup.ts";
import type { SyncWaitOptions } from "../_sys/block.ts";
import type { WaitOptions } from "../_sys/park.ts";
import * as v from "../_sys/validate.ts";
import { IpcError, ipcError } from "../errors.ts";
import {
  checkIpcId,
  checkKey,
  IPC,
  IPC_PRIVATE,
  type IpcPermStat,
  keyHex,
  permOf,
  timeOf,
} from "./_ipc.ts";
import {
  INTERNAL,
  type Message,
  neverFits,
  QueueCore,
  receive,
  receiveNow,
  receiveSync,
  send,
  sendSync,
  trySend,
} from "./_msg_core.ts";
import { limits, MSQID_DS, sys } from "./_msg_sys.ts";

export type { Message } from "./_msg_core.ts";

/** Options for {@linkcode MessageQueue.create}. */
export interface MessageQueueOptions {
  /**
   * The key other processes open the queue by (e.g. from `ftok()`), or
   * `IPC_PRIVATE` (0, the default) for a queue reached only by its id
   * ({@linkcode MessageQueue.fromId}).
   */
  key?: number;
  /** Permission bits, default `0o600` (owner read/write). */
  mode?: number;
  /**
   * Fail with `EEXIST` if a queue with this key exists (`IPC_EXCL`, the
   * default). With `false`, an existing queue is opened instead (and
   * `maxBytes` is left alone).
   */
  exclusive?: boolean;
  /**
   * The most bytes of messages the queue holds before senders wait
   * (`msg_qbytes`). Defaults to the kernel's `kernel.msgmnb` (16384 unless
   * changed); only a privileged process may go above it.
   */
  maxBytes?: number;
  /**
   * Remove the queue when this process ends (`msgctl IPC_RMID`, with the
   * messages still in it; waiters in other processes then fail with `EIDRM`):
   * when the process exits normally — its event loop runs dry,
   * `process.exit()`, `Deno.exit()` — or is ended by `SIGINT`, `SIGTERM` or
   * `SIGHUP`. A program that listens for that signal itself
   * (`process.on("SIGINT", …)`) has chosen to handle it, so then nothing is
   * removed and the process is left running; the queue goes when it exits.
   * `remove()` (or `removeById()`) before then cancels this. `SIGKILL` and
   * crashes cannot be caught: `sysipc reap` removes what such a process left
   * behind. With `exclusive: false`, this holds for an existing object it
   * opened too. Default `false`.
   */
  removeOnExit?: boolean;
}

/** Options for {@linkcode MessageQueue.send}. */
export interface SendOptions extends WaitOptions {
  /** The message type, a positive integer (default 1): receivers can pick messages by it. */
  type?: number;
}

/** Options for {@linkcode MessageQueue.trySend}. */
export interface TrySendOptions {
  /** The message type, a positive integer (default 1). */
  type?: number;
}

/** Options for {@linkcode MessageQueue.tryReceive} and {@linkcode MessageQueue.messages}. */
export interface TryReceiveOptions {
  /**
   * Which message: 0 (the default) the first in the queue; a positive type
   * the first of that type; a negative one the first of the lowest type up
   * to its absolute value (a priority order: `-3` takes type 1 before 2
   * before 3).
   */
  type?: number;
  /**
   * The longest message accepted, in bytes (default `kernel.msgmax`: any
   * message). A longer first match is never cut short: the call fails with
   * `IpcError` `E2BIG` and the message stays in the queue.
   */
  maxSize?: number;
}

/** Options for {@linkcode MessageQueue.receive}. */
export interface ReceiveOptions extends TryReceiveOptions, WaitOptions {}

/** Options for {@linkcode MessageQueue.sendSync}. */
export interface SendSyncOptions extends TrySendOptions, SyncWaitOptions {}

/** Options for {@linkcode MessageQueue.receiveSync}. */
export interface ReceiveSyncOptions extends TryReceiveOptions, SyncWaitOptions {}

/** Options for {@linkcode MessageQueue.messages}. */
export interface MessagesOptions extends TryReceiveOptions {
  /** Ends the iteration: the pending `next()` rejects with `signal.reason`. */
  signal?: AbortSignal;
}

/**
 * What {@linkcode MessageQueue.stat} returns (`struct msqid_ds`): the owner,
 * creator and mode every System V object has, and the queue's contents,
 * capacity, last users and times.
 */
export interface MessageQueueStat extends IpcPermStat {
  /** Messages in the queue now (`msg_qnum`). */
  messageCount: number;
  /** Bytes of message text in the queue now (`__msg_cbytes`). */
  bytes: number;
  /** The most bytes the queue holds before senders wait (`msg_qbytes`). */
  maxBytes: number;
  /** The process that sent last (`msg_lspid`), 0 if none yet. */
  lastSendPid: number;
  /** The process that received last (`msg_lrpid`), 0 if none yet. */
  lastReceivePid: number;
  /** Time of the last send (`msg_stime`), `null` if none yet. */
  sendTime: Date | null;
  /** Time of the last receive (`msg_rtime`), `null` if none yet. */
  receiveTime: Date | null;
  /** Time of creation or of the last `IPC_SET` (`msg_ctime`). */
  changeTime: Date | null;
}

/** The largest `msg_qbytes` the kernel stores (an `int` in the kernel's own struct). */
const MAX_QBYTES = 0x7fff_ffff;

function checkType(type: unknown, name: string, fallback: number, min: number): number {
  if (type === undefined) return fallback;
  return v.integer(type, name, { min, max: Number.MAX_SAFE_INTEGER });
}

function checkMaxSize(maxSize: unknown): number {
  if (maxSize === undefined) return limits().msgmax;
  return v.integer(maxSize, "maxSize", { min: 0, max: MAX_QBYTES });
}

function checkMaxBytes(n: unknown, name: string): number {
  return v.integer(n, name, { min: 1, max: MAX_QBYTES });
}

/**
 * A System V message queue: typed messages in the kernel, shared by every
 * process that knows its key or id, living until someone removes it
 * (`remove()`, or `ipcrm -q`). Messages keep their boundaries and their
 * order; a receiver may pick them by type, so one queue serves many
 * conversations — requests of type 1, each reply typed with its client's pid.
 *
 * `send()` waits while the queue is full (it never drops a message) and
 * `receive()` while nothing matches; both keep the event loop running, and
 * take `{ signal, timeout }`. The handle holds no descriptor: `[Symbol.dispose]`
 * cancels its pending waits and makes it unusable, and removal is always
 * explicit. Requires `--allow-ffi`.
 *
 * @example Typed messages
 * ```ts
 * import { MessageQueue } from "@sysipc/sysipc/sysv";
 * using q = MessageQueue.create();
 * try {
 *   await q.send("for anyone", { type: 1 });
 *   await q.send("for 42", { type: 42 });
 *   const m = await q.receive({ type: 42 });
 *   console.log(new TextDecoder().decode(m.data), m.type); // "for 42" 42
 *   console.log(q.stat().messageCount); // 1
 * } finally {
 *   q.remove();
 * }
 * ```
 */
export class MessageQueue {
  readonly #core: QueueCore;

  // create(), open() and fromId() make these; the check stops JavaScript callers too.
  private constructor(core: QueueCore, internal?: symbol) {
    if (internal !== INTERNAL) {
      throw new TypeError(
        "MessageQueue is not constructed directly: use MessageQueue.create(), open() or fromId()",
      );
    }
    this.#core = core;
  }

  /**
   * Creates a message queue (`msgget` with `IPC_CREAT | IPC_EXCL`), and sets
   * its capacity if `maxBytes` is given (`msgctl IPC_SET`).
   *
   * @param options `key` (default IPC_PRIVATE), `mode` (default `0o600`),
   *   `exclusive` (default true), `maxBytes` (default `kernel.msgmnb`),
   *   `removeOnExit` (default false: remove the queue when this process
   *   ends, see {@linkcode MessageQueueOptions.removeOnExit}).
   * @returns The new (or, with `exclusive: false`, existing) queue.
   * @throws {TypeError} For a key, mode or maxBytes that is not an integer,
   *   or a `removeOnExit` that is not a boolean.
   * @throws {RangeError} For a key that does not fit in 32 bits, a mode above
   *   `0o777`, or maxBytes outside 1–2147483647.
   * @throws {IpcError} `EEXIST` if the key is taken (and `exclusive`);
   *   `ENOSPC` at the system's limit of queues (`kernel.msgmni`); `EPERM` for
   *   a maxBytes above `kernel.msgmnb` without privilege (the queue is then
   *   not created).
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create({ maxBytes: 4096, mode: 0o640 });
   * const st = q.stat();
   * console.log(st.maxBytes, st.mode.toString(8)); // 4096 640
   * q.remove();
   * ```
   *
   * @example Gone when the process ends, even by Ctrl+C
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create({ removeOnExit: true });
   * console.log(q.trySend("hi")); // true: removed at exit, or on SIGINT, SIGTERM, SIGHUP
   * ```
   */
  static create(options: MessageQueueOptions = {}): MessageQueue {
    const o = v.options(options);
    const key = o.key === undefined ? IPC_PRIVATE : checkKey(o.key);
    const mode = v.mode(o.mode);
    const exclusive = v.boolean(o.exclusive, "exclusive", true);
    const maxBytes = o.maxBytes === undefined ? undefined : checkMaxBytes(o.maxBytes, "maxBytes");
    const atExit = v.boolean(o.removeOnExit, "removeOnExit", false);
    const id = sys().msgget(key, IPC.CREAT | IPC.EXCL | mode);
    if (id < 0) {
      const e = errno();
      if (e === Errno.EEXIST && !exclusive) {
        const q = MessageQueue.#openKey(key, "create");
        if (atExit) removeAtExit(q.id);
        return q;
      }
      throw ipcError("Cannot create message queue", "msgget", e, `key ${keyHex(key)}`);
    }
    const q = MessageQueue.#adopt(id, "Cannot create message queue");
    if (maxBytes !== undefined) {
      try {
        q.setMaxBytes(maxBytes);
      } catch (e) {
        sys().msgctl(id, IPC.RMID, null);
        throw e;
      }
    }
    if (atExit) removeAtExit(id);
    return q;
  }

  /**
   * Opens an existing queue by key (`msgget` without `IPC_CREAT`).
   *
   * @param key The key (e.g. from `ftok()`); not IPC_PRIVATE.
   * @returns The queue.
   * @throws {TypeError} If `key` is not an integer.
   * @throws {RangeError} If `key` does not fit in 32 bits, or is IPC_PRIVATE
   *   (a private queue is reached by id: {@linkcode MessageQueue.fromId}).
   * @throws {IpcError} `ENOENT` if no queue has this key; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * const key = 0x1f2e_0002;
   * using created = MessageQueue.create({ key });
   * using opened = MessageQueue.open(key); // typically in another process
   * console.log(opened.id === created.id); // true
   * created.remove();
   * ```
   */
  static open(key: number): MessageQueue {
    const k = checkKey(key);
    if (k === IPC_PRIVATE) {
      throw v.rangeError(
        "key",
        "a key other than IPC_PRIVATE, which names no queue to open (reach a private queue by its id with MessageQueue.fromId())",
        k,
      );
    }
    return MessageQueue.#openKey(k, "open");
  }

  static #openKey(key: number, how: "open" | "create"): MessageQueue {
    const what = how === "open" ? "Cannot open message queue" : "Cannot create message queue";
    const id = sys().msgget(key, 0);
    if (id < 0) throw ipcError(what, "msgget", errno(), `key ${keyHex(key)}`);
    return MessageQueue.#adopt(id, what);
  }

  /**
   * Opens a queue by its id — how other processes reach an `IPC_PRIVATE`
   * queue (pass them `queue.id`, e.g. on the command line).
   *
   * @param id The id (`queue.id`, or the `msqid` column of `ipcs -q`).
   * @returns The queue.
   * @throws {TypeError} If `id` is not an integer.
   * @throws {RangeError} If `id` is negative or above 2147483647.
   * @throws {IpcError} `EINVAL` if no queue has this id; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create();
   * using same = MessageQueue.fromId(q.id); // typically in a child process
   * await q.send("hi");
   * console.log(same.tryReceive()?.type); // 1
   * q.remove();
   * ```
   */
  static fromId(id: number): MessageQueue {
    return MessageQueue.#adopt(checkIpcId(id), "Cannot open message queue");
  }

  static #adopt(id: number, what: string): MessageQueue {
    const core = new QueueCore(id, 0, 0);
    const st = core.statInto();
    if (!st.ok) throw ipcError(what, "msgctl", st.errno, `id ${id}`);
    const key = st.buf.getInt32(MSQID_DS.KEY, true);
    return new MessageQueue(new QueueCore(id, key, core.maxBytes), INTERNAL);
  }

  /**
   * Removes a queue by id without opening it (`msgctl IPC_RMID`), as
   * `ipcrm -q` does.
   *
   * @param id The id.
   * @throws {TypeError} If `id` is not an integer.
   * @throws {RangeError} If `id` is negative or above 2147483647.
   * @throws {IpcError} `EINVAL` if no queue has this id; `EPERM` without permission.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * const q = MessageQueue.create();
   * MessageQueue.removeById(q.id);
   * ```
   */
  static removeById(id: number): void {
    const i = checkIpcId(id);
    forgetOnExit(exitName(i));
    if (sys().msgctl(i, IPC.RMID, null) < 0) {
      throw ipcError("Cannot remove message queue", "msgctl", errno(), `id ${i}`);
    }
  }

  /** The kernel's id for the queue (`msqid`, as `ipcs -q` shows it). */
  get id(): number {
    return this.#core.id;
  }

  /** The key (0 for IPC_PRIVATE). */
  get key(): number {
    return this.#core.key;
  }

  /**
   * Sends a message. It resolves once the message is in the queue; while the
   * queue is full it waits for room (backpressure), never drops. A message
   * sent at the moment a wait is cancelled stays sent, and the promise
   * resolves.
   *
   * @param data The message: bytes, or a string sent as UTF-8. Empty is allowed.
   * @param options `type` (default 1), `signal`, `timeout` (ms).
   * @returns A promise that resolves once the message is queued.
   * @throws {TypeError} If `data` is not bytes or a string, or `type` not an integer.
   * @throws {RangeError} If `type` is below 1, or `data` is longer than
   *   `kernel.msgmax` or the queue's `maxBytes` (it could never be sent).
   * @throws {DOMException} `TimeoutError`, `AbortError` (disposed) or `signal.reason`.
   * @throws {IpcError} `EIDRM` if the queue is removed; `EACCES` without write permission.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create({ maxBytes: 4 });
   * try {
   *   await q.send("full");
   *   const more = q.send("x", { timeout: 10_000 }); // waits for room
   *   await q.receive();
   *   await more; // there was room once the first was received
   *   console.log(q.stat().bytes); // 1
   * } finally {
   *   q.remove();
   * }
   * ```
   */
  send(data: Uint8Array | string, options?: SendOptions): Promise<void> {
    try {
      const core = this.#core;
      const bytes = v.bytes(data);
      const o = v.options(options);
      const type = checkType(o.type, "type", 1, 1);
      const timeout = v.waitOptions(o);
      core.check("Cannot send message", "msgsnd");
      fits(core, bytes.length);
      return send(core, bytes, type, o.signal, timeout);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * {@linkcode MessageQueue.send}, blocking the calling thread: one
   * `msgsnd`, waiting in the kernel on this thread while the queue is full,
   * as a C program does, with no `await` and no thread hop. It blocks the
   * calling thread (the event loop too); for Workers and command-line tools
   * that want C's latency.
   *
   * @param data The message: bytes, or a string sent as UTF-8. Empty is allowed.
   * @param options `type` (default 1), `timeout` (ms). There is no
   *   `signal`: nothing could abort a blocked thread.
   * @throws {TypeError} If `data` is not bytes or a string, `type` not an
   *   integer, or a `signal` is given.
   * @throws {RangeError} If `type` is below 1, or `data` is longer than
   *   `kernel.msgmax` or the queue's `maxBytes` (it could never be sent).
   * @throws {DOMException} `TimeoutError` when `timeout` passes first;
   *   `InvalidStateError` if the handle was disposed.
   * @throws {IpcError} `EIDRM` if the queue is (or gets) removed; `EACCES`
   *   without write permission.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create({ maxBytes: 4 });
   * try {
   *   q.sendSync("full");
   *   try {
   *     q.sendSync("x", { timeout: 50 }); // no room: blocks this thread 50 ms
   *   } catch (e) {
   *     console.log((e as DOMException).name); // "TimeoutError"
   *   }
   * } finally {
   *   q.remove();
   * }
   * ```
   */
  sendSync(data: Uint8Array | string, options?: SendSyncOptions): void {
    const core = this.#core;
    const bytes = v.bytes(data);
    const o = v.options(options);
    const type = checkType(o.type, "type", 1, 1);
    const timeout = v.syncWaitOptions(o, "sendSync()");
    core.check("Cannot send message", "msgsnd");
    fits(core, bytes.length);
    sendSync(core, bytes, type, timeout);
  }

  /**
   * Sends a message if there is room now (`msgsnd` with `IPC_NOWAIT`).
   *
   * @param data The message: bytes, or a string sent as UTF-8.
   * @param options `type` (default 1).
   * @returns `true` if sent, `false` if the queue is full.
   * @throws {TypeError} If `data` is not bytes or a string, or `type` not an integer.
   * @throws {RangeError} If `type` is below 1, or `data` could never be sent (see {@linkcode send}).
   * @throws {IpcError} `EIDRM` if the queue was removed.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create({ maxBytes: 5 });
   * console.log(q.trySend("hello"), q.trySend("!")); // true false
   * q.remove();
   * ```
   */
  trySend(data: Uint8Array | string, options?: TrySendOptions): boolean {
    const core = this.#core;
    const bytes = v.bytes(data);
    const o = v.options(options);
    const type = checkType(o.type, "type", 1, 1);
    const what = "Cannot send message";
    core.check(what, "msgsnd");
    fits(core, bytes.length);
    const e = trySend(core.id, core.txBuffer(bytes, type), BigInt(bytes.length));
    if (e === 0) return true;
    if (e === Errno.EAGAIN) return false;
    throw (e === Errno.EINVAL ? neverFits(core, bytes.length) : null) ??
      core.fail(what, "msgsnd", e);
  }

  /**
   * Receives a message, waiting while none matches. `type` 0 (the default)
   * takes the first message; a positive type the first of that type; a
   * negative one the first of the lowest type up to its absolute value.
   *
   * Nothing is lost to a cancellation: a message that arrives at the moment
   * the wait is cancelled is delivered (the promise resolves), never dropped
   * or put back behind later ones.
   *
   * @param options `type` (default 0), `maxSize` (default `kernel.msgmax`),
   *   `signal`, `timeout` (ms).
   * @returns The message's bytes and type.
   * @throws {TypeError} If `type` or `maxSize` is not an integer.
   * @throws {RangeError} If `maxSize` is negative.
   * @throws {DOMException} `TimeoutError`, `AbortError` (disposed) or `signal.reason`.
   * @throws {IpcError} `E2BIG` if the first match is longer than `maxSize`
   *   (it stays in the queue); `EIDRM` if the queue is removed.
   *
   * @example Take the most urgent message first (type 1 before 2 before 3)
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create();
   * try {
   *   await q.send("routine", { type: 3 });
   *   await q.send("urgent", { type: 1 });
   *   const first = await q.receive({ type: -3 });
   *   console.log(new TextDecoder().decode(first.data)); // "urgent"
   * } finally {
   *   q.remove();
   * }
   * ```
   */
  receive(options?: ReceiveOptions): Promise<Message> {
    try {
      const core = this.#core;
      const o = v.options(options);
      const type = checkType(o.type, "type", 0, -Number.MAX_SAFE_INTEGER);
      const maxSize = checkMaxSize(o.maxSize);
      const timeout = v.waitOptions(o);
      core.check("Cannot receive message", "msgrcv");
      return receive(core, type, maxSize, o.signal, timeout);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * {@linkcode MessageQueue.receive}, blocking the calling thread: one
   * `msgrcv`, waiting in the kernel on this thread while no message matches,
   * as a C program does, with no `await` and no thread hop. It blocks the
   * calling thread (the event loop too); for Workers and command-line tools
   * that want C's latency.
   *
   * @param options `type` (0: any; > 0: that type; < 0: the lowest type up
   *   to its absolute value), `maxSize` (bytes, default `kernel.msgmax`),
   *   `timeout` (ms). There is no `signal`: nothing could abort a blocked thread.
   * @returns The message's bytes and type.
   * @throws {TypeError} If `type` or `maxSize` is not an integer, or a
   *   `signal` is given.
   * @throws {RangeError} If `maxSize` is negative or `timeout` is.
   * @throws {DOMException} `TimeoutError` when `timeout` passes first;
   *   `InvalidStateError` if the handle was disposed.
   * @throws {IpcError} `E2BIG` if the first match is longer than `maxSize`
   *   (it stays in the queue); `EIDRM` if the queue is (or gets) removed.
   *
   * @example A worker serving requests one at a time
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create();
   * try {
   *   q.sendSync("job 1", { type: 2 });
   *   const m = q.receiveSync({ type: 2, timeout: 1000 });
   *   console.log(new TextDecoder().decode(m.data)); // "job 1"
   * } finally {
   *   q.remove();
   * }
   * ```
   */
  receiveSync(options?: ReceiveSyncOptions): Message {
    const core = this.#core;
    const o = v.options(options);
    const type = checkType(o.type, "type", 0, -Number.MAX_SAFE_INTEGER);
    const maxSize = checkMaxSize(o.maxSize);
    const timeout = v.syncWaitOptions(o, "receiveSync()");
    core.check("Cannot receive message", "msgrcv");
    return receiveSync(core, type, maxSize, timeout);
  }

  /**
   * Receives a message if one matches now (`msgrcv` with `IPC_NOWAIT`).
   *
   * @param options `type` (default 0, see {@linkcode receive}), `maxSize`.
   * @returns The message, or `null` if none matches.
   * @throws {TypeError} If `type` or `maxSize` is not an integer.
   * @throws {RangeError} If `maxSize` is negative.
   * @throws {IpcError} `E2BIG` if the first match is longer than `maxSize`
   *   (it stays in the queue); `EIDRM` if the queue was removed.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create();
   * console.log(q.tryReceive()); // null
   * q.trySend(new Uint8Array([1, 2, 3]), { type: 7 });
   * console.log(q.tryReceive()); // { data: Uint8Array(3) [ 1, 2, 3 ], type: 7 }
   * q.remove();
   * ```
   */
  tryReceive(options?: TryReceiveOptions): Message | null {
    const core = this.#core;
    const o = v.options(options);
    const type = checkType(o.type, "type", 0, -Number.MAX_SAFE_INTEGER);
    const maxSize = checkMaxSize(o.maxSize);
    core.check("Cannot receive message", "msgrcv");
    return receiveNow(core, BigInt(type), maxSize);
  }

  /**
   * Receives message after message as an async iterable, until `signal`
   * aborts (the pending step rejects with `signal.reason`) or the queue is
   * removed (the iteration ends). Leaving the loop early loses nothing: a
   * message is taken from the queue only when the loop asks for the next one.
   *
   * @param options `type` (default 0, see {@linkcode receive}), `maxSize`, `signal`.
   * @returns The messages.
   * @throws {TypeError} If `type` or `maxSize` is not an integer (on the first step).
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * const q = MessageQueue.create();
   * for (const word of ["one", "two", "three"]) await q.send(word);
   * setTimeout(() => q.remove(), 50); // ends the loop below
   * for await (const m of q.messages()) console.log(new TextDecoder().decode(m.data));
   * // one, two, three
   * ```
   */
  async *messages(options?: MessagesOptions): AsyncGenerator<Message, void, undefined> {
    const o = v.options(options);
    const type = checkType(o.type, "type", 0, -Number.MAX_SAFE_INTEGER);
    const maxSize = checkMaxSize(o.maxSize);
    const signal = v.abortSignal(o.signal);
    const core = this.#core;
    for (;;) {
      let m: Message;
      try {
        core.check("Cannot receive message", "msgrcv");
        m = await receive(core, type, maxSize, signal, Infinity);
      } catch (e) {
        if (e instanceof IpcError && e.code === "EIDRM") return;
        throw e;
      }
      yield m;
    }
  }

  /**
   * The queue's status (`msgctl IPC_STAT`, `struct msqid_ds`): what `ipcs -q` shows.
   *
   * @returns Contents, capacity, last users, key, permissions, owner, creator and times.
   * @throws {IpcError} `EIDRM` if the queue was removed.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create();
   * q.trySend("abc");
   * const st = q.stat();
   * console.log(st.messageCount, st.bytes, st.lastSendPid > 0); // 1 3 true
   * q.remove();
   * ```
   */
  stat(): MessageQueueStat {
    const core = this.#core;
    const what = "Cannot read message queue status";
    core.check(what, "msgctl");
    const st = core.statInto();
    if (!st.ok) throw core.fail(what, "msgctl", st.errno);
    const b = st.buf;
    return {
      ...permOf(b),
      messageCount: Number(b.getBigUint64(MSQID_DS.QNUM, true)),
      bytes: Number(b.getBigUint64(MSQID_DS.CBYTES, true)),
      maxBytes: Number(b.getBigUint64(MSQID_DS.QBYTES, true)),
      lastSendPid: b.getInt32(MSQID_DS.LSPID, true),
      lastReceivePid: b.getInt32(MSQID_DS.LRPID, true),
      sendTime: timeOf(b.getBigInt64(MSQID_DS.STIME, true)),
      receiveTime: timeOf(b.getBigInt64(MSQID_DS.RTIME, true)),
      changeTime: timeOf(b.getBigInt64(MSQID_DS.CTIME, true)),
    };
  }

  /**
   * Sets the queue's capacity in bytes (`msg_qbytes`, through `msgctl
   * IPC_SET`; owner, group and mode are written back unchanged). Senders
   * waiting for room get it at once if it grows.
   *
   * @param maxBytes 1 to 2147483647; above `kernel.msgmnb` only for a
   *   privileged process (`CAP_SYS_RESOURCE`).
   * @throws {TypeError} If `maxBytes` is not an integer.
   * @throws {RangeError} If it is outside 1–2147483647.
   * @throws {IpcError} `EPERM` if it is above `kernel.msgmnb` without
   *   privilege, or this user neither owns nor created the queue; `EIDRM` if
   *   the queue was removed.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * using q = MessageQueue.create();
   * q.setMaxBytes(1024);
   * console.log(q.stat().maxBytes); // 1024
   * q.remove();
   * ```
   */
  setMaxBytes(maxBytes: number): void {
    const n = checkMaxBytes(maxBytes, "maxBytes");
    const core = this.#core;
    const what = `Cannot set the queue's maxBytes to ${n}`;
    core.check(what, "msgctl");
    const st = core.statInto();
    if (!st.ok) throw core.fail(what, "msgctl", st.errno);
    const buf = new Uint8Array(st.buf.buffer.slice(0));
    new DataView(buf.buffer).setBigUint64(MSQID_DS.QBYTES, BigInt(n), true);
    if (sys().msgctl(core.id, IPC.SET, buf) < 0) {
      const e = errno();
      const err = core.fail(what, "msgctl IPC_SET", e);
      const mnb = limits(true).msgmnb;
      if (e === Errno.EPERM && n > mnb) {
        err.message += ` (above kernel.msgmnb, ${mnb} bytes, which only a privileged process` +
          " (CAP_SYS_RESOURCE) may exceed)";
      }
      throw err;
    }
    core.maxBytes = n;
  }

  /**
   * Removes the queue from the system (`msgctl IPC_RMID`), with every message
   * still in it. Every process waiting on it — here or elsewhere — is woken:
   * its wait rejects with `IpcError` code `EIDRM` (a `messages()` loop ends),
   * and any later use fails with `EIDRM`. A second call on the same handle
   * does nothing.
   *
   * @throws {IpcError} `EPERM` if this user may not remove it; `EIDRM` if
   *   another process already removed it.
   *
   * @example
   * ```ts
   * import { MessageQueue } from "@sysipc/sysipc/sysv";
   * const q = MessageQueue.create();
   * const waiting = q.receive();
   * q.remove();
   * await waiting.catch((e) => console.log(e.code)); // "EIDRM"
   * ```
   */
  remove(): void {
    const core = this.#core;
    if (core.removed) return;
    const what = "Cannot remove message queue";
    core.check(what, "msgctl");
    forgetOnExit(exitName(core.id));
    if (sys().msgctl(core.id, IPC.RMID, null) < 0) throw core.fail(what, "msgctl", errno());
    core.removed = true;
  }

  /**
   * Lets go of the handle: every wait pending through it is cancelled and
   * rejects with a `DOMException` named `"AbortError"` — within about a
   * millisecond: the thread waiting in `msgrcv`/`msgsnd` is interrupted — so
   * no thread stays blocked; later calls throw `InvalidStateError`. The queue
   * itself stays in the system: removal is explicit ({@linkcode remove}).
   * Idempotent.
   */
  [Symbol.dispose](): void {
    this.#core.dispose();
  }
}

/** How a queue is registered for removal at exit (and named in a warning). */
function exitName(id: number): string {
  return `message queue id ${id}`;
}

/** Registers the queue `id` for removal when the process ends. */
function removeAtExit(id: number): void {
  removeOnExit(
    exitName(id),
    "msgctl IPC_RMID",
    () => sys().msgctl(id, IPC.RMID, null) < 0 ? errno() : 0,
  );
}

/** Throws a `RangeError` if a message of `length` bytes could never be sent. */
function fits(core: QueueCore, length: number): void {
  if (length <= core.maxBytes && length <= limits().msgmax) return;
  const never = neverFits(core, length);
  if (never) throw never;
}
