/**
 * Off-thread calls for runtimes whose FFI has no `nonblocking` of its own
 * (Bun), or whose own one would starve (koffi's `.async()` runs on the libuv
 * thread pool: four threads shared with `fs`, `dns` and `crypto`, so four
 * pending FIFO opens left no thread for the shared waiter's `poll()` and a
 * pipe read hung — reproduced).
 *
 * A small pool of Workers, each with its own binding of the library and a
 * `SharedArrayBuffer` control block. The JavaScript thread turns buffer
 * arguments into raw addresses (the backend makes sure the bytes are off the
 * JS heap, where they never move), keeps the buffers referenced until the
 * call returns, writes the arguments into an idle Worker's block and wakes it
 * (`Atomics.notify`). The Worker, parked in `Atomics.wait` outside any event
 * loop, makes the blocking call, writes the result and wakes the JavaScript
 * thread, which waits with `Atomics.waitAsync`: no event-loop message either
 * way. Measured after a pause (the usual case for a wait): 60–65 µs on Bun
 * (95–100 µs with `postMessage`), ~70 µs on Node; Deno's `nonblocking` takes
 * 70–100 µs here.
 *
 * A Worker is `ref()`ed only while it is in a call: a pending call keeps the
 * process alive (as on Deno), idle Workers never do. A Worker blocked in C
 * cannot be stopped, though, and Node joins its Workers when the process
 * exits: the Node backend then ends the process with `_exit()` after the
 * last `exit` listener (see node.ts). One Worker per concurrently blocked
 * call; at most {@linkcode MAX_IDLE} stay once idle, the others are told to
 * quit.
 *
 * @module
 */
import type { FnDef, NativeResultType, NativeType } from "./types.ts";

/** Idle Workers kept for the next blocking call. */
export const MAX_IDLE = 4;

/**
 * The control block: `i32[0]` the state, `i32[1]` the function's id,
 * `i32[2]` the length of its JSON definition when this Worker has not seen
 * it yet (else 0) and then the result's kind, `i32[3]` the length of an
 * error message; 8-byte argument slots from `ARGS`, the result at `RESULT`,
 * text (definition or error) from `TEXT`.
 */
const CB = {
  IDLE: 0,
  CALL: 1,
  DONE: 2,
  QUIT: 3,
  ARGS: 16,
  MAX_ARGS: 16,
  RESULT: 144,
  TEXT: 160,
  BYTES: 4096,
} as const;
/** Result kinds in `i32[2]` once `DONE`. */
const KIND = { NUMBER: 0, BIGINT: 1, NULL: 2, ERROR: 3, VOID: 4, UBIGINT: 5 } as const;

/** What a Worker is told about a function (JSON in the control block). */
export interface WorkerFnDef {
  path: string;
  symbol: string;
  parameters: readonly NativeType[];
  result: NativeResultType;
}

/**
 * The Worker's side, in plain JavaScript, around a runtime's own part.
 *
 * @param prelude Defines `start(run)` (calls `run(sab)` once the control
 *   block is there), `bind(def)` (a function for a {@linkcode WorkerFnDef})
 *   and `pointer(address)` (a nonzero `bigint` address as the FFI takes it).
 */
export function workerSource(prelude: string): string {
  return `${prelude}
const CB = ${JSON.stringify(CB)}, KIND = ${JSON.stringify(KIND)};
start((sab) => {
  const i32 = new Int32Array(sab), i64 = new BigInt64Array(sab), u64 = new BigUint64Array(sab);
  const f64 = new Float64Array(sab), bytes = new Uint8Array(sab), fns = new Map(), A = CB.ARGS / 8, R = CB.RESULT / 8;
  for (;;) {
    let s;
    while ((s = Atomics.load(i32, 0)) !== CB.CALL && s !== CB.QUIT) Atomics.wait(i32, 0, s);
    if (s === CB.QUIT) return;
    try {
      if (i32[2] > 0) {
        const d = JSON.parse(new TextDecoder().decode(bytes.slice(CB.TEXT, CB.TEXT + i32[2])));
        fns.set(i32[1], { f: bind(d), parameters: d.parameters });
      }
      const fn = fns.get(i32[1]);
      const argv = fn.parameters.map((t, i) =>
        t === "f64" ? f64[A + i]
        : t === "pointer" || t === "buffer" ? (i64[A + i] === 0n ? null : pointer(i64[A + i]))
        : t === "u64" || t === "usize" ? u64[A + i]
        : t === "i64" || t === "isize" ? i64[A + i]
        : Number(i64[A + i]));
      const v = fn.f(...argv);
      if (v === undefined) i32[2] = KIND.VOID;
      else if (v === null) i32[2] = KIND.NULL;
      else if (typeof v === "bigint" && v > 0x7fffffffffffffffn) { u64[R] = v; i32[2] = KIND.UBIGINT; }
      else if (typeof v === "bigint") { i64[R] = v; i32[2] = KIND.BIGINT; }
      else { f64[R] = v; i32[2] = KIND.NUMBER; }
    } catch (e) {
      const m = new TextEncoder().encode(String((e && e.message) || e)).subarray(0, CB.BYTES - CB.TEXT);
      bytes.set(m, CB.TEXT);
      i32[3] = m.length;
      i32[2] = KIND.ERROR;
    }
    Atomics.store(i32, 0, CB.DONE);
    Atomics.notify(i32, 0);
  }
});
`;
}

/** A started Worker, as the pool needs it. */
export interface PoolWorker {
  ref(): void;
  unref(): void;
}

/**
 * Starts a Worker running {@linkcode workerSource} on `sab`; calls `died`
 * with a message if the Worker fails or exits on its own.
 */
export type SpawnWorker = (sab: SharedArrayBuffer, died: (message: string) => void) => PoolWorker;

interface Slot {
  worker: PoolWorker;
  i32: Int32Array;
  i64: BigInt64Array;
  u64: BigUint64Array;
  f64: Float64Array;
  bytes: Uint8Array;
  known: Set<number>;
  dead: boolean;
}

type WaitAsync = (
  a: Int32Array,
  i: number,
  v: number,
) => { async: boolean; value: Promise<string> | string };

const encoder = new TextEncoder();
const decoder = new TextDecoder();

/** The Worker pool that runs `nonblocking` calls. */
export class OffThread {
  #spawnWorker: SpawnWorker;
  #addressOf: (buf: ArrayBufferView | ArrayBuffer) => bigint;
  #idle: Slot[] = [];
  #nextId = 0;
  #busy = 0;

  /**
   * @param spawnWorker Starts one Worker.
   * @param addressOf The address of a buffer's first byte, stable while it is referenced.
   */
  constructor(
    spawnWorker: SpawnWorker,
    addressOf: (buf: ArrayBufferView | ArrayBuffer) => bigint,
  ) {
    this.#spawnWorker = spawnWorker;
    this.#addressOf = addressOf;
  }

  /** How many calls are in progress on a Worker. */
  get busy(): number {
    return this.#busy;
  }

  /**
   * A function that runs `def` (from library `path`) on a pool Worker.
   *
   * @param path The library.
   * @param key The table key (the C symbol unless `def.name` says otherwise).
   * @param def The function.
   */
  bind(path: string, key: string, def: FnDef): (...args: unknown[]) => Promise<unknown> {
    if (def.parameters.length > CB.MAX_ARGS) {
      throw new RangeError(`A nonblocking function takes at most ${CB.MAX_ARGS} parameters`);
    }
    const id = this.#nextId++;
    const wdef: WorkerFnDef = {
      path,
      symbol: def.name ?? key,
      parameters: def.parameters,
      result: def.result,
    };
    const json = encoder.encode(JSON.stringify(wdef));
    if (json.length > CB.BYTES - CB.TEXT) throw new RangeError("Function definition too long");
    const types = def.parameters;
    return async (...args: unknown[]) => {
      const result = await this.#run(id, json, types, args);
      args.length = 0; // `args` held the buffers until the Worker was done with their addresses
      return result;
    };
  }

  async #run(
    id: number,
    json: Uint8Array,
    types: readonly NativeType[],
    args: unknown[],
  ): Promise<unknown> {
    // Addresses first: a throw here must not leave a Worker marked busy.
    const slots = types.map((t, i) => {
      const v = args[i];
      if (v === null || v === undefined) return 0n;
      if (t === "buffer") {
        const b = v as ArrayBufferView | ArrayBuffer;
        return b.byteLength === 0 ? 0n : this.#addressOf(b);
      }
      return t === "f64" ? v : BigInt(v as number | bigint);
    });
    let slot = this.#idle.pop();
    while (slot?.dead) slot = this.#idle.pop();
    slot ??= this.#spawn();
    const { i32, i64, f64, bytes } = slot;
    i32[1] = id;
    i32[2] = 0;
    if (!slot.known.has(id)) {
      bytes.set(json, CB.TEXT);
      i32[2] = json.length;
      slot.known.add(id);
    }
    types.forEach((t, i) => {
      if (t === "f64") f64[CB.ARGS / 8 + i] = Number(slots[i]);
      else i64[CB.ARGS / 8 + i] = slots[i] as bigint;
    });
    this.#busy++;
    slot.worker.ref(); // a pending call keeps the process alive (Node and Bun: checked)
    Atomics.store(i32, 0, CB.CALL);
    Atomics.notify(i32, 0);
    try {
      // deno-lint-ignore no-explicit-any
      const w = ((Atomics as any).waitAsync as WaitAsync)(i32, 0, CB.CALL);
      if (w.async) await w.value;
    } finally {
      slot.worker.unref();
      this.#busy--;
    }
    const kind = i32[2];
    const r = CB.RESULT / 8;
    if (kind === KIND.ERROR) {
      const message = decoder.decode(bytes.slice(CB.TEXT, CB.TEXT + i32[3]));
      slot.known.delete(id);
      this.#release(slot);
      throw new Error(`sysipc's off-thread call failed: ${message}`);
    }
    const result = kind === KIND.NUMBER
      ? f64[r]
      : kind === KIND.BIGINT
      ? i64[r]
      : kind === KIND.UBIGINT
      ? slot.u64[r]
      : kind === KIND.NULL
      ? null
      : undefined;
    this.#release(slot);
    return result;
  }

  #release(slot: Slot): void {
    if (slot.dead) return;
    if (this.#idle.length < MAX_IDLE) this.#idle.push(slot);
    else {
      slot.dead = true;
      Atomics.store(slot.i32, 0, CB.QUIT);
      Atomics.notify(slot.i32, 0);
    }
  }

  #spawn(): Slot {
    const sab = new SharedArrayBuffer(CB.BYTES);
    const slot: Slot = {
      worker: undefined as unknown as PoolWorker,
      i32: new Int32Array(sab),
      i64: new BigInt64Array(sab),
      u64: new BigUint64Array(sab),
      f64: new Float64Array(sab),
      bytes: new Uint8Array(sab),
      known: new Set(),
      dead: false,
    };
    slot.worker = this.#spawnWorker(sab, (message) => {
      if (slot.dead) return;
      slot.dead = true;
      // Release a caller waiting on this Worker with the failure.
      if (Atomics.load(slot.i32, 0) === CB.CALL) {
        const m = encoder.encode(message).subarray(0, CB.BYTES - CB.TEXT);
        slot.bytes.set(m, CB.TEXT);
        slot.i32[3] = m.length;
        slot.i32[2] = KIND.ERROR;
        Atomics.store(slot.i32, 0, CB.DONE);
        Atomics.notify(slot.i32, 0);
      }
    });
    slot.worker.unref();
    return slot;
  }
}
