/**
 * Internal: the only place that knows which runtime it is on. Modules import
 * from here; users never do.
 *
 * @module
 */
export type {
  Backend,
  Bound,
  BufferArg,
  FnDef,
  NativeType,
  Pointer,
  SymbolTable,
} from "./types.ts";
export { envVar, getBackend, libc, libcPath } from "./runtime.ts";
export { errno } from "./errno.ts";
export { Errno, ERRNO_NAMES, errnoName, IpcError, ipcError } from "./errors.ts";
export type { IpcErrorOptions } from "./errors.ts";
export { cString, toPath } from "./cstring.ts";
export { cancelWaits, POLL, pollNow, waitReady, yieldCpu } from "./waiter.ts";
export { readProcNumber } from "./procfs.ts";
export { environEntries, environPointer } from "./environ.ts";
export { signalName, signalNumber, SIGNALS } from "./signals.ts";
