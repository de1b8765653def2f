/**
 * `IpcError`, the error every failed system call becomes, and the helpers
 * that make the library's other errors the web platform's way: a timeout is
 * a `DOMException` named `"TimeoutError"`, an abort rejects with
 * `signal.reason`.
 *
 * @module
 */
import { errnoName } from "./_sys/errno.ts";

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

/**
 * The rejection of a wait whose `timeout` ran out: a `DOMException` named
 * `"TimeoutError"`, as `AbortSignal.timeout()` gives.
 *
 * @param what Sentence-case description: `"Cannot acquire semaphore 0"`.
 * @param ms The timeout that passed.
 * @param where The call and object, for the message: `"semtimedop, id 5"`.
 */
export function timeoutError(what: string, ms: number, where: string): DOMException {
  return new DOMException(`${what}: timed out after ${ms} ms (${where})`, "TimeoutError");
}

/**
 * The rejection of a wait whose handle was disposed (or closed) while it
 * waited: a `DOMException` named `"AbortError"`.
 *
 * @param message What was let go of, and where.
 */
export function abortError(message: string): DOMException {
  return new DOMException(message, "AbortError");
}
