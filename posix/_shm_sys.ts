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
export const MFD_CLOEXEC = 1;

/** `fcntl(2)` commands and the close-on-exec flag. */
export const F = { GETFD: 1, SETFD: 2, GETFL: 3 } as const;
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
