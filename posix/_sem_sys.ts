/**
 * The libc symbols and constants POSIX semaphores need (`<semaphore.h>`; in
 * glibc's libc.so.6 since 2.34, no `-lpthread`). A `sem_t *` travels as a
 * 64-bit address (`u64`): the same on every backend, cheap on the hot path,
 * and what the off-thread pool can pass to a blocking call.
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";

/** `sizeof(sem_t)` on 64-bit Linux, and the alignment its 64-bit counter needs. */
export const SEM_T = { BYTES: 32, ALIGN: 8 } as const;

/** The largest value a semaphore holds (`SEM_VALUE_MAX`). */
export const SEM_VALUE_MAX = 0x7fff_ffff;

/** `clock_gettime(2)`'s monotonic clock, which `sem_clockwait` can measure against. */
export const CLOCK_MONOTONIC = 1;

export const sys = libc(
  {
    // sem_t *sem_open(const char *name, int oflag, ... /* mode_t mode, unsigned int value */);
    // Variadic in C, bound with both optional arguments fixed (they travel in
    // the same registers either way on x86-64 and aarch64 Linux; glibc reads
    // them only with O_CREAT). SEM_FAILED is NULL.
    sem_open: { parameters: ["buffer", "i32", "u32", "u32"], result: "pointer" },
    // int sem_close(sem_t *sem);
    sem_close: { parameters: ["u64"], result: "i32" },
    // int sem_unlink(const char *name);
    sem_unlink: { parameters: ["buffer"], result: "i32" },
    // int sem_init(sem_t *sem, int pshared, unsigned int value);
    sem_init: { parameters: ["u64", "i32", "u32"], result: "i32" },
    // int sem_trywait(sem_t *sem);
    sem_trywait: { parameters: ["u64"], result: "i32" },
    // int sem_post(sem_t *sem);
    sem_post: { parameters: ["u64"], result: "i32" },
    // int sem_getvalue(sem_t *restrict sem, int *restrict sval);
    sem_getvalue: { parameters: ["u64", "buffer"], result: "i32" },
    // int chmod(const char *pathname, mode_t mode);  (the exact mode, past the umask)
    chmod: { parameters: ["buffer", "u32"], result: "i32" },
    // int clock_gettime(clockid_t clockid, struct timespec *tp);
    clock_gettime: { parameters: ["i32", "buffer"], result: "i32" },
    // int sem_clockwait(sem_t *sem, clockid_t clockid, const struct timespec *abstime);
    // The call that blocks (glibc ≥ 2.30): on a thread of the library's own,
    // where a signal interrupts it (EINTR; sem_wait is never restarted) and
    // its errno is read (`cancellable`). `struct timespec` is two 64-bit fields.
    sem_clockwait_block: {
      name: "sem_clockwait",
      parameters: ["u64", "i32", "buffer"],
      result: "i32",
      cancellable: true,
    },
    // int sem_wait(sem_t *sem);  — the same, without a deadline.
    sem_wait_block: { name: "sem_wait", parameters: ["u64"], result: "i32", cancellable: true },
    // The same two on the calling thread, for `acquireSync()`: they block
    // that thread, as they would in C.
    sem_clockwait: { parameters: ["u64", "i32", "buffer"], result: "i32" },
    sem_wait: { parameters: ["u64"], result: "i32" },
  } as const,
);
