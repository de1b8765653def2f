/**
 * What the cross-runtime tests share: the pinned runtimes and the Node
 * projects `scripts/test.ts interop` prepared (passed in the environment),
 * and the command that runs a repository script on any of them.
 *
 * @module
 */
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import type { Command } from "../../examples/_run.ts";
import { CHILD_PERMS } from "../_support/runtime.ts";

/** The repository root. */
export const root: string = fileURLToPath(new URL("../../", import.meta.url));

/**
 * An environment variable `scripts/test.ts interop` sets.
 *
 * @throws {Error} If it is not set (the tests were run some other way).
 */
export function required(name: string): string {
  const v = process.env[name];
  if (!v) {
    throw new Error(`${name} is not set: run these tests with \`deno task test:interop\``);
  }
  return v;
}
const nodeProject = required("SYSIPC_NODE_PROJECT");
const nodeFfiProject = required("SYSIPC_NODE_FFI_PROJECT");
/** The pinned Node 24 (koffi) and Node 26 (node:ffi). */
export const node: string = required("SYSIPC_NODE");
export const node26: string = required("SYSIPC_NODE26");
/** The pinned Bun. */
export const bun: string = required("SYSIPC_BUN");

/** A runtime a cross-runtime process runs on: `node` is Node 24 with koffi, `node26` Node 26 on `node:ffi`. */
export type Runtime = "deno" | "node" | "node26" | "bun";

/** How each runtime's version string starts. */
export const VERSION_PREFIX: Record<Runtime, string> = {
  deno: "deno ",
  node: "node ",
  node26: "node 26.",
  bun: "bun ",
};

/** The FFI each runtime's process calls libc through (its backend's name). */
export const FFI_PREFIX: Record<Runtime, string> = {
  deno: "Deno",
  node: "Node.js (koffi ",
  node26: "Node.js (node:ffi ",
  bun: "Bun ",
};

/**
 * The command that runs a repository script on a runtime: Deno and Bun run
 * the TypeScript source, Node the compiled twin in its project, where it
 * imports the installed npm package.
 */
export function on(runtime: Runtime, script: string, args: readonly string[] = []): Command {
  switch (runtime) {
    case "deno":
      return {
        command: process.execPath,
        args: ["run", "--quiet", ...CHILD_PERMS, join(root, script), ...args],
      };
    case "node":
      return {
        command: node,
        args: [join(nodeProject, script.replace(/\.ts$/, ".js")), ...args],
      };
    case "node26":
      return {
        command: node26,
        args: [join(nodeFfiProject, script.replace(/\.ts$/, ".js")), ...args],
      };
    case "bun":
      return { command: bun, args: [join(root, script), ...args] };
  }
}
