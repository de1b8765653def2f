/**
 * What every System V IPC object shares: the key (`key_t`), the `IPC_*`
 * constants of `<sys/ipc.h>`, the id, and `struct ipc_perm` at the start of
 * every `*id_ds` status structure.
 *
 * @module
 */
import * as v from "../_sys/validate.ts";

/**
 * The key that always creates a new, private object (`IPC_PRIVATE` from
 * `<sys/ipc.h>`). Other processes reach such an object by its id, not a key:
 * see `SharedMemory.fromId()` and `SemaphoreSet.fromId()`.
 *
 * @example
 * ```ts
 * import { IPC_PRIVATE, SharedMemory } from "@sysipc/sysipc/sysv";
 * using shm = SharedMemory.create({ key: IPC_PRIVATE, size: 4096 });
 * console.log(shm.key); // 0
 * shm.remove();
 * ```
 */
export const IPC_PRIVATE = 0;

/** `<sys/ipc.h>` constants (identical on x86-64 and aarch64 Linux). */
export const IPC = {
  CREAT: 0o1000,
  EXCL: 0o2000,
  NOWAIT: 0o4000,
  RMID: 0,
  SET: 1,
  STAT: 2,
  INFO: 3,
} as const;

/**
 * Validates a `key_t` (a signed 32-bit `int`) and normalizes it to its signed
 * form. The unsigned spelling `ipcs` prints (`0x8000_1234`) is accepted too.
 *
 * @param key The key.
 * @param name The parameter, for the message.
 * @returns The key as a signed 32-bit integer.
 * @throws {TypeError} If the key is not an integer.
 * @throws {RangeError} If the key does not fit in 32 bits.
 */
export function checkKey(key: unknown, name = "key"): number {
  return v.integer(key, name, { min: -0x8000_0000, max: 0xffff_ffff, limit: "key_t, 32 bits" }) |
    0;
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
 * @returns The id.
 * @throws {TypeError} If the id is not an integer.
 * @throws {RangeError} If it is negative or above 2147483647.
 */
export function checkIpcId(id: unknown): number {
  return v.integer(id, "id", { min: 0, max: 0x7fff_ffff });
}

/**
 * `struct ipc_perm` as glibc hands it out on 64-bit Linux, at offset 0 of
 * `shmid_ds`, `semid_ds` and `msqid_ds` (checked with `offsetof()` on
 * x86-64; aarch64 uses the same generic 64-bit layout). `mode` is read as 16
 * bits: x86-64's kernel field is an `unsigned short` followed by padding,
 * aarch64's an `unsigned int`; the low 16 bits are the same bytes on both.
 */
export const IPC_PERM = {
  KEY: 0, // __key (key_t, i32)
  UID: 4, // uid (u32)
  GID: 8, // gid (u32)
  CUID: 12, // cuid (u32)
  CGID: 16, // cgid (u32)
  MODE: 20, // mode (low 9 bits: permissions; above them, status bits such as SHM_DEST)
} as const;

/** What the `stat()` of every System V object reports about ownership and access. */
export interface IpcPermStat {
  /** The key (0 for `IPC_PRIVATE`, and for a removed shared memory segment). */
  key: number;
  /** Permission bits (`0o600`, …). */
  mode: number;
  /** Owner's user id. */
  uid: number;
  /** Owner's group id. */
  gid: number;
  /** Creator's user id. */
  creatorUid: number;
  /** Creator's group id. */
  creatorGid: number;
}

/** Decodes the `struct ipc_perm` at the start of a status structure. */
export function permOf(dv: DataView): IpcPermStat {
  return {
    key: dv.getInt32(IPC_PERM.KEY, true),
    mode: dv.getUint16(IPC_PERM.MODE, true) & 0o777,
    uid: dv.getUint32(IPC_PERM.UID, true),
    gid: dv.getUint32(IPC_PERM.GID, true),
    creatorUid: dv.getUint32(IPC_PERM.CUID, true),
    creatorGid: dv.getUint32(IPC_PERM.CGID, true),
  };
}

/** A `time_t` in seconds as a `Date`, `null` for 0 (never). */
export function timeOf(seconds: bigint): Date | null {
  return seconds === 0n ? null : new Date(Number(seconds) * 1000);
}
