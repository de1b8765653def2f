/**
 * The libc symbols, constants and struct layout `shm/` needs.
 *
 * @module
 */
import { libc, readProcNumber } from "../_ffi/mod.ts";

/** `<sys/ipc.h>` and `<sys/shm.h>` constants (identical on x86-64 and aarch64 Linux). */
export const IPC = {
  CREAT: 0o1000,
  EXCL: 0o2000,
  RMID: 0,
  STAT: 2,
} as const;

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

/** `mmap(2)` protections and flags for the anonymous placeholder mapping. */
export const MMAP = {
  PROT_READ: 0x1,
  PROT_WRITE: 0x2,
  MAP_PRIVATE: 0x02,
  MAP_FIXED: 0x10,
  MAP_ANONYMOUS: 0x20,
} as const;

/** `sysconf(3)` name for the page size (`_SC_PAGESIZE`; 30 on every Linux ABI). */
export const SC_PAGESIZE = 30;

/**
 * `struct shmid_ds` on 64-bit Linux with glibc, as measured with `offsetof()`
 * (`tests/interop/shm_layout.c` prints these and `tests/shm_test.ts` compares
 * them on every run). x86-64 and aarch64 share this layout: both use the
 * 64-bit generic `struct ipc64_perm` (32-bit `mode`) and 8-byte `size_t`,
 * `time_t` and `shmatt_t`. `sizeof` is 112.
 */
export const SHMID_DS = {
  BYTES: 112,
  KEY: 0, // shm_perm.__key (key_t, i32)
  UID: 4, // shm_perm.uid (u32)
  GID: 8, // shm_perm.gid (u32)
  CUID: 12, // shm_perm.cuid (u32)
  CGID: 16, // shm_perm.cgid (u32)
  MODE: 20, // shm_perm.mode (read as u16: permission bits, SHM_DEST, SHM_LOCKED)
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
    // void *mmap(void *addr, size_t length, int prot, int flags, int fd, off_t offset);
    mmap: { parameters: ["pointer", "usize", "i32", "i32", "i32", "i64"], result: "pointer" },
    // int munmap(void *addr, size_t length);
    munmap: { parameters: ["pointer", "usize"], result: "i32" },
    // long sysconf(int name);
    sysconf: { parameters: ["i32"], result: "i64" },
  } as const,
);

/** `(void *) -1`, what `shmat` and `mmap` return on failure. */
export const MAP_FAILED = 0xffff_ffff_ffff_ffffn;

let pageSize: number | undefined;

/** The system page size: an attachment maps `size` rounded up to it. */
export function pagesize(): number {
  if (pageSize === undefined) {
    const n = Number(sys().sysconf(SC_PAGESIZE));
    pageSize = n > 0 ? n : 4096;
  }
  return pageSize;
}

/**
 * `SHMMAX`, the largest segment the kernel allows
 * (`/proc/sys/kernel/shmmax`), or `undefined` if unreadable.
 */
export function shmmax(): bigint | undefined {
  return readProcNumber("/proc/sys/kernel/shmmax");
}

/**
 * Internal switches for the tests. Not exported from `shm/mod.ts`.
 *
 * `pretendBuffersCannotDetach` makes `detach()` behave as on a runtime whose
 * backend cannot detach an `ArrayBuffer` (Node 20 with koffi): it maps
 * anonymous memory over the segment instead of calling `shmdt`, so the stale
 * buffer stays readable (zeros) and unmaps that placeholder once the buffer
 * is collected. On Deno this is only for exercising that path: a Deno user
 * could still `transfer()` the stale buffer, which a real non-detaching
 * runtime cannot.
 */
export const testHooks = { pretendBuffersCannotDetach: false };
