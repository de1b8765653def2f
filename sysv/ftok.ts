/**
 * `ftok()`: a System V IPC key from a path and a project id.
 *
 * @module
 */
import { cString, libc } from "../_ffi/mod.ts";
import { errno } from "../_sys/errno.ts";
import * as v from "../_sys/validate.ts";
import { ipcError } from "../errors.ts";

const F_OK = 0;

const sys = libc(
  {
    // key_t ftok(const char *pathname, int proj_id);
    ftok: { parameters: ["buffer", "i32"], result: "i32" },
    // int access(const char *pathname, int mode);
    access: { parameters: ["buffer", "i32"], result: "i32" },
  } as const,
);

/**
 * Derives a System V IPC key from an existing file and a project id, like
 * `ftok(3)`: processes that pass the same path and id get the same key, and
 * so find the same shared memory segment or semaphore set. The key mixes the
 * low 8 bits of `projectId` with the file's device and inode numbers, so the
 * file must exist (and stay the same file) while it is used as a rendezvous.
 * Requires `--allow-ffi`.
 *
 * @param path An existing file or directory (a string or a `file:` URL).
 * @param projectId 1–255 (`ftok(3)` uses only the low 8 bits, and 0 is invalid).
 * @returns The key, a signed 32-bit integer (`key_t`).
 * @throws {TypeError} For a path that is empty, not a string/file URL, or contains NUL,
 *   or a `projectId` that is not an integer.
 * @throws {RangeError} For a `projectId` outside 1–255.
 * @throws {IpcError} `ENOENT` if nothing is at `path`, `EACCES` if it cannot be reached.
 *
 * @example Two processes agree on a key
 * ```ts
 * import { ftok } from "@sysipc/sysipc/shm";
 * const path = Deno.makeTempFileSync();
 * const key = ftok(path, 1);
 * console.log(key === ftok(path, 1)); // true
 * console.log(`0x${(key >>> 0).toString(16)}`); // as `ipcs` shows it
 * Deno.removeSync(path);
 * ```
 */
export function ftok(path: string | URL, projectId: number): number {
  const p = v.path(path);
  v.integer(projectId, "projectId", {
    min: 1,
    max: 255,
    limit: "only its low 8 bits count, and 0 is invalid",
  });
  const c = cString(p);
  const key = sys().ftok(c, projectId);
  if (key === -1) {
    // -1 is also a possible (if unlikely) key: ftok fails only when stat(2)
    // does, so ask access(2), which resolves the path the same way.
    if (sys().access(c, F_OK) < 0) throw ipcError("Cannot make an IPC key", "ftok", errno(), p, p);
  }
  return key;
}
