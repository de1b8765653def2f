/**
 * Lines on this process's stdin, for fixtures that wait for a test's
 * go-ahead: read lazily (a fixture that never asks leaves stdin alone), and
 * let go of once done, so that stdin keeps the process alive no longer.
 *
 * @module
 */
import process from "node:process";
import { createInterface, type Interface } from "node:readline";

let reader: Interface | undefined;
let lines: AsyncIterator<string> | undefined;

/** Waits for the next line on stdin (or its end). */
export async function stdinLine(): Promise<void> {
  if (reader === undefined) {
    reader = createInterface({ input: process.stdin });
    lines = reader[Symbol.asyncIterator]();
  }
  await lines!.next();
}

/** Stops reading stdin, if it was read at all. */
export function releaseStdin(): void {
  if (reader === undefined) return;
  reader.close();
  process.stdin.destroy();
}
