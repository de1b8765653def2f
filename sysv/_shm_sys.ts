/**
 * The libc symbols, constants and struct layout System V shared memory needs.
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";
import { readProcNumber } from "../_sys/procfs.ts";
import { IPC_PERM } from "./_ipc.ts";

/** `shmat(2)` flag: attach read-only (the pages are mapped `PROT_READ`). */
export const SHM_RDONLY = 0o10000;

/** `SHM_R`, `SHM_W`: the owner read/write bits, as `shmget` flags asking for that access. */
export const SHM_PERM = { R: 0o400, W: 0o200 } as const;

/** `shm_perm.mode` status bits the kernel sets beside the permission bits. */
export const SHM_MODE = {
  /** `SHM_DEST`: `IPC_RMID` was called; destroyed when the last process detaches. */
  DEST: 0o1000,
  /** `SHM_LOCKED`: `SHM_LOCK`ed into RAM. */
  LOCKED: 0o2000,
} as const;

/**
 * `struct shmid_ds` on 64-bit Linux with glibc, as measured with `offsetof()`
 * (`tests/interop/shm_layout.c` prints these and `tests/shm_test.ts` compares
 * them on every run). x86-64 and aarch64 share this layout: both use the
 * 64-bit generic `struct ipc64_perm` (32-bit `mode`) and 8-byte `size_t`,
 * `time_t` and `shmatt_t`. `sizeof` is 112.
 */
export const SHMID_DS = {
  BYTES: 112,
  ...IPC_PERM,
  SEGSZ: 48, // shm_segsz (size_t)
  ATIME: 56, // shm_atime (time_t, i64): last shmat
  DTIME: 64, // shm_dtime (time_t, i64): last shmdt
  CTIME: 72, // shm_ctime (time_t, i64): creation or last IPC_SET
  CPID: 80, // shm_cpid (pid_t, i32): creator
  LPID: 84, // shm_lpid (pid_t, i32): last shmat/shmdt
  NATTCH: 88, // shm_nattch (shmatt_t, u64): what `ipcs -m` shows as nattch
} as const;

export const sys = libc(
  {
    // int shmget(key_t key, size_t size, int shmflg);
    shmget: { parameters: ["i32", "usize", "i32"], result: "i32" },
    // void *shmat(int shmid, const void *shmaddr, int shmflg);
    shmat: { parameters: ["i32", "pointer", "i32"], result: "pointer" },
    // int shmdt(const void *shmaddr);
    shmdt: { parameters: ["pointer"], result: "i32" },
    // int shmctl(int shmid, int cmd, struct shmid_ds *buf);
    shmctl: { parameters: ["i32", "i32", "buffer"], result: "i32" },
  } as const,
);

/**
 * `SHMMAX`, the largest segment the kernel allows
 * (`/proc/sys/kernel/shmmax`), or `undefined` if unreadable.
 */
export function shmmax(): bigint | undefined {
  return readProcNumber("/proc/sys/kernel/shmmax");
}
