/**
 * The test suite's runtime adapter: the one file that knows whether the
 * tests run on Deno, Node.js or Bun. Test files register tests with
 * {@linkcode test} (with `t.step` for lifecycles) and start child processes
 * of the same runtime with {@linkcode childArgv}; everything else they need
 * comes from `node:` built-ins, which all three runtimes provide.
 *
 * - Deno: `Deno.test`, with its sanitizers on (`deno test tests/`).
 * - Node.js: `node:test`, steps as subtests (`t.test`); the tests run
 *   compiled to JavaScript against the installed npm package
 *   (`deno task test:node`).
 * - Bun: `bun:test`, its native runner (`bun test`), with a per-test timeout
 *   long enough for the 1 GiB pipe test (Bun's default is 5 s); steps run in
 *   order inside the test and a failing one fails it, named. (Bun 1.4.5 also
 *   has a `node:test` layer over `bun:test`, subtests included; the native
 *   API is the one with the timeout.)
 *
 * On Node and Bun there are no sanitizers: the leak checks of `leaks.ts`
 * (descriptors, `ipcs`, zombies) do that job on every runtime.
 *
 * @module
 */
import process from "node:process";
import { mkdtempSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { fileURLToPath } from "node:url";

/** The runtimes the suite runs on. */
export type RuntimeName = "deno" | "node" | "bun";

// deno-lint-ignore no-explicit-any
const g = globalThis as any;

/** Which runtime runs this process. */
export const runtimeName: RuntimeName = typeof g.Deno?.version?.deno === "string"
  ? "deno"
  : typeof process.versions.bun === "string"
  ? "bun"
  : "node";

/** The runtime and its version, for messages: `"node 20.20.2"`. */
export const runtimeVersion: string = `${runtimeName} ${
  runtimeName === "deno" ? g.Deno.version.deno : (process.versions[runtimeName] ?? "?")
}`;

/** Whether this file runs compiled to JavaScript (the Node suite), not as TypeScript. */
export const compiled: boolean = import.meta.url.endsWith(".js");

/** What `t.step` offers, on every runtime. */
export interface TestContext {
  /** Runs one named part of a test; the test fails if the step does. */
  step(name: string, fn: () => void | Promise<void>): Promise<void>;
}

/** A test body. */
export type TestFn = (t: TestContext) => void | Promise<void>;

/** A test with options. */
export interface TestDefinition {
  name: string;
  fn: TestFn;
  /** Do not run it (the test says why in its name or a comment). */
  ignore?: boolean;
}

/** Per-test limit on Bun (its default is 5 s; Deno and Node have none). */
const BUN_TIMEOUT_MS = 10 * 60_000;

type Register = (def: TestDefinition) => void;

async function registrar(): Promise<Register> {
  if (runtimeName === "deno") {
    return ({ name, fn, ignore }) =>
      g.Deno.test({
        name,
        ignore: ignore ?? false,
        fn: (t: { step(name: string, fn: () => unknown): Promise<boolean> }) =>
          fn({ step: async (n, f) => void await t.step(n, f) }),
      });
  }
  if (runtimeName === "bun") {
    const spec = "bun:test"; // not a literal: Deno and tsc do not resolve it
    const bun = await import(spec);
    return ({ name, fn, ignore }) =>
      (ignore ? bun.test.skip : bun.test)(name, () =>
        fn({
          async step(n, f) {
            try {
              await f();
            } catch (e) {
              if (e instanceof Error) e.message = `step "${n}": ${e.message}`;
              throw e;
            }
          },
        }), BUN_TIMEOUT_MS);
  }
  const spec = "node:test";
  const nodeTest = await import(spec);
  return ({ name, fn, ignore }) =>
    nodeTest.test(
      name,
      { skip: ignore ?? false },
      (t: { test(name: string, fn: () => unknown): Promise<void> }) =>
        fn({ step: (n, f) => t.test(n, f) }),
    );
}

const register = await registrar();

/**
 * Registers a test: `Deno.test`, `node:test` or `bun:test`.
 *
 * @param nameOrDef The test's name, or a definition with `ignore`.
 * @param fn The body, when a name is given.
 */
export function test(nameOrDef: string | TestDefinition, fn?: TestFn): void {
  register(typeof nameOrDef === "string" ? { name: nameOrDef, fn: fn! } : nameOrDef);
}

/** Deno permissions for the children the tests start. */
export const CHILD_PERMS: readonly string[] = [
  "--allow-ffi",
  "--allow-read",
  "--allow-write",
  "--allow-run",
  "--allow-env",
];

/**
 * A script path for this runtime: the compiled `.js` twin of a `.ts` file
 * when the suite runs compiled.
 *
 * @param script The script's URL or path (as the TypeScript source names it).
 */
export function scriptPath(script: string | URL): string {
  const path = script instanceof URL ? fileURLToPath(script) : script;
  return compiled ? path.replace(/\.ts$/, ".js") : path;
}

/** Options for {@linkcode childArgv}. */
export interface ChildArgvOptions {
  /**
   * Expose `gc()` in the child (`node --expose-gc`, `deno --v8-flags=--expose-gc`;
   * Bun always has `Bun.gc()`).
   */
  exposeGc?: boolean;
}

/**
 * The command and arguments that run `script` in a new process of this
 * runtime: `deno run --quiet <perms> x.ts …`, `node x.js …`, `bun x.ts …`.
 *
 * @param script The script (a fixture or an example), as its `.ts` source.
 * @param args Its arguments.
 * @param options Runtime flags.
 * @returns `[command, args]`, for `spawn(command, { args })`.
 */
export function childArgv(
  script: string | URL,
  args: readonly string[] = [],
  options: ChildArgvOptions = {},
): [string, string[]] {
  const path = scriptPath(script);
  if (runtimeName === "deno") {
    const v8 = options.exposeGc ? ["--v8-flags=--expose-gc"] : [];
    return [process.execPath, ["run", "--quiet", ...v8, ...CHILD_PERMS, path, ...args]];
  }
  if (runtimeName === "node") {
    return [process.execPath, [...(options.exposeGc ? ["--expose-gc"] : []), path, ...args]];
  }
  return [process.execPath, [path, ...args]];
}

/**
 * Collects garbage now: `gc()` (a child started with `exposeGc`) or
 * `Bun.gc(true)`. Throws if neither is there.
 */
export function collectGarbage(): void {
  if (typeof g.gc === "function") g.gc();
  else if (typeof g.Bun?.gc === "function") g.Bun.gc(true);
  else throw new Error("no gc(): start this process with childArgv(…, { exposeGc: true })");
}

/**
 * A new temporary directory (`$TMPDIR/<prefix>XXXXXX`); the caller removes it
 * (`rmSync(dir, { recursive: true, force: true })`).
 *
 * @param prefix The name's start.
 */
export function tempDir(prefix = "sysipc_test_"): string {
  return mkdtempSync(join(tmpdir(), prefix));
}

/** This process's arguments after the script (`Deno.args` on Deno). */
export function scriptArgs(): string[] {
  return process.argv.slice(2);
}
