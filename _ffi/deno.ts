/**
 * The Deno backend: `Deno.dlopen` and `Deno.UnsafePointer*`.
 *
 * @module
 */
import type { Backend, Bound, Pointer, SymbolTable } from "./types.ts";
import { detachByTransfer } from "./transfer.ts";
import { OffThread } from "./offthread.ts";
import { installInterrupter, INTERRUPT_SYMBOLS } from "./interrupt.ts";
import { denoThreadNative } from "./thread_main.ts";

// deno-lint-ignore no-explicit-any
type AnyPointer = any;

/**
 * Base addresses of the ArrayBuffers whose address was asked for. Looking an
 * address up through `UnsafePointer.of` + `value` costs ~0.8 µs here, more
 * than a 64 KiB pipe read's whole syscall overhead, and hot loops reuse one
 * buffer. A backing store never moves once it is off the V8 heap (touching
 * `.buffer` moves a small on-heap array off-heap first), resizable buffers
 * reserve their maximum up front, and a detached buffer (`transfer()`) has
 * byteLength 0 and is re-resolved: so a cached base stays right for as long
 * as the buffer is usable.
 */
const bases = new WeakMap<ArrayBuffer, bigint>();

/** Creates the Deno backend; call only where `globalThis.Deno.dlopen` exists. */
export function denoBackend(): Backend {
  const D = Deno;
  // `cancellable` functions run on Workers of our own (offthread.ts); Deno's
  // own `nonblocking` runs on a runtime thread no one may signal.
  const pool = new OffThread({
    native: denoThreadNative,
    addressOf: (buf) => backend.addressOf(buf),
    interrupter: (path) => installInterrupter(backend.open(path, INTERRUPT_SYMBOLS)),
  });
  const backend: Backend = {
    name: "Deno",
    open<S extends SymbolTable>(path: string, table: S): Bound<S> {
      // Our table vocabulary is a subset of Deno's ForeignFunction: pass it on
      // (a cancellable function is bound here too, so a missing symbol fails now).
      const lib = D.dlopen(path, table as unknown as Deno.ForeignLibraryInterface);
      const entries = Object.entries(table);
      if (!entries.some(([, def]) => def.cancellable)) return lib.symbols as unknown as Bound<S>;
      const out: Record<string, unknown> = { ...lib.symbols };
      for (const [key, def] of entries) {
        if (def.cancellable) out[key] = pool.bindCancellable(path, key, def);
      }
      return out as Bound<S>;
    },
    addressOf(buf) {
      const ab = (buf instanceof ArrayBuffer ? buf : buf.buffer) as ArrayBuffer;
      const offset = buf instanceof ArrayBuffer ? 0 : buf.byteOffset;
      if (ab.byteLength === 0) {
        // Empty or detached: no memory to cache an address for.
        return BigInt(D.UnsafePointer.value(D.UnsafePointer.of(ab)));
      }
      let base = bases.get(ab);
      if (base === undefined) {
        base = BigInt(D.UnsafePointer.value(D.UnsafePointer.of(ab)));
        bases.set(ab, base);
      }
      return offset === 0 ? base : base + BigInt(offset);
    },
    pointerValue(p: Pointer) {
      return BigInt(D.UnsafePointer.value(p as AnyPointer));
    },
    pointerFrom(address: bigint): Pointer {
      return D.UnsafePointer.create(address) as unknown as Pointer;
    },
    maxBufferBytes: Number.MAX_SAFE_INTEGER,
    arrayBufferAt(p: Pointer, length: number): ArrayBuffer {
      return D.UnsafePointerView.getArrayBuffer(p as AnyPointer, length);
    },
    readPointer(p: Pointer, offset = 0): Pointer {
      return new D.UnsafePointerView(p as AnyPointer).getPointer(offset) as unknown as Pointer;
    },
    readCString(p: Pointer) {
      return D.UnsafePointerView.getCString(p as AnyPointer);
    },
    detachArrayBuffer(buf: ArrayBuffer) {
      return detachByTransfer(buf);
    },
  };
  return backend;
}
