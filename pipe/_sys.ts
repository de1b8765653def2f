/**
 * The libc symbols `pipe/` needs.
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";

/** fcntl(2) commands and flags used here. */
export const F = {
  GETFD: 1,
  GETFL: 3,
  SETFL: 4,
  DUPFD_CLOEXEC: 1030,
  SETPIPE_SZ: 1031,
  GETPIPE_SZ: 1032,
} as const;

/** `O_CLOEXEC`. */
export const O_CLOEXEC = 0o2000000;
/** `RWF_NOWAIT`: this one read or write must not block (Linux ≥ 4.14; pipes ≥ 5.x). */
export const RWF_NOWAIT = 0x8;

export const sys = libc(
  {
    // int pipe2(int pipefd[2], int flags);
    pipe2: { parameters: ["buffer", "i32"], result: "i32" },
    // int close(int fd);
    close: { parameters: ["i32"], result: "i32" },
    // The four ssize_t results below are read as 32 bits (the low half of the
    // same register on x86-64 and aarch64): Linux moves at most 0x7ffff000
    // bytes per call (MAX_RW_COUNT), so the value is exact, and a small
    // integer needs no allocation between the call and the read of errno
    // (Deno returns an `isize` as a BigInt, and an allocation can let the
    // runtime overwrite errno before we read it).
    // ssize_t preadv2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags);
    preadv2: { parameters: ["i32", "buffer", "i32", "i64", "i32"], result: "i32" },
    // ssize_t pwritev2(int fd, const struct iovec *iov, int iovcnt, off_t offset, int flags);
    pwritev2: { parameters: ["i32", "buffer", "i32", "i64", "i32"], result: "i32" },
    // ssize_t read(int fd, void *buf, size_t count);
    read: { parameters: ["i32", "buffer", "usize"], result: "i32" },
    // ssize_t write(int fd, const void *buf, size_t count);
    write: { parameters: ["i32", "buffer", "usize"], result: "i32" },
    // int fcntl(int fd, int cmd, ... /* long arg */);
    // Variadic in C. Every command used here takes one integer argument, which
    // both x86-64 SysV and aarch64 Linux pass in the same register as a fixed
    // third parameter (x86-64 variadic callees only read %al to decide whether
    // to spill vector registers, which is harmless), so a fixed
    // (int, int, long) prototype is correct on both.
    fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
  } as const,
);
