/**
 * The Node.js backend: koffi (https://koffi.dev), loaded on first use.
 *
 * koffi 3 already speaks our value vocabulary: pointers are `bigint` (or
 * `null`), 64-bit integer results are a `number` when they fit in 53 bits and
 * a `bigint` otherwise (as on Deno), and a `void *` parameter takes a typed
 * array, `DataView` or `ArrayBuffer` by address, without copying. So a bound
 * synchronous function is koffi's own function, with no wrapper on the hot
 * path.
 *
 * `nonblocking` and `cancellable` functions run on the Worker pool of
 * offthread.ts (`worker_threads`, each Worker loading koffi itself), not through koffi's
 * `.async()`: that one uses the libuv thread pool, four threads shared with
 * `fs`, `dns` and `crypto`, and four pending FIFO opens left no thread for
 * the shared waiter's `poll()`, so a pipe read hung (reproduced).
 *
 * Nothing here imports koffi at module load: `findKoffi()` requires it,
 * and only `getBackend()` on Node calls that. Where koffi is not installed,
 * Node.js ≥ 26 uses its own `node:ffi` instead (node_ffi.ts).
 *
 * @module
 */
import { OffThread, spawnNodeWorker } from "./offthread.ts";
import { installInterrupter, INTERRUPT_SYMBOLS } from "./interrupt.ts";
import { koffiThreadNative } from "./thread_main.ts";
import type {
  Backend,
  Bound,
  NativeResultType,
  NativeType,
  Pointer,
  SymbolTable,
} from "./types.ts";
import { detachByTransfer } from "./transfer.ts";

/** The part of koffi's API this backend uses. */
interface Koffi {
  load(path: string | null): KoffiLibrary;
  address(value: unknown): bigint;
  view(ptr: unknown, length: number): ArrayBuffer;
  decode(ptr: unknown, offset: number, type: string): unknown;
  decode(ptr: unknown, type: string, length: number): unknown;
  version: string;
}
interface KoffiLibrary {
  func(name: string, result: string, parameters: string[]): KoffiFunction;
}
interface KoffiFunction {
  (...args: unknown[]): unknown;
}

/** Our vocabulary to koffi type names (`isize`/`usize` are pointer-sized). */
const KOFFI_TYPES: Record<NativeType | NativeResultType, string> = {
  i8: "int8_t",
  u8: "uint8_t",
  i16: "int16_t",
  u16: "uint16_t",
  i32: "int32_t",
  u32: "uint32_t",
  i64: "int64_t",
  u64: "uint64_t",
  isize: "intptr_t",
  usize: "size_t",
  f64: "double",
  pointer: "void *",
  buffer: "void *",
  void: "void",
};

// deno-lint-ignore no-explicit-any
type Any = any;

/** A CommonJS `require` for this module's location, or undefined off Node/Bun. */
function nodeRequire(from: string): ((id: string) => unknown) | undefined {
  const proc = (globalThis as Any).process;
  const mod = proc?.getBuiltinModule?.("node:module");
  return mod?.createRequire?.(from);
}

/** koffi as this backend loads it, with the path it was found at. */
export interface FoundKoffi {
  koffi: Koffi;
  path: string;
}

/**
 * koffi, looked for next to the library first (the npm package names it as
 * an optional dependency), then in the application's own `node_modules`
 * (for a copy of the source tree); `undefined` when it is not installed or
 * cannot load (the error is the `cause` of the caller's message).
 *
 * @param errors Receives what each place said.
 */
export function findKoffi(errors: unknown[] = []): FoundKoffi | undefined {
  const proc = (globalThis as Any).process;
  const req = nodeRequire(import.meta.url);
  if (!req) return undefined;
  const cwd = proc?.cwd?.();
  const places = [req, cwd ? nodeRequire(`${cwd}/`) : undefined];
  for (const r of places) {
    if (!r) continue;
    try {
      const k = r("koffi") as Koffi & { default?: Koffi };
      const path = (r as unknown as { resolve(id: string): string }).resolve("koffi");
      return { koffi: typeof k.load === "function" ? k : k.default!, path };
    } catch (e) {
      errors.push(e);
    }
  }
  return undefined;
}

/**
 * An `exit` listener for a process whose Workers may be blocked in C: Node
 * joins every Worker thread before it exits, and one blocked in `poll()` or
 * `open()` never returns, so `process.exit()` or an uncaught exception would
 * hang. When a call is pending, it runs the `exit` listeners registered after
 * it and ends the process with `_exit()` (Linux writes to stdout and stderr
 * synchronously, so no output is lost).
 *
 * @param _exit libc's `_exit`, bound by the backend's FFI.
 * @param proc `process`.
 * @param busy How many pool calls are in progress.
 */
export function exitPastBlockedWorkers(
  _exit: (code: number) => unknown,
  proc: Any,
  busy: () => number,
): (code: number) => void {
  const listener = (code: number) => {
    if (busy() === 0) return;
    const all = proc.listeners("exit") as ((code: number) => void)[];
    for (const l of all.slice(all.indexOf(listener) + 1)) l.call(proc, code);
    _exit(code ?? proc.exitCode ?? 0);
  };
  return listener;
}

/**
 * Creates the Node backend on koffi (from {@linkcode findKoffi}). Call only on Node.
 *
 * @param found koffi and where it is.
 */
export function nodeBackend(found: FoundKoffi): Backend {
  const { koffi, path: koffiPath } = found;
  const libs = new Map<string, KoffiLibrary>();
  const proc = (globalThis as Any).process;
  let exitHooked = false;
  const pool = new OffThread({
    native: koffiThreadNative,
    nativeArg: JSON.stringify({ path: koffiPath, types: KOFFI_TYPES }),
    spawn(source, data, died) {
      if (!exitHooked) {
        exitHooked = true;
        const _exit = koffi.load(null).func("_exit", "void", ["int32_t"]);
        proc.on("exit", exitPastBlockedWorkers(_exit, proc, () => pool.busy));
      }
      return spawnNodeWorker(source, data, died);
    },
    addressOf: (buf) => koffi.address(buf),
    interrupter: (path) => installInterrupter(backend.open(path, INTERRUPT_SYMBOLS)),
  });

  const backend: Backend = {
    name: `Node.js (koffi ${koffi.version})`,
    open<S extends SymbolTable>(path: string, table: S): Bound<S> {
      let lib = libs.get(path);
      if (!lib) {
        lib = koffi.load(path);
        libs.set(path, lib);
      }
      const out: Record<string, unknown> = {};
      for (const [key, def] of Object.entries(table)) {
        // Bound here even when it runs on a Worker: a missing symbol fails now, as on Deno.
        const fn = lib.func(
          def.name ?? key,
          KOFFI_TYPES[def.result],
          def.parameters.map((p) => KOFFI_TYPES[p]),
        );
        out[key] = def.cancellable
          ? pool.bindCancellable(path, key, def)
          : def.nonblocking
          ? pool.bind(path, key, def)
          : fn;
      }
      return out as Bound<S>;
    },
    addressOf(buf) {
      // koffi reads the backing store's address (V8 moves a small on-heap
      // typed array off-heap first; backing stores never move afterwards).
      return buf.byteLength === 0 ? 0n : koffi.address(buf);
    },
    pointerValue(p: Pointer) {
      return p === null ? 0n : BigInt(p as unknown as bigint);
    },
    pointerFrom(address: bigint): Pointer {
      return address === 0n ? null : (address as unknown as Pointer);
    },
    // koffi.view() past 4 GiB aborted the process on Node 20; on Node 22, 24
    // and 26 it wraps 2³² + 1 and 2³³ + 7 bytes, reads and writes their last
    // byte and detaches with transfer() (checked with koffi 3.3.4).
    maxBufferBytes: Number(proc?.versions?.node?.split(".")[0]) >= 22
      ? Number.MAX_SAFE_INTEGER
      : 2 ** 32,
    arrayBufferAt(p: Pointer, length: number): ArrayBuffer {
      return koffi.view(p, length);
    },
    readPointer(p: Pointer, offset = 0): Pointer {
      return (koffi.decode(p, offset, "void *") ?? null) as Pointer;
    },
    readCString(p: Pointer) {
      return koffi.decode(p, "char", -1) as string;
    },
    detachArrayBuffer(buf: ArrayBuffer) {
      // Node ≥ 21 has transfer(); Node 20 has not, and structuredClone()
      // silently leaves a koffi.view buffer attached: report false, and shm/
      // maps anonymous memory over the segment instead.
      return detachByTransfer(buf);
    },
  };
  return backend;
}
