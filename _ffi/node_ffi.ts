/**
 * The Node.js backend on Node's own `node:ffi` (Node.js ≥ 26, no flag), used
 * where koffi is not installed — so the npm package works on Node 26 with no
 * native dependency at all.
 *
 * What `node:ffi` 26.12 is, found by trying it (its documentation disagrees
 * with itself):
 *
 * - `dlopen(path, { name: { return, arguments } })` gives `{ lib, functions }`.
 *   A definition spelled `{ result, parameters }` is accepted silently and
 *   binds a function of no arguments returning `undefined` — so the type
 *   names are mapped here and nowhere else.
 * - 64-bit integer results are always a `bigint`, pointer results a `bigint`
 *   (`0n` for NULL); a `pointer` parameter takes a typed array, `DataView` or
 *   `ArrayBuffer` by address (no copy), a `bigint`, `null` or a string (a
 *   copied C string), never a `number`; 64-bit parameters take a `number` or a
 *   `bigint`.
 * - `toArrayBuffer(pointer, length, false)` wraps native memory without
 *   copying, past 4 GiB too (2³² + 4096 bytes checked), and `transfer()`
 *   detaches such a buffer; `getRawPointer(view)` is a view's address (its
 *   `byteOffset` included).
 * - Every `dlopen()` leaves errno at `EEXIST`: the backend restores it, since
 *   a module may bind its table between a failed call and the read of errno.
 * - Loading the module prints `ExperimentalWarning: FFI is an experimental
 *   feature` once per thread (each Worker too); {@linkcode loadNodeFfi} keeps
 *   that one warning from the user's console and lets every other through.
 *
 * Values follow koffi's and Deno's: pointers are `bigint` or `null`, 64-bit
 * results a `number` when they fit in 53 bits, else a `bigint`. Those two
 * result kinds need a small wrapper; every other function is `node:ffi`'s own.
 * `nonblocking` and `cancellable` functions run on the Worker pool of
 * offthread.ts, each Worker binding libc through `node:ffi` itself.
 *
 * @module
 */
import { OffThread, spawnNodeWorker } from "./offthread.ts";
import { installInterrupter, INTERRUPT_SYMBOLS } from "./interrupt.ts";
import { exitPastBlockedWorkers } from "./node.ts";
import { nodeFfiThreadNative } from "./thread_main.ts";
import type {
  Backend,
  Bound,
  FnDef,
  NativeResultType,
  NativeType,
  Pointer,
  SymbolTable,
} from "./types.ts";
import { detachByTransfer } from "./transfer.ts";

/** The part of `node:ffi` this backend uses. */
export interface NodeFfi {
  dlopen(
    path: string | null,
    definitions: Record<string, { return: string; arguments: string[] }>,
  ): { lib: unknown; functions: Record<string, (...args: unknown[]) => unknown> };
  getRawPointer(source: ArrayBuffer | ArrayBufferView): bigint;
  toArrayBuffer(pointer: bigint, length: number, copy?: boolean): ArrayBuffer;
  getUint64(pointer: bigint, offset?: number): bigint;
  toString(pointer: bigint): string;
}

/** Our vocabulary to `node:ffi` type names (`isize`/`usize` are 64-bit on Linux x86-64 and arm64). */
export const NODE_FFI_TYPES: Record<NativeType | NativeResultType, string> = {
  i8: "int8",
  u8: "uint8",
  i16: "int16",
  u16: "uint16",
  i32: "int32",
  u32: "uint32",
  i64: "int64",
  u64: "uint64",
  isize: "int64",
  usize: "uint64",
  f64: "float64",
  pointer: "pointer",
  buffer: "pointer",
  void: "void",
};

// deno-lint-ignore no-explicit-any
type Any = any;

/** The warning `node:ffi` prints when it is loaded. */
function isFfiWarning(warning: unknown, rest: unknown[]): boolean {
  const type = typeof rest[0] === "string" ? rest[0] : (rest[0] as Any)?.type ??
    (warning as Any)?.name;
  const text = String((warning as Any)?.message ?? warning);
  return type === "ExperimentalWarning" && /^FFI is an experimental feature/.test(text);
}

/**
 * `node:ffi`, or `undefined` where this Node.js has none (before 26, or run
 * with `--no-experimental-ffi`). Node prints an `ExperimentalWarning` the
 * first time a thread loads the module; `process.emitWarning` is wrapped for
 * exactly that load, and only that one warning is dropped.
 */
export function loadNodeFfi(): NodeFfi | undefined {
  const proc = (globalThis as Any).process;
  if (typeof proc?.getBuiltinModule !== "function") return undefined;
  const emitWarning = proc.emitWarning;
  proc.emitWarning = function (this: unknown, warning: unknown, ...rest: unknown[]) {
    if (isFfiWarning(warning, rest)) return;
    return emitWarning.call(this, warning, ...rest);
  };
  try {
    return proc.getBuiltinModule("node:ffi") ?? undefined;
  } catch {
    return undefined; // e.g. the permission model without --allow-ffi
  } finally {
    proc.emitWarning = emitWarning;
  }
}

/** Every library this backend opened, kept referenced. */
const libraries: unknown[] = [];

/** Result types that come back as a `bigint`. */
const WIDE = new Set<string>(["i64", "u64", "isize", "usize"]);

const MIN = BigInt(Number.MIN_SAFE_INTEGER);
const MAX = BigInt(Number.MAX_SAFE_INTEGER);

/** A 64-bit result as a `number` when it fits in 53 bits (as koffi and Deno give it). */
function narrow(f: (...a: unknown[]) => unknown, arity: number): (...a: unknown[]) => unknown {
  const n = (r: unknown) => (r as bigint) >= MIN && (r as bigint) <= MAX ? Number(r) : r;
  // Fixed arities for the hot paths (read, write, recv…): no rest array.
  switch (arity) {
    case 0:
      return () => n(f());
    case 1:
      return (a) => n(f(a));
    case 2:
      return (a, b) => n(f(a, b));
    case 3:
      return (a, b, c) => n(f(a, b, c));
    case 4:
      return (a, b, c, d) => n(f(a, b, c, d));
    default:
      return (...a) => n(f(...a));
  }
}

/** A pointer result: `null` for NULL. */
function nullable(f: (...a: unknown[]) => unknown): (...a: unknown[]) => unknown {
  return (...a) => {
    const r = f(...a);
    return r === 0n ? null : r;
  };
}

/**
 * Creates the backend on `node:ffi` (from {@linkcode loadNodeFfi}). Call
 * only on Node.js.
 *
 * @param ffi The module.
 */
export function nodeFfiBackend(ffi: NodeFfi): Backend {
  const proc = (globalThis as Any).process;
  // dlopen() of node:ffi leaves errno at EEXIST (checked on 26.12), and a
  // module binds its table lazily — sometimes between a failed call and the
  // read of its errno: open() puts errno back as it found it.
  const { lib: self, functions: own } = ffi.dlopen(null, {
    __errno_location: { return: "pointer", arguments: [] },
    _exit: { return: "void", arguments: ["int32"] },
  });
  libraries.push(self);
  const errnoSlot = new Int32Array(
    ffi.toArrayBuffer(own.__errno_location() as bigint, 4, false),
  );
  const dlopen: NodeFfi["dlopen"] = (path, definitions) => {
    const saved = errnoSlot[0];
    try {
      return ffi.dlopen(path, definitions);
    } finally {
      errnoSlot[0] = saved;
    }
  };
  let exitHooked = false;
  const pool = new OffThread({
    native: nodeFfiThreadNative,
    nativeArg: JSON.stringify(NODE_FFI_TYPES),
    spawn(source, data, died) {
      if (!exitHooked) {
        exitHooked = true;
        proc.on("exit", exitPastBlockedWorkers(own._exit, proc, () => pool.busy));
      }
      return spawnNodeWorker(source, data, died);
    },
    addressOf: (buf) => backend.addressOf(buf),
    interrupter: (path) => installInterrupter(backend.open(path, INTERRUPT_SYMBOLS)),
  });

  const backend: Backend = {
    name: `Node.js (node:ffi ${proc.version})`,
    open<S extends SymbolTable>(path: string, table: S): Bound<S> {
      // node:ffi names each function by its C symbol: aliases of one symbol
      // (different prototypes) go into separate dlopen() groups.
      const groups: [string, string, FnDef][][] = [];
      for (const [key, def] of Object.entries(table)) {
        const sym = def.name ?? key;
        let g = groups.find((g) => !g.some(([, s]) => s === sym));
        if (!g) groups.push(g = []);
        g.push([key, sym, def]);
      }
      const out: Record<string, unknown> = {};
      for (const g of groups) {
        const defs: Record<string, { return: string; arguments: string[] }> = {};
        for (const [, sym, def] of g) {
          defs[sym] = {
            return: NODE_FFI_TYPES[def.result],
            arguments: def.parameters.map((p) => NODE_FFI_TYPES[p]),
          };
        }
        // Bound here even when it runs on a Worker: a missing symbol fails now, as on Deno.
        const { lib, functions } = dlopen(path, defs);
        libraries.push(lib); // never collected: a closed library invalidates its functions
        for (const [key, sym, def] of g) {
          const f = functions[sym];
          out[key] = def.cancellable
            ? pool.bindCancellable(path, key, def)
            : def.nonblocking
            ? pool.bind(path, key, def)
            : def.result === "pointer"
            ? nullable(f)
            : WIDE.has(def.result)
            ? narrow(f, def.parameters.length)
            : f;
        }
      }
      return out as Bound<S>;
    },
    addressOf(buf) {
      if (buf.byteLength === 0) return 0n;
      // A small typed array may live on the V8 heap, where it can move;
      // `.buffer` moves it to a backing store of its own, which never moves.
      if (!(buf instanceof ArrayBuffer)) void buf.buffer;
      return ffi.getRawPointer(buf);
    },
    pointerValue(p: Pointer) {
      return p === null ? 0n : BigInt(p as unknown as bigint);
    },
    pointerFrom(address: bigint): Pointer {
      return address === 0n ? null : (address as unknown as Pointer);
    },
    maxBufferBytes: Number.MAX_SAFE_INTEGER,
    arrayBufferAt(p: Pointer, length: number): ArrayBuffer {
      if (length === 0) return new ArrayBuffer(0);
      return ffi.toArrayBuffer(p as unknown as bigint, length, false);
    },
    readPointer(p: Pointer, offset = 0): Pointer {
      const v = ffi.getUint64(p as unknown as bigint, offset);
      return (v === 0n ? null : v) as unknown as Pointer;
    },
    readCString(p: Pointer) {
      return ffi.toString(p as unknown as bigint);
    },
    detachArrayBuffer(buf: ArrayBuffer) {
      // transfer() detaches a toArrayBuffer() view too (checked on 26.12).
      return detachByTransfer(buf);
    },
  };
  return backend;
}
