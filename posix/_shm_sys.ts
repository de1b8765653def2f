/**
 * The libc symbols and constants POSIX shared memory needs (`shm_open`,
 * `memfd_create`; in glibc's libc.so.6 since 2.34, no `-lrt`).
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";

/** `open(2)` flags (x86-64 and aarch64 Linux). */
export const O = {
  RDONLY: 0,
  RDWR: 2,
  ACCMODE: 3,
  CREAT: 0o100,
  EXCL: 0o200,
  CLOEXEC: 0o2000000,
} as const;

/** `memfd_create(2)` flags. */
export const MFD = { CLOEXEC: 1, ALLOW_SEALING: 2 } as const;

/** `fcntl(2)` commands (`F_ADD_SEALS` = `F_LINUX_SPECIFIC_BASE` + 9) and the close-on-exec flag. */
export const F = { GETFD: 1, SETFD: 2, GETFL: 3, ADD_SEALS: 1033, GET_SEALS: 1034 } as const;

/** The memfd seal that forbids shrinking (`F_SEAL_SHRINK`): growing stays allowed. */
export const F_SEAL_SHRINK = 0x2;
/** The descriptor flag `F_SETFD` sets. */
export const FD_CLOEXEC = 1;

/** Where glibc keeps POSIX shared memory and named semaphores. */
export const SHM_DIR = "/dev/shm";

export const sys = libc(
  {
    // int shm_open(const char *name, int oflag, mode_t mode);
    shm_open: { parameters: ["buffer", "i32", "u32"], result: "i32" },
    // int shm_unlink(const char *name);
    shm_unlink: { parameters: ["buffer"], result: "i32" },
    // int memfd_create(const char *name, unsigned int flags);  (glibc ≥ 2.27)
    memfd_create: { parameters: ["buffer", "u32"], result: "i32" },
    // int ftruncate(int fd, off_t length);
    ftruncate: { parameters: ["i32", "i64"], result: "i32" },
    // int fchmod(int fd, mode_t mode);
    fchmod: { parameters: ["i32", "u32"], result: "i32" },
    // int fcntl(int fd, int cmd, ... /* int arg */);
    fcntl: { parameters: ["i32", "i32", "i32"], result: "i32" },
    // int close(int fd);
    close: { parameters: ["i32"], result: "i32" },
  } as const,
);
