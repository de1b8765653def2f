/**
 * The system calls a channel makes: futex waits and wakes on words of the
 * shared memory (glibc has no `futex()` wrapper: `syscall(SYS_futex, …)`),
 * and a pidfd on the peer to notice it dying.
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";

export const sys = libc(
  {
    // long syscall(long number, ...);  as futex(uint32_t *uaddr, int op, uint32_t val,
    //   const struct timespec *timeout, uint32_t *uaddr2, uint32_t val3).
    // Variadic in C; glibc's syscall() is assembly that reads six integer
    // registers and no va_list, so fixed parameters reach it unchanged.
    futex_wake: {
      name: "syscall",
      parameters: ["i64", "u64", "i32", "i32", "pointer", "pointer", "i32"],
      result: "i64",
    },
    // The one call that blocks: on a thread of the library's own, which a
    // cancellation interrupts (EINTR); FUTEX_WAIT's timeout is relative.
    futex_wait: {
      name: "syscall",
      parameters: ["i64", "u64", "i32", "u32", "buffer", "pointer", "i32"],
      result: "i64",
      cancellable: true,
    },
    // int pidfd_open(pid_t pid, unsigned int flags);  (glibc ≥ 2.36; the fd is O_CLOEXEC)
    pidfd_open: { parameters: ["i32", "u32"], result: "i32" },
    // int fcntl(int fd, int cmd, ... /* long arg */);  (variadic: see pipe/_sys.ts)
    fcntl: { parameters: ["i32", "i32", "i64"], result: "i32" },
    // int close(int fd);
    close: { parameters: ["i32"], result: "i32" },
    // int sched_getaffinity(pid_t pid, size_t cpusetsize, cpu_set_t *mask);
    sched_getaffinity: { parameters: ["i32", "usize", "buffer"], result: "i32" },
    // pid_t getpid(void);
    getpid: { parameters: [], result: "i32" },
  } as const,
);

/**
 * The futex calls this process's channels made, for the benchmark's "system
 * calls per message" (internal; not exported by the package's modules).
 */
export const futexCalls = { wait: 0, wake: 0 };

/** futex(2) operations (shared: the words are in memory other processes map). */
export const FUTEX_WAIT = 0;
export const FUTEX_WAKE = 1;

let futexNumber: bigint | undefined;

/**
 * `SYS_futex` of the running architecture.
 *
 * @throws {Error} On an architecture the channel does not know.
 */
export function sysFutex(): bigint {
  if (futexNumber !== undefined) return futexNumber;
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const arch: string | undefined = g.Deno?.build?.arch ?? g.process?.arch;
  if (arch === "x86_64" || arch === "x64") futexNumber = 202n;
  else if (arch === "aarch64" || arch === "arm64") futexNumber = 98n;
  else throw new Error(`Channel does not know the futex system call number on ${arch}`);
  return futexNumber;
}
