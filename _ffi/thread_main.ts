/**
 * The code a pool thread runs (see offthread.ts), as typed functions.
 *
 * A Worker cannot be started from a module file on every runtime without a
 * new permission — Deno asks for `--allow-read` of the file (and, for a
 * library imported from a URL, a network permission) even for a
 * `node:worker_threads` Worker — so the pool starts each Worker from source
 * text: {@linkcode threadMain} and one of the `*Native` functions, turned
 * into text with `Function.prototype.toString()` (the runtime's own
 * transpiled JavaScript on Deno and Bun, tsc's output in the npm build).
 * Each of these functions must therefore be self-contained: it may use its
 * parameters and globals, never a name imported or declared in a module.
 *
 * @module
 */

/** What the pool thread needs from its runtime's FFI. */
export interface ThreadNative {
  /** A synchronous function for `def`. */
  bind(def: ThreadFnDef): (...args: unknown[]) => unknown;
  /** A pointer argument for a nonzero address. */
  pointer(address: bigint): unknown;
  /** A zero-copy `ArrayBuffer` over `length` bytes at pointer `p` (a `pointer` result). */
  view(p: unknown, length: number): ArrayBuffer;
}

/** What a pool thread is told about a function (JSON in the control block). */
export interface ThreadFnDef {
  path: string;
  symbol: string;
  parameters: readonly string[];
  result: string;
}

/**
 * The control block shared with a pool thread: `i32[STATE]`, the function's
 * id, the length of its JSON definition when this thread has not seen it yet
 * (else 0) and then the result's kind, the length of an error message, the
 * thread's kernel tid, the errno the call left, and the cancel flag; 8-byte
 * argument slots from byte `ARGS`, the result at `RESULT`, text (definition
 * or error) from `TEXT`.
 */
export const CB = {
  IDLE: 0,
  CALL: 1,
  DONE: 2,
  QUIT: 3,
  STATE: 0,
  FN: 1,
  KIND: 2,
  TEXT_LEN: 3,
  TID: 4,
  ERRNO: 5,
  CANCEL: 6,
  ARGS: 32,
  MAX_ARGS: 16,
  RESULT: 160,
  TEXT: 176,
  BYTES: 4096,
} as const;

/** Result kinds in `i32[KIND]` once `DONE`. */
export const KIND = { NUMBER: 0, BIGINT: 1, NULL: 2, ERROR: 3, VOID: 4, UBIGINT: 5 } as const;

/**
 * A pool thread's loop: records its tid, then runs one call at a time.
 * Self-contained (see the module doc).
 *
 * @param sab The control block.
 * @param native The runtime's FFI.
 * @param libcPath The C library (for `gettid` and `__errno_location`).
 * @param cb {@linkcode CB}.
 * @param kind {@linkcode KIND}.
 */
export function threadMain(
  sab: SharedArrayBuffer,
  native: ThreadNative,
  libcPath: string,
  cb: typeof CB,
  kind: typeof KIND,
): void {
  const EINTR = 4;
  const i32 = new Int32Array(sab);
  const i64 = new BigInt64Array(sab);
  const u64 = new BigUint64Array(sab);
  const f64 = new Float64Array(sab);
  const bytes = new Uint8Array(sab);
  const fns = new Map<number, { f: (...a: unknown[]) => unknown; parameters: readonly string[] }>();
  const A = cb.ARGS / 8;
  const R = cb.RESULT / 8;
  const libc = (symbol: string, result: string) =>
    native.bind({ path: libcPath, symbol, parameters: [], result });
  // errno is this thread's own: a view over its slot reads it with no call.
  const errnoSlot = new Int32Array(native.view(libc("__errno_location", "pointer")(), 4));
  Atomics.store(i32, cb.TID, Number(libc("gettid", "i32")()));
  for (;;) {
    let s;
    while ((s = Atomics.load(i32, cb.STATE)) !== cb.CALL && s !== cb.QUIT) {
      Atomics.wait(i32, cb.STATE, s);
    }
    if (s === cb.QUIT) return;
    try {
      if (i32[cb.KIND] > 0) {
        const text = new TextDecoder().decode(bytes.slice(cb.TEXT, cb.TEXT + i32[cb.KIND]));
        const d = JSON.parse(text) as ThreadFnDef;
        fns.set(i32[cb.FN], { f: native.bind(d), parameters: d.parameters });
      }
      const fn = fns.get(i32[cb.FN])!;
      const argv = fn.parameters.map((t, i) =>
        t === "f64"
          ? f64[A + i]
          : t === "pointer" || t === "buffer"
          ? (i64[A + i] === 0n ? null : native.pointer(i64[A + i]))
          : t === "u64" || t === "usize"
          ? u64[A + i]
          : t === "i64" || t === "isize"
          ? i64[A + i]
          : Number(i64[A + i])
      );
      // Cancelled before the call began: do not begin it (a syscall's EINTR).
      // A cancel that lands between this check and the kernel is repeated by
      // the caller until the call returns.
      let v: unknown = -1;
      let e = EINTR;
      if (Atomics.load(i32, cb.CANCEL) === 0) {
        v = fn.f(...argv);
        e = errnoSlot[0];
      }
      i32[cb.ERRNO] = e;
      if (v === undefined) i32[cb.KIND] = kind.VOID;
      else if (v === null) i32[cb.KIND] = kind.NULL;
      else if (typeof v === "bigint" && v > 0x7fffffffffffffffn) {
        u64[R] = v;
        i32[cb.KIND] = kind.UBIGINT;
      } else if (typeof v === "bigint") {
        i64[R] = v;
        i32[cb.KIND] = kind.BIGINT;
      } else {
        f64[R] = Number(v);
        i32[cb.KIND] = kind.NUMBER;
      }
    } catch (e) {
      const m = new TextEncoder().encode(String((e as Error)?.message ?? e))
        .subarray(0, cb.BYTES - cb.TEXT);
      bytes.set(m, cb.TEXT);
      i32[cb.TEXT_LEN] = m.length;
      i32[cb.KIND] = kind.ERROR;
    }
    Atomics.store(i32, cb.STATE, cb.DONE);
    Atomics.notify(i32, cb.STATE);
  }
}

/** Deno's FFI for a pool thread. Self-contained. */
export function denoThreadNative(): ThreadNative {
  // deno-lint-ignore no-explicit-any
  const D = (globalThis as any).Deno;
  return {
    // Our vocabulary is Deno's, except that a buffer arrives as an address.
    bind: (d) =>
      D.dlopen(d.path, {
        f: {
          name: d.symbol,
          parameters: d.parameters.map((p) => p === "buffer" ? "pointer" : p),
          result: d.result,
        },
      }).symbols.f,
    pointer: (address) => D.UnsafePointer.create(address),
    view: (p, length) => D.UnsafePointerView.getArrayBuffer(p, length),
  };
}

/**
 * koffi's FFI for a pool thread (Node.js). Self-contained: `arg` is the JSON
 * `{ path, types }` the main thread sends — where koffi is and how our type
 * names read in koffi's vocabulary (`KOFFI_TYPES` of node.ts).
 */
export function koffiThreadNative(arg: string): ThreadNative {
  const { path, types: T } = JSON.parse(arg) as { path: string; types: Record<string, string> };
  // deno-lint-ignore no-explicit-any
  const proc = (globalThis as any).process;
  const koffi = proc.getBuiltinModule("node:module").createRequire(path)(path);
  const libs = new Map<string, { func(n: string, r: string, p: string[]): never }>();
  return {
    bind: (d) => {
      let lib = libs.get(d.path);
      if (!lib) {
        lib = koffi.load(d.path);
        libs.set(d.path, lib!);
      }
      return lib!.func(d.symbol, T[d.result], d.parameters.map((p) => T[p]));
    },
    pointer: (address) => address,
    view: (p, length) => koffi.view(p, length),
  };
}

/**
 * `node:ffi` for a pool thread (Node.js ≥ 26 without koffi). Self-contained:
 * `arg` is the JSON of our type names in `node:ffi`'s vocabulary
 * (`NODE_FFI_TYPES` of node_ffi.ts). Each thread loads the module itself,
 * and Node warns once per thread: the same one warning is dropped here as on
 * the main thread.
 */
export function nodeFfiThreadNative(arg: string): ThreadNative {
  const T = JSON.parse(arg) as Record<string, string>;
  // deno-lint-ignore no-explicit-any
  const proc = (globalThis as any).process;
  const emitWarning = proc.emitWarning;
  proc.emitWarning = function (this: unknown, w: unknown, ...rest: unknown[]) {
    // deno-lint-ignore no-explicit-any
    const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as any)?.type;
    // deno-lint-ignore no-explicit-any
    const text = String((w as any)?.message ?? w);
    if (type === "ExperimentalWarning" && /^FFI is an experimental feature/.test(text)) return;
    return emitWarning.call(this, w, ...rest);
  };
  let ffi;
  try {
    ffi = proc.getBuiltinModule("node:ffi");
  } finally {
    proc.emitWarning = emitWarning;
  }
  const libs: unknown[] = []; // kept: a collected library would close
  return {
    bind: (d) => {
      const { lib, functions } = ffi.dlopen(d.path, {
        [d.symbol]: { return: T[d.result], arguments: d.parameters.map((p) => T[p]) },
      });
      libs.push(lib);
      const f = functions[d.symbol];
      // As on the main thread: NULL is null, a 64-bit result a number when it fits.
      if (d.result === "pointer") {
        return (...a: unknown[]) => {
          const r = f(...a);
          return r === 0n ? null : r;
        };
      }
      if (T[d.result] !== "int64" && T[d.result] !== "uint64") return f;
      return (...a: unknown[]) => {
        const r = f(...a);
        return r >= -0x1fffffffffffffn && r <= 0x1fffffffffffffn ? Number(r) : r;
      };
    },
    pointer: (address) => address,
    view: (p, length) => ffi.toArrayBuffer(p, length, false),
  };
}

/** `bun:ffi` for a pool thread. Self-contained. */
export function bunThreadNative(): ThreadNative {
  // deno-lint-ignore no-explicit-any
  const ffi = (globalThis as any).process.getBuiltinModule("bun:ffi");
  const wide: Record<string, string> = {
    i64: "i64_fast",
    u64: "u64_fast",
    isize: "i64_fast",
    usize: "u64_fast",
  };
  const param = (p: string) =>
    p === "pointer" || p === "buffer" ? "ptr" : p === "isize" ? "i64" : p === "usize" ? "u64" : p;
  return {
    bind: (d) =>
      ffi.dlopen(d.path, {
        [d.symbol]: {
          args: d.parameters.map(param),
          returns: d.result === "pointer" ? "ptr" : wide[d.result] ?? d.result,
        },
      }).symbols[d.symbol],
    pointer: (address) => Number(address),
    view: (p, length) => ffi.toArrayBuffer(p, 0, length),
  };
}

/**
 * The source text of a pool Worker (`node:worker_threads`, `eval: true`):
 * `workerData` is `{ sab, libc, arg }`, `arg` what `native` takes.
 *
 * @param native One of the `*ThreadNative` functions.
 */
export function threadSource(native: (arg: string) => ThreadNative): string {
  return `"use strict";
const { workerData } = process.getBuiltinModule("node:worker_threads");
(${threadMain.toString()})(workerData.sab, (${native.toString()})(workerData.arg),
  workerData.libc, ${JSON.stringify(CB)}, ${JSON.stringify(KIND)});
`;
}
