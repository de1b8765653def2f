/**
 * errno: reading it right after a synchronous call, and the Linux errno
 * names and numbers.
 *
 * errno is thread-local: the value is only meaningful when read on the same
 * thread, immediately after the call, before any other libc call. Synchronous
 * FFI calls run on the JavaScript thread, whose errno slot never moves, so its
 * address is looked up once. After a `nonblocking` (off-thread) call errno is
 * lost; those paths decide from the return value and a synchronous follow-up.
 *
 * @module
 */
import { getBackend, libc, type Pointer } from "../_ffi/mod.ts";

const sys = libc(
  {
    // int *__errno_location(void);
    __errno_location: { parameters: [], result: "pointer" },
  } as const,
);

let slot: Int32Array | undefined;

/** The calling thread's current errno. */
export function errno(): number {
  if (slot === undefined) {
    // A 4-byte view over this thread's errno: reading it is then a plain
    // memory load, with no FFI call that could itself disturb errno. Each
    // Worker has its own copy of this module, so its own slot.
    const p: Pointer = sys().__errno_location();
    slot = new Int32Array(getBackend().arrayBufferAt(p, 4));
  }
  return slot[0];
}

/**
 * The errno of a non-blocking call that has just failed, for the
 * synchronous tries every wait starts with: a 0 — the value was lost,
 * something between the call and this read reset it — is reported as
 * `EAGAIN`. A failed call is then never taken for a success (for a
 * semaphore that would be a lock held by two processes at once): the caller
 * waits and tries again, and the blocking form, whose errno is read on its
 * own thread, reports any lasting error.
 */
export function failedErrno(): number {
  const e = errno();
  return e === 0 ? Errno.EAGAIN : e;
}

/**
 * Linux errno numbers to their symbolic names (asm-generic/errno-base.h and
 * errno.h; identical on x86-64 and aarch64). Aliases (EWOULDBLOCK = EAGAIN,
 * EDEADLOCK = EDEADLK, ENOTSUP = EOPNOTSUPP) are listed under the POSIX name
 * the number is usually reported as.
 */
export const ERRNO_NAMES: Readonly<Record<number, string>> = Object.freeze({
  1: "EPERM",
  2: "ENOENT",
  3: "ESRCH",
  4: "EINTR",
  5: "EIO",
  6: "ENXIO",
  7: "E2BIG",
  8: "ENOEXEC",
  9: "EBADF",
  10: "ECHILD",
  11: "EAGAIN",
  12: "ENOMEM",
  13: "EACCES",
  14: "EFAULT",
  15: "ENOTBLK",
  16: "EBUSY",
  17: "EEXIST",
  18: "EXDEV",
  19: "ENODEV",
  20: "ENOTDIR",
  21: "EISDIR",
  22: "EINVAL",
  23: "ENFILE",
  24: "EMFILE",
  25: "ENOTTY",
  26: "ETXTBSY",
  27: "EFBIG",
  28: "ENOSPC",
  29: "ESPIPE",
  30: "EROFS",
  31: "EMLINK",
  32: "EPIPE",
  33: "EDOM",
  34: "ERANGE",
  35: "EDEADLK",
  36: "ENAMETOOLONG",
  37: "ENOLCK",
  38: "ENOSYS",
  39: "ENOTEMPTY",
  40: "ELOOP",
  42: "ENOMSG",
  43: "EIDRM",
  44: "ECHRNG",
  45: "EL2NSYNC",
  46: "EL3HLT",
  47: "EL3RST",
  48: "ELNRNG",
  49: "EUNATCH",
  50: "ENOCSI",
  51: "EL2HLT",
  52: "EBADE",
  53: "EBADR",
  54: "EXFULL",
  55: "ENOANO",
  56: "EBADRQC",
  57: "EBADSLT",
  59: "EBFONT",
  60: "ENOSTR",
  61: "ENODATA",
  62: "ETIME",
  63: "ENOSR",
  64: "ENONET",
  65: "ENOPKG",
  66: "EREMOTE",
  67: "ENOLINK",
  68: "EADV",
  69: "ESRMNT",
  70: "ECOMM",
  71: "EPROTO",
  72: "EMULTIHOP",
  73: "EDOTDOT",
  74: "EBADMSG",
  75: "EOVERFLOW",
  76: "ENOTUNIQ",
  77: "EBADFD",
  78: "EREMCHG",
  79: "ELIBACC",
  80: "ELIBBAD",
  81: "ELIBSCN",
  82: "ELIBMAX",
  83: "ELIBEXEC",
  84: "EILSEQ",
  85: "ERESTART",
  86: "ESTRPIPE",
  87: "EUSERS",
  88: "ENOTSOCK",
  89: "EDESTADDRREQ",
  90: "EMSGSIZE",
  91: "EPROTOTYPE",
  92: "ENOPROTOOPT",
  93: "EPROTONOSUPPORT",
  94: "ESOCKTNOSUPPORT",
  95: "EOPNOTSUPP",
  96: "EPFNOSUPPORT",
  97: "EAFNOSUPPORT",
  98: "EADDRINUSE",
  99: "EADDRNOTAVAIL",
  100: "ENETDOWN",
  101: "ENETUNREACH",
  102: "ENETRESET",
  103: "ECONNABORTED",
  104: "ECONNRESET",
  105: "ENOBUFS",
  106: "EISCONN",
  107: "ENOTCONN",
  108: "ESHUTDOWN",
  109: "ETOOMANYREFS",
  110: "ETIMEDOUT",
  111: "ECONNREFUSED",
  112: "EHOSTDOWN",
  113: "EHOSTUNREACH",
  114: "EALREADY",
  115: "EINPROGRESS",
  116: "ESTALE",
  117: "EUCLEAN",
  118: "ENOTNAM",
  119: "ENAVAIL",
  120: "EISNAM",
  121: "EREMOTEIO",
  122: "EDQUOT",
  123: "ENOMEDIUM",
  124: "EMEDIUMTYPE",
  125: "ECANCELED",
  126: "ENOKEY",
  127: "EKEYEXPIRED",
  128: "EKEYREVOKED",
  129: "EKEYREJECTED",
  130: "EOWNERDEAD",
  131: "ENOTRECOVERABLE",
  132: "ERFKILL",
  133: "EHWPOISON",
});

/** Errno numbers the library branches on. */
export const Errno = {
  EPERM: 1,
  ENOENT: 2,
  ESRCH: 3,
  EINTR: 4,
  E2BIG: 7,
  ENXIO: 6,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EFAULT: 14,
  EEXIST: 17,
  EINVAL: 22,
  EMFILE: 24,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  ENOMSG: 42,
  ENOSPC: 28,
  EOVERFLOW: 75,
  EIDRM: 43,
  EMSGSIZE: 90,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
  ECANCELED: 125,
} as const;

/** The symbolic name of an errno number (`"E<number>"` when unknown). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}
