/**
 * Internal: POSIX object names — the checks every POSIX family makes before
 * any call, the unique names `create()` picks when given none, and the house
 * error of a call on a named object.
 *
 * The kernel and glibc allow different lengths per family (measured with
 * glibc 2.36): a message queue or shared memory name is at most 255 bytes
 * after the `/` (`NAME_MAX`); a named semaphore's file in `/dev/shm` is
 * `sem.` + the name, so at most 251.
 *
 * @module
 */
import { errnoName } from "../_sys/errno.ts";
import * as v from "../_sys/validate.ts";
import { IpcError } from "../errors.ts";

/**
 * Checks a POSIX name: one leading `/`, no other `/`, 1 to `max` bytes of
 * UTF-8 after it, not `.` or `..`, no NUL.
 *
 * @param name The value to check.
 * @param max The longest name, in bytes after the `/`.
 * @param example A name to show in the message, e.g. `"/jobs"`.
 * @returns The name.
 * @throws {TypeError} Naming the parameter, the value and the rule.
 */
export function checkName(name: unknown, max = 255, example = "/jobs"): string {
  const allowed =
    `a name of one leading "/" and 1 to ${max} bytes without "/" or NUL, e.g. "${example}"`;
  if (typeof name !== "string") throw v.typeError("name", allowed, name);
  const rest = name.slice(1);
  const bytes = new TextEncoder().encode(rest).length;
  if (
    name[0] !== "/" || rest.includes("/") || rest.includes("\0") || bytes < 1 || bytes > max ||
    rest === "." || rest === ".."
  ) {
    throw v.typeError("name", allowed, name);
  }
  return name;
}

/**
 * A name no one has: `/sysipc_` and 16 random hex digits (as Python's
 * `posix_ipc` picks one when given none).
 */
export function uniqueName(): string {
  const r = crypto.getRandomValues(new Uint32Array(2));
  return `/sysipc_${[...r].map((x) => x.toString(16).padStart(8, "0")).join("")}`;
}

/**
 * `create()`'s name argument: `undefined` picks a unique name; anything else
 * must be a valid name (`null` is a TypeError, not "no name").
 */
export function nameOrUnique(name: unknown, max = 255, example = "/jobs"): string {
  return name === undefined ? uniqueName() : checkName(name, max, example);
}

/**
 * The house error of a call on the object `name`:
 * `Cannot open shared memory (shm_open, /data): ENOENT`.
 */
export function fail(what: string, syscall: string, e: number, name: string, note = ""): IpcError {
  return new IpcError(`${what} (${syscall}, ${name}): ${errnoName(e)}${note}`, e, syscall);
}
