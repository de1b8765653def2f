/**
 * The revocable mapping: native memory shown to JavaScript as one zero-copy
 * `ArrayBuffer` (and views of it) that can be taken away again without ever
 * letting a read or write touch unmapped memory. System V shared memory uses
 * it for `shmat` attachments; POSIX shared memory, memfd and the channel map
 * with `mmap` and use it the same way.
 *
 * ## Memory safety
 *
 * An `ArrayBuffer` over mapped memory must never outlive the mapping: a read
 * through it after `shmdt`/`munmap` would kill the process. The rules:
 *
 * - One cached `ArrayBuffer` per mapping; `bytes` and `view()` are views of
 *   it. {@linkcode Mapping.release} first detaches that buffer (`transfer(0)`:
 *   every view of it becomes length 0 and reads `undefined`), and only then
 *   unmaps.
 * - A caller can move the buffer's memory into another `ArrayBuffer` that we
 *   do not know about: `buffer.transfer()`, `structuredClone(buf, { transfer })`
 *   and `postMessage(buf, [buf])` all keep the same native memory (checked on
 *   Deno 2.9). We notice because our buffer is then detached when we did not
 *   detach it ("escaped"), and from then on never unmap that range: release
 *   maps anonymous memory over it in one step (`mmap(MAP_FIXED | MAP_PRIVATE
 *   | MAP_ANONYMOUS)`), which drops the real mapping (a System V segment's
 *   nattch falls) while the range stays readable — the moved buffer reads
 *   zeros and its writes reach nobody — for the life of the process.
 * - Where the runtime cannot detach an `ArrayBuffer` at all (the backend's
 *   `detachArrayBuffer()` returns false: Node 20 through koffi), release uses
 *   that same placeholder instead of unmapping, and unmaps the placeholder
 *   once the stale buffer has been collected. That runtime gives a caller no
 *   way to move the buffer's memory either, so nothing can still point there.
 * - Read-only mappings have pages mapped `PROT_READ`: a write through a view
 *   would be a `SIGSEGV`. They never hand out a buffer or a view (`buffer`,
 *   `bytes` and `view()` throw); `read()` copies out.
 *
 * ## Forgotten mappings
 *
 * A `FinalizationRegistry` on the owning object could fire while a view of
 * its buffer is still in use, so it watches the buffer(s) instead: a buffer
 * is only collected once no view of it is reachable. Even then it may have
 * been transferred away unnoticed just before (the old buffer is collected,
 * the new one lives on), so the cleanup does not unmap: it puts the
 * anonymous placeholder over the range, which releases the real mapping and
 * keeps any moved buffer safe, at the cost of an untouched anonymous mapping
 * until the process exits. Releasing explicitly frees the range too.
 *
 * @module
 */
import { getBackend, libc, type Pointer } from "../_ffi/mod.ts";
import { errno } from "../_sys/errno.ts";
import { ipcError } from "../errors.ts";
import * as v from "../_sys/validate.ts";

/** `mmap(2)` protections and flags for the anonymous placeholder mapping. */
export const MMAP = {
  PROT_READ: 0x1,
  PROT_WRITE: 0x2,
  MAP_SHARED: 0x01,
  MAP_PRIVATE: 0x02,
  MAP_FIXED: 0x10,
  MAP_ANONYMOUS: 0x20,
} as const;

/** `sysconf(3)` name for the page size (`_SC_PAGESIZE`; 30 on every Linux ABI). */
export const SC_PAGESIZE = 30;

/** `(void *) -1`, what `shmat` and `mmap` return on failure. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

const sys = libc(
  {
    // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    // int munmap(void *addr, size_t length);
    munmap: { parameters: ["pointer", "usize"], result: "i32" },
    // long sysconf(int name);
    sysconf: { parameters: ["i32"], result: "i64" },
  } as const,
);

let pageSize: number | undefined;

/** The system page size: a mapping covers its size rounded up to it. */
export function pagesize(): number {
  if (pageSize === undefined) {
    const n = Number(sys().sysconf(SC_PAGESIZE));
    pageSize = n > 0 ? n : 4096;
  }
  return pageSize;
}

/**
 * Maps `length` bytes of the file `fd` from offset 0, shared with every
 * other mapping of it (`mmap(NULL, length, prot, MAP_SHARED, fd, 0)`), for
 * a {@linkcode MappingSource} whose `unmap` is {@linkcode unmapRange}.
 *
 * @returns The first byte, or the errno.
 */
export function mapShared(
  fd: number,
  length: number,
  readOnly: boolean,
): { pointer: Pointer } | { errno: number } {
  const prot = readOnly ? MMAP.PROT_READ : MMAP.PROT_READ | MMAP.PROT_WRITE;
  const p = sys().mmap(null, length, prot, MMAP.MAP_SHARED, fd, 0n);
  return getBackend().pointerValue(p) === MAP_FAILED ? { errno: errno() } : { pointer: p };
}

/** `munmap(pointer, length)`: 0, or the errno. */
export function unmapRange(pointer: Pointer, length: number): number {
  return sys().munmap(pointer, length) < 0 ? errno() : 0;
}

/** A typed-array constructor such as `Uint8Array` or `Float64Array`, for `view()`. */
export interface TypedArrayConstructor<T extends ArrayBufferView> {
  /** Size of one element in bytes. */
  readonly BYTES_PER_ELEMENT: number;
  /** Makes a view of `length` elements of `buffer` from `byteOffset`. */
  new (buffer: ArrayBuffer, byteOffset: number, length: number): T;
}

/** What a mapping is over, and how to take it away normally. */
export interface MappingSource {
  /** The first mapped byte. */
  readonly pointer: Pointer;
  /** Usable bytes (what `buffer` covers). */
  readonly size: number;
  /** Mapped bytes: `size` rounded up to whole pages. */
  readonly length: number;
  /** The pages are mapped without write permission. */
  readonly readOnly: boolean;
  /** Removes the mapping the normal way (`shmdt`, `munmap`); returns 0 or an errno. */
  unmap(): number;
  /** The call `unmap()` makes, for messages: `"shmdt"`. */
  readonly unmapCall: string;
  /** What is mapped, for messages: `"shared memory id 5, key 0x1f2e"`. */
  readonly label: string;
  /** What failing to release it is called: `"Cannot detach shared memory"`. */
  readonly releaseWhat: string;
  /** The object, for the release error's parenthesis: `"id 5, key 0x1f2e"`. */
  readonly detail: string;
  /** Why it is read-only, for messages: `"attached read-only (SHM_RDONLY)"`. */
  readonly readOnlyReason: string;
}

/** Shared by a mapping and the collector: the mapped range. */
interface Orphan {
  address: bigint;
  length: number;
  /** Buffers over the range that are registered with the collector and not yet collected. */
  live: number;
  /** Released already (explicitly or by the collector). */
  done: boolean;
}

/** Maps anonymous zero pages over `[address, address + length)` in one step; 0 or an errno. */
function placeholder(address: bigint, length: number): number {
  const b = getBackend();
  const p = sys().mmap(
    b.pointerFrom(address),
    length,
    MMAP.PROT_READ | MMAP.PROT_WRITE,
    MMAP.MAP_FIXED | MMAP.MAP_PRIVATE | MMAP.MAP_ANONYMOUS,
    -1,
    0n,
  );
  return b.pointerValue(p) === MAP_FAILED ? errno() : 0;
}

/** Forgotten mappings: once every buffer over the range is collected, release it. */
const collector = new FinalizationRegistry<Orphan>((orphan) => {
  orphan.live--;
  if (orphan.live > 0 || orphan.done) return;
  orphan.done = true;
  // Not unmap: see "Forgotten mappings" in the module doc. If even this
  // fails (ENOMEM), the mapping simply stays until exit.
  placeholder(orphan.address, orphan.length);
});

/** Placeholders of the no-detach fallback: unmapped once the stale buffer is collected. */
const placeholders = new FinalizationRegistry<{ address: bigint; length: number }>((r) => {
  sys().munmap(getBackend().pointerFrom(r.address), r.length);
});

/**
 * Native memory as one revocable, zero-copy `ArrayBuffer`. Owners (a
 * `SharedMemory` attachment, a POSIX mapping) check their own state first
 * and delegate here; after {@linkcode Mapping.release} the object is spent.
 */
export class Mapping {
  readonly #src: MappingSource;
  readonly #address: bigint;
  readonly #orphan: Orphan;
  /** The cached zero-copy buffer (replaced only if a caller moved the previous one away). */
  #buffer: ArrayBuffer;
  #bytes?: Uint8Array<ArrayBuffer>;
  /** `buffer`, `bytes` or a view was handed out. */
  #exposed = false;
  /** A buffer we handed out was detached by someone else: its memory may live on elsewhere. */
  #escaped = false;
  #released = false;
  /** Native calls in flight that may touch the range (see {@linkcode Mapping.pin}). */
  #pins = 0;
  /** The unmapping a release left for the last unpin. */
  #deferred: (() => void) | null = null;
  /** Told just before the memory is taken away (see {@linkcode Mapping.onRelease}). */
  #listeners = new Set<() => void>();

  /** @param src The mapped range and how to unmap it. */
  constructor(src: MappingSource) {
    const b = getBackend();
    if (src.size > b.maxBufferBytes) {
      // Wrapping it would abort the process (koffi on Node 20) or fail obscurely (Bun).
      src.unmap();
      throw new RangeError(
        `Cannot map ${src.label}: its ${src.size} bytes are more than ${b.name} can make one ` +
          `ArrayBuffer of (${b.maxBufferBytes}); Deno and Node.js ≥ 22 map it`,
      );
    }
    this.#src = src;
    this.#address = b.pointerValue(src.pointer);
    this.#buffer = b.arrayBufferAt(src.pointer, src.size);
    this.#orphan = { address: this.#address, length: src.length, live: 1, done: false };
    collector.register(this.#buffer, this.#orphan, this.#orphan);
  }

  /** Whether {@linkcode Mapping.release} has taken the memory away. */
  get released(): boolean {
    return this.#released;
  }

  /** Usable bytes. */
  get size(): number {
    return this.#src.size;
  }

  /** Whether the pages are mapped without write permission. */
  get readOnly(): boolean {
    return this.#src.readOnly;
  }

  /** What is mapped, for messages: `"shared memory /frames"`. */
  get label(): string {
    return this.#src.label;
  }

  /** The address of the first byte (for objects that live inside the memory). */
  get address(): bigint {
    return this.#address;
  }

  /**
   * Keeps the range mapped while native code outside JavaScript may still
   * touch it — a semaphore wait blocked on another thread, whose libc code
   * writes the semaphore when it returns. A release meanwhile empties every
   * buffer and view at once, as always, but leaves the range mapped until
   * the last pin is let go, so that thread never touches unmapped memory.
   *
   * @returns Lets the pin go (idempotent).
   */
  pin(): () => void {
    this.#pins++;
    let held = true;
    return () => {
      if (!held) return;
      held = false;
      if (--this.#pins === 0 && this.#deferred !== null) {
        const finish = this.#deferred;
        this.#deferred = null;
        finish();
      }
    };
  }

  /**
   * Calls `listener` once, just before the memory is released (before any
   * buffer is emptied): objects inside it end their waits then.
   *
   * @returns Unsubscribes.
   */
  onRelease(listener: () => void): () => void {
    this.#listeners.add(listener);
    return () => this.#listeners.delete(listener);
  }

  /** The current buffer; a fresh one if a caller moved the last one away. */
  #current(): ArrayBuffer {
    if (this.#released) throw new TypeError(`${this.#src.label} is no longer mapped`);
    if (this.#buffer.byteLength === 0) {
      // Detached, and not by us (we drop the mapping when we detach it): the
      // caller transferred it, so its memory may live on in another buffer.
      this.#escaped = true;
      this.#buffer = getBackend().arrayBufferAt(this.#src.pointer, this.#src.size);
      this.#bytes = undefined;
      this.#orphan.live++;
      collector.register(this.#buffer, this.#orphan, this.#orphan);
    }
    return this.#buffer;
  }

  /** The buffer, for handing out: refused on a read-only mapping. */
  #writable(what: string): ArrayBuffer {
    if (this.#src.readOnly) {
      throw new TypeError(
        `Cannot ${what}: ${this.#src.label} is ${this.#src.readOnlyReason}, and a write ` +
          `through it would crash the process; use read() for a copy`,
      );
    }
    const buf = this.#current();
    this.#exposed = true;
    return buf;
  }

  /** The memory as one zero-copy `ArrayBuffer` (the same object while mapped). */
  get buffer(): ArrayBuffer {
    return this.#writable("get the buffer");
  }

  /** `new Uint8Array(buffer)`, cached. */
  get bytes(): Uint8Array<ArrayBuffer> {
    const buf = this.#writable("get the bytes");
    return (this.#bytes ??= new Uint8Array(buf));
  }

  /** A typed-array view, bounds checked first (see `SharedMemory.view`). */
  view<T extends ArrayBufferView>(
    ctor: TypedArrayConstructor<T>,
    byteOffset = 0,
    length?: number,
  ): T {
    const bpe = (ctor as { BYTES_PER_ELEMENT?: unknown } | undefined)?.BYTES_PER_ELEMENT;
    if (typeof ctor !== "function" || typeof bpe !== "number" || !(bpe > 0)) {
      throw v.typeError("ctor", "a typed-array constructor such as Int32Array", ctor);
    }
    const size = this.#src.size;
    v.integer(byteOffset, "byteOffset", { min: 0, max: size, limit: "the size" });
    if (byteOffset % bpe !== 0) {
      throw v.rangeError("byteOffset", `a multiple of ${bpe} for ${ctor.name}`, byteOffset);
    }
    const fit = Math.floor((size - byteOffset) / bpe);
    const n = length === undefined ? fit : v.integer(length, "length", {
      min: 0,
      max: fit,
      limit: `the ${ctor.name} elements that fit after byte ${byteOffset} of ${size}`,
    });
    return new ctor(this.#writable("make a view"), byteOffset, n);
  }

  /** Copies `length` bytes from `offset` out (works read-only too). */
  read(offset = 0, length?: number): Uint8Array<ArrayBuffer> {
    const size = this.#src.size;
    v.integer(offset, "offset", { min: 0, max: size, limit: "the size" });
    const n = length === undefined ? size - offset : v.integer(length, "length", {
      min: 0,
      max: size - offset,
      limit: `the bytes after offset ${offset} of ${size}`,
    });
    // A transient view of our own buffer: never handed out, copied at once.
    return new Uint8Array(this.#current(), offset, n).slice();
  }

  /** Copies `data` in at `offset`; returns the byte count. */
  write(data: string | ArrayBuffer | ArrayBufferView, offset = 0): number {
    const bytes = v.bytes(data);
    const size = this.#src.size;
    v.integer(offset, "offset", {
      min: 0,
      max: size - bytes.byteLength,
      limit: `where ${bytes.byteLength} bytes fit in ${size}`,
    });
    if (this.#src.readOnly) this.#writable("write"); // throws the read-only error
    new Uint8Array(this.#current(), offset, bytes.byteLength).set(bytes);
    return bytes.byteLength;
  }

  /**
   * Takes the memory away from JavaScript, then unmaps it: every buffer and
   * view handed out becomes length 0 first; where that cannot be guaranteed
   * (an escaped buffer, a runtime that cannot detach), the anonymous
   * placeholder replaces the range instead. Idempotent.
   *
   * @throws {IpcError} If the kernel refuses (then the mapping stays usable).
   */
  release(): void {
    if (this.#released) return;
    for (const l of [...this.#listeners]) l();
    this.#listeners.clear();
    const src = this.#src;
    const buf = this.#buffer;
    // Our buffer is only ever detached here, so one found detached was moved
    // away by the caller (transfer, postMessage): its memory lives on elsewhere.
    const escaped = this.#escaped || buf.byteLength === 0;
    const neutered = buf.byteLength !== 0 && getBackend().detachArrayBuffer(buf);
    const clean = !escaped && (neutered || !this.#exposed);
    if (this.#pins > 0 && !escaped) {
      // Native code may still touch the range: JavaScript has lost it (or,
      // where buffers cannot be detached, keeps a view of memory that stays
      // mapped); the last unpin unmaps it, quietly — there is no caller left
      // to tell, and a failure only leaves the range mapped.
      this.#finish();
      this.#deferred = () => {
        if (clean) src.unmap();
        else if (placeholder(this.#address, src.length) === 0) {
          placeholders.register(buf, { address: this.#address, length: src.length });
        }
      };
      return;
    }
    if (clean) {
      // Nothing in JavaScript reaches this memory any more.
      this.#finish();
      const e = src.unmap();
      if (e !== 0) throw ipcError(src.releaseWhat, src.unmapCall, e, src.detail);
      return;
    }
    const e = placeholder(this.#address, src.length);
    if (e !== 0) throw ipcError(src.releaseWhat, "mmap", e, src.detail);
    this.#finish();
    // A stale buffer only we knew of now shows the placeholder: unmap it once
    // that buffer is collected. After an escape, keep the range mapped for good.
    if (!escaped && !neutered) {
      placeholders.register(buf, { address: this.#address, length: src.length });
    }
  }

  #finish(): void {
    this.#released = true;
    this.#orphan.done = true;
    collector.unregister(this.#orphan);
  }
}

/** How an owner of a mapping reaches its current one, and says why it has none. */
interface Host {
  current(): Mapping | null;
  unmapped(what: string): TypeError;
}

/** Owners of a mapping (a `SharedMemory`, a `PosixSharedMemory`). */
const hosts = new WeakMap<object, Host>();

/**
 * Registers `owner` as memory of this library: {@linkcode MappedMemory}'s
 * accessors and objects placed inside it (a semaphore) reach its mapping
 * through this, without a public accessor.
 *
 * @param owner The public object.
 * @param current Its live mapping, or `null` while it has none (detached, closed).
 * @param unmapped The TypeError for `what` ("get the buffer") while it has none.
 */
export function hostMapping(
  owner: object,
  current: () => Mapping | null,
  unmapped: (what: string) => TypeError,
): void {
  hosts.set(owner, { current, unmapped });
}

/**
 * The live mapping of a registered owner: `null` while it has none,
 * `undefined` if `owner` is not shared memory of this library.
 */
export function mappingOf(owner: unknown): Mapping | null | undefined {
  if (typeof owner !== "object" || owner === null) return undefined;
  return hosts.get(owner)?.current();
}

/** The live mapping of a registered owner, or the owner's TypeError saying why there is none. */
export function liveMapping(owner: object, what: string): Mapping {
  const host = hosts.get(owner);
  if (host === undefined) throw new TypeError(`Cannot ${what}: not shared memory of this library`);
  const m = host.current();
  if (m === null) throw host.unmapped(what);
  return m;
}

/**
 * The bound every size of memory to map shares: the most bytes this
 * runtime can wrap in one `ArrayBuffer` (see `Backend.maxBufferBytes`).
 *
 * @param max The bound from elsewhere (the kernel's), and where it comes from.
 */
export function mappableRange(
  max: number | bigint,
  limit: string,
): { max: number | bigint; limit: string } {
  const b = getBackend();
  // (Deno's bound is Number.MAX_SAFE_INTEGER: a JavaScript limit, not the runtime's.)
  if (b.maxBufferBytes < Number.MAX_SAFE_INTEGER && BigInt(b.maxBufferBytes) < BigInt(max)) {
    return { max: b.maxBufferBytes, limit: `the largest ArrayBuffer ${b.name} can map` };
  }
  return { max, limit };
}
