/**
 * The symbol-table vocabulary every module uses to declare the libc functions
 * it needs. It is a small, runtime-neutral subset of what Deno, koffi and
 * `bun:ffi` understand; each backend translates it.
 *
 * @module
 */

/** A native value type in a symbol table. */
export type NativeType =
  | "i8"
  | "u8"
  | "i16"
  | "u16"
  | "i32"
  | "u32"
  | "i64"
  | "u64"
  | "isize"
  | "usize"
  | "f64"
  | "pointer"
  | "buffer";

/** A native result type: a {@linkcode NativeType} or `"void"`. */
export type NativeResultType = Exclude<NativeType, "buffer"> | "void";

/** One C function: its parameter types, its result type, and whether it runs off-thread. */
export interface FnDef {
  /** The C symbol, when the table key is an alias (e.g. a `nonblocking` twin). */
  readonly name?: string;
  readonly parameters: readonly NativeType[];
  readonly result: NativeResultType;
  /**
   * Run the call on a worker thread and return a promise. Costs a thread hop
   * (70–100 µs measured on the project's VMs): only for calls that may block,
   * and only after a synchronous non-blocking attempt failed.
   */
  readonly nonblocking?: boolean;
  /**
   * Run the call on a thread of the library's own that a signal can
   * interrupt (a syscall that blocks and fails with `EINTR` when a handler
   * runs): the bound function returns a {@linkcode CancellableCall}, whose
   * outcome carries the errno read on that thread. Costs the same thread hop.
   */
  readonly cancellable?: boolean;
}

/** What a `cancellable` call settles with. */
export interface CallOutcome<R = unknown> {
  /** The function's return value. */
  result: R;
  /** The errno the call left on its thread; meaningful only when `result` says it failed. */
  errno: number;
}

/** A `cancellable` call in progress on one of the library's threads. */
export interface CancellableCall<R = unknown> {
  /** Settles once the call returned, interrupted or not. */
  readonly done: Promise<CallOutcome<R>>;
  /**
   * Interrupts the call if it has not returned: one still to begin does not
   * begin (`result` -1, `errno` EINTR), a blocked syscall fails with `EINTR`,
   * one that completed meanwhile keeps its result. Idempotent.
   */
  cancel(): void;
}

/** A module's libc symbol table (declare it `as const`). */
export type SymbolTable = Readonly<Record<string, FnDef>>;

declare const pointerBrand: unique symbol;
/** An opaque native address; `null` is the null pointer. Only `_ffi` looks inside. */
export type Pointer = { readonly [pointerBrand]: true } | null;

/** What a byte buffer parameter accepts. */
export type BufferArg = ArrayBufferView | ArrayBuffer | null;

type ParamValue<T> = T extends "pointer" ? Pointer
  : T extends "buffer" ? BufferArg
  : T extends "i64" | "u64" | "isize" | "usize" ? number | bigint
  : number;

type ResultValue<T> = T extends "void" ? void
  : T extends "pointer" ? Pointer
  : T extends "i64" | "u64" | "isize" | "usize" ? number | bigint
  : number;

type Params<P extends readonly NativeType[]> = {
  -readonly [I in keyof P]: ParamValue<P[I]>;
};

/** The callable functions a symbol table binds to. */
export type Bound<S extends SymbolTable> = {
  readonly [K in keyof S]: S[K] extends { cancellable: true }
    ? (...args: Params<S[K]["parameters"]>) => CancellableCall<ResultValue<S[K]["result"]>>
    : S[K] extends { nonblocking: true }
      ? (...args: Params<S[K]["parameters"]>) => Promise<ResultValue<S[K]["result"]>>
    : (...args: Params<S[K]["parameters"]>) => ResultValue<S[K]["result"]>;
};

/**
 * What a runtime backend provides. `pipe/`, `fifo/`, `shm/` and `sem/` only
 * ever see this interface, so adding Node or Bun means adding a backend.
 */
export interface Backend {
  /** Human name, for messages: "Deno", "Node.js (koffi 3.3.4)", "Node.js (node:ffi v26.12.1)", "Bun 1.4.5". */
  readonly name: string;
  /** Opens a shared library and binds the symbols of `table`. */
  open<S extends SymbolTable>(path: string, table: S): Bound<S>;
  /** The address of the first byte of a buffer (off-heap, stable while referenced). */
  addressOf(buf: ArrayBufferView | ArrayBuffer): bigint;
  /** The address a pointer holds. */
  pointerValue(p: Pointer): bigint;
  /** A pointer to an address (`0n` gives `null`). */
  pointerFrom(address: bigint): Pointer;
  /** A zero-copy `ArrayBuffer` over `length` bytes of native memory at `p`. */
  arrayBufferAt(p: Pointer, length: number): ArrayBuffer;
  /**
   * The most bytes {@linkcode arrayBufferAt} can wrap: 2³² on Bun ("Out of
   * memory" beyond, measured with Bun 1.4.5) and on Node.js 20 with koffi
   * (beyond, koffi aborted the process); no limit short of 2⁵³ on Deno, on
   * Node.js ≥ 22 with koffi and with node:ffi.
   */
  readonly maxBufferBytes: number;
  /** Reads a pointer-sized value at `p + offset`. */
  readPointer(p: Pointer, offset?: number): Pointer;
  /** Reads a NUL-terminated UTF-8 string at `p`. */
  readCString(p: Pointer): string;
  /** Makes `buf` unusable (length 0) wherever it is referenced; false if the runtime cannot. */
  detachArrayBuffer(buf: ArrayBuffer): boolean;
}
