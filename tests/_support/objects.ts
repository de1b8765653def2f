/**
 * IPC objects for the tests of the tools that look at them: the POSIX queues
 * of this IPC namespace.
 *
 * @module
 */
import process from "node:process";
import { readdirSync } from "node:fs";
import { IpcError, PosixMessageQueue } from "./lib.ts";

/**
 * The POSIX queues of this IPC namespace: the mqueue file system the test
 * runner mounted (`SYSIPC_MQUEUE_DIR`), or `undefined` where it could not.
 */
export function queues(): string[] | undefined {
  const dir = process.env.SYSIPC_MQUEUE_DIR;
  return dir ? readdirSync(dir).map((n) => `/${n}`).sort() : undefined;
}

/** Whether a POSIX queue of this name exists (listed, or else opened). */
export function queueExists(name: string): boolean {
  const listed = queues();
  if (listed !== undefined) return listed.includes(name);
  try {
    PosixMessageQueue.open(name).close();
    return true;
  } catch (e) {
    if (e instanceof IpcError && e.code === "ENOENT") return false;
    throw e;
  }
}
