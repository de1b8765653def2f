/**
 * `IpcError` and the Linux errno-name table.
 *
 * @module
 */

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
  ENXIO: 6,
  EBADF: 9,
  ECHILD: 10,
  EAGAIN: 11,
  ENOMEM: 12,
  EACCES: 13,
  EEXIST: 17,
  EINVAL: 22,
  EPIPE: 32,
  ERANGE: 34,
  ENOSYS: 38,
  EIDRM: 43,
  EOPNOTSUPP: 95,
  ETIMEDOUT: 110,
  ECANCELED: 125,
} as const;

/** The symbolic name of an errno number (`"E<number>"` when unknown). */
export function errnoName(errno: number): string {
  return ERRNO_NAMES[errno] ?? `E${errno}`;
}

/** Extra detail an {@linkcode IpcError} can carry. */
export interface IpcErrorOptions {
  /** The file path involved, if any. */
  path?: string;
  /** The underlying cause, if any. */
  cause?: unknown;
}

/**
 * An operating-system error from an IPC call, shaped like Node's system
 * errors: `code` is the errno name (`"EPIPE"`, `"EEXIST"`, …), `errno` the
 * number, `syscall` the failing call, `path` the file involved if any.
 *
 * @example Telling a missing FIFO from other failures
 * ```ts ignore
 * import { IpcError, openFifo } from "@sysipc/sysipc";
 * try {
 *   await openFifo("/tmp/does-not-exist", "read");
 * } catch (e) {
 *   if (e instanceof IpcError && e.code === "ENOENT") console.log("no such FIFO");
 *   else throw e;
 * }
 * ```
 */
export class IpcError extends Error {
  /** The errno name, e.g. `"EPIPE"`. */
  readonly code: string;
  /** The errno number. */
  readonly errno: number;
  /** The system call that failed, e.g. `"write"`. */
  readonly syscall: string;
  /** The path involved, if any. */
  readonly path?: string;

  /**
   * Makes an error for a failed system call. The library builds these for
   * you; construct one yourself only to report a failure the same way.
   *
   * @param message A sentence naming what failed, ending in the code.
   * @param errno The errno number.
   * @param syscall The failing system call.
   * @param options The path involved and an optional cause.
   */
  constructor(
    message: string,
    errno: number,
    syscall: string,
    options: IpcErrorOptions = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = "IpcError";
    this.errno = errno;
    this.code = errnoName(errno);
    this.syscall = syscall;
    if (options.path !== undefined) this.path = options.path;
  }
}

/**
 * Builds the house-style error: `"<what> (<syscall>, <detail>): <CODE>"`.
 *
 * @param what Sentence-case description, e.g. `"Cannot open FIFO"`.
 * @param syscall The failing call.
 * @param errno The errno number.
 * @param detail Path, key or fd to name in the message.
 * @param path The path, recorded on the error.
 */
export function ipcError(
  what: string,
  syscall: string,
  errno: number,
  detail?: string,
  path?: string,
): IpcError {
  const where = detail ? `${syscall}, ${detail}` : syscall;
  return new IpcError(`${what} (${where}): ${errnoName(errno)}`, errno, syscall, { path });
}
