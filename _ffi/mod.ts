/**
 * Internal: the runtime seam, the only place that knows which runtime it is
 * on. It binds symbol tables against libc (`libc()`), and turns buffers and
 * pointers into addresses and back (`getBackend()`); everything above it
 * (`_sys/`, `_mem/`, the modules) is runtime-agnostic. Users never import it.
 *
 * @module
 */
export type {
  Backend,
  Bound,
  BufferArg,
  CallOutcome,
  CancellableCall,
  FnDef,
  NativeType,
  Pointer,
  SymbolTable,
} from "./types.ts";
export { envVar, getBackend, libc, libcPath } from "./runtime.ts";
export { cString } from "./cstring.ts";
export { blockedCalls } from "./offthread.ts";
