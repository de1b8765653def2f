/**
 * Picks the runtime backend and loads libc lazily, on first use.
 *
 * The choice is made on the first call that needs native code, never at
 * import: Deno (`Deno.dlopen`), then Bun (`bun:ffi`), then Node.js: koffi
 * where it is installed, else Node's own `node:ffi` (Node.js ≥ 26). koffi
 * comes first because it is stable and `node:ffi` is experimental (it
 * warns when loaded; see node_ffi.ts); they cost the same per call. The Bun
 * and Node backends load `bun:ffi`, koffi and `node:ffi` only when chosen,
 * through `process.getBuiltinModule`, so no other runtime ever tries to
 * resolve them.
 *
 * @module
 */
import type { Backend, Bound, SymbolTable } from "./types.ts";
import { denoBackend } from "./deno.ts";
import { bunBackend } from "./bun.ts";
import { findKoffi, nodeBackend } from "./node.ts";
import { loadNodeFfi, nodeFfiBackend } from "./node_ffi.ts";

let backend: Backend | undefined;

/** The default C library; override with the `SYSIPC_LIBC` environment variable. */
export const DEFAULT_LIBC = "libc.so.6";

/**
 * An environment variable on any runtime, or `undefined` when it is unset or
 * cannot be read (Deno without `--allow-env`).
 *
 * @param name The variable.
 */
export function envVar(name: string): string | undefined {
  try {
    // deno-lint-ignore no-explicit-any
    const g = globalThis as any;
    if (g.Deno?.env) return g.Deno.env.get(name);
    return g.process?.env?.[name];
  } catch {
    return undefined; // no --allow-env: use the default
  }
}

function platformProblem(): string | undefined {
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  const os = g.Deno?.build?.os ?? g.process?.platform;
  if (os !== undefined && os !== "linux") {
    return `sysipc works on Linux only (this is ${os}).`;
  }
  return undefined;
}

/**
 * The backend for the running runtime. Throws a clear `Error` when there is
 * none: a runtime without FFI, or a non-Linux OS.
 */
export function getBackend(): Backend {
  if (backend) return backend;
  const problem = platformProblem();
  if (problem) throw new Error(problem);
  // deno-lint-ignore no-explicit-any
  const g = globalThis as any;
  if (typeof g.Deno?.dlopen === "function") {
    backend = denoBackend();
  } else if (g.process?.versions?.bun !== undefined) {
    backend = bunBackend();
  } else if (g.process?.versions?.node !== undefined) {
    backend = nodeOwnBackend(g.process);
  } else {
    throw new Error(
      "sysipc found no foreign-function interface in this runtime: run it with Deno " +
        "(--allow-ffi), Node.js ≥ 26 (node:ffi) or ≥ 22 with the koffi package, or Bun.",
    );
  }
  return backend;
}

/** koffi where it is installed, else `node:ffi`; a clear error when neither is there. */
// deno-lint-ignore no-explicit-any
function nodeOwnBackend(proc: any): Backend {
  const errors: unknown[] = [];
  const koffi = findKoffi(errors);
  if (koffi) return nodeBackend(koffi);
  const ffi = loadNodeFfi();
  if (ffi) {
    try {
      return nodeFfiBackend(ffi);
    } catch (e) {
      if ((e as { code?: string })?.code !== "ERR_ACCESS_DENIED") throw e;
      throw new Error(
        "sysipc needs foreign-function access to call libc: run Node.js with --allow-ffi " +
          "(the permission model is on).",
        { cause: e },
      );
    }
  }
  const major = Number(String(proc.version).replace(/^v/, "").split(".")[0]);
  const why = major >= 26
    ? "which this Node.js was started without (--no-experimental-ffi)"
    : `which Node.js has from version 26 on (this is ${proc.version})`;
  throw new Error(
    "sysipc on Node.js calls libc through the koffi package, which is not installed, or " +
      `through node:ffi, ${why}: run \`npm install koffi\`.`,
    { cause: errors[0] },
  );
}

/** The path of the C library the bindings load. */
export function libcPath(): string {
  return envVar("SYSIPC_LIBC") || DEFAULT_LIBC;
}

function explain(e: unknown, path: string): Error {
  const name = (e as Error)?.name;
  if (name === "NotCapable" || name === "PermissionDenied") {
    return new Error(
      `sysipc needs foreign-function access to call ${path}: run Deno with --allow-ffi.`,
      { cause: e },
    );
  }
  return new Error(`sysipc could not load the C library ${path}: ${(e as Error)?.message ?? e}`, {
    cause: e,
  });
}

/**
 * Binds a symbol table against libc on first call, then returns the cached
 * functions: `const sys = libc(TABLE); … sys().read(fd, buf, n)`.
 *
 * @param table The module's symbol table.
 * @returns A function returning the bound symbols.
 */
export function libc<S extends SymbolTable>(table: S): () => Bound<S> {
  let bound: Bound<S> | undefined;
  return () => {
    if (bound) return bound;
    const b = getBackend();
    const path = libcPath();
    try {
      bound = b.open(path, table);
    } catch (e) {
      throw explain(e, path);
    }
    return bound;
  };
}
