/**
 * The little the examples need from the runtime, written once for Deno,
 * Node.js and Bun: their command-line arguments, whether a file is the
 * program's entry point, and the command that runs a script again in a new
 * process of the same runtime (the seed's `fork()` + `exec()` of itself).
 * Everything else comes from the library or from `node:` built-ins, which
 * all three runtimes have.
 *
 * @module
 */
import process from "node:process";
import { realpathSync } from "node:fs";
import { fileURLToPath } from "node:url";

/** A program and its arguments, as `spawn(command, { args })` takes them. */
export interface Command {
  command: string;
  args: string[];
}

/** The arguments after the script: `deno run x.ts a b`, `node x.js a b`, `bun x.ts a b` all give `["a", "b"]`. */
export const args: string[] = process.argv.slice(2);

/**
 * Whether the module whose `import.meta` this is was run as the program
 * (`import.meta.main` on Deno and Bun; compared with `process.argv[1]` on
 * Node.js, which has no `import.meta.main` before version 24).
 *
 * @param meta The caller's `import.meta`.
 */
export function isMain(meta: ImportMeta): boolean {
  const main = (meta as { main?: unknown }).main;
  if (typeof main === "boolean") return main;
  const entry = process.argv[1];
  if (entry === undefined) return false;
  try {
    return realpathSync(entry) === realpathSync(fileURLToPath(meta.url));
  } catch {
    return false;
  }
}

const isDeno = typeof (globalThis as { Deno?: unknown }).Deno === "object";

/**
 * The command that runs `script` in a new process of this runtime:
 * `deno run --quiet <permissions> script …`, `node script …` or
 * `bun script …`. Where the examples run compiled to JavaScript (from the
 * npm package), a `.ts` name means its `.js` twin.
 *
 * @param script The script, usually `import.meta.url` (the caller itself).
 * @param scriptArgs Its arguments.
 * @param denoPermissions The child's permissions on Deno (default `--allow-ffi`).
 * @returns The command, for `spawn(command, { args })`.
 */
export function selfCommand(
  script: string | URL,
  scriptArgs: readonly string[],
  denoPermissions: readonly string[] = ["--allow-ffi"],
): Command {
  let path = script instanceof URL || script.startsWith("file:") ? fileURLToPath(script) : script;
  if (import.meta.url.endsWith(".js")) path = path.replace(/\.ts$/, ".js");
  return isDeno
    ? {
      command: process.execPath,
      args: ["run", "--quiet", ...denoPermissions, path, ...scriptArgs],
    }
    : { command: process.execPath, args: [path, ...scriptArgs] };
}
