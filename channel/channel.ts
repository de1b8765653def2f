/**
 * `Channel`: a duplex, message-framed channel between two processes over
 * shared memory — two single-producer/single-consumer rings, ordered with
 * `Atomics`, sleeping on a futex only when one side must wait. The bytes are
 * documented in `channel/LAYOUT.md`.
 *
 * @module
 */
import { envVar, getBackend } from "../_ffi/mod.ts";
import type { Mapping } from "../_mem/mapping.ts";
import { liveMapping } from "../_mem/mapping.ts";
import { Errno, errno } from "../_sys/errno.ts";
import {
  type Blocking,
  blocking,
  cancelParked,
  park,
  type Parked,
  spin,
  type WaitOptions,
  WOULD_BLOCK,
  type WouldBlock,
} from "../_sys/park.ts";
import * as v from "../_sys/validate.ts";
import { POLL, pollNow, waitReady } from "../_sys/waiter.ts";
import { IpcError, ipcError, timeoutError } from "../errors.ts";
import { PosixSharedMemory } from "../posix/shared_memory.ts";
import {
  CAPACITY,
  CHANNEL_FD_ENV,
  H,
  HEADER_BYTES,
  MAGIC,
  maxMessage,
  R,
  RECORD_HEADER,
  recordBytes,
  ringControl,
  ringData,
  VERSION,
  WRAP,
} from "./_layout.ts";
import { FUTEX_WAIT, FUTEX_WAKE, futexCalls, sys, sysFutex } from "./_sys.ts";
import { Turn } from "./_turn.ts";

export { CHANNEL_FD_ENV };

/** Options for {@linkcode Channel.create}. */
export interface ChannelOptions {
  /**
   * Bytes of ring per direction: a power of two from 4096 to 2³⁰ (default
   * 1 MiB). A message may take up to half of it, less 8 bytes.
   */
  capacity?: number;
  /**
   * A POSIX shared memory name (`"/jobs"`) that an unrelated process opens
   * with {@linkcode Channel.open}. Without one, the channel is anonymous
   * memory (`memfd`) for a child: `spawn(cmd, { channel })`.
   */
  name?: string;
}

const INTERNAL = Symbol("Channel");
const DONE = Promise.resolve();

/** What one side sleeps on while it waits, and how it says so. */
interface Sleeper {
  /** The futex word's byte offset in the mapping. */
  offset: number;
  /** Says "I sleep" (a full barrier), then the caller reads the word and tries once more. */
  announce(): void;
  /** Says "I no longer sleep". */
  clear(): void;
  /** The longest one sleep may last (ms) before looking again; `Infinity` when woken for sure. */
  slice(): number;
}

/** How long a producer that asked for half the ring sleeps at most before looking again (ms). */
const HALF_RING_SLICE_MS = 2;

/**
 * A duplex message channel between two processes over shared memory: each
 * direction is a ring of `capacity` bytes that one side writes and the other
 * reads. A busy channel makes no system call per message — only a side that
 * must wait sleeps (a futex, off the JavaScript thread), and only a side that
 * knows the other sleeps wakes it.
 *
 * - A parent makes one with {@linkcode Channel.create} and hands it to a
 *   child with `spawn(cmd, { channel })`; the child takes it with
 *   {@linkcode Channel.fromParent}.
 * - Unrelated processes share a name: `Channel.create({ name: "/jobs" })`
 *   and {@linkcode Channel.open}`("/jobs")`. The name leaves `/dev/shm` as
 *   soon as the second side has opened it (or the first has closed it).
 *
 * Messages are byte strings (a string is sent as UTF-8); an empty message
 * is a message. `send()` waits while the ring is full — nothing is ever
 * dropped — and `receive()` resolves to `null` once the peer has closed and
 * everything it sent was read. A peer that dies without closing makes waits
 * reject with `IpcError` code `ECONNRESET` (after everything it sent was
 * read). Requires `--allow-ffi`.
 *
 * @example A child that answers
 * ```ts ignore
 * import { Channel, spawn } from "@sysipc/sysipc";
 * using channel = Channel.create();
 * const child = spawn("deno", { args: ["run", "--allow-ffi", "--allow-env", "child.ts"], channel });
 * await channel.send("ping");
 * console.log(new TextDecoder().decode((await channel.receive())!)); // "pong" from child.ts:
 * // using parent = Channel.fromParent(); await parent.receive(); await parent.send("pong");
 * await child.status;
 * ```
 */
export class Channel {
  readonly #mem: PosixSharedMemory;
  readonly #map: Mapping;
  readonly #side: 0 | 1;
  readonly #name: string | null;
  readonly #h: Int32Array;
  readonly #u32: Uint32Array;
  readonly #u8: Uint8Array;
  readonly #cap: number;
  readonly #mask: number;
  readonly #max: number;
  /** Word index of the ring we write, and its data's byte offset. */
  readonly #tx: number;
  readonly #txData: number;
  /** Word index of the ring we read, and its data's byte offset. */
  readonly #rx: number;
  readonly #rxData: number;
  readonly #address: bigint;
  readonly #label: string;
  /** Our producer's head and our consumer's tail (we alone store them). */
  #head: number;
  #tail: number;
  /** What the last send attempt needed. */
  #need = 0;
  readonly #txTurn = new Turn();
  readonly #rxTurn = new Turn();
  readonly #waits = new Set<Parked>();
  #parked = 0;
  #pidfd = -1;
  #peerDead = false;
  /** How long the next wait spins (µs), and whether the peer may run on a CPU we do not. */
  #spinUs = MAX_SPIN_US;
  #elsewhere: boolean | undefined;
  #watch: AbortController | undefined;
  #closed = false;
  #resolveClosed!: () => void;
  readonly #closedPromise: Promise<void>;
  /** A reservation in progress: where, how big, and the view handed out. */
  #reserved: { newHead: number; off: number; size: number; view: Uint8Array } | null = null;
  /** A received view in progress: the tail after it, and the view. */
  #viewing: { newTail: number; view: Uint8Array } | null = null;
  #readable: ReadableStream<Uint8Array> | undefined;
  #writable: WritableStream<Uint8Array | string> | undefined;

  private constructor(
    mem: PosixSharedMemory,
    side: 0 | 1,
    name: string | null,
    internal?: symbol,
  ) {
    if (internal !== INTERNAL) {
      throw new TypeError(
        "Channel is not constructed directly: use Channel.create(), open(), fromFd() or fromParent()",
      );
    }
    this.#mem = mem;
    this.#side = side;
    this.#name = name;
    this.#map = liveMapping(mem, "use the channel");
    const buffer = mem.buffer;
    this.#h = new Int32Array(buffer, 0, HEADER_BYTES / 4);
    this.#u32 = new Uint32Array(buffer);
    this.#u8 = new Uint8Array(buffer);
    this.#cap = this.#h[H.CAPACITY];
    this.#mask = this.#cap - 1;
    this.#max = maxMessage(this.#cap);
    this.#tx = ringControl(side);
    this.#txData = ringData(side, this.#cap);
    this.#rx = ringControl(side === 0 ? 1 : 0);
    this.#rxData = ringData(side === 0 ? 1 : 0, this.#cap);
    this.#address = this.#map.address;
    this.#label = name ?? `fd ${mem.fd}`;
    this.#head = Atomics.load(this.#h, this.#tx + R.HEAD);
    this.#tail = Atomics.load(this.#h, this.#rx + R.TAIL);
    this.#closedPromise = new Promise((resolve) => this.#resolveClosed = resolve);
  }

  /**
   * Creates a channel: side one of two. Hand it to a child with
   * `spawn(cmd, { channel })`, or give it a `name` that another process
   * opens with {@linkcode Channel.open}.
   *
   * @param options `capacity` per direction (default 1 MiB), `name` for unrelated processes.
   * @returns The creating side.
   * @throws {TypeError | RangeError} For a bad capacity or name.
   * @throws {IpcError} `EEXIST` if the name is taken; `ENOSPC`/`ENOMEM` without memory.
   *
   * @example Both sides in one process
   * ```ts
   * import { Channel } from "@sysipc/sysipc";
   * using a = Channel.create({ capacity: 64 * 1024 });
   * using b = Channel.fromFd(a.fd, { duplicate: true });
   * await a.send("hello");
   * console.log(new TextDecoder().decode((await b.receive())!)); // "hello"
   * ```
   */
  static create(options?: ChannelOptions): Channel {
    const o = v.options(options);
    const capacity = o.capacity === undefined
      ? CAPACITY.DEFAULT
      : v.integer(o.capacity, "capacity", {
        min: CAPACITY.MIN,
        max: CAPACITY.MAX,
      });
    if ((capacity & (capacity - 1)) !== 0) {
      throw new RangeError(`capacity must be a power of two, got ${capacity}`);
    }
    const size = HEADER_BYTES + 2 * capacity;
    const mem = o.name === undefined
      ? PosixSharedMemory.anonymous({ size })
      : PosixSharedMemory.create(v.string(o.name, "name"), { size });
    try {
      const h = new Int32Array(mem.buffer, 0, HEADER_BYTES / 4);
      h[H.VERSION] = VERSION;
      h[H.CAPACITY] = capacity;
      h[H.PID0] = sys().getpid();
      Atomics.store(h, H.MAGIC, MAGIC);
      return new Channel(mem, 0, mem.name, INTERNAL);
    } catch (e) {
      if (mem.name !== null) mem.unlink();
      mem.close();
      throw e;
    }
  }

  /**
   * Opens the other side of a named channel that another process created.
   * The name leaves `/dev/shm` at once: a channel has two sides, no more.
   *
   * @param name The name it was created with (`"/jobs"`).
   * @returns The second side.
   * @throws {TypeError} For a malformed name, or memory that is not a channel.
   * @throws {IpcError} `ENOENT` if there is no such channel (or it was opened already);
   *   `EBUSY` if both sides are taken.
   *
   * @example
   * ```ts
   * import { Channel } from "@sysipc/sysipc";
   * using server = Channel.create({ name: "/sysipc_doc_channel", capacity: 4096 });
   * using client = Channel.open("/sysipc_doc_channel");
   * await client.send("request");
   * console.log((await server.receive())!.length); // 7
   * ```
   */
  static open(name: string): Channel {
    const mem = PosixSharedMemory.open(v.string(name, "name"));
    const c = Channel.#attach(mem, mem.name);
    try {
      PosixSharedMemory.unlink(mem.name!);
    } catch {
      // The creator closed (and unlinked) it meanwhile: nothing left to remove.
    }
    return c;
  }

  /**
   * Takes the second side of a channel from a descriptor: the one a parent
   * handed over (see {@linkcode Channel.fromParent}), or, with `duplicate`,
   * a copy of another channel's {@linkcode Channel.fd} in this process.
   *
   * @param fd The descriptor of the channel's memory.
   * @param options `duplicate: true` to take a copy of `fd` and leave `fd` to its owner.
   * @returns The second side; it owns the descriptor (or its copy).
   * @throws {TypeError} If `fd` is not shared memory holding a channel.
   * @throws {IpcError} `EBADF` if `fd` is not open; `EBUSY` if both sides are taken.
   */
  static fromFd(fd: number, options?: { duplicate?: boolean }): Channel {
    v.fd(fd);
    const dup = v.boolean(v.options(options).duplicate, "duplicate", false);
    const mem = PosixSharedMemory.fromFd(dup ? duplicate(fd) : fd);
    return Channel.#attach(mem, null);
  }

  /**
   * The channel a parent handed to this process with `spawn(cmd, { channel })`:
   * the descriptor named by the `SYSIPC_CHANNEL_FD` environment variable.
   *
   * @returns The child's side.
   * @throws {TypeError} If the variable is not set (not started with a channel).
   */
  static fromParent(): Channel {
    const text = envVar(CHANNEL_FD_ENV);
    if (text === undefined || !/^\d+$/.test(text)) {
      throw new TypeError(
        `Channel.fromParent() needs ${CHANNEL_FD_ENV} (set by spawn(cmd, { channel })), got ${
          text === undefined ? "nothing" : JSON.stringify(text)
        } (on Deno, run with --allow-env to let it be read)`,
      );
    }
    return Channel.fromFd(Number(text));
  }

  static #attach(mem: PosixSharedMemory, name: string | null): Channel {
    try {
      const size = mem.size;
      if (size < HEADER_BYTES) throw notChannel(mem, "too small");
      const h = new Int32Array(mem.buffer, 0, HEADER_BYTES / 4);
      if (Atomics.load(h, H.MAGIC) !== MAGIC) throw notChannel(mem, "no channel header");
      if (h[H.VERSION] !== VERSION) {
        throw notChannel(mem, `layout version ${h[H.VERSION]}, this library reads ${VERSION}`);
      }
      const cap = h[H.CAPACITY];
      if (cap < CAPACITY.MIN || cap > CAPACITY.MAX || (cap & (cap - 1)) !== 0) {
        throw notChannel(mem, `capacity ${cap}`);
      }
      if (size < HEADER_BYTES + 2 * cap) throw notChannel(mem, `${size} bytes for capacity ${cap}`);
      const me = sys().getpid();
      const was = Atomics.compareExchange(h, H.PID1, 0, me);
      if (was !== 0) {
        throw new IpcError(
          `Cannot open channel ${name ?? `fd ${mem.fd}`}: both sides are taken (pid ${
            h[H.PID0]
          } and ${was}): EBUSY`,
          16,
          "open",
        );
      }
      const c = new Channel(mem, 1, name, INTERNAL);
      // The creator may already sleep, waiting for us: let it look again
      // (and start watching our pid).
      c.#wake(c.#rx + R.PRODUCER_WAKE);
      c.#wake(c.#tx + R.CONSUMER_WAKE);
      return c;
    } catch (e) {
      mem.close();
      throw e;
    }
  }

  /** The descriptor of the channel's memory (for `spawn(cmd, { channel })`); -1 once closed. */
  get fd(): number {
    return this.#closed ? -1 : this.#mem.fd;
  }

  /** The name it was created or opened with, or `null` (an anonymous channel). */
  get name(): string | null {
    return this.#name;
  }

  /** Bytes of ring per direction. */
  get capacity(): number {
    return this.#cap;
  }

  /** The largest message: half the capacity, less 8 bytes. */
  get maxMessageSize(): number {
    return this.#max;
  }

  /**
   * Whether the peer has closed its side (or died): `receive()` gives what
   * it sent, then `null` (or `ECONNRESET`).
   */
  get peerClosed(): boolean {
    if (this.#closed) return false;
    return Atomics.load(this.#h, this.#rx + R.PRODUCER_CLOSED) !== 0 || this.#peerGone();
  }

  /** Settles once `close()` has run. */
  get closed(): Promise<void> {
    return this.#closedPromise;
  }

  // ---------------------------------------------------------------------------
  // Sending
  // ---------------------------------------------------------------------------

  /**
   * Sends a message: copies it into the ring, waiting while there is no
   * room (the receiver is behind). Messages arrive whole and in order. The
   * bytes are read when they go into the ring: leave `message` unchanged
   * until the promise settles.
   *
   * @param message Bytes, or a string sent as UTF-8; at most `maxMessageSize` bytes.
   * @param options `signal`, `timeout` (ms) for the wait for room.
   * @returns Resolves once the message is in the ring.
   * @throws {TypeError} For a message of another type.
   * @throws {RangeError} For a message over `maxMessageSize`.
   * @throws {IpcError} `EPIPE` if the peer closed its side; `ECONNRESET` if it died;
   *   `EBADF` after `close()`.
   * @throws {DOMException} `TimeoutError`, or `signal.reason`.
   *
   * @example
   * ```ts
   * import { Channel } from "@sysipc/sysipc";
   * using a = Channel.create({ capacity: 4096 });
   * using b = Channel.fromFd(a.fd, { duplicate: true });
   * await a.send(new Uint8Array([1, 2, 3]));
   * console.log(await b.receive()); // Uint8Array(3) [ 1, 2, 3 ]
   * ```
   */
  send(message: Uint8Array | string, options?: WaitOptions): Promise<void> {
    let data: Uint8Array;
    let timeout: number;
    try {
      data = v.bytes(message, "message");
      this.#checkSize(data.length, "message");
      const o = v.options(options);
      timeout = v.waitOptions(o);
      o.signal?.throwIfAborted();
      if (this.#txTurn.tryTake()) {
        let r: void | WouldBlock;
        try {
          r = this.#put(data);
        } catch (e) {
          this.#txTurn.give();
          throw e;
        }
        if (r !== WOULD_BLOCK) {
          this.#txTurn.give();
          return DONE;
        }
        return this.#sendSlow(data, o.signal, timeout, performance.now(), true);
      }
      return this.#sendSlow(data, o.signal, timeout, performance.now(), false);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Sends a message if there is room now.
   *
   * @param message Bytes, or a string sent as UTF-8.
   * @returns `true` if it was sent, `false` if the ring is full (or another send is waiting).
   * @throws {TypeError | RangeError} For a bad message.
   * @throws {IpcError} `EPIPE`, `ECONNRESET`, `EBADF` as {@linkcode Channel.send}.
   */
  trySend(message: Uint8Array | string): boolean {
    const data = v.bytes(message, "message");
    this.#checkSize(data.length, "message");
    if (!this.#txTurn.tryTake()) return false;
    try {
      return this.#put(data) !== WOULD_BLOCK;
    } finally {
      this.#txTurn.give();
    }
  }

  /**
   * Zero-copy send, first half: waits for room for a message of `size`
   * bytes and returns a view of that room in the ring, to fill in place.
   * {@linkcode Channel.commit} sends it; until then other sends wait.
   *
   * @param size The message's length in bytes (at most `maxMessageSize`).
   * @param options `signal`, `timeout` for the wait for room.
   * @returns A view of `size` bytes inside the ring (emptied by `commit()`).
   * @throws {TypeError | RangeError} For a bad size.
   * @throws {IpcError} As {@linkcode Channel.send}.
   *
   * @example
   * ```ts
   * import { Channel } from "@sysipc/sysipc";
   * using a = Channel.create({ capacity: 4096 });
   * using b = Channel.fromFd(a.fd, { duplicate: true });
   * const view = await a.reserve(4);
   * new DataView(view.buffer, view.byteOffset).setUint32(0, 0xcafe, true);
   * a.commit();
   * console.log(view.length, (await b.receive())!.length); // 0 4
   * ```
   */
  async reserve(size: number, options?: WaitOptions): Promise<Uint8Array> {
    v.integer(size, "size", { min: 0, max: this.#max, limit: "half the capacity, less 8" });
    const o = v.options(options);
    const timeout = v.waitOptions(o);
    o.signal?.throwIfAborted();
    this.#usable("reserve room in");
    const start = performance.now();
    const held = this.#txTurn.tryTake();
    if (!held) await this.#takeTurn(this.#txTurn, "reserve room in", o.signal, timeout, start);
    try {
      const attempt = () => this.#reserve(size);
      let r = attempt();
      if (r === WOULD_BLOCK) {
        r = await this.#wait(
          "reserve room in",
          attempt,
          this.#txSleeper(),
          o.signal,
          timeout,
          start,
        );
      }
      return r as Uint8Array;
    } catch (e) {
      this.#txTurn.give();
      throw e;
    }
  }

  /**
   * Zero-copy send, second half: sends what was written into the view
   * {@linkcode Channel.reserve} gave, and empties that view (length 0).
   *
   * @throws {TypeError} Without a reservation.
   * @throws {IpcError} `EBADF` after `close()`.
   */
  commit(): void {
    const r = this.#reserved;
    if (r === null) throw new TypeError("commit() without reserve(): nothing to send");
    this.#usable("commit to");
    this.#reserved = null;
    this.#u32[r.off >> 2] = r.size;
    this.#u32[(r.off >> 2) + 1] = 0;
    // A copy (where buffers over native memory cannot be emptied) goes in now.
    if (r.view.byteLength > 0 && !viewsCanEmpty(this.#address)) {
      this.#u8.set(r.view, r.off + RECORD_HEADER);
    }
    empty(r.view);
    this.#publish(r.newHead);
    this.#txTurn.give();
  }

  #checkSize(n: number, name: string): void {
    if (n > this.#max) {
      throw new RangeError(
        `${name} must be at most ${this.#max} bytes (half the channel's capacity of ${this.#cap}, ` +
          `less 8), got ${n} bytes`,
      );
    }
  }

  /** Room for a record of `length` bytes: its offset and the head after it, or WOULD_BLOCK. */
  #room(length: number): { off: number; newHead: number } | WouldBlock {
    this.#usable("send to");
    if (this.#peerDead) throw this.#reset("send to"); // known already: no system call per message
    const h = this.#h;
    if (Atomics.load(h, this.#tx + R.CONSUMER_CLOSED) !== 0) {
      throw new IpcError(
        `Cannot send to channel ${this.#label}: the peer closed its side (send): EPIPE`,
        Errno.EPIPE,
        "send",
      );
    }
    const rec = recordBytes(length);
    const pos = this.#head & this.#mask;
    const toEnd = this.#cap - pos;
    const need = rec <= toEnd ? rec : toEnd + rec;
    const tail = Atomics.load(h, this.#tx + R.TAIL);
    if (this.#cap - ((this.#head - tail) >>> 0) < need) {
      this.#need = need;
      return WOULD_BLOCK;
    }
    let off = this.#txData + pos;
    let newHead = this.#head;
    if (rec > toEnd) {
      this.#u32[off >> 2] = WRAP;
      newHead = (newHead + toEnd) | 0;
      off = this.#txData;
    }
    return { off, newHead: (newHead + rec) | 0 };
  }

  #put(data: Uint8Array): void | WouldBlock {
    const room = this.#room(data.length);
    if (room === WOULD_BLOCK) return WOULD_BLOCK;
    const { off, newHead } = room;
    this.#u32[off >> 2] = data.length;
    this.#u32[(off >> 2) + 1] = 0;
    this.#u8.set(data, off + RECORD_HEADER);
    this.#publish(newHead);
  }

  #reserve(size: number): Uint8Array | WouldBlock {
    const room = this.#room(size);
    if (room === WOULD_BLOCK) return WOULD_BLOCK;
    const view = this.#viewAt(room.off + RECORD_HEADER, size);
    this.#reserved = { ...room, size, view };
    return view;
  }

  /** Makes the record up to `newHead` visible, and wakes the peer if it sleeps for one. */
  #publish(newHead: number): void {
    this.#head = newHead;
    // A full barrier between our store and our look at the peer's flag
    // (the peer stores its flag, then looks at our head).
    Atomics.exchange(this.#h, this.#tx + R.HEAD, newHead);
    // Taking the flag (not just reading it) wakes a sleeper once, not once
    // per message until it is back on the JavaScript thread to clear it.
    if (
      Atomics.load(this.#h, this.#tx + R.CONSUMER_WAITING) !== 0 &&
      Atomics.exchange(this.#h, this.#tx + R.CONSUMER_WAITING, 0) !== 0
    ) this.#wake(this.#tx + R.CONSUMER_WAKE);
  }

  async #sendSlow(
    data: Uint8Array,
    signal: AbortSignal | undefined,
    timeout: number,
    start: number,
    held: boolean,
  ): Promise<void> {
    if (!held) await this.#takeTurn(this.#txTurn, "send to", signal, timeout, start);
    try {
      const attempt = () => this.#put(data);
      if (attempt() === WOULD_BLOCK) {
        await this.#wait("send to", attempt, this.#txSleeper(), signal, timeout, start);
      }
    } finally {
      this.#txTurn.give();
    }
  }

  #txSleeper(): Sleeper {
    const needWord = this.#tx + R.PRODUCER_NEED;
    // Sharing one CPU with the peer, every wake-up is a switch of processes:
    // ask to be woken once half the ring is free, not as soon as one record
    // fits (measured in C here: one-core streaming 6.5 → 13.3 GB/s, 7× fewer
    // futex calls). A receiver that stops receiving before then must not hold
    // us back while our record fits: then sleep in slices and look again.
    const half = () => !this.#peerElsewhere() && this.#need < this.#cap / 2;
    return {
      offset: (this.#tx + R.PRODUCER_WAKE) * 4,
      announce: () => void Atomics.exchange(this.#h, needWord, half() ? this.#cap / 2 : this.#need),
      clear: () => void Atomics.store(this.#h, needWord, 0),
      slice: () => half() ? HALF_RING_SLICE_MS : Infinity,
    };
  }

  // ---------------------------------------------------------------------------
  // Receiving
  // ---------------------------------------------------------------------------

  /**
   * Receives the next message: a copy of it, waiting while none is there.
   *
   * @param options `signal`, `timeout` (ms).
   * @returns The message, or `null` once the peer has closed and every message was read.
   * @throws {IpcError} `ECONNRESET` if the peer died (after every message it sent was read);
   *   `EBADF` after `close()`.
   * @throws {DOMException} `TimeoutError`, or `signal.reason`.
   *
   * @example
   * ```ts
   * import { Channel } from "@sysipc/sysipc";
   * using a = Channel.create({ capacity: 4096 });
   * using b = Channel.fromFd(a.fd, { duplicate: true });
   * a.trySend("one");
   * a.close();
   * console.log((await b.receive())!.length, await b.receive()); // 3 null
   * ```
   */
  receive(options?: WaitOptions): Promise<Uint8Array | null> {
    try {
      const o = v.options(options);
      const timeout = v.waitOptions(o);
      o.signal?.throwIfAborted();
      if (this.#rxTurn.tryTake()) {
        let r: Uint8Array | null | WouldBlock;
        try {
          r = this.#take(true);
        } catch (e) {
          this.#rxTurn.give();
          throw e;
        }
        if (r !== WOULD_BLOCK) {
          this.#rxTurn.give();
          return Promise.resolve(r as Uint8Array | null);
        }
        return this.#receiveSlow(true, o.signal, timeout, performance.now(), true) as Promise<
          Uint8Array | null
        >;
      }
      return this.#receiveSlow(true, o.signal, timeout, performance.now(), false) as Promise<
        Uint8Array | null
      >;
    } catch (e) {
      return Promise.reject(e);
    }
  }

  /**
   * Receives the next message if one is there now.
   *
   * @returns A copy of it, or `null` if none is waiting (see {@linkcode Channel.peerClosed}
   *   to tell whether more can come).
   * @throws {IpcError} `ECONNRESET` if the peer died and every message was read; `EBADF`.
   */
  tryReceive(): Uint8Array | null {
    if (!this.#rxTurn.tryTake()) return null;
    try {
      const r = this.#take(true);
      return r === WOULD_BLOCK ? null : r as Uint8Array | null;
    } finally {
      this.#rxTurn.give();
    }
  }

  /**
   * Zero-copy receive: a view of the next message inside the ring, waiting
   * while none is there. The message stays in the ring until
   * {@linkcode Channel.release}, which empties the view; until then other
   * receives wait.
   *
   * @param options `signal`, `timeout` (ms).
   * @returns The view, or `null` once the peer has closed and every message was read.
   * @throws {IpcError} As {@linkcode Channel.receive}.
   *
   * @example
   * ```ts
   * import { Channel } from "@sysipc/sysipc";
   * using a = Channel.create({ capacity: 4096 });
   * using b = Channel.fromFd(a.fd, { duplicate: true });
   * await a.send("in place");
   * const view = (await b.receiveView())!;
   * console.log(new TextDecoder().decode(view)); // "in place"
   * b.release();
   * console.log(view.length); // 0
   * ```
   */
  async receiveView(options?: WaitOptions): Promise<Uint8Array | null> {
    const o = v.options(options);
    const timeout = v.waitOptions(o);
    o.signal?.throwIfAborted();
    this.#usable("receive from");
    const held = this.#rxTurn.tryTake();
    if (held) {
      let r;
      try {
        r = this.#take(false);
      } catch (e) {
        this.#rxTurn.give();
        throw e;
      }
      if (r !== WOULD_BLOCK) {
        if (r === null) this.#rxTurn.give();
        return r as Uint8Array | null;
      }
    }
    return await this.#receiveSlow(false, o.signal, timeout, performance.now(), held);
  }

  /**
   * Frees the message {@linkcode Channel.receiveView} gave (its view becomes
   * empty), making room for the sender.
   *
   * @throws {TypeError} Without a view to release.
   */
  release(): void {
    const r = this.#viewing;
    if (r === null) throw new TypeError("release() without receiveView(): nothing to release");
    this.#viewing = null;
    empty(r.view);
    if (!this.#closed) this.#consumed(r.newTail);
    this.#rxTurn.give();
  }

  /**
   * The next message, or WOULD_BLOCK; `null` at the end. `copy`: a copy,
   * and the tail moves on; else a view, held until `release()`.
   */
  #take(copy: boolean): Uint8Array | null | WouldBlock {
    this.#usable("receive from");
    const h = this.#h;
    const rx = this.#rx;
    let head = Atomics.load(h, rx + R.HEAD);
    if (head === this.#tail) {
      if (Atomics.load(h, rx + R.PRODUCER_CLOSED) !== 0) {
        head = Atomics.load(h, rx + R.HEAD); // what it wrote before it closed
        if (head === this.#tail) return null;
      } else if (this.#peerDead) {
        head = Atomics.load(h, rx + R.HEAD);
        if (head === this.#tail) throw this.#reset("receive from");
      } else return WOULD_BLOCK;
    }
    let tail = this.#tail;
    let pos = tail & this.#mask;
    let off = this.#rxData + pos;
    let length = this.#u32[off >> 2];
    if (length === WRAP) {
      tail = (tail + this.#cap - pos) | 0;
      pos = 0;
      off = this.#rxData;
      length = this.#u32[off >> 2];
    }
    const used = (head - tail) >>> 0;
    if (length > this.#max || recordBytes(length) > used) {
      throw new IpcError(
        `Cannot receive from channel ${this.#label}: a record of ${length} bytes at offset ${pos} ` +
          `does not fit what was written (${used} bytes): the memory is corrupt (receive): EBADMSG`,
        74,
        "receive",
      );
    }
    const newTail = (tail + recordBytes(length)) | 0;
    if (!copy) {
      const view = this.#viewAt(off + RECORD_HEADER, length);
      this.#viewing = { newTail, view };
      return view;
    }
    const message = length === 0
      ? new Uint8Array(0)
      : this.#u8.slice(off + RECORD_HEADER, off + RECORD_HEADER + length);
    this.#consumed(newTail);
    return message;
  }

  /** Gives the bytes up to `newTail` back, and wakes the sender if it sleeps for room now there. */
  #consumed(newTail: number): void {
    this.#tail = newTail;
    Atomics.exchange(this.#h, this.#rx + R.TAIL, newTail); // a full barrier, as in #publish
    const need = Atomics.load(this.#h, this.#rx + R.PRODUCER_NEED);
    if (need !== 0) {
      const head = Atomics.load(this.#h, this.#rx + R.HEAD);
      if (
        this.#cap - ((head - newTail) >>> 0) >= need &&
        Atomics.compareExchange(this.#h, this.#rx + R.PRODUCER_NEED, need, 0) === need
      ) this.#wake(this.#rx + R.PRODUCER_WAKE);
    }
  }

  async #receiveSlow(
    copy: boolean,
    signal: AbortSignal | undefined,
    timeout: number,
    start: number,
    held: boolean,
  ): Promise<Uint8Array | null> {
    if (!held) await this.#takeTurn(this.#rxTurn, "receive from", signal, timeout, start);
    let keep = false;
    try {
      const attempt = () => this.#take(copy);
      let r = attempt();
      if (r === WOULD_BLOCK) {
        r = await this.#wait("receive from", attempt, this.#rxSleeper(), signal, timeout, start);
      }
      keep = !copy && r !== null; // a view holds the turn until release()
      return r as Uint8Array | null;
    } finally {
      if (!keep) this.#rxTurn.give();
    }
  }

  #rxSleeper(): Sleeper {
    const flag = this.#rx + R.CONSUMER_WAITING;
    return {
      offset: (this.#rx + R.CONSUMER_WAKE) * 4,
      announce: () => void Atomics.exchange(this.#h, flag, 1),
      clear: () => void Atomics.store(this.#h, flag, 0),
      slice: () => Infinity,
    };
  }

  // ---------------------------------------------------------------------------
  // Waiting
  // ---------------------------------------------------------------------------

  #takeTurn(
    turn: Turn,
    what: string,
    signal: AbortSignal | undefined,
    timeout: number,
    start: number,
  ): Promise<void> {
    const ms = timeout === Infinity ? Infinity : start + timeout - performance.now();
    return turn.take(signal, ms, () => this.#expired(what, timeout));
  }

  #expired(what: string, timeout: number): DOMException {
    return timeoutError(`Cannot ${what} channel ${this.#label}`, timeout, `futex, ${this.#label}`);
  }

  /**
   * The bounded spin, then a futex wait off the JavaScript thread for as long
   * as `attempt` would block (see `_sys/park.ts`), with the peer watched.
   */
  async #wait<T>(
    what: string,
    attempt: () => T | WouldBlock,
    sleeper: Sleeper,
    signal: AbortSignal | undefined,
    timeout: number,
    start: number,
  ): Promise<T> {
    if (timeout === 0) throw this.#expired(what, timeout);
    // Where the peer can run on another CPU it answers meanwhile: look
    // without a system call for a few µs (measured in C on these VMs: a 4 µs
    // spin took a two-core round trip from 19 to 0.56 µs). Where it shares
    // our one CPU that only burns its time slice: yield instead (the bounded
    // spin below). The budget adapts: halved after a spin that missed (a
    // busy machine, a slow peer), doubled after one that caught the answer.
    if (this.#spinUs > 0 && this.#peerElsewhere()) {
      const until = performance.now() + this.#spinUs / 1000;
      do {
        const r = attempt();
        if (r !== WOULD_BLOCK) {
          this.#spinUs = Math.min(MAX_SPIN_US, this.#spinUs * 2);
          return r;
        }
      } while (performance.now() < until);
      this.#spinUs = this.#spinUs < 1 ? 0.5 : this.#spinUs / 2;
    }
    const spun = spin(attempt);
    if (spun !== WOULD_BLOCK) return spun;
    const unpin = this.#map.pin();
    this.#parked++;
    try {
      return await park<T>({
        attempt,
        block: (ms): Blocking<T> => {
          this.#watchPeer();
          sleeper.announce();
          // The word before the last look: a wake-up after it changes the
          // word, and the futex then does not sleep.
          const seen = Atomics.load(this.#h, sleeper.offset / 4);
          this.#peerGone(); // a system call: only here, never per message
          let r: T | WouldBlock;
          try {
            r = attempt(); // after saying we sleep: a wake-up cannot slip between
          } catch (e) {
            sleeper.clear();
            throw e;
          }
          if (r !== WOULD_BLOCK) {
            sleeper.clear();
            return { done: Promise.resolve(r), interrupt() {} };
          }
          const sleepMs = Math.min(ms, sleeper.slice());
          const ts = sleepMs === Infinity ? null : relative(sleepMs);
          futexCalls.wait++;
          const call = sys().futex_wait(
            sysFutex(),
            this.#address + BigInt(sleeper.offset),
            FUTEX_WAIT,
            seen >>> 0,
            ts,
            null,
            0,
          );
          return blocking<unknown, T>(call, ({ result, errno: e }) => {
            sleeper.clear();
            if (
              Number(result) === 0 || e === Errno.EAGAIN || e === Errno.EINTR ||
              e === Errno.ETIMEDOUT
            ) return WOULD_BLOCK; // woken, changed, interrupted or timed out: look again
            throw ipcError(`Cannot ${what} channel`, "futex", e, this.#label);
          });
        },
        expired: () => this.#expired(what, timeout),
      }, { signal, timeout, start, waits: this.#waits });
    } finally {
      if (--this.#parked === 0) {
        this.#watch?.abort();
        this.#watch = undefined;
      }
      unpin();
    }
  }

  /** Wakes whoever sleeps on futex word `word`: changes it first, so a sleeper on its way in does not sleep. */
  #wake(word: number): void {
    if (this.#closed) return;
    Atomics.add(this.#h, word, 1);
    futexCalls.wake++;
    sys().futex_wake(sysFutex(), this.#address + BigInt(word * 4), FUTEX_WAKE, 1, null, null, 0);
  }

  // ---------------------------------------------------------------------------
  // The peer
  // ---------------------------------------------------------------------------

  /** A pidfd on the peer, once its pid is known (-1 before, or if it is gone). */
  #peerFd(): number {
    if (this.#pidfd >= 0 || this.#peerDead) return this.#pidfd;
    const pid = Atomics.load(this.#h, this.#side === 0 ? H.PID1 : H.PID0);
    if (pid === 0) return -1; // not attached yet
    const fd = sys().pidfd_open(pid, 0);
    if (fd < 0) {
      if (errno() === Errno.ESRCH) this.#peerDead = true; // gone (and reaped) already
      return -1;
    }
    this.#pidfd = fd;
    return fd;
  }

  /**
   * Whether the peer may run on a CPU other than ours — so that spinning
   * here leaves it a CPU to answer on. Asked once the peer's pid is known.
   */
  #peerElsewhere(): boolean {
    if (this.#elsewhere !== undefined) return this.#elsewhere;
    const pid = Atomics.load(this.#h, this.#side === 0 ? H.PID1 : H.PID0);
    if (pid === 0) return false; // not attached: nothing to spin for
    ownCpus ??= affinity(0);
    const theirs = affinity(pid);
    if (ownCpus === null || theirs === null) return this.#elsewhere = false;
    let ours = 0;
    let other = false;
    for (let i = 0; i < 128; i++) {
      for (let b = ownCpus[i]; b !== 0; b &= b - 1) ours++;
      if ((theirs[i] & ~ownCpus[i]) !== 0) other = true;
    }
    return this.#elsewhere = other || ours > 1;
  }

  /** Whether the peer's process has ended without closing its side. */
  #peerGone(): boolean {
    if (this.#peerDead) return true;
    const fd = this.#peerFd();
    if (fd >= 0 && (pollNow(fd, POLL.IN) & POLL.IN) !== 0) this.#peerDead = true;
    return this.#peerDead;
  }

  /** While a wait is parked: hears the peer's death and makes every wait look again. */
  #watchPeer(): void {
    if (this.#watch !== undefined || this.#peerDead) return;
    const fd = this.#peerFd();
    if (fd < 0) return;
    const watch = this.#watch = new AbortController();
    waitReady(fd, POLL.IN, watch.signal).then(() => {
      if (this.#watch === watch) this.#watch = undefined;
      // Readable is the one answer that means "ended" (not NVAL: a closed pidfd).
      if (this.#pidfd !== fd || (pollNow(fd, POLL.IN) & POLL.IN) === 0) return;
      this.#peerDead = true;
      for (const p of this.#waits) p.interrupt?.(); // not a cancel: they look again, then decide
    }, () => {});
  }

  #reset(what: string): IpcError {
    return new IpcError(
      `Cannot ${what} channel ${this.#label}: the peer ended without closing it (pid ${
        this.#h[this.#side === 0 ? H.PID1 : H.PID0]
      }): ECONNRESET`,
      104,
      "futex",
    );
  }

  // ---------------------------------------------------------------------------
  // Views, streams, closing
  // ---------------------------------------------------------------------------

  /**
   * A view of `length` bytes at `off` that can be emptied later (its own
   * ArrayBuffer) — or, on a runtime that cannot empty a buffer over native
   * memory, a copy (then `commit()` copies a reservation in).
   */
  #viewAt(off: number, length: number): Uint8Array {
    if (length === 0) return new Uint8Array(0);
    if (!viewsCanEmpty(this.#address)) return this.#u8.slice(off, off + length);
    const b = getBackend();
    const buf = b.arrayBufferAt(b.pointerFrom(this.#address + BigInt(off)), length);
    return new Uint8Array(buf);
  }

  /** Messages as a stream (a `null` from `receive()` closes it). */
  get readable(): ReadableStream<Uint8Array> {
    return this.#readable ??= new ReadableStream<Uint8Array>({
      pull: async (controller) => {
        const m = await this.receive();
        if (m === null) controller.close();
        else controller.enqueue(m);
      },
    }, { highWaterMark: 0 });
  }

  /** A stream that sends each chunk as a message; closing it closes the channel. */
  get writable(): WritableStream<Uint8Array | string> {
    return this.#writable ??= new WritableStream<Uint8Array | string>({
      write: (chunk) => this.send(chunk),
      close: () => this.close(),
      abort: () => this.close(),
    });
  }

  #usable(what: string): void {
    if (this.#closed) {
      throw new IpcError(
        `Cannot ${what} channel ${this.#label}: it is closed (${what.split(" ")[0]}): EBADF`,
        Errno.EBADF,
        what.split(" ")[0],
      );
    }
  }

  /**
   * Closes this side: the peer receives what was sent, then `null`, and its
   * sends fail with `EPIPE`. Waits pending here reject with `EBADF`; views
   * handed out become empty. The memory goes once both sides are closed.
   * Idempotent.
   */
  close(): void {
    if (this.#closed) return;
    const h = this.#h;
    Atomics.store(h, this.#tx + R.PRODUCER_CLOSED, 1);
    Atomics.store(h, this.#rx + R.CONSUMER_CLOSED, 1);
    this.#wake(this.#tx + R.CONSUMER_WAKE);
    this.#wake(this.#rx + R.PRODUCER_WAKE);
    this.#closed = true;
    const reason = () =>
      new IpcError(
        `The channel ${this.#label} was closed while waiting (close): EBADF`,
        Errno.EBADF,
        "close",
      );
    for (const p of this.#waits) cancelParked(p, reason());
    this.#txTurn.clear(reason);
    this.#rxTurn.clear(reason);
    if (this.#reserved) empty(this.#reserved.view);
    if (this.#viewing) empty(this.#viewing.view);
    this.#reserved = this.#viewing = null;
    this.#watch?.abort();
    if (this.#pidfd >= 0) {
      sys().close(this.#pidfd);
      this.#pidfd = -1;
    }
    if (this.#side === 0 && this.#name !== null) {
      try {
        PosixSharedMemory.unlink(this.#name);
      } catch {
        // Opened (and so unlinked) by the other side already.
      }
    }
    this.#mem.close();
    this.#resolveClosed();
  }

  /** Closes this side ({@linkcode Channel.close}). */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** The longest a wait looks at the ring without a system call (µs); it starts there. */
const MAX_SPIN_US = 10;

/** The CPUs process `pid` (0: this one) may run on (`sched_getaffinity`), or null. */
function affinity(pid: number): Uint8Array | null {
  const mask = new Uint8Array(128);
  return sys().sched_getaffinity(pid, 128n, mask) < 0 ? null : mask;
}

let ownCpus: Uint8Array | null | undefined;

let canEmpty: boolean | undefined;

/** Whether this runtime can empty a buffer over native memory (asked once, of a probe at `address`). */
function viewsCanEmpty(address: bigint): boolean {
  if (canEmpty !== undefined) return canEmpty;
  const b = getBackend();
  const probe = b.arrayBufferAt(b.pointerFrom(address), 8);
  return canEmpty = b.detachArrayBuffer(probe) && probe.byteLength === 0;
}

/** Makes a view handed out empty (length 0), so nothing writes into memory the other side owns. */
function empty(view: Uint8Array): void {
  if (view.byteLength === 0) return;
  getBackend().detachArrayBuffer(view.buffer as ArrayBuffer);
}

function notChannel(mem: PosixSharedMemory, why: string): TypeError {
  return new TypeError(
    `Not a sysipc channel: ${mem.name ?? `fd ${mem.fd}`} (${why}); see channel/LAYOUT.md`,
  );
}

/** A relative `struct timespec` for FUTEX_WAIT. */
function relative(ms: number): BigInt64Array {
  const ns = BigInt(Math.max(1000, Math.ceil(ms * 1e6)));
  return new BigInt64Array([ns / 1_000_000_000n, ns % 1_000_000_000n]);
}

/** `fcntl(fd, F_DUPFD_CLOEXEC, 0)`: a copy of `fd`. */
function duplicate(fd: number): number {
  const copy = sys().fcntl(fd, 1030, /* F_DUPFD_CLOEXEC */ 0n);
  if (copy < 0) throw ipcError("Cannot duplicate channel descriptor", "fcntl", errno(), `fd ${fd}`);
  return copy;
}
