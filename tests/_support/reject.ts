/**
 * Assertions about how a promise or call fails, shared by the tests of every
 * family.
 *
 * @module
 */
import assert from "node:assert/strict";
import { IpcError } from "./lib.ts";

/**
 * Awaits `p` and asserts that it rejects with something `check` accepts.
 *
 * @param p The promise.
 * @param check Whether the rejection is the expected one.
 * @param message What is being checked, for the failure message.
 * @returns The rejection.
 */
export async function rejectsWith(
  p: Promise<unknown>,
  check: (e: unknown) => boolean,
  message: string,
): Promise<unknown> {
  try {
    await p;
  } catch (e) {
    assert.ok(check(e), `${message}: got ${e}`);
    return e;
  }
  assert.fail(`${message}: it resolved`);
}

/** Matches an `IpcError` with this `code` (`"EIDRM"`). */
export const isCode = (code: string) => (e: unknown): boolean =>
  e instanceof IpcError && e.code === code;

/** Matches a `DOMException` with this `name` (`"TimeoutError"`). */
export const isName = (name: string) => (e: unknown): boolean =>
  e instanceof DOMException && e.name === name;
