/**
 * Internal: a `MessageQueue` handle's state, and how sending and receiving
 * go through the wait engine (`_sys/park.ts`).
 *
 * ## Waiting without a timed call
 *
 * `msgsnd` and `msgrcv` have no timed form (unlike `semtimedop`), yet a
 * waiting call must honour a timeout and an `AbortSignal`, cost nothing while
 * idle, wake at once when a message arrives, and lose nothing when cancelled.
 * The choice, measured with `bench/mq_bench.ts`:
 *
 * 1. One synchronous call with `IPC_NOWAIT` — the hot path, no allocation
 *    beyond the message's own bytes and no thread hop.
 * 2. The engine's bounded spin: `sched_yield()` and retry for a few tens of
 *    µs, so a peer that answers quickly (a request/reply round trip) is
 *    caught without a thread hop.
 * 3. Then one *blocking* `msgrcv`/`msgsnd` on a thread of the library's own
 *    (`cancellable`), for as long as it takes. The kernel wakes it the moment
 *    a message arrives (or room appears) — no slices, no polling, no CPU while
 *    idle — and wakes it with `EIDRM` when the queue is removed. A timeout
 *    is a timer on the JavaScript thread that interrupts the call, like an
 *    abort or a dispose: the thread gets a signal, the call fails with
 *    `EINTR` (System V message calls are never restarted), and the engine
 *    decides what that means.
 *
 * Nothing is lost to a cancellation: a call that completed before the
 * interruption landed keeps its result — the message received is delivered
 * (the promise resolves even though its signal fired), the message sent
 * stays sent. Giving a received message back is not offered: sending it again
 * would put it behind messages that arrived meanwhile.
 *
 * @module
 */
import { deadlineOf, leftUntil, ThreadTimer } from "../_sys/block.ts";
import { Errno, errno, failedErrno } from "../_sys/errno.ts";
import { blocking, park, spin, type Waitable, WOULD_BLOCK } from "../_sys/park.ts";
import { IpcError, timeoutError } from "../errors.ts";
import { IPC } from "./_ipc.ts";
import { ObjectCore } from "./_object_core.ts";
import { limits, MSQID_DS, MTYPE_BYTES, sys } from "./_msg_sys.ts";

/** @internal Passed to the constructor by the library's own factories. */
export const INTERNAL: unique symbol = Symbol("sysipc.msg");

/** A resolved promise, returned by every send that completes at once. */
const DONE: Promise<void> = Promise.resolve();

/** A message as `receive()` gives it. */
export interface Message {
  /** The message's bytes (a copy: yours to keep). */
  data: Uint8Array;
  /** Its type, a positive integer. */
  type: number;
}

/** Writes a message type (a positive safe integer) as a 64-bit `long` at the start of `buf`. */
function putType(dv: DataView, type: number): void {
  dv.setUint32(0, type >>> 0, true);
  dv.setUint32(4, Math.floor(type / 0x1_0000_0000), true);
}

/** Reads back the `long` type a received message starts with. */
function getType(dv: DataView): number {
  return dv.getUint32(0, true) + dv.getInt32(4, true) * 0x1_0000_0000;
}

/**
 * What a `MessageQueue` handle holds: besides the {@linkcode ObjectCore}
 * (id, removal, dispose, pending waits), the capacity as last seen and
 * scratch buffers for the synchronous calls.
 */
export class QueueCore extends ObjectCore {
  /** The queue's capacity in bytes as last seen (`msg_qbytes`). */
  maxBytes: number;
  readonly #stat = new Uint8Array(MSQID_DS.BYTES);
  #tx = new Uint8Array(MTYPE_BYTES + 256);
  #txView = new DataView(this.#tx.buffer);
  #rx = new Uint8Array(0);
  #rxView = new DataView(this.#rx.buffer);

  constructor(id: number, key: number, maxBytes: number) {
    super(id, key, "queue", "MessageQueue");
    this.maxBytes = maxBytes;
  }

  /** `IPC_STAT` into the handle's scratch buffer; the errno on failure. */
  statInto(): { ok: true; buf: DataView } | { ok: false; errno: number } {
    if (sys().msgctl(this.id, IPC.STAT, this.#stat) < 0) return { ok: false, errno: errno() };
    const buf = new DataView(this.#stat.buffer);
    this.maxBytes = Number(buf.getBigUint64(MSQID_DS.QBYTES, true));
    return { ok: true, buf };
  }

  /** `struct msgbuf` for `data` of `type`, in the scratch buffer (valid until the next call). */
  txBuffer(data: Uint8Array, type: number): Uint8Array {
    const need = MTYPE_BYTES + data.length;
    if (this.#tx.length < need) {
      this.#tx = new Uint8Array(Math.max(need, this.#tx.length * 2));
      this.#txView = new DataView(this.#tx.buffer);
    }
    putType(this.#txView, type);
    this.#tx.set(data, MTYPE_BYTES);
    return this.#tx;
  }

  /** A scratch `struct msgbuf` with room for `size` bytes of text ({@linkcode rxView} sees it too). */
  rxBuffer(size: number): Uint8Array {
    const need = MTYPE_BYTES + size;
    if (this.#rx.length < need) {
      this.#rx = new Uint8Array(need);
      this.#rxView = new DataView(this.#rx.buffer);
    }
    return this.#rx;
  }

  /** A view of the scratch buffer {@linkcode rxBuffer} last returned. */
  get rxView(): DataView {
    return this.#rxView;
  }
}

/** One `msgsnd` with `IPC_NOWAIT`: 0 or the errno (read at once); `EINTR` is retried. */
export function trySend(id: number, buf: Uint8Array, n: bigint): number {
  const s = sys();
  for (;;) {
    if (s.msgsnd(id, buf, n, IPC.NOWAIT) === 0) return 0;
    const e = failedErrno();
    if (e !== Errno.EINTR) return e;
  }
}

/** One `msgrcv` with `IPC_NOWAIT`: the text's length, or minus the errno; `EINTR` is retried. */
function tryReceive(id: number, buf: Uint8Array, size: bigint, type: bigint): number {
  const s = sys();
  for (;;) {
    const r = s.msgrcv(id, buf, size, type, IPC.NOWAIT);
    if (r >= 0) return r;
    const e = failedErrno(); // never 0: -0 would read as an empty message
    if (e !== Errno.EINTR) return -e;
  }
}

/**
 * The error for a message that can never be sent: longer than
 * `kernel.msgmax`, or than the queue's capacity — `msgsnd` would wait for
 * room forever. `null` if it fits. Reads both limits afresh (either may have
 * been changed since): call it when the figures last seen say it won't fit.
 */
export function neverFits(core: QueueCore, length: number): RangeError | null {
  const max = limits(true).msgmax;
  if (length > max) {
    return new RangeError(`data must be at most ${max} bytes (kernel.msgmax), got ${length} bytes`);
  }
  const st = core.statInto();
  if (!st.ok || length <= core.maxBytes) return null; // a failure is reported by the call itself
  return new RangeError(
    `data must be at most ${core.maxBytes} bytes (the queue's maxBytes, ${core.where()}), got ${length} bytes`,
  );
}

/** The rejection of a wait whose time ran out, or `EIDRM` if the queue went meanwhile. */
function expired(core: QueueCore, what: string, timeout: number, syscall: string): unknown {
  const st = core.statInto();
  if (!st.ok) return core.fail(what, syscall, st.errno);
  return timeoutError(what, timeout, `${syscall}, ${core.where()}`);
}

/**
 * Sends `data` as a message of `type`, waiting for room while the queue is
 * full. Arguments are checked; `data.length` fits `kernel.msgmax` as last read.
 */
export function send(
  core: QueueCore,
  data: Uint8Array,
  type: number,
  signal: AbortSignal | undefined,
  timeout: number,
): Promise<void> {
  const what = "Cannot send message";
  if (signal?.aborted) return Promise.reject(signal.reason);
  const id = core.id;
  const n = data.length;
  const nb = BigInt(n); // 64-bit arguments as bigints: Deno's fast path (DESIGN.md)
  let buf = core.txBuffer(data, type);
  const e = trySend(id, buf, nb);
  if (e === 0) return DONE;
  if (e !== Errno.EAGAIN) {
    return Promise.reject(
      e === Errno.EINVAL
        ? neverFits(core, n) ?? core.fail(what, "msgsnd", e)
        : core.fail(what, "msgsnd", e),
    );
  }
  if (timeout === 0) return Promise.reject(timeoutError(what, timeout, `msgsnd, ${core.where()}`));
  const start = timeout === Infinity ? 0 : performance.now();
  const attempt = (): void | typeof WOULD_BLOCK => {
    const e = trySend(id, buf, nb);
    if (e === 0) return;
    if (e === Errno.EAGAIN) return WOULD_BLOCK;
    throw core.fail(what, "msgsnd", e);
  };
  try {
    if (spin(attempt) !== WOULD_BLOCK) return DONE;
  } catch (e) {
    return Promise.reject(e);
  }
  // Still full. A message longer than the queue's capacity would wait forever.
  const never = neverFits(core, n);
  if (never) return Promise.reject(never);
  buf = buf.slice(0, MTYPE_BYTES + n); // the wait keeps its own copy: the scratch buffer is reused
  const w: Waitable<void> = {
    attempt,
    block(ms) {
      return blocking(sys().msgsnd_wait(id, buf, nb, 0), ({ result, errno }) => {
        if (result === 0) return undefined;
        if (errno === Errno.EINTR) return WOULD_BLOCK; // interrupted: the engine decides
        throw core.fail(what, "msgsnd", errno);
      }, ms);
    },
    expired: () => expired(core, what, timeout, "msgsnd"),
  };
  return park(w, { signal, timeout, start, waits: core.waits });
}

/** The house-style error for a first matching message longer than `maxSize` (it stays queued). */
function tooBig(core: QueueCore, maxSize: number, syscall: string): IpcError {
  return new IpcError(
    `Cannot receive message (${syscall}, ${core.where()}): E2BIG (the first matching message is longer than maxSize, ${maxSize} bytes; it stays in the queue)`,
    Errno.E2BIG,
    syscall,
  );
}

/**
 * Receives the first message matching `type` (0: any; > 0: that type; < 0:
 * the lowest type up to `-type`) if there is one now (`IPC_NOWAIT`).
 *
 * @returns The message, or `null` when none matches now.
 */
export function receiveNow(core: QueueCore, type: bigint, maxSize: number): Message | null {
  const buf = core.rxBuffer(maxSize);
  const r = tryReceive(core.id, buf, BigInt(maxSize), type);
  if (r >= 0) return { data: buf.slice(MTYPE_BYTES, MTYPE_BYTES + r), type: getType(core.rxView) };
  if (r === -Errno.ENOMSG) return null;
  if (r === -Errno.E2BIG) throw tooBig(core, maxSize, "msgrcv");
  throw core.fail("Cannot receive message", "msgrcv", -r);
}

/** Receives, waiting (spin, then a blocking `msgrcv` off-thread) while no message matches. */
export function receive(
  core: QueueCore,
  type: number,
  maxSize: number,
  signal: AbortSignal | undefined,
  timeout: number,
): Promise<Message> {
  const what = "Cannot receive message";
  if (signal?.aborted) return Promise.reject(signal.reason);
  try {
    const msgtyp = BigInt(type);
    const m = receiveNow(core, msgtyp, maxSize);
    if (m !== null) return Promise.resolve(m);
    if (timeout === 0) {
      return Promise.reject(timeoutError(what, timeout, `msgrcv, ${core.where()}`));
    }
    const start = timeout === Infinity ? 0 : performance.now();
    const attempt = (): Message | typeof WOULD_BLOCK =>
      receiveNow(core, msgtyp, maxSize) ?? WOULD_BLOCK;
    const got = spin(attempt);
    if (got !== WOULD_BLOCK) return Promise.resolve(got);
    const w: Waitable<Message> = {
      attempt,
      block(ms) {
        // The wait's own buffer: the thread writes into it while the JavaScript thread goes on.
        const buf = new Uint8Array(MTYPE_BYTES + maxSize);
        const call = sys().msgrcv_wait(core.id, buf, BigInt(maxSize), msgtyp, 0);
        return blocking(call, ({ result: r, errno }) => {
          if (r >= 0) {
            return {
              data: buf.slice(MTYPE_BYTES, MTYPE_BYTES + r),
              type: getType(new DataView(buf.buffer)),
            };
          }
          if (errno === Errno.EINTR) return WOULD_BLOCK; // interrupted: the engine decides
          if (errno === Errno.E2BIG) throw tooBig(core, maxSize, "msgrcv");
          throw core.fail(what, "msgrcv", errno);
        }, ms);
      },
      expired: () => expired(core, what, timeout, "msgrcv"),
    };
    return park(w, { signal, timeout, start, waits: core.waits });
  } catch (e) {
    return Promise.reject(e);
  }
}

/**
 * Runs `call` — one blocking `msgsnd`/`msgrcv` on this thread — until it
 * returns something other than `EINTR`, until `deadline` (`timeout` ms from
 * the start, for the message): with a
 * deadline, this thread's timer ({@linkcode ThreadTimer}) interrupts the
 * call when it passes. Returns the call's result (≥ 0), or throws the
 * timeout (or `EIDRM`, if the queue went meanwhile).
 *
 * @param call The call; returns its result, or minus the errno (read at once).
 */
function blockSync(
  core: QueueCore,
  what: string,
  syscall: string,
  timeout: number,
  deadline: number,
  call: () => number,
): number {
  if (deadline === Infinity) {
    for (;;) {
      const r = call();
      if (r >= 0 || r !== -Errno.EINTR) return r;
    }
  }
  const timer = ThreadTimer.create();
  try {
    for (;;) {
      const left = leftUntil(deadline);
      if (left <= 0) throw expired(core, what, timeout, syscall);
      timer.arm(left);
      let r: number;
      try {
        r = call();
      } finally {
        timer.disarm();
      }
      if (r >= 0 || r !== -Errno.EINTR) return r;
    }
  } finally {
    timer.delete();
  }
}

/**
 * {@linkcode send}, blocking the calling thread: one `msgsnd` with
 * `IPC_NOWAIT`, the bounded spin, then `msgsnd` blocking this thread.
 */
export function sendSync(core: QueueCore, data: Uint8Array, type: number, timeout: number): void {
  const what = "Cannot send message";
  const id = core.id;
  const n = data.length;
  const nb = BigInt(n);
  const buf = core.txBuffer(data, type);
  const e = trySend(id, buf, nb);
  if (e === 0) return;
  if (e !== Errno.EAGAIN) {
    throw e === Errno.EINVAL
      ? neverFits(core, n) ?? core.fail(what, "msgsnd", e)
      : core.fail(what, "msgsnd", e);
  }
  if (timeout === 0) throw expired(core, what, timeout, "msgsnd");
  const attempt = (): void | typeof WOULD_BLOCK => {
    const e = trySend(id, buf, nb);
    if (e === 0) return;
    if (e === Errno.EAGAIN) return WOULD_BLOCK;
    throw core.fail(what, "msgsnd", e);
  };
  const deadline = deadlineOf(timeout);
  if (spin(attempt) !== WOULD_BLOCK) return;
  // Full. A message longer than the queue's capacity would wait forever.
  const never = neverFits(core, n);
  if (never) throw never;
  const s = sys();
  const r = blockSync(core, what, "msgsnd", timeout, deadline, () => {
    if (s.msgsnd_block(id, buf, nb, 0) === 0) return 0;
    return -(errno() || Errno.EINTR); // errno lost: try again
  });
  if (r < 0) throw core.fail(what, "msgsnd", -r);
}

/**
 * {@linkcode receive}, blocking the calling thread: one `msgrcv` with
 * `IPC_NOWAIT`, the bounded spin, then `msgrcv` blocking this thread.
 */
export function receiveSync(
  core: QueueCore,
  type: number,
  maxSize: number,
  timeout: number,
): Message {
  const what = "Cannot receive message";
  const msgtyp = BigInt(type);
  const m = receiveNow(core, msgtyp, maxSize);
  if (m !== null) return m;
  if (timeout === 0) throw expired(core, what, timeout, "msgrcv");
  const deadline = deadlineOf(timeout);
  const got = spin((): Message | typeof WOULD_BLOCK =>
    receiveNow(core, msgtyp, maxSize) ?? WOULD_BLOCK
  );
  if (got !== WOULD_BLOCK) return got;
  const buf = core.rxBuffer(maxSize);
  const size = BigInt(maxSize);
  const s = sys();
  const r = blockSync(core, what, "msgrcv", timeout, deadline, () => {
    const r = s.msgrcv_block(core.id, buf, size, msgtyp, 0);
    return r >= 0 ? r : -(errno() || Errno.EINTR); // errno lost: try again
  });
  if (r >= 0) return { data: buf.slice(MTYPE_BYTES, MTYPE_BYTES + r), type: getType(core.rxView) };
  if (r === -Errno.E2BIG) throw tooBig(core, maxSize, "msgrcv");
  throw core.fail(what, "msgrcv", -r);
}
