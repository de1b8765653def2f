/**
 * System V IPC keys: `IPC_PRIVATE` and the checks every key goes through.
 *
 * @module
 */

/**
 * The key that always creates a new, private segment (`IPC_PRIVATE` from
 * `<sys/ipc.h>`). Other processes reach such a segment by its id, not a key:
 * see `SharedMemory.fromId()`.
 *
 * @example
 * ```ts
 * import { IPC_PRIVATE, SharedMemory } from "@sysipc/sysipc/shm";
 * using shm = SharedMemory.create({ key: IPC_PRIVATE, size: 4096 });
 * console.log(shm.key); // 0
 * shm.remove();
 * ```
 */
export const IPC_PRIVATE = 0;

/**
 * Validates a `key_t` (a signed 32-bit `int`) and normalizes it to its signed
 * form. The unsigned spelling `ipcs` prints (`0x8000_1234`) is accepted too.
 *
 * @param key The key.
 * @returns The key as a signed 32-bit integer.
 * @throws {TypeError} If the key is not an integer.
 * @throws {RangeError} If the key does not fit in 32 bits.
 */
export function checkKey(key: unknown): number {
  if (typeof key !== "number" || !Number.isInteger(key)) {
    throw new TypeError(`A System V key must be a 32-bit integer, got ${String(key)}`);
  }
  if (key < -0x8000_0000 || key > 0xffff_ffff) {
    throw new RangeError(`A System V key must fit in 32 bits (key_t), got ${key}`);
  }
  return key | 0;
}

/**
 * A key in the form `ipcs` prints it, for messages: `0x1f2e`.
 *
 * @param key A key.
 */
export function keyHex(key: number): string {
  return `0x${(key >>> 0).toString(16)}`;
}

/**
 * Validates a System V IPC id (what `shmget`/`semget` return and `ipcs`
 * lists): a non-negative 32-bit `int`.
 *
 * @param id The id.
 * @param what What it identifies, for the message: `"shared memory"`, `"semaphore set"`.
 * @returns The id.
 * @throws {TypeError} If the id is not an integer.
 * @throws {RangeError} If it is negative or above 2147483647.
 */
export function checkIpcId(id: unknown, what: string): number {
  if (typeof id !== "number" || !Number.isInteger(id)) {
    throw new TypeError(`A ${what} id must be an integer, got ${String(id)}`);
  }
  if (id < 0 || id > 0x7fff_ffff) {
    throw new RangeError(`A ${what} id must be between 0 and 2147483647, got ${id}`);
  }
  return id;
}
