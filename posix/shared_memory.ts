/**
 * `PosixSharedMemory`: POSIX shared memory by name (`shm_open`, a file in
 * `/dev/shm`), anonymous shared memory (`memfd_create`) handed to children by
 * descriptor, and memory adopted from a descriptor — each mapped as a
 * revocable, zero-copy `ArrayBuffer` (`_mem/mapping.ts`): `close()` and
 * `resize()` empty every buffer and view handed out before the memory goes.
 *
 * @module
 */
import { cString } from "../_ffi/mod.ts";
import { Errno, errno, errnoName } from "../_sys/errno.ts";
import { forgetOnExit, removeOnExit } from "../_sys/exit_cleanup.ts";
import { fdStat, freeBytes, S_IFREG } from "../_sys/stat.ts";
import * as v from "../_sys/validate.ts";
import { IpcError } from "../errors.ts";
import {
  hostMapping,
  liveMapping,
  mappableRange,
  Mapping,
  mapShared,
  pagesize,
  unmapRange,
} from "../_mem/mapping.ts";
import { MappedMemory } from "../_mem/memory.ts";
import { checkName, fail, nameOrUnique } from "./_names.ts";
import { F, F_SEAL_SHRINK, FD_CLOEXEC, MFD, O, SHM_DIR, sys } from "./_shm_sys.ts";

/** Options for {@linkcode PosixSharedMemory.create}. */
export interface PosixSharedMemoryOptions {
  /** Size in bytes: at least 1, at most what `/dev/shm` has free. */
  size: number;
  /** Permission bits, default `0o600`. Applied exactly, not masked by the umask. */
  mode?: number;
  /**
   * Fail with `EEXIST` if the name exists (`O_EXCL`, the default). With
   * `false`, an existing object of at least `size` bytes is opened instead.
   */
  exclusive?: boolean;
  /**
   * Unlink the name when this process ends (`shm_unlink`; processes that have
   * it open keep the memory until they close it): when the process exits
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

/** Options for {@linkcode PosixSharedMemory.open}. */
export interface PosixSharedMemoryOpenOptions {
  /** Map it read-only (needs only read permission): `read()` copies, no views. */
  readOnly?: boolean;
}

/** Options for {@linkcode PosixSharedMemory.anonymous}. */
export interface AnonymousSharedMemoryOptions {
  /** Size in bytes, at least 1. */
  size: number;
}

const INTERNAL: unique symbol = Symbol("sysipc.posix_shm");
const SHM_DIR_C = cString(SHM_DIR);

/** Closes a forgotten handle's descriptor (its mapping has a collector of its own). */
const closer = new FinalizationRegistry<number>((fd) => {
  sys().close(fd);
});

function checkSize(size: unknown, name = "size"): number {
  return v.integer(size, name, {
    min: 1,
    ...mappableRange(Number.MAX_SAFE_INTEGER, "Number.MAX_SAFE_INTEGER"),
  });
}

/** Human bytes for messages: "64 MiB", "1.5 GiB", "512 bytes". */
function bytesText(n: number): string {
  const units = ["KiB", "MiB", "GiB", "TiB"];
  let x = n;
  let u = -1;
  while (x >= 1024 && u < units.length - 1) {
    x /= 1024;
    u++;
  }
  return u < 0 ? `${n} bytes` : `${Number(x.toFixed(1))} ${units[u]}`;
}

/**
 * Refuses to grow an object in `/dev/shm` by `more` bytes when the file
 * system has less free: the object would be created, but touching a page
 * past the free space kills the process with `SIGBUS`.
 */
function checkRoom(more: number, what: string, name: string): void {
  const free = freeBytes(SHM_DIR_C);
  if (free !== undefined && more > free) {
    throw new IpcError(
      `${what} (statvfs, ${name}): ENOSPC (${bytesText(more)} more would not fit: ` +
        `${SHM_DIR} has ${bytesText(free)} free, and touching a page past its free space ` +
        `would kill the process with SIGBUS)`,
      Errno.ENOSPC,
      "statvfs",
    );
  }
}

/** The size of the object behind `fd`, checked to be a file that can be mapped. */
function objectSize(fd: number, what: string, label: string): number {
  const st = fdStat(fd);
  if ("errno" in st) throw fail(what, "statx", st.errno, label);
  if (st.type !== S_IFREG) {
    throw new TypeError(`${what}: ${label} is not shared memory (not a regular file)`);
  }
  return st.size;
}

/**
 * POSIX shared memory: a named object in `/dev/shm` that C programs open with
 * `shm_open`, Python with `multiprocessing.shared_memory` and Boost with
 * `shared_memory_object` — or anonymous memory (`memfd_create`) handed to a
 * child by descriptor. Its memory is one zero-copy `ArrayBuffer`: what one
 * process writes into `bytes` or any `view()`, every other process mapping it
 * sees at once. There is no synchronisation: guard shared data with a
 * `PosixSemaphore` (which can live inside the memory, see
 * `PosixSemaphore.at`) or a `SemaphoreSet`.
 *
 * A named object lives until its name is unlinked and the last process has
 * closed it; `close()` (or `using`) releases this process's mapping and
 * descriptor, after making every buffer and view handed out length 0, so
 * nothing can read unmapped memory.
 *
 * **Never shrink an object someone maps.** Touching a page past the end of
 * the object kills a process with `SIGBUS`, in every process that maps it.
 * So `resize()` only grows, and sizes beyond the free space of `/dev/shm`
 * are refused before any page is touched. Anonymous memory is sealed
 * against shrinking, so no process it is handed to can truncate it. Another
 * program that truncates *named* memory (`ftruncate`, Python's
 * `os.ftruncate`) can still kill us: agree with your peers that the creator
 * sets the size once, or that sizes only grow. Requires `--allow-ffi`.
 *
 * @example Named memory and a second handle on it
 * ```ts
 * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
 * using mem = PosixSharedMemory.create({ size: 4096 }); // a unique name, mode 0o600
 * try {
 *   mem.view(Float64Array)[0] = 1.5;
 *   using other = PosixSharedMemory.open(mem.name!); // as another process would
 *   console.log(other.view(Float64Array)[0]); // 1.5
 * } finally {
 *   mem.unlink();
 * }
 * ```
 */
export class PosixSharedMemory extends MappedMemory {
  #fd: number;
  readonly #name: string | null;
  readonly #what: string;
  readonly #readOnly: boolean;
  #size: number;
  #map: Mapping | null;

  // The static factories make these; the check stops JavaScript callers too.
  private constructor(
    fd: number,
    name: string | null,
    size: number,
    readOnly: boolean,
    map: Mapping,
    internal?: symbol,
  ) {
    super();
    if (internal !== INTERNAL) {
      throw new TypeError(
        "PosixSharedMemory is not constructed directly: use PosixSharedMemory.create(), " +
          "open(), anonymous() or fromFd()",
      );
    }
    this.#fd = fd;
    this.#name = name;
    this.#what = `fd ${fd}`;
    this.#size = size;
    this.#readOnly = readOnly;
    this.#map = map;
    closer.register(this, fd, this);
    hostMapping(
      this,
      () => this.#map,
      (what) => new TypeError(`Cannot ${what}: shared memory ${this.#label()} is closed`),
    );
  }

  /** Maps `size` bytes of `fd` and wraps them; closes `fd` (and runs `undo`) if that fails. */
  static #adopt(
    fd: number,
    name: string | null,
    size: number,
    readOnly: boolean,
    what: string,
    undo?: () => void,
  ): PosixSharedMemory {
    const label = name ?? `fd ${fd}`;
    let map: Mapping;
    try {
      map = mapping(fd, size, readOnly, label, what);
    } catch (e) {
      sys().close(fd);
      undo?.();
      throw e;
    }
    return new PosixSharedMemory(fd, name, size, readOnly, map, INTERNAL);
  }

  /**
   * Creates named shared memory (`shm_open` with `O_CREAT | O_EXCL |
   * O_CLOEXEC`, `ftruncate`, `mmap`). The memory starts zeroed.
   *
   * @param name `/` and a name (`"/frames"`); `undefined` picks a unique one
   *   (read it back from {@linkcode PosixSharedMemory.name}). The options may
   *   also come first: `create({ size })`.
   * @param options `size` (required), `mode` (default `0o600`), `exclusive`
   *   (default true), `removeOnExit` (default false: unlink the name when
   *   this process ends, see {@linkcode PosixSharedMemoryOptions.removeOnExit}).
   * @returns The mapped memory, readable and writable.
   * @throws {TypeError} For a malformed name or options of the wrong type
   *   (a `removeOnExit` that is not a boolean, …).
   * @throws {RangeError} For a size below 1 or a mode outside `0`–`0o777`.
   * @throws {IpcError} `ENOSPC` (`syscall` `"statvfs"`) when `/dev/shm` has
   *   less free space than `size`, before anything is created; `EEXIST` if
   *   the name exists and `exclusive`; `EINVAL` if not `exclusive` and the
   *   existing object is smaller than `size`; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * using mem = PosixSharedMemory.create("/sysipc_doc_shm_create", { size: 100 });
   * console.log(mem.size, mem.bytes.length); // 100 100
   * mem.unlink(); // the memory lives on until every process has closed it
   * ```
   *
   * @example Gone when the process ends, even by Ctrl+C
   * ```ts
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * using mem = PosixSharedMemory.create({ size: 4096, removeOnExit: true });
   * console.log(mem.size); // 4096: unlinked at exit, or on SIGINT, SIGTERM, SIGHUP
   * ```
   */
  static create(
    name: string | undefined | PosixSharedMemoryOptions,
    options?: PosixSharedMemoryOptions,
  ): PosixSharedMemory {
    if (typeof name === "object" && name !== null && options === undefined) {
      return PosixSharedMemory.create(undefined, name);
    }
    const n = nameOrUnique(name, 255, "/frames");
    const o = v.options(options);
    const size = checkSize(o.size);
    const mode = v.mode(o.mode);
    const exclusive = v.boolean(o.exclusive, "exclusive", true);
    const atExit = v.boolean(o.removeOnExit, "removeOnExit", false);
    const what = "Cannot create shared memory";
    checkRoom(size, what, n);
    const c = cString(n);
    const s = sys();
    const fd = s.shm_open(c, O.RDWR | O.CREAT | O.EXCL | O.CLOEXEC, mode);
    if (fd < 0) {
      const e = errno();
      if (e !== Errno.EEXIST || exclusive) throw fail(what, "shm_open", e, n);
      const existing = PosixSharedMemory.open(n);
      if (existing.size < size) {
        const have = existing.size;
        existing.close();
        throw fail(
          what,
          "shm_open",
          Errno.EINVAL,
          n,
          ` (it exists with ${have} bytes, fewer than the ${size} asked for)`,
        );
      }
      if (atExit) removeAtExit(n);
      return existing;
    }
    const undo = () => s.shm_unlink(c);
    try {
      // Exactly `mode`, whatever the umask (as System V objects are made).
      if (s.fchmod(fd, mode) < 0) throw fail(what, "fchmod", errno(), n);
      if (s.ftruncate(fd, BigInt(size)) < 0) throw fail(what, "ftruncate", errno(), n);
    } catch (e) {
      s.close(fd);
      undo();
      throw e;
    }
    const mem = PosixSharedMemory.#adopt(fd, n, size, false, what, undo);
    if (atExit) removeAtExit(n);
    return mem;
  }

  /**
   * Opens named shared memory (`shm_open`) and maps all of it, at the size
   * the object has now (`fstat`).
   *
   * Python's `multiprocessing.shared_memory.SharedMemory` leaves the `/`
   * out of its names: `SharedMemory(name="psm_1f2e")` is `"/psm_1f2e"` here.
   *
   * @param name The object's name, e.g. `"/frames"`.
   * @param options `readOnly`: map it read-only (`read()` copies, no views).
   * @returns The mapped memory.
   * @throws {TypeError} For a malformed name or a non-boolean `readOnly`.
   * @throws {IpcError} `ENOENT` if no object has this name; `EACCES` without
   *   permission; `EINVAL` (`syscall` `"mmap"`) if it is empty — its creator
   *   has not set its size yet.
   *
   * @example
   * ```ts
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * using mem = PosixSharedMemory.create({ size: 16 });
   * try {
   *   mem.write("hi");
   *   using reader = PosixSharedMemory.open(mem.name!, { readOnly: true });
   *   console.log(reader.read(0, 2)); // Uint8Array(2) [ 104, 105 ]
   * } finally {
   *   mem.unlink();
   * }
   * ```
   */
  static open(name: string, options?: PosixSharedMemoryOpenOptions): PosixSharedMemory {
    const n = checkName(name, 255, "/frames");
    const readOnly = v.boolean(v.options(options).readOnly, "readOnly", false);
    const what = "Cannot open shared memory";
    const fd = sys().shm_open(cString(n), (readOnly ? O.RDONLY : O.RDWR) | O.CLOEXEC, 0);
    if (fd < 0) throw fail(what, "shm_open", errno(), n);
    let size: number;
    try {
      size = objectSize(fd, what, n);
    } catch (e) {
      sys().close(fd);
      throw e;
    }
    return PosixSharedMemory.#adopt(fd, n, size, readOnly, what);
  }

  /**
   * Creates anonymous shared memory (`memfd_create`, close-on-exec): no
   * name anywhere in the file system, gone once the last process holding
   * its descriptor or a mapping lets go. Hand it to a child with
   * `spawn(…, { fds: { 3: mem } })`; the child adopts it with
   * {@linkcode PosixSharedMemory.fromFd}.
   *
   * It is sealed against shrinking (`F_SEAL_SHRINK`): no process it is
   * handed to can truncate it under the others (which would kill every
   * process touching the lost pages with `SIGBUS`) — `ftruncate` to a
   * smaller size fails with `EPERM`. Growing (`resize()`) still works.
   *
   * @param options `size` (required), in bytes.
   * @returns The mapped memory, readable and writable; `name` is `null`.
   * @throws {TypeError | RangeError} For a size that is not an integer ≥ 1.
   * @throws {IpcError} `EMFILE` without a free descriptor; `ENOMEM`.
   *
   * @example
   * ```ts
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * using mem = PosixSharedMemory.anonymous({ size: 1 << 20 });
   * mem.view(Uint32Array)[0] = 7;
   * console.log(mem.name, mem.fd >= 0); // null true
   * ```
   */
  static anonymous(options: AnonymousSharedMemoryOptions): PosixSharedMemory {
    const size = checkSize(v.options(options).size);
    const what = "Cannot create anonymous shared memory";
    const s = sys();
    const fd = s.memfd_create(cString("sysipc"), MFD.CLOEXEC | MFD.ALLOW_SEALING);
    if (fd < 0) throw fail(what, "memfd_create", errno(), "memfd");
    let call = ""; // which call failed (a constant string: no allocation before errno is read)
    if (s.ftruncate(fd, BigInt(size)) < 0) call = "ftruncate";
    else if (s.fcntl(fd, F.ADD_SEALS, F_SEAL_SHRINK) < 0) call = "fcntl";
    if (call !== "") {
      const e = errno();
      s.close(fd);
      throw fail(what, call, e, `fd ${fd}`);
    }
    return PosixSharedMemory.#adopt(fd, null, size, false, what);
  }

  /**
   * Adopts shared memory by descriptor — what a parent handed over with
   * `spawn(…, { fds: { 3: mem } })`, or any descriptor of a `memfd` or a
   * file in `/dev/shm`. The handle owns the descriptor from now on (it is
   * closed by `close()`) and marks it close-on-exec, so it goes no further
   * unless handed on again. A descriptor opened read-only maps read-only.
   *
   * @param fd The descriptor.
   * @returns The mapped memory, at the object's current size; `name` is `null`.
   * @throws {TypeError} If `fd` is not an integer, or not a regular file (a pipe, a socket).
   * @throws {RangeError} If `fd` is negative.
   * @throws {IpcError} `EBADF` if it is not open; `EINVAL` (`"mmap"`) if the object is empty.
   *
   * @example The child's side
   * ```ts ignore
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * using mem = PosixSharedMemory.fromFd(3); // spawn(…, { fds: { 3: mem } }) in the parent
   * mem.write("from the child");
   * ```
   */
  static fromFd(fd: number): PosixSharedMemory {
    v.fd(fd);
    const what = "Cannot adopt shared memory";
    const label = `fd ${fd}`;
    const s = sys();
    const fl = s.fcntl(fd, F.GETFL, 0);
    if (fl < 0) throw fail(what, "fcntl", errno(), label);
    const size = objectSize(fd, what, label);
    if (s.fcntl(fd, F.SETFD, FD_CLOEXEC) < 0) throw fail(what, "fcntl", errno(), label);
    const readOnly = (fl & O.ACCMODE) === O.RDONLY;
    const map = mapping(fd, size, readOnly, label, what);
    return new PosixSharedMemory(fd, null, size, readOnly, map, INTERNAL);
  }

  /**
   * Removes a name from `/dev/shm` (`shm_unlink`): no one can open it any
   * more; the memory lives on until every process has closed it.
   *
   * @param name The object's name.
   * @throws {TypeError} For a malformed name.
   * @throws {IpcError} `ENOENT` if no object has this name; `EACCES` without permission.
   *
   * @example
   * ```ts
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * PosixSharedMemory.create("/sysipc_doc_shm_unlink", { size: 8 }).close();
   * PosixSharedMemory.unlink("/sysipc_doc_shm_unlink");
   * ```
   */
  static unlink(name: string): void {
    const n = checkName(name, 255, "/frames");
    forgetOnExit(exitName(n));
    if (sys().shm_unlink(cString(n)) < 0) {
      throw fail("Cannot unlink shared memory", "shm_unlink", errno(), n);
    }
  }

  /** The name (`"/frames"`), or `null` for anonymous or adopted memory. */
  get name(): string | null {
    return this.#name;
  }

  /** The descriptor (`-1` after `close()`). */
  get fd(): number {
    return this.#fd;
  }

  /** The bytes this handle maps (another handle may have grown the object since). */
  get size(): number {
    return this.#size;
  }

  /** Whether it is mapped read-only: `read()` copies, but no buffer or view is handed out. */
  get readOnly(): boolean {
    return this.#readOnly;
  }

  /** Whether `close()` has been called. */
  get closed(): boolean {
    return this.#map === null;
  }

  /** For messages: the name, or the descriptor it was made with (kept after close()). */
  #label(): string {
    return this.#name ?? this.#what;
  }

  /**
   * Grows the memory to `size` bytes and maps it anew: the old `buffer`,
   * `bytes` and views become length 0 (take new ones), and semaphores
   * placed inside the old mapping (`PosixSemaphore.at`) must be reached
   * anew. Growing is safe for every process mapping the object; shrinking
   * would kill those that touch the lost pages, so it is refused. If the
   * object is already at least `size` bytes (another handle grew it), it is
   * left as it is and only this handle's mapping grows.
   *
   * @param size The new size, at least the current one.
   * @throws {TypeError} For a non-integer, when closed or read-only.
   * @throws {RangeError} For a size smaller than {@linkcode PosixSharedMemory.size}.
   * @throws {IpcError} `ENOSPC` when `/dev/shm` has too little free space.
   *
   * @example
   * ```ts
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * using mem = PosixSharedMemory.anonymous({ size: 4096 });
   * const before = mem.bytes;
   * mem.resize(8192);
   * console.log(before.length, mem.bytes.length); // 0 8192
   * ```
   */
  resize(size: number): void {
    const old = liveMapping(this, "resize");
    if (this.#readOnly) {
      throw new TypeError(`Cannot resize: shared memory ${this.#label()} is mapped read-only`);
    }
    const n = v.integer(size, "size", {
      min: this.#size,
      max: Number.MAX_SAFE_INTEGER,
      limit: "the current size (shrinking would kill every process touching the lost pages)",
    });
    checkSize(n); // what this runtime can map
    if (n === this.#size) return;
    const what = "Cannot resize shared memory";
    const label = this.#label();
    const now = objectSize(this.#fd, what, label);
    if (now < n) {
      if (this.#name !== null) checkRoom(n - now, what, label);
      if (sys().ftruncate(this.#fd, BigInt(n)) < 0) throw fail(what, "ftruncate", errno(), label);
    }
    const map = mapping(this.#fd, n, false, label, what);
    try {
      old.release();
    } catch (e) {
      map.release();
      throw e;
    }
    this.#map = map;
    this.#size = n;
  }

  /**
   * Unmaps the memory — every buffer and view handed out becomes length 0
   * first — and closes the descriptor. A named object stays until
   * `unlink()`. Idempotent.
   *
   * @throws {IpcError} Only if the kernel refuses to unmap (then nothing changed).
   *
   * @example
   * ```ts
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * const mem = PosixSharedMemory.anonymous({ size: 64 });
   * const view = mem.view(Uint32Array);
   * mem.close();
   * console.log(view.length, mem.fd); // 0 -1
   * ```
   */
  close(): void {
    const m = this.#map;
    if (m === null) return;
    m.release();
    this.#map = null;
    closer.unregister(this);
    sys().close(this.#fd);
    this.#fd = -1;
  }

  /**
   * Removes this object's name (`shm_unlink`); works after `close()` too.
   *
   * @throws {TypeError} For anonymous or adopted memory, which has no name.
   * @throws {IpcError} `ENOENT` if the name is gone already.
   *
   * @example
   * ```ts
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * const mem = PosixSharedMemory.create({ size: 8 });
   * mem.close();
   * mem.unlink();
   * ```
   */
  unlink(): void {
    if (this.#name === null) {
      throw new TypeError(
        `Cannot unlink shared memory ${this.#label()}: it has no name (anonymous or adopted)`,
      );
    }
    PosixSharedMemory.unlink(this.#name);
  }

  /** Same as `close()`, for `using`. The name stays: `unlink()` is always explicit. */
  [Symbol.dispose](): void {
    this.close();
  }
}

/** How a name is registered for removal at exit (and named in a warning). */
function exitName(name: string): string {
  return `POSIX shared memory ${name}`;
}

/** Registers the name for `shm_unlink` when the process ends. */
function removeAtExit(name: string): void {
  const c = cString(name);
  removeOnExit(exitName(name), "shm_unlink", () => sys().shm_unlink(c) < 0 ? errno() : 0);
}

/** Maps `size` bytes of `fd` as a revocable {@linkcode Mapping}. */
function mapping(
  fd: number,
  size: number,
  readOnly: boolean,
  label: string,
  what: string,
): Mapping {
  if (size === 0) {
    throw new IpcError(
      `${what} (mmap, ${label}): EINVAL (the object is empty: its creator has not set its size yet)`,
      Errno.EINVAL,
      "mmap",
    );
  }
  const page = pagesize();
  const length = Math.ceil(size / page) * page;
  const r = mapShared(fd, length, readOnly);
  if ("errno" in r) {
    throw new IpcError(`${what} (mmap, ${label}): ${errnoName(r.errno)}`, r.errno, "mmap");
  }
  const pointer = r.pointer;
  return new Mapping({
    pointer,
    size,
    length,
    readOnly,
    unmap: () => unmapRange(pointer, length),
    unmapCall: "munmap",
    label: `shared memory ${label}`,
    releaseWhat: "Cannot unmap shared memory",
    detail: label,
    readOnlyReason: "mapped read-only",
  });
}
