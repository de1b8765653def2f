/**
 * `SharedMemory`: a System V shared memory segment, attached and shown as a
 * zero-copy `ArrayBuffer`. The attachment is a revocable mapping
 * (`_mem/mapping.ts`): `detach()` empties every buffer and view handed out
 * before `shmdt`, and falls back to an anonymous placeholder mapping where a
 * buffer escaped or the runtime cannot detach one, so no read can ever touch
 * unmapped memory.
 *
 * @module
 */
import { getBackend } from "../_ffi/mod.ts";
import { errno } from "../_sys/errno.ts";
import { forgetOnExit, removeOnExit } from "../_sys/exit_cleanup.ts";
import * as v from "../_sys/validate.ts";
import { ipcError } from "../errors.ts";
import { hostMapping, MAP_FAILED, mappableRange, Mapping, pagesize } from "../_mem/mapping.ts";
import { MappedMemory } from "../_mem/memory.ts";
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
import { SHM_MODE, SHM_PERM, SHM_RDONLY, SHMID_DS, shmmax, sys } from "./_shm_sys.ts";

export type { TypedArrayConstructor } from "../_mem/mapping.ts";

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
  /**
   * Remove the segment when this process ends (`shmctl IPC_RMID`; processes
   * still attached keep it until they detach): when the process exits
   * normally — its event loop runs dry, `process.exit()`, `Deno.exit()` — or
   * is ended by `SIGINT`, `SIGTERM` or `SIGHUP`. A program that listens for
   * that signal itself (`process.on("SIGINT", …)`) has chosen to handle it,
   * so then nothing is removed and the process is left running; the segment
   * goes when it exits. `remove()` (or `removeById()`) before then cancels
   * this. `SIGKILL` and crashes cannot be caught: `sysipc reap` removes what
   * such a process left behind. With `exclusive: false`, this holds for an
   * existing object it opened too. Default `false`.
   */
  removeOnExit?: boolean;
}

/** Options for {@linkcode SharedMemory.open} and {@linkcode SharedMemory.fromId}. */
export interface SharedMemoryOpenOptions {
  /**
   * Attach read-only (`SHM_RDONLY`; needs only read permission). Such an
   * attachment offers `read()` copies, never a view: see {@linkcode SharedMemory.readOnly}.
   */
  readOnly?: boolean;
}

/**
 * What {@linkcode SharedMemory.stat} reports: `struct shmid_ds`, decoded —
 * the owner, creator and mode every System V object has, and the segment's
 * own size, attachments and times.
 */
export interface SharedMemoryStat extends IpcPermStat {
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
  /** `remove()` (or `ipcrm`) was called: destroyed when the last attachment goes (`ipcs` "dest"). */
  removed: boolean;
}

const INTERNAL: unique symbol = Symbol("SharedMemory.internal");

/** A size: at least 1 byte, at most the kernel's `shmmax` and what this runtime can map. */
function checkSize(size: unknown): number {
  return v.integer(size, "size", {
    min: 1,
    ...mappableRange(shmmax() ?? BigInt(Number.MAX_SAFE_INTEGER), "kernel.shmmax"),
  });
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
export class SharedMemory extends MappedMemory {
  #id: number;
  #key: number;
  #size: number;
  #readOnly: boolean;
  #map: Mapping | null = null;
  #removed = false;

  // create(), open() and fromId() make these; the check stops JavaScript callers too.
  private constructor(id: number, key: number, size: number, readOnly: boolean, internal?: symbol) {
    super();
    if (internal !== INTERNAL) {
      throw new TypeError(
        "SharedMemory is not constructed directly: use SharedMemory.create(), open() or fromId()",
      );
    }
    this.#id = id;
    this.#key = key;
    this.#size = size;
    this.#readOnly = readOnly;
    hostMapping(
      this,
      () => this.#map,
      (what) =>
        new TypeError(
          `Cannot ${what}: shared memory ${this.#describe()} is detached (call attach() first)`,
        ),
    );
  }

  /**
   * Creates a segment and attaches it read-write. The memory starts zeroed.
   * Requires `--allow-ffi`.
   *
   * @param options `size` (required), `key` (default `IPC_PRIVATE`), `mode`
   *   (default `0o600`), `exclusive` (default `true`), `removeOnExit`
   *   (default `false`: remove the segment when this process ends, see
   *   {@linkcode SharedMemoryCreateOptions.removeOnExit}).
   * @returns The attached segment.
   * @throws {TypeError} For options of the wrong type (a fractional or NaN
   *   size, a non-integer key or mode, a `removeOnExit` that is not a boolean).
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
   *
   * @example Gone when the process ends, even by Ctrl+C
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * using shm = SharedMemory.create({ size: 4096, removeOnExit: true });
   * console.log(shm.stat().removed); // false: removed at exit, or on SIGINT, SIGTERM, SIGHUP
   * ```
   */
  static create(options: SharedMemoryCreateOptions): SharedMemory {
    const o = v.options(options);
    const key = checkKey(o.key ?? IPC_PRIVATE);
    const size = checkSize(o.size);
    const mode = v.mode(o.mode);
    const exclusive = v.boolean(o.exclusive, "exclusive", true);
    const atExit = v.boolean(o.removeOnExit, "removeOnExit", false);
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
      if (atExit) removeAtExit(id);
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
      throw v.rangeError(
        "key",
        "a key other than IPC_PRIVATE, which names no segment (open a private segment by its id with SharedMemory.fromId())",
        k,
      );
    }
    const readOnly = v.boolean(v.options(options).readOnly, "readOnly", false);
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
    const i = checkIpcId(id);
    const readOnly = v.boolean(v.options(options).readOnly, "readOnly", false);
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

  /**
   * Marks a segment for destruction by id without attaching it
   * (`shmctl(IPC_RMID)`), as `ipcrm -m` does: the kernel frees it when the
   * last process detaches, and its key is free for a new segment at once.
   * Requires `--allow-ffi`.
   *
   * @param id The segment id (`shm.id`, or the `shmid` column of `ipcs -m`).
   * @throws {TypeError} If `id` is not an integer.
   * @throws {RangeError} If `id` is negative or above 2147483647.
   * @throws {IpcError} `EINVAL` if no segment has this id (or it is fully
   *   removed); `EPERM` if this process is neither owner nor creator.
   *
   * @example
   * ```ts
   * import { SharedMemory } from "@sysipc/sysipc/shm";
   * using shm = SharedMemory.create({ size: 64 });
   * SharedMemory.removeById(shm.id); // typically in another process
   * console.log(shm.stat().removed); // true: destroyed on the last detach
   * ```
   */
  static removeById(id: number): void {
    const i = checkIpcId(id);
    forgetOnExit(exitName(i));
    if (sys().shmctl(i, IPC.RMID, null) < 0) {
      throw ipcError("Cannot remove shared memory", "shmctl", errno(), `IPC_RMID, id ${i}`);
    }
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
    const s = sys();
    const pointer = s.shmat(this.#id, null, this.#readOnly ? SHM_RDONLY : 0);
    const address = b.pointerValue(pointer);
    if (address === MAP_FAILED || address === 0n) {
      throw ipcError("Cannot attach shared memory", "shmat", errno(), this.#describe());
    }
    const page = pagesize();
    const detail = this.#describe();
    this.#map = new Mapping({
      pointer,
      size: this.#size,
      length: Math.ceil(this.#size / page) * page,
      readOnly: this.#readOnly,
      unmap: () => s.shmdt(pointer) < 0 ? errno() : 0,
      unmapCall: "shmdt",
      label: `shared memory ${detail}`,
      releaseWhat: "Cannot detach shared memory",
      detail,
      readOnlyReason: "attached read-only (SHM_RDONLY)",
    });
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
    try {
      m.release();
    } finally {
      if (m.released) this.#map = null; // else the kernel refused: the attachment stays usable
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
    return {
      ...permOf(dv),
      size: Number(dv.getBigUint64(SHMID_DS.SEGSZ, true)),
      attachCount: Number(dv.getBigUint64(SHMID_DS.NATTCH, true)),
      creatorPid: dv.getInt32(SHMID_DS.CPID, true),
      lastPid: dv.getInt32(SHMID_DS.LPID, true),
      attachTime: timeOf(dv.getBigInt64(SHMID_DS.ATIME, true)),
      detachTime: timeOf(dv.getBigInt64(SHMID_DS.DTIME, true)),
      changeTime: timeOf(dv.getBigInt64(SHMID_DS.CTIME, true)),
      removed: (dv.getUint16(SHMID_DS.MODE, true) & SHM_MODE.DEST) !== 0,
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
    forgetOnExit(exitName(this.#id));
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

/** How a segment is registered for removal at exit (and named in a warning). */
function exitName(id: number): string {
  return `shared memory id ${id}`;
}

/** Registers the segment `id` for removal when the process ends. */
function removeAtExit(id: number): void {
  removeOnExit(
    exitName(id),
    "shmctl IPC_RMID",
    () => sys().shmctl(id, IPC.RMID, null) < 0 ? errno() : 0,
  );
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
