/**
 * IPC objects for the tests of the tools that look at them (introspection,
 * the `sysipc` command, `removeOnExit`): a child that makes one of each kind
 * (`fixtures/ipc_objects.ts`), their clean-up, and the POSIX queues of this
 * IPC namespace.
 *
 * @module
 */
import process from "node:process";
import { readdirSync } from "node:fs";
import { IpcError, listObjects, PosixMessageQueue, removeObject } from "./lib.ts";
import { type Proc, startFixture } from "./children.ts";

/** The ids and names the ipc_objects fixture printed. */
export interface Made {
  shm: number;
  detachedShm?: number;
  posixShm: string;
  posixSem: string;
  posixMq?: string;
  sem?: number;
  msg?: number;
}

/**
 * Starts the ipc_objects fixture: `hold` keeps every object in use, `leave`
 * lets go of them (see the fixture).
 */
export async function startObjects(mode: "hold" | "leave"): Promise<{ proc: Proc; made: Made }> {
  const proc = startFixture("ipc_objects.ts", [mode]);
  return { proc, made: await proc.stdout.json<Made>() };
}

/** Removes what is left of a fixture's objects. */
export function cleanUp(made: Made): void {
  for (const o of listObjects()) {
    const mine =
      ("id" in o && o.kind === "shm" && (o.id === made.shm || o.id === made.detachedShm)) ||
      ("name" in o && [made.posixShm, made.posixSem, made.posixMq].includes(o.name));
    if (mine) removeObject(o);
  }
}

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
