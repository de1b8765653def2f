/**
 * `SharedMemory`: a System V shared memory segment, attached and shown as a
 * zero-copy `ArrayBuffer`.
 *
 * ## Memory safety
 *
 * An `ArrayBuffer` over `shmat` memory must never outlive the mapping: a read
 * through it after `shmdt` would touch unmapped memory and kill the process.
 * The rules this file keeps:
 *
 * - One cached `ArrayBuffer` per attachment; `bytes` and `view()` are views
 *   of it. `detach()` first detaches that buffer (`transfer(0)`: every view
 *   of it becomes length 0 and reads `undefined`), and only then calls
 *   `shmdt`.
 * - A caller can move the buffer's memory into another `ArrayBuffer` that we
 *   do not know about: `buffer.transfer()`, `structuredClone(buf, { transfer })`
 *   and `postMessage(buf, [buf])` all keep the same native memory (checked on
 *   Deno 2.9). We notice because our buffer is then detached when we did not
 *   detach it ("escaped"), and from then on never `shmdt` or `munmap` that
 *   range: `detach()` maps anonymous memory over the segment in one step
 *   (`mmap(MAP_FIXED | MAP_PRIVATE | MAP_ANONYMOUS)`), which releases the
 *   segment (nattch drops) while the range stays readable — the moved buffer
 *   reads zeros and its writes reach nobody — for the life of the process.
 * - Where the runtime cannot detach an `ArrayBuffer` at all (the backend's
 *   `detachArrayBuffer()` returns false: Node 20 through koffi), `detach()`
 *   uses that same placeholder instead of `shmdt`, and unmaps the placeholder
 *   once the stale buffer has been collected. That runtime gives a caller no
 *   way to move the buffer's memory either, so nothing can still point there.
 * - Read-only attachments (`SHM_RDONLY`) map the pages `PROT_READ`: a write
 *   through a view would be a `SIGSEGV`. They never hand out a buffer or a
 *   view (`buffer`, `bytes` and `view()` throw); `read()` copies out.
 *
 * ## Forgotten attachments
 *
 * A `FinalizationRegistry` on the `SharedMemory` object could fire while a
 * view of its buffer is still in use, so it watches the buffer(s) instead: a
 * buffer is only collected once no view of it is reachable. Even then it may
 * have been transferred away unnoticed just before (the old buffer is
 * collected, the new one lives on), so the cleanup does not `shmdt`: it puts
 * the anonymous placeholder over the range, which releases the segment (the
 * kernel can free a removed segment once nattch reaches 0) and keeps any
 * moved buffer safe, at the cost of an untouched anonymous mapping until the
 * process exits. Call `detach()` (or use `using`) to release the range too.
 *
 * @module
 */
import { errno, getBackend, ipcError, type Pointer } from "../_ffi/mod.ts";
import { checkIpcId, checkKey, IPC_PRIVATE, keyHex } from "./key.ts";
import {
  IPC,
  MAP_FAILED,
  MMAP,
  pagesize,
  SHM_MODE,
  SHM_PERM,
  SHM_RDONLY,
  SHMID_DS,
  shmmax,
  sys,
  testHooks,
} from "./_sys.ts";

/** Options for {@linkcode SharedMemory.create}. */
export interface SharedMemoryCreateOptions {
  /**
   * The key other processes use to find the segment (from {@linkcode ftok},
   * or any agreed 32-bit number). Default {@linkcode IPC_PRIVATE}: a new
   * segment reachable only by its id (see {@linkcode SharedMemory.fromId}).
   */
  key?: number;
  /** Size in bytes: at least 1, at most `/proc/sys/kernel/shmmax`. The kernel rounds the mapping up to whole pages but only `size` bytes are usable. */
  size: number;
  /** Permission bits, default `0o600` (owner read/write). Applied exactly, not masked by umask. */
  mode?: number;
  /**
   * Fail with `EEXIST` if a segment with this key exists (`IPC_EXCL`, the
   * default). With `false`, an existing segment of at least `size` bytes is
   * attached instead.
   */
  exclusive?: boolean;
}

/** Options for {@linkcode SharedMemory.open} and {@linkcode SharedMemory.fromId}. */
export interface SharedMemoryOpenOptions {
  /**
   * Attach read-only (`SHM_RDONLY`; needs only read permission). Such an
   * attachment offers `read()` copies, never a view: see {@linkcode SharedMemory.readOnly}.
   */
  readOnly?: boolean;
}

/** What {@linkcode SharedMemory.stat} reports: `struct shmid_ds`, decoded. */
export interface SharedMemoryStat {
  /** The key (`0`, `IPC_PRIVATE`, once the segment is removed: the kernel clears it). */
  key: number;
  /** Size in bytes as created (`shm_segsz`), not rounded to pages. */
  size: number;
  /** How many attachments exist across all processes (`shm_nattch`; `ipcs -m` "nattch"). */
  attachCount: number;
  /** The process that created the segment (`shm_cpid`). */
  creatorPid: number;
  /** The process that last attached or detached (`shm_lpid`). */
  lastPid: number;
  /** Last attach (`shm_atime`), `null` if never. */
  attachTime: Date | null;
  /** Last detach (`shm_dtime`), `null` if never. */
  detachTime: Date | null;
  /** Creation or last permission change (`shm_ctime`), `null` if unset. */
  changeTime: Date | null;
  /** Permission bits (`0o600`, …). */
  mode: number;
  /** Owner's user id. */
  uid: number;
  /** Owner's group id. */
  gid: number;
  /** Creator's user id. */
  cuid: number;
  /** Creator's group id. */
  cgid: number;
  /** `remove()` (or `ipcrm`) was called: destroyed when the last attachment goes (`ipcs` "dest"). */
  removed: boolean;
}

/** A typed-array constructor such as `Uint8Array` or `Float64Array`, for {@linkcode SharedMemory.view}. */
export interface TypedArrayConstructor<T extends ArrayBufferView> {
  /** Size of one element in bytes. */
  readonly BYTES_PER_ELEMENT: number;
  /** Makes a view of `length` elements of `buffer` from `byteOffset`. */
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
}

/** Shared by an attachment and the collector: the mapped range. */
interface Orphan {
  address: bigint;
  length: number;
  /** Buffers over the range that are registered with the collector and not yet collected. */
  live: number;
  /** Released already (by `detach()` or the collector). */
  done: boolean;
}

/** One `shmat` attachment. */
interface Mapping {
  pointer: Pointer;
  address: bigint;
  /** Bytes mapped: `size` rounded up to the page size. */
  length: number;
  /** The cached zero-copy buffer (replaced only if a caller moved the previous one away). */
  buffer: ArrayBuffer;
  bytes?: Uint8Array<ArrayBuffer>;
  /** `buffer`, `bytes` or a view was handed to the caller. */
  exposed: boolean;
  /** A buffer we handed out was detached by someone else: its memory may live on elsewhere. */
  escaped: boolean;
  orphan: Orphan;
}

const INTERNAL: unique symbol = Symbol("SharedMemory.internal");
const encoder = new TextEncoder();

/** Maps anonymous zero pages over `[address, address + length)` in one step. */
function placeholder(address: bigint, length: number): number {
  const b = getBackend();
  const p = sys().mmap(
    b.pointerFrom(address),
    length,
    MMAP.PROT_READ | MMAP.PROT_WRITE,
    MMAP.MAP_FIXED | MMAP.MAP_PRIVATE | MMAP.MAP_ANONYMOUS,
    -1,
    0,
  );
  return b.pointerValue(p) === MAP_FAILED ? errno() : 0;
}

/** Forgotten attachments: once every buffer over the range is collected, release the segment. */
const collector = new FinalizationRegistry<Orphan>((orphan) => {
  orphan.live--;
  if (orphan.live > 0 || orphan.done) return;
  orphan.done = true;
  // Not shmdt: see "Forgotten attachments" in the module doc. If even this
  // fails (ENOMEM), the mapping simply stays until exit.
  placeholder(orphan.address, orphan.length);
});

/** Placeholders of the no-detach fallback: unmapped once the stale buffer is collected. */
const placeholders = new FinalizationRegistry<{ address: bigint; length: number }>((r) => {
  sys().munmap(getBackend().pointerFrom(r.address), r.length);
});

function detachBuffer(buf: ArrayBuffer): boolean {
  if (testHooks.pretendBuffersCannotDetach) return false;
  return getBackend().detachArrayBuffer(buf);
}

function checkSize(size: unknown): number {
  if (typeof size !== "number" || !Number.isInteger(size)) {
    throw new TypeError(
      `A shared memory size must be an integer number of bytes, got ${String(size)}`,
    );
  }
  if (size < 1) throw new RangeError(`A shared memory size must be at least 1 byte, got ${size}`);
  const max = shmmax();
  if (max !== undefined && BigInt(size) > max) {
    throw new RangeError(
      `A shared memory size must be at most ${max} bytes (/proc/sys/kernel/shmmax), got ${size}`,
    );
  }
  if (size > Number.MAX_SAFE_INTEGER) {
    throw new RangeError(`A shared memory size must be a safe integer, got ${size}`);
  }
  return size;
}

function checkMode(mode: unknown): number {
  if (typeof mode !== "number" || !Number.isInteger(mode)) {
    throw new TypeError(
      `A shared memory mode must be an integer such as 0o600, got ${String(mode)}`,
    );
  }
  if (mode < 0 || mode > 0o777) {
    throw new RangeError(
      `A shared memory mode must be between 0 and 0o777, got 0o${mode.toString(8)}`,
    );
  }
  return mode;
}

function checkBoolean(value: unknown, what: string): boolean {
  if (typeof value !== "boolean") {
    throw new TypeError(`The ${what} option must be a boolean, got ${typeof value}`);
  }
  return value;
}

function checkOptions(options: unknown, what: string): Record<string, unknown> {
  if (options === undefined) return {};
  if (options === null || typeof options !== "object") {
    throw new TypeError(`The ${what} options must be an object, got ${String(options)}`);
  }
  return options as Record<string, unknown>;
}

function checkIndex(value: unknown, what: string, max: number): number {
  if (typeof value !== "number" || !Number.isInteger(value)) {
    throw new TypeError(`The ${what} must be an integer, got ${String(value)}`);
  }
  if (value < 0 || value > max) {
    throw new RangeError(`The ${what} must be between 0 and ${max}, got ${value}`);
  }
  return value;
}

function toBytes(data: unknown): Uint8Array {
  if (typeof data === "string") return encoder.encode(data);
  if (data instanceof Uint8Array) return data;
  if (ArrayBuffer.isView(data)) {
    return new Uint8Array(data.buffer, data.byteOffset, data.byteLength);
  }
  if (data instanceof ArrayBuffer) return new Uint8Array(data);
  throw new TypeError(
    `Shared memory write() takes a string, an ArrayBuffer or an ArrayBufferView, got ${typeof data}`,
  );
}

function date(seconds: bigint): Date | null {
  return seconds === 0n ? null : new Date(Number(seconds) * 1000);
}

/**
 * A System V shared memory segment (`shmget`), attached to this process
 * (`shmat`) as soon as it is created or opened, like Python's `sysv_ipc`.
 * Its memory is a zero-copy `ArrayBuffer`: what one process writes into
 * `bytes` (or any `view()`), every other attached process sees at once. There
 * is no synchronisation: guard shared data with a `SemaphoreSet`.
 *
 * The segment lives in the kernel until `remove()` (or `ipcrm -m`) and the
 * last detach, not until this process exits. `detach()` (and `using`) only
 * releases this process's attachment, after making every buffer and view
 * handed out length 0, so nothing can read unmapped memory. Read-only
 * attachments offer copies (`read()`) instead of views. Requires `--allow-ffi`.
 *
 * @example A segment, a view, a second attachment
 * ```ts
 * import { SharedMemory } from "@sysipc/sysipc/shm";
 * using shm = SharedMemory.create({ size: 4096 }); // IPC_PRIVATE, mode 0o600
 * try {
 *   const ints = shm.view(Int32Array);
 *   ints[0] = 42;
 *   using other = SharedMemory.fromId(shm.id); // as another process would
 *   console.log(other.view(Int32Array)[0]); // 42
 *   console.log(shm.stat().attachCount); // 2
 * } finally {
 *   shm.remove();
 * }
 * ```
 */
export class SharedMemory {
  #id: number;
  #key: number;
  #size: number;
  #readOnly: boolean;
  #map: Mapping | null = null;
  #removed = false;

  /** @internal Use {@linkcode SharedMemory.create}, {@linkcode SharedMemory.open} or {@linkcode SharedMemory.fromId}. */
  constructor(id: number, key: number, size: number, readOnly: boolean, internal?: symbol) {
    if (internal !== INTERNAL) {
      throw new TypeError(
        "SharedMemory is not constructed directly: use SharedMemory.create(), open() or fromId()",
      );
    }
    this.#id = id;
    this.#key = key;
    this.#size = size;
    this.#readOnly = readOnly;
  }

  /**
   * Creates a segment and attaches it read-write. The memory starts zeroed.
   * Requires `--allow-ffi`.
   *
   * @param options `size` (required), `key` (default `IPC_PRIVATE`), `mode`
   *   (default `0o600`), `exclusive` (default `true`).
   * @returns The attached segment.
   * @throws {TypeError} For options of the wrong type (a fractional or NaN size, a non-integer key or mode).
   * @throws {RangeError} For a size below 1 or above `/proc/sys/kernel/shmmax`, a
   *   key outside 32 bits, a mode outside `0`–`0o777`.
   * @throws {IpcError} `EEXIST` if `exclusive` and the key is taken; `EINVAL`
   *   if not `exclusive` and the existing segment is smaller than `size`;
   *   `ENOSPC`/`ENOMEM` at system limits; `EACCES` when `mode` denies the
   *   creator itself. Nothing is left behind when attaching fails.
   *
   * @example Server side of the seed's demo
   * ```ts
   * import { ftok, SharedMemory } from "@sysipc/sysipc/shm";
   * const path = Deno.makeTempFileSync();
   * using shm = SharedMemory.create({ key: ftok(path, 1), size: 4097, mode: 0o644 });
   * console.log(shm.size, shm.bytes.length); // 4097 4097
   * shm.remove(); // destroyed once the last process detaches
   * Deno.removeSync(path);
   * ```
   */
  static create(options: SharedMemoryCreateOptions): SharedMemory {
    const o = checkOptions(options, "SharedMemory.create()");
    const key = checkKey(o.key ?? IPC_PRIVATE);
    const size = checkSize(o.size);
    const mode = checkMode(o.mode ?? 0o600);
    const exclusive = checkBoolean(o.exclusive ?? true, "exclusive");
    const flags = IPC.CREAT | (exclusive ? IPC.EXCL : 0) | mode;
    const id = sys().shmget(key, size, flags);
    if (id < 0) {
      throw ipcError("Cannot create shared memory", "shmget", errno(), `key ${keyHex(key)}`);
    }
    // A segment we certainly made is removed again if attaching fails.
    const ours = exclusive || key === IPC_PRIVATE;
    try {
      // Only a segment that existed already can differ from `size` (be larger).
      const actual = ours ? size : statSize(id, key);
      const shm = new SharedMemory(id, key, actual, false, INTERNAL);
      shm.attach();
      return shm;
    } catch (e) {
      if (ours) sys().shmctl(id, IPC.RMID, null);
      throw e;
    }
  }

  /**
   * Attaches an existing segment by its key (the seed client's
   * `shmget(key, …)` + `shmat`). Requires `--allow-ffi`.
   *
   * @param key The segment's key, e.g. from {@linkcode ftok}. Not `IPC_PRIVATE`:
   *   reach a private segment with {@linkcode SharedMemory.fromId}.
   * @param options `readOnly`: attach with `SHM_RDONLY`.
   * @returns The attached segment.
   * @throws {TypeError} If `key` is not an integer or `readOnly` not a boolean.
   * @throws {RangeError} If `key` does not fit in 32 bits or is `IPC_PRIVATE`.
   * @throws {IpcError} `ENOENT` if no segment has this key; `EACCES` if its
   *   mode does not allow this process to read (or, without `readOnly`, write).
   *
   * @example Client side: attach by key
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * using server = SharedMemory.create({ key: 0x5eed, size: 64 });
   * try {
   *   using client = SharedMemory.open(0x5eed);
   *   client.write("AB\0");
   *   console.log(new TextDecoder().decode(server.read(0, 2))); // "AB"
   * } finally {
   *   server.remove();
   * }
   * ```
   */
  static open(key: number, options?: SharedMemoryOpenOptions): SharedMemory {
    const k = checkKey(key);
    if (k === IPC_PRIVATE) {
      throw new RangeError(
        "IPC_PRIVATE (0) names no segment: open a private segment with SharedMemory.fromId(id)",
      );
    }
    const readOnly = checkBoolean(
      checkOptions(options, "SharedMemory.open()").readOnly ?? false,
      "readOnly",
    );
    // Asking for the access we need makes shmget check the mode (EACCES) now.
    const id = sys().shmget(k, 0, readOnly ? SHM_PERM.R : SHM_PERM.R | SHM_PERM.W);
    if (id < 0) throw ipcError("Cannot open shared memory", "shmget", errno(), `key ${keyHex(k)}`);
    const shm = new SharedMemory(id, k, statSize(id, k), readOnly, INTERNAL);
    shm.attach();
    return shm;
  }

  /**
   * Attaches a segment by its id (`shmid`, as `ipcs -m` lists it): the way
   * another process reaches an `IPC_PRIVATE` segment whose id it was told.
   * Requires `--allow-ffi`.
   *
   * @param id The segment id.
   * @param options `readOnly`: attach with `SHM_RDONLY`.
   * @returns The attached segment.
   * @throws {TypeError} If `id` is not an integer or `readOnly` not a boolean.
   * @throws {RangeError} If `id` is negative or above 2147483647.
   * @throws {IpcError} `EINVAL` if no segment has this id (or it is fully
   *   removed); `EACCES` if this process may not read it (or write it).
   *
   * @example
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * using shm = SharedMemory.create({ size: 16 });
   * try {
   *   using reader = SharedMemory.fromId(shm.id, { readOnly: true });
   *   shm.write("hi");
   *   console.log(reader.read(0, 2)); // Uint8Array(2) [ 104, 105 ]
   * } finally {
   *   shm.remove();
   * }
   * ```
   */
  static fromId(id: number, options?: SharedMemoryOpenOptions): SharedMemory {
    const i = checkIpcId(id, "shared memory");
    const readOnly = checkBoolean(
      checkOptions(options, "SharedMemory.fromId()").readOnly ?? false,
      "readOnly",
    );
    const dv = statRaw(i, undefined);
    const key = dv.getInt32(SHMID_DS.KEY, true);
    const shm = new SharedMemory(
      i,
      key,
      Number(dv.getBigUint64(SHMID_DS.SEGSZ, true)),
      readOnly,
      INTERNAL,
    );
    shm.attach();
    return shm;
  }

  /** The segment id (`shmid`), what `ipcs -m` lists and `fromId()` takes. */
  get id(): number {
    return this.#id;
  }

  /** The key it was created or opened with (`0` for `IPC_PRIVATE`). */
  get key(): number {
    return this.#key;
  }

  /** Usable size in bytes (`shm_segsz`, e.g. 4097: not rounded up to pages). */
  get size(): number {
    return this.#size;
  }

  /**
   * Whether this attachment is read-only (`SHM_RDONLY`). Its pages are
   * mapped without write permission, so a write through a view would kill
   * the process with `SIGSEGV`: `buffer`, `bytes` and `view()` therefore
   * throw on a read-only attachment, and `read()` hands out copies instead.
   */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** Whether this process is attached through this object. */
  get attached(): boolean {
    return this.#map !== null;
  }

  #describe(): string {
    return `id ${this.#id}, key ${keyHex(this.#key)}`;
  }

  /** The live mapping, or a TypeError saying why there is none. */
  #mapping(what: string): Mapping {
    const m = this.#map;
    if (m === null) {
      throw new TypeError(
        `Cannot ${what}: shared memory ${this.#describe()} is detached (call attach() first)`,
      );
    }
    return m;
  }

  /** The mapping's current buffer; a fresh one if a caller moved the last one away. */
  #buffer(m: Mapping): ArrayBuffer {
    if (m.buffer.byteLength === 0) {
      // Detached, and not by us (we drop the mapping when we detach it): the
      // caller transferred it, so its memory may live on in another buffer.
      m.escaped = true;
      m.buffer = getBackend().arrayBufferAt(m.pointer, this.#size);
      m.bytes = undefined;
      m.orphan.live++;
      collector.register(m.buffer, m.orphan, m.orphan);
    }
    return m.buffer;
  }

  #writable(what: string): Mapping {
    if (this.#readOnly) {
      throw new TypeError(
        `Cannot ${what}: shared memory ${this.#describe()} is attached read-only ` +
          `(SHM_RDONLY), and a write through it would crash the process; use read() for a copy`,
      );
    }
    const m = this.#mapping(what);
    m.exposed = true;
    return m;
  }

  /**
   * The segment's memory as one zero-copy `ArrayBuffer` (the same object on
   * every access while attached). Becomes length 0 on `detach()`; a new one
   * is made by the next `attach()`.
   *
   * @throws {TypeError} When detached, or on a read-only attachment.
   */
  get buffer(): ArrayBuffer {
    return this.#buffer(this.#writable("get the buffer"));
  }

  /**
   * `new Uint8Array(buffer)`: every byte of the segment, zero-copy (cached).
   *
   * @throws {TypeError} When detached, or on a read-only attachment.
   */
  get bytes(): Uint8Array<ArrayBuffer> {
    const m = this.#writable("get the bytes");
    const buf = this.#buffer(m);
    return (m.bytes ??= new Uint8Array(buf));
  }

  /**
   * A typed-array view of the segment, zero-copy, for any element type. Like
   * `new ctor(shm.buffer, byteOffset, length)`, with the bounds checked
   * first. It becomes length 0 on `detach()`.
   *
   * @param ctor A typed-array constructor: `Uint8Array`, `Int32Array`, `Float64Array`, `BigUint64Array`, …
   * @param byteOffset Where the view starts, a multiple of `ctor.BYTES_PER_ELEMENT` (default 0).
   * @param length Number of elements (default: as many as fit after `byteOffset`).
   * @returns The view.
   * @throws {TypeError} For a `ctor` that is not a typed-array constructor,
   *   non-integer arguments, when detached, or on a read-only attachment.
   * @throws {RangeError} For a misaligned `byteOffset` or a view past the end.
   *
   * @example A counter and a text area in one segment
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * using shm = SharedMemory.create({ size: 4096 });
   * const header = shm.view(BigUint64Array, 0, 1);
   * const text = shm.view(Uint8Array, 8);
   * header[0] += 1n;
   * console.log(header[0], text.length); // 1n 4088
   * shm.remove();
   * ```
   */
  view<T extends ArrayBufferView>(
    ctor: TypedArrayConstructor<T>,
    byteOffset = 0,
    length?: number,
  ): T {
    const bpe = (ctor as { BYTES_PER_ELEMENT?: unknown } | undefined)?.BYTES_PER_ELEMENT;
    if (typeof ctor !== "function" || typeof bpe !== "number" || !(bpe > 0)) {
      throw new TypeError("SharedMemory view() takes a typed-array constructor such as Int32Array");
    }
    const size = this.#size;
    checkIndex(byteOffset, "view byte offset", size);
    if (byteOffset % bpe !== 0) {
      throw new RangeError(
        `${ctor.name} views must start at a multiple of ${bpe} bytes, got byte offset ${byteOffset}`,
      );
    }
    const fit = Math.floor((size - byteOffset) / bpe);
    const n = length === undefined
      ? fit
      : checkIndex(length, "view length", Number.MAX_SAFE_INTEGER);
    if (n > fit) {
      throw new RangeError(
        `${n} ${ctor.name} elements at byte offset ${byteOffset} would end at byte ` +
          `${byteOffset + n * bpe}, past the segment's ${size} bytes`,
      );
    }
    const m = this.#writable("make a view");
    return new ctor(this.#buffer(m), byteOffset, n);
  }

  /**
   * Copies bytes out of the segment. Works on every attachment, including
   * read-only ones.
   *
   * @param offset First byte (default 0).
   * @param length How many bytes (default: to the end).
   * @returns A new `Uint8Array` that does not share memory with the segment.
   * @throws {TypeError} For non-integer arguments, or when detached.
   * @throws {RangeError} For a range outside the segment.
   *
   * @example Reading a C string the way the seed's server prints it
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * using shm = SharedMemory.create({ size: 4097 });
   * shm.write("ABC\0");
   * const raw = shm.read();
   * const end = raw.indexOf(0);
   * console.log(new TextDecoder().decode(raw.subarray(0, end < 0 ? raw.length : end))); // "ABC"
   * shm.remove();
   * ```
   */
  read(offset = 0, length?: number): Uint8Array<ArrayBuffer> {
    const size = this.#size;
    checkIndex(offset, "read offset", size);
    const n = length === undefined ? size - offset : checkIndex(length, "read length", size);
    if (offset + n > size) {
      throw new RangeError(
        `Cannot read ${n} bytes at offset ${offset}: the segment has ${size} bytes`,
      );
    }
    const m = this.#mapping("read");
    // A transient view of our own buffer: never handed out, copied at once.
    return new Uint8Array(this.#buffer(m), offset, n).slice();
  }

  /**
   * Copies bytes into the segment (read-write attachments only). A string is
   * written as UTF-8, without a terminating NUL (add `"\0"` for C readers).
   *
   * @param data What to write.
   * @param offset Where (default 0).
   * @returns The number of bytes written.
   * @throws {TypeError} For data of another type, a non-integer offset, when
   *   detached, or on a read-only attachment.
   * @throws {RangeError} If the data would run past the end of the segment.
   *
   * @example
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * using shm = SharedMemory.create({ size: 16 });
   * console.log(shm.write("héllo\0", 4)); // 7
   * shm.remove();
   * ```
   */
  write(data: string | ArrayBuffer | ArrayBufferView, offset = 0): number {
    const bytes = toBytes(data);
    const size = this.#size;
    checkIndex(offset, "write offset", size);
    if (offset + bytes.byteLength > size) {
      throw new RangeError(
        `Cannot write ${bytes.byteLength} bytes at offset ${offset}: the segment has ${size} bytes`,
      );
    }
    if (this.#readOnly) this.#writable("write"); // throws the read-only error
    const m = this.#mapping("write");
    new Uint8Array(this.#buffer(m), offset, bytes.byteLength).set(bytes);
    return bytes.byteLength;
  }

  /**
   * Attaches the segment again after `detach()` (`shmat`; the address may
   * differ, so `buffer`, `bytes` and views are new). Does nothing if attached.
   * Requires `--allow-ffi`.
   *
   * @throws {IpcError} `EINVAL`/`EIDRM` if the segment was removed and
   *   destroyed meanwhile; `EACCES` if its mode no longer allows it.
   *
   * @example
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * using shm = SharedMemory.create({ size: 8 });
   * shm.bytes[0] = 7;
   * shm.detach();
   * shm.attach();
   * console.log(shm.bytes[0]); // 7: the segment outlives attachments
   * shm.remove();
   * ```
   */
  attach(): void {
    if (this.#map !== null) return;
    const b = getBackend();
    const p = sys().shmat(this.#id, null, this.#readOnly ? SHM_RDONLY : 0);
    const address = b.pointerValue(p);
    if (address === MAP_FAILED || address === 0n) {
      throw ipcError("Cannot attach shared memory", "shmat", errno(), this.#describe());
    }
    const page = pagesize();
    const length = Math.ceil(this.#size / page) * page;
    const buffer = b.arrayBufferAt(p, this.#size);
    const orphan: Orphan = { address, length, live: 1, done: false };
    this.#map = { pointer: p, address, length, buffer, exposed: false, escaped: false, orphan };
    collector.register(buffer, orphan, orphan);
  }

  /**
   * Detaches this process from the segment. First every `ArrayBuffer` and
   * view handed out becomes length 0 (reads give `undefined`, writes are
   * ignored), then the memory is released (`shmdt`; see the module doc for
   * the cases that use an anonymous placeholder instead). The segment
   * itself stays until `remove()`. Does nothing if already detached.
   * Requires `--allow-ffi`.
   *
   * @throws {IpcError} Only if the kernel refuses (`ENOMEM` for the placeholder); the attachment then stays usable.
   *
   * @example
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * const shm = SharedMemory.create({ size: 64 });
   * const view = shm.view(Uint32Array);
   * shm.detach();
   * console.log(view.length, view[0]); // 0 undefined
   * shm.remove();
   * ```
   */
  detach(): void {
    const m = this.#map;
    if (m === null) return;
    // Our buffer is only ever detached here, so one found detached was moved
    // away by the caller (transfer, postMessage): its memory lives on elsewhere.
    const escaped = m.escaped || m.buffer.byteLength === 0;
    const neutered = m.buffer.byteLength !== 0 && detachBuffer(m.buffer);
    if (!escaped && (neutered || !m.exposed)) {
      // Nothing in JavaScript reaches this memory any more.
      this.#map = null;
      m.orphan.done = true;
      collector.unregister(m.orphan);
      if (sys().shmdt(m.pointer) < 0) {
        throw ipcError("Cannot detach shared memory", "shmdt", errno(), this.#describe());
      }
      return;
    }
    const e = placeholder(m.address, m.length);
    if (e !== 0) throw ipcError("Cannot detach shared memory", "mmap", e, this.#describe());
    this.#map = null;
    m.orphan.done = true;
    collector.unregister(m.orphan);
    // A stale buffer only we knew of now shows the placeholder: unmap it once
    // that buffer is collected. After an escape, keep the range mapped for good.
    if (!escaped && !neutered) {
      placeholders.register(m.buffer, { address: m.address, length: m.length });
    }
  }

  /**
   * Reads the kernel's record of the segment (`shmctl(IPC_STAT)`): size,
   * attach count (`ipcs -m` "nattch"), creator and last pid, times, owner
   * and mode. Works attached or not, while the segment exists.
   * Requires `--allow-ffi`.
   *
   * @returns The decoded `struct shmid_ds`.
   * @throws {IpcError} `EINVAL`/`EIDRM` once the segment is destroyed; `EACCES` without read permission.
   *
   * @example
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * using shm = SharedMemory.create({ size: 4097 });
   * const st = shm.stat();
   * console.log(st.size, st.attachCount, st.creatorPid === Deno.pid); // 4097 1 true
   * shm.remove();
   * ```
   */
  stat(): SharedMemoryStat {
    const dv = statRaw(this.#id, this.#key);
    const mode = dv.getUint16(SHMID_DS.MODE, true);
    return {
      key: dv.getInt32(SHMID_DS.KEY, true),
      size: Number(dv.getBigUint64(SHMID_DS.SEGSZ, true)),
      attachCount: Number(dv.getBigUint64(SHMID_DS.NATTCH, true)),
      creatorPid: dv.getInt32(SHMID_DS.CPID, true),
      lastPid: dv.getInt32(SHMID_DS.LPID, true),
      attachTime: date(dv.getBigInt64(SHMID_DS.ATIME, true)),
      detachTime: date(dv.getBigInt64(SHMID_DS.DTIME, true)),
      changeTime: date(dv.getBigInt64(SHMID_DS.CTIME, true)),
      mode: mode & 0o777,
      uid: dv.getUint32(SHMID_DS.UID, true),
      gid: dv.getUint32(SHMID_DS.GID, true),
      cuid: dv.getUint32(SHMID_DS.CUID, true),
      cgid: dv.getUint32(SHMID_DS.CGID, true),
      removed: (mode & SHM_MODE.DEST) !== 0,
    };
  }

  /**
   * Marks the segment for destruction (`shmctl(IPC_RMID)`, like `ipcrm -m`):
   * the kernel frees it when the last process detaches, and its key is free
   * for a new segment at once. Existing attachments, including this one,
   * keep working. Idempotent on this object. Requires `--allow-ffi`.
   *
   * @throws {IpcError} `EPERM` if this process is neither owner nor creator;
   *   `EINVAL`/`EIDRM` if it is already destroyed.
   *
   * @example
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * const shm = SharedMemory.create({ key: 0x5eee, size: 8 });
   * shm.remove();
   * console.log(shm.stat().removed); // true: destroyed on the last detach
   * shm.detach();
   * try {
   *   SharedMemory.open(0x5eee);
   * } catch (e) {
   *   console.log((e as Error).message); // Cannot open shared memory (shmget, key 0x5eee): ENOENT
   * }
   * ```
   */
  remove(): void {
    if (this.#removed) return;
    if (sys().shmctl(this.#id, IPC.RMID, null) < 0) {
      throw ipcError(
        "Cannot remove shared memory",
        "shmctl",
        errno(),
        `IPC_RMID, ${this.#describe()}`,
      );
    }
    this.#removed = true;
  }

  /** Same as `detach()`, for `using`. The segment stays: `remove()` is always explicit. */
  [Symbol.dispose](): void {
    this.detach();
  }
}

/** `shmctl(IPC_STAT)` into a fresh `struct shmid_ds`. */
function statRaw(id: number, key: number | undefined): DataView {
  const buf = new Uint8Array(SHMID_DS.BYTES);
  if (sys().shmctl(id, IPC.STAT, buf) < 0) {
    const detail = key === undefined
      ? `IPC_STAT, id ${id}`
      : `IPC_STAT, id ${id}, key ${keyHex(key)}`;
    throw ipcError("Cannot read shared memory status", "shmctl", errno(), detail);
  }
  return new DataView(buf.buffer);
}

function statSize(id: number, key: number): number {
  return Number(statRaw(id, key).getBigUint64(SHMID_DS.SEGSZ, true));
}
