/**
 * The Bun backend: `bun:ffi`, loaded on first use.
 *
 * Values: pointers are plain numbers (or `null`); 64-bit integer results use
 * Bun's `i64_fast`/`u64_fast`, a `number` when it fits in 53 bits and a
 * `bigint` otherwise, as on Deno.
 *
 * `bun:ffi` calls are synchronous only: a `nonblocking` or `cancellable`
 * function runs on the Worker pool of offthread.ts, each Worker with its own
 * `dlopen`.
 *
 * Nothing here imports `bun:ffi` at module load (Deno could not even resolve
 * it): `bunBackend()` takes it from `process.getBuiltinModule`.
 *
 * @module
 */
import type {
  Backend,
  Bound,
  FnDef,
  NativeResultType,
  NativeType,
  Pointer,
  SymbolTable,
} from "./types.ts";
import { OffThread } from "./offthread.ts";
import { installInterrupter, INTERRUPT_SYMBOLS } from "./interrupt.ts";
import { bunThreadNative } from "./thread_main.ts";
import { detachByTransfer } from "./transfer.ts";

/** The part of `bun:ffi` this backend uses. */
interface BunFfi {
  dlopen(
    path: string,
    symbols: Record<string, { args: string[]; returns: string }>,
  ): { symbols: Record<string, (...args: unknown[]) => unknown> };
  ptr(view: ArrayBufferView | ArrayBuffer): number;
  toArrayBuffer(ptr: number, byteOffset: number, byteLength: number): ArrayBuffer;
  read: { ptr(ptr: number, offset?: number): number };
  CString: new (ptr: number) => unknown;
}

const PARAM_TYPES: Record<NativeType, string> = {
  i8: "i8",
  u8: "u8",
  i16: "i16",
  u16: "u16",
  i32: "i32",
  u32: "u32",
  i64: "i64",
  u64: "u64",
  isize: "i64",
  usize: "u64",
  f64: "f64",
  pointer: "ptr",
  buffer: "ptr",
};

const RESULT_TYPES: Record<NativeResultType, string> = {
  i8: "i8",
  u8: "u8",
  i16: "i16",
  u16: "u16",
  i32: "i32",
  u32: "u32",
  i64: "i64_fast",
  u64: "u64_fast",
  isize: "i64_fast",
  usize: "u64_fast",
  f64: "f64",
  pointer: "ptr",
  void: "void",
};

/** Creates the Bun backend. Call only on Bun. */
export function bunBackend(): Backend {
  // deno-lint-ignore no-explicit-any
  const proc = (globalThis as any).process;
  const ffi = proc.getBuiltinModule("bun:ffi") as BunFfi;
  const pool = new OffThread({
    native: bunThreadNative,
    addressOf: (buf) => BigInt(addressOf(buf)),
    interrupter: (path) => installInterrupter(backend.open(path, INTERRUPT_SYMBOLS)),
  });

  /** The address of a buffer's first byte; the bytes are off the JS heap first. */
  function addressOf(buf: ArrayBufferView | ArrayBuffer): number {
    if (buf.byteLength === 0) return 0; // ptr() refuses empty memory
    // A small typed array may live on the JS heap; `.buffer` moves it to its
    // own backing store, which never moves (checked across GCs).
    if (!(buf instanceof ArrayBuffer)) void buf.buffer;
    return ffi.ptr(buf);
  }

  const backend: Backend = {
    name: `Bun ${proc.versions?.bun ?? ""}`.trim(),
    open<S extends SymbolTable>(path: string, table: S): Bound<S> {
      const out: Record<string, unknown> = {};
      // bun:ffi names each function by its C symbol: aliases of one symbol
      // (different prototypes) go into separate dlopen() groups.
      const groups: [string, string, FnDef][][] = [];
      for (const [key, def] of Object.entries(table)) {
        // A nonblocking function is bound here too, so a missing symbol fails
        // now, as on Deno; the Worker makes the call.
        if (def.cancellable) out[key] = pool.bindCancellable(path, key, def);
        else if (def.nonblocking) out[key] = pool.bind(path, key, def);
        const sym = def.name ?? key;
        let g = groups.find((g) => !g.some(([, s]) => s === sym));
        if (!g) groups.push(g = []);
        g.push([key, sym, def]);
      }
      for (const g of groups) {
        const spec: Record<string, { args: string[]; returns: string }> = {};
        for (const [, sym, def] of g) {
          spec[sym] = {
            args: def.parameters.map((p) => PARAM_TYPES[p]),
            returns: RESULT_TYPES[def.result],
          };
        }
        const lib = ffi.dlopen(path, spec);
        for (const [key, sym, def] of g) {
          if (!def.nonblocking && !def.cancellable) out[key] = lib.symbols[sym];
        }
      }
      return out as Bound<S>;
    },
    addressOf(buf) {
      return BigInt(addressOf(buf));
    },
    pointerValue(p: Pointer) {
      return p === null ? 0n : BigInt(p as unknown as number);
    },
    pointerFrom(address: bigint): Pointer {
      return address === 0n ? null : (Number(address) as unknown as Pointer);
    },
    maxBufferBytes: 2 ** 32,
    arrayBufferAt(p: Pointer, length: number): ArrayBuffer {
      if (length === 0) return new ArrayBuffer(0); // toArrayBuffer refuses 0
      return ffi.toArrayBuffer(p as unknown as number, 0, length);
    },
    readPointer(p: Pointer, offset = 0): Pointer {
      const v = ffi.read.ptr(p as unknown as number, offset);
      return (v === 0 ? null : v) as unknown as Pointer;
    },
    readCString(p: Pointer) {
      return String(new ffi.CString(p as unknown as number));
    },
    detachArrayBuffer(buf: ArrayBuffer) {
      // Bun has transfer(), and it detaches toArrayBuffer() memory too (checked).
      return detachByTransfer(buf);
    },
  };
  return backend;
}
