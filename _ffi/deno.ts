/**
 * The Deno backend: `Deno.dlopen` and `Deno.UnsafePointer*`.
 *
 * @module
 */
import type { Backend, Bound, Pointer, SymbolTable } from "./types.ts";

// deno-lint-ignore no-explicit-any
type AnyPointer = any;

function view(buf: ArrayBufferView | ArrayBuffer): Uint8Array {
  return buf instanceof ArrayBuffer
    ? new Uint8Array(buf)
    : new Uint8Array(buf.buffer, buf.byteOffset, buf.byteLength);
}

/** Creates the Deno backend; call only where `globalThis.Deno.dlopen` exists. */
export function denoBackend(): Backend {
  const D = Deno;
  return {
    name: "Deno",
    open<S extends SymbolTable>(path: string, table: S): Bound<S> {
      // Our table vocabulary is a subset of Deno's ForeignFunction: pass it on.
      const lib = D.dlopen(path, table as unknown as Deno.ForeignLibraryInterface);
      return lib.symbols as unknown as Bound<S>;
    },
    addressOf(buf) {
      // Touching `.buffer` moves a small on-heap typed array off-heap, so the
      // address stays valid until the array is collected.
      const u8 = view(buf);
      void u8.buffer;
      return BigInt(D.UnsafePointer.value(D.UnsafePointer.of(u8 as Uint8Array<ArrayBuffer>)));
    },
    pointerValue(p: Pointer) {
      return BigInt(D.UnsafePointer.value(p as AnyPointer));
    },
    pointerFrom(address: bigint): Pointer {
      return D.UnsafePointer.create(address) as unknown as Pointer;
    },
    arrayBufferAt(p: Pointer, length: number): ArrayBuffer {
      return D.UnsafePointerView.getArrayBuffer(p as AnyPointer, length);
    },
    readI32(p: Pointer, offset = 0) {
      return new D.UnsafePointerView(p as AnyPointer).getInt32(offset);
    },
    readPointer(p: Pointer, offset = 0): Pointer {
      return new D.UnsafePointerView(p as AnyPointer).getPointer(offset) as unknown as Pointer;
    },
    readCString(p: Pointer) {
      return D.UnsafePointerView.getCString(p as AnyPointer);
    },
    detachArrayBuffer(buf: ArrayBuffer) {
      const t = (buf as unknown as { transfer?: (n: number) => ArrayBuffer }).transfer;
      if (typeof t !== "function") return false;
      try {
        t.call(buf, 0);
      } catch {
        return false;
      }
      return buf.byteLength === 0;
    },
  };
}
