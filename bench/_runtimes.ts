/**
 * The runtimes a benchmark measures the library on — Deno (the one running
 * the orchestrator), Node and Bun — and how to start a role script on each.
 *
 * - Deno and Bun import the library's `.ts` source (`mod.ts`).
 * - Node 20 runs no TypeScript: it imports the library compiled by the
 *   pinned TypeScript compiler into a temporary directory, with the npm
 *   package's compiler settings (so a concurrent `deno task build:npm`
 *   cannot change it under the benchmark) and `node_modules` linked to
 *   `tools/node_modules` for koffi — or a build given with
 *   `--node-lib PATH/esm/mod.js` (e.g. `npm/esm/mod.js`).
 *
 * A runtime that is missing gives rows that say why ("skipped: bun not
 * installed") instead of failing the run.
 *
 * @module
 */
import { join } from "node:path";
import { compileLibrary } from "../scripts/_compile.ts";

/** A runtime name as `--runtimes` takes it. */
export type RuntimeName = "deno" | "node" | "bun";
/** Every runtime, in table order. */
export const RUNTIMES: readonly RuntimeName[] = ["deno", "node", "bun"];
/** Display names. */
export const LABEL: Record<RuntimeName, string> = { deno: "Deno", node: "Node", bun: "Bun" };

/** Deno's permissions for a role process (and for its Deno children). */
export const PERMS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-run", "--allow-env"];

const ROOT = new URL("../", import.meta.url).pathname;

/** A runtime ready to run role scripts, or the reason it is not. */
export type Runtime =
  | {
    name: RuntimeName;
    ok: true;
    /** e.g. "node v20.20.2 (koffi 3.3.4)". */
    version: string;
    /** The library entry module the role script imports (`--lib`). */
    lib: string;
    /** The argv that runs `script` with `args` on this runtime. */
    argv(script: string, args: string[]): string[];
  }
  | { name: RuntimeName; ok: false; skipped: string };

/** Options naming the runtimes (all optional). */
export interface RuntimeOptions {
  /** Which runtimes to measure (default all). */
  runtimes: readonly RuntimeName[];
  /** The `node` executable (default: `node` on PATH). */
  node?: string;
  /** The `bun` executable (default: `bun` on PATH, then `tools/node_modules/.bin/bun`). */
  bun?: string;
  /** A built npm package's `esm/mod.js` for Node (default: a private build). */
  nodeLib?: string;
}

/** Parses `--runtimes deno,node,bun`. */
export function parseRuntimes(s: string | undefined): RuntimeName[] {
  if (s === undefined || s === "" || s === "all") return [...RUNTIMES];
  const out: RuntimeName[] = [];
  for (const part of s.split(",").map((x) => x.trim().toLowerCase()).filter(Boolean)) {
    if (!(RUNTIMES as readonly string[]).includes(part)) {
      throw new RangeError(`Unknown runtime ${part}: --runtimes takes deno, node, bun`);
    }
    if (!out.includes(part as RuntimeName)) out.push(part as RuntimeName);
  }
  return out;
}

async function isExecutable(p: string): Promise<boolean> {
  try {
    const st = await Deno.stat(p);
    return st.isFile && ((st.mode ?? 0o111) & 0o111) !== 0;
  } catch {
    return false;
  }
}

/** An executable by name on PATH, then in `tools/node_modules/.bin/`. */
async function findExecutable(name: string): Promise<string | undefined> {
  const dirs = (Deno.env.get("PATH") ?? "").split(":").filter(Boolean);
  dirs.push(join(ROOT, "tools/node_modules/.bin"));
  for (const d of dirs) {
    const p = join(d, name);
    if (await isExecutable(p)) return p;
  }
  return undefined;
}

async function output(cmd: string, args: string[], cwd?: string): Promise<string> {
  const out = await new Deno.Command(cmd, {
    args,
    cwd,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  })
    .output();
  const text = new TextDecoder().decode(out.stdout).trim();
  if (!out.success) {
    const err = new TextDecoder().decode(out.stderr).trim() || text;
    const line = err.split("\n").find((l) => /error/i.test(l)) ?? err.split("\n")[0];
    throw new Error(
      `${cmd.split("/").at(-1)} ${args.join(" ")} failed (exit ${out.code}): ${line}`,
    );
  }
  return text;
}

/** What {@linkcode prepareRuntimes} gives: the runtimes and a cleanup for the private build. */
export interface Prepared {
  runtimes: Record<RuntimeName, Runtime>;
  cleanup(): void;
}

/**
 * Compiles the library (`scripts/_compile.ts`, as the npm build does, but
 * transpile only) into `dir/esm/` and makes koffi resolvable from there.
 * Returns the entry.
 */
async function compileLibraryFor(dir: string): Promise<string> {
  await compileLibrary(dir, false);
  await Deno.writeTextFile(join(dir, "package.json"), '{ "type": "module" }\n');
  await Deno.symlink(join(ROOT, "tools/node_modules"), join(dir, "node_modules")); // koffi
  return join(dir, "esm/mod.js");
}

/** Finds node and bun, builds the library for Node, and describes each wanted runtime. */
export async function prepareRuntimes(
  o: RuntimeOptions,
  log: (s: string) => void,
): Promise<Prepared> {
  const temps: string[] = [];
  const runtimes = {} as Record<RuntimeName, Runtime>;
  const notWanted = (name: RuntimeName): Runtime => ({
    name,
    ok: false,
    skipped: "not selected (--runtimes)",
  });
  for (const name of RUNTIMES) runtimes[name] = notWanted(name);

  if (o.runtimes.includes("deno")) {
    runtimes.deno = {
      name: "deno",
      ok: true,
      version: `deno ${Deno.version.deno}`,
      lib: join(ROOT, "mod.ts"),
      argv: (script, args) => [Deno.execPath(), "run", ...PERMS, script, ...args],
    };
  }

  if (o.runtimes.includes("bun")) {
    const exe = o.bun ?? await findExecutable("bun");
    if (exe === undefined || !(await isExecutable(exe))) {
      runtimes.bun = { name: "bun", ok: false, skipped: "skipped: bun not installed" };
    } else {
      try {
        const v = await output(exe, ["--version"]);
        runtimes.bun = {
          name: "bun",
          ok: true,
          version: `bun ${v}`,
          lib: join(ROOT, "mod.ts"),
          argv: (script, args) => [exe, script, ...args],
        };
      } catch (e) {
        runtimes.bun = { name: "bun", ok: false, skipped: `skipped: ${(e as Error).message}` };
      }
    }
  }

  if (o.runtimes.includes("node")) {
    const exe = o.node ?? await findExecutable("node");
    if (exe === undefined || !(await isExecutable(exe))) {
      runtimes.node = { name: "node", ok: false, skipped: "skipped: node not installed" };
    } else {
      try {
        const v = await output(exe, ["--version"]);
        let lib = o.nodeLib;
        if (lib === undefined) {
          if (!(await isExecutable(join(ROOT, "tools/node_modules/.bin/tsc")))) {
            throw new Error("no TypeScript compiler to build for Node (npm ci --prefix tools)");
          }
          const tmp = await Deno.makeTempDir({ prefix: "sysipc-bench-npm-" });
          temps.push(tmp);
          log(`compiling the library for Node into ${tmp}/esm …`);
          lib = await compileLibraryFor(tmp);
        }
        const koffi = await output(exe, [
          "-e",
          "const r = require('node:module').createRequire(process.argv[1]);" +
          "console.log(r('koffi').version)",
          lib,
        ]).catch(() => undefined);
        if (koffi === undefined) {
          throw new Error(
            `koffi not installed where ${lib} can require it (npm ci --prefix tools)`,
          );
        }
        runtimes.node = {
          name: "node",
          ok: true,
          version: `node ${v} (koffi ${koffi})`,
          lib,
          argv: (script, args) => [exe, script, ...args],
        };
      } catch (e) {
        runtimes.node = { name: "node", ok: false, skipped: `skipped: ${(e as Error).message}` };
      }
    }
  }

  return {
    runtimes,
    cleanup() {
      for (const t of temps.splice(0)) {
        try {
          Deno.removeSync(t, { recursive: true });
        } catch {
          // already gone
        }
      }
    },
  };
}
