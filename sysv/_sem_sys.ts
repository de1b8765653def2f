/**
 * The libc symbols, constants, struct layouts and kernel limits `sem/` needs.
 *
 * @module
 */
import { libc } from "../_ffi/mod.ts";
import { IPC_PERM } from "./_ipc.ts";

/** `semctl(2)` commands used here. */
export const SEMCTL = {
  GETPID: 11,
  GETVAL: 12,
  GETALL: 13,
  GETNCNT: 14,
  GETZCNT: 15,
  SETVAL: 16,
  SETALL: 17,
} as const;

/** `semctl(2)` command: the kernel's limits (`struct seminfo`). */
const IPC_INFO = 3;

/** `sem_flg` bit: undo this operation when the process exits. */
export const SEM_UNDO = 0x1000;

/** The largest value a semaphore can hold (`SEMVMX`, fixed in the kernel). */
export const SEMVMX = 32767;

/**
 * `struct sembuf { unsigned short sem_num; short sem_op; short sem_flg; }`:
 * 6 bytes, three 16-bit fields, on every Linux ABI. Built as an `Int16Array`
 * of 3 × nsops (a `sem_num` below 32768 has the same bits either way; SEMMSL
 * cannot exceed 32000).
 */
export const SEMBUF_SHORTS = 3;

/**
 * `struct semid_ds` as glibc hands it to `semctl(IPC_STAT)` on 64-bit Linux,
 * checked with `offsetof()` on x86-64 (glibc 2.36). `sem_perm` (`struct
 * ipc_perm`, 48 bytes) is laid out alike on x86-64 and aarch64; what follows
 * it is not:
 *
 * - x86-64 keeps x32-compatible padding after each time
 *   (`arch/x86/include/uapi/asm/sembuf.h`): `sem_otime` 48, `__unused1` 56,
 *   `sem_ctime` 64, `__unused2` 72, `sem_nsems` 80; 104 bytes.
 * - aarch64 (and riscv64, loongarch64) use `asm-generic/sembuf.h`, which for
 *   64-bit longs has no padding: `sem_otime` 48, `sem_ctime` 56,
 *   `sem_nsems` 64; 88 bytes. glibc's 64-bit `struct semid_ds` matches the
 *   kernel's `semid64_ds` there, so `semctl` copies it through unchanged.
 *
 * `sem_perm.mode` is read as 16 bits: x86-64's kernel field is an
 * `unsigned short` followed by padding, aarch64's an `unsigned int`; the low
 * 16 bits (little-endian) are the same bytes on both.
 */
export interface SemidDsLayout {
  /** Bytes to allocate (the larger layout's size, so either fits). */
  readonly BYTES: number;
  readonly KEY: number; // sem_perm.__key (key_t, i32)
  readonly UID: number; // sem_perm.uid (u32)
  readonly GID: number; // sem_perm.gid (u32)
  readonly CUID: number; // sem_perm.cuid (u32)
  readonly CGID: number; // sem_perm.cgid (u32)
  readonly MODE: number; // sem_perm.mode (low 9 bits: permissions)
  readonly OTIME: number; // sem_otime (time_t, i64): last semop, 0 if none
  readonly CTIME: number; // sem_ctime (time_t, i64): creation or last semctl change
  readonly NSEMS: number; // sem_nsems (unsigned long)
}

/** x86-64 (measured here with `offsetof()`). */
export const SEMID_DS_X86_64: SemidDsLayout = {
  BYTES: 104,
  ...IPC_PERM,
  OTIME: 48,
  CTIME: 64,
  NSEMS: 80,
};

/** aarch64, riscv64, loongarch64: `asm-generic/sembuf.h` with 64-bit longs. */
export const SEMID_DS_GENERIC_64: SemidDsLayout = {
  BYTES: 104, // 88 used; allocate as much as x86-64 so a mistaken guess cannot overflow
  ...IPC_PERM,
  OTIME: 48,
  CTIME: 56,
  NSEMS: 64,
};

/**
 * The CPU architecture, asked the way `_ffi/runtime.ts` asks for the OS
 * (Deno: `"x86_64"`/`"aarch64"`, Node and Bun: `"x64"`/`"arm64"`).
 */
function arch(): string | undefined {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  return g.Deno?.build?.arch ?? g.process?.arch;
}

let layout: SemidDsLayout | undefined;

/** The `struct semid_ds` layout of the running architecture. */
export function semidDs(): SemidDsLayout {
  if (layout) return layout;
  const a = arch();
  layout = a === "x86_64" || a === "x64" ? SEMID_DS_X86_64 : SEMID_DS_GENERIC_64;
  return layout;
}

export const sys = libc(
  {
    // int semget(key_t key, int nsems, int semflg);
    semget: { parameters: ["i32", "i32", "i32"], result: "i32" },
    // int semop(int semid, struct sembuf *sops, size_t nsops);
    semop: { parameters: ["i32", "buffer", "usize"], result: "i32" },
    // int semtimedop(int semid, struct sembuf *sops, size_t nsops,
    //                const struct timespec *timeout);
    // The one call that blocks: on a thread of the library's own, where a
    // signal interrupts it (EINTR) and its errno is read (`cancellable`).
    // `struct timespec` is two 64-bit fields on both ABIs; NULL: no limit.
    semtimedop_wait: {
      name: "semtimedop",
      parameters: ["i32", "buffer", "usize", "buffer"],
      result: "i32",
      cancellable: true,
    },
    // The same call made on the calling thread, for `acquireSync()` and
    // `opSync()`: it blocks that thread, as it would in C.
    semtimedop: { parameters: ["i32", "buffer", "usize", "buffer"], result: "i32" },
    // int semctl(int semid, int semnum, int cmd, ... /* union semun arg */);
    //
    // Variadic in C; bound twice with a fixed fourth parameter of pointer
    // size. `union semun { int val; struct semid_ds *buf; unsigned short
    // *array; struct seminfo *__buf; }` is 8 bytes of INTEGER class, so both
    // the x86-64 SysV ABI and aarch64 Linux (AAPCS64; unlike Apple's arm64
    // ABI, Linux passes variadic arguments exactly like named ones) pass it
    // by value in the fourth integer register, rcx / x3 — the very register
    // a fixed 64-bit integer or pointer parameter uses. glibc reads it with
    // `va_arg(ap, union semun)`: for SETVAL its `int val` is the low 32 bits
    // of that register on these little-endian ABIs; GETVAL, GETNCNT, GETZCNT,
    // GETPID and IPC_RMID ignore it. The x86-64 variadic convention also has
    // the caller put the number of vector registers used in %al, which a
    // fixed prototype leaves unset; a callee may only use %al to decide
    // whether to spill xmm0–7, and glibc 2.36's semctl does not read it at all
    // (its prologue spills rcx alone: `objdump -d libc.so.6 --disassemble=semctl`).
    semctl: { parameters: ["i32", "i32", "i32", "i64"], result: "i32" },
    // The same call with a pointer: `struct semid_ds *` (IPC_STAT),
    // `unsigned short *` (SETALL, GETALL), `struct seminfo *` (IPC_INFO).
    semctl_buf: { name: "semctl", parameters: ["i32", "i32", "i32", "buffer"], result: "i32" },
    // int nanosleep(const struct timespec *req, struct timespec *rem);
    // A short synchronous pause while a just-created set is being initialised.
    nanosleep: { parameters: ["buffer", "buffer"], result: "i32" },
  } as const,
);

/** Kernel limits on semaphore sets, from `semctl(IPC_INFO)` (`struct seminfo`). */
export interface SemLimits {
  /** SEMMSL: most semaphores in one set (32000 by default). */
  readonly semmsl: number;
  /** SEMOPM: most operations in one `semop` call (500 by default). */
  readonly semopm: number;
  /** SEMVMX: the largest semaphore value (32767). */
  readonly semvmx: number;
}

let limitsCache: SemLimits | undefined;

/**
 * The kernel's limits. `struct seminfo` is ten `int`s on every ABI
 * (`semmap, semmni, semmns, semmnu, semmsl, semopm, semume, semusz, semvmx,
 * semaem`), so no layout question arises; it reflects `/proc/sys/kernel/sem`.
 * Falls back to the kernel defaults if the call fails.
 */
export function limits(): SemLimits {
  if (limitsCache) return limitsCache;
  const info = new Int32Array(10);
  const ok = sys().semctl_buf(0, 0, IPC_INFO, info) >= 0;
  limitsCache = ok && info[4] > 0
    ? { semmsl: info[4], semopm: info[5], semvmx: info[8] > 0 ? info[8] : SEMVMX }
    : { semmsl: 32000, semopm: 500, semvmx: SEMVMX };
  return limitsCache;
}
