/**
 * `MappedMemory`: what every kind of shared memory of the library offers
 * once mapped — the zero-copy `buffer`, `bytes` and typed-array views, and
 * copying `read()`/`write()` — whatever it is (a System V segment, POSIX
 * named or anonymous memory) and however it lets go (`detach()`, `close()`,
 * `resize()`).
 *
 * @module
 */
import { liveMapping, type TypedArrayConstructor } from "./mapping.ts";

/**
 * Shared memory mapped into this process: a `SharedMemory` (System V) or a
 * `PosixSharedMemory`. Its bytes are one zero-copy `ArrayBuffer`; every
 * buffer and view handed out becomes length 0 when the handle lets go of the
 * memory (`detach()`, `close()`, `resize()`), so nothing can read unmapped
 * memory. A handle mapped read-only hands out copies (`read()`) and never a
 * buffer or view: a write through one would kill the process.
 *
 * Not constructed directly: `SharedMemory.create()`, `PosixSharedMemory.create()`
 * and their siblings make the subclasses. Requires `--allow-ffi`.
 *
 * @example Any shared memory, the same way
 * ```ts
 * import { type MappedMemory, PosixSharedMemory } from "@sysipc/sysipc";
 * function stamp(mem: MappedMemory): number {
 *   return mem.write(`stamped at ${Date.now()}\0`);
 * }
 * using mem = PosixSharedMemory.anonymous({ size: 64 });
 * console.log(stamp(mem) > 0); // true
 * ```
 */
export abstract class MappedMemory {
  /**
   * The memory as one zero-copy `ArrayBuffer` (the same object until the
   * handle lets go of the memory, which makes it length 0).
   *
   * @throws {TypeError} When unmapped (detached, closed), or when mapped read-only.
   */
  get buffer(): ArrayBuffer {
    return liveMapping(this, "get the buffer").buffer;
  }

  /**
   * `new Uint8Array(buffer)`: every byte, zero-copy (cached).
   *
   * @throws {TypeError} When unmapped, or when mapped read-only.
   */
  get bytes(): Uint8Array<ArrayBuffer> {
    return liveMapping(this, "get the bytes").bytes;
  }

  /**
   * A typed-array view, zero-copy, for any element type: like
   * `new ctor(buffer, byteOffset, length)`, with the bounds checked first.
   * It becomes length 0 when the handle lets go of the memory.
   *
   * @param ctor `Uint8Array`, `Int32Array`, `Float64Array`, `BigUint64Array`, …
   * @param byteOffset Where the view starts, a multiple of `ctor.BYTES_PER_ELEMENT` (default 0).
   * @param length Number of elements (default: as many as fit after `byteOffset`).
   * @returns The view.
   * @throws {TypeError} For a `ctor` that is not a typed-array constructor,
   *   non-integer arguments, when unmapped, or when mapped read-only.
   * @throws {RangeError} For a misaligned `byteOffset` or a view past the end.
   *
   * @example A counter and a text area in one block
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
    return liveMapping(this, "make a view").view(ctor, byteOffset, length);
  }

  /**
   * Copies bytes out. Works on read-only handles too.
   *
   * @param offset First byte (default 0).
   * @param length How many bytes (default: to the end).
   * @returns A new `Uint8Array` that does not share memory with the mapping.
   * @throws {TypeError} For non-integer arguments, or when unmapped.
   * @throws {RangeError} For a range outside the memory.
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
    return liveMapping(this, "read").read(offset, length);
  }

  /**
   * Copies bytes in (read-write handles only). A string is written as
   * UTF-8, without a terminating NUL (add `"\0"` for C readers).
   *
   * @param data What to write.
   * @param offset Where (default 0).
   * @returns The number of bytes written.
   * @throws {TypeError} For data of another type, a non-integer offset, when
   *   unmapped, or when mapped read-only.
   * @throws {RangeError} If the data would run past the end.
   *
   * @example
   * ```ts
   * import { PosixSharedMemory } from "@sysipc/sysipc/posix";
   * using mem = PosixSharedMemory.anonymous({ size: 16 });
   * console.log(mem.write("héllo\0", 4)); // 7
   * ```
   */
  write(data: string | ArrayBuffer | ArrayBufferView, offset = 0): number {
    return liveMapping(this, "write").write(data, offset);
  }
}
