/**
 * Off-thread calls on threads this library owns: a small pool of Workers,
 * each with its own binding of the library and a `SharedArrayBuffer` control
 * block (see thread_main.ts for the Worker's side).
 *
 * Two kinds of call run here:
 *
 * - `nonblocking` functions on runtimes whose FFI has none of its own (Bun),
 *   or whose own one would starve (koffi's `.async()` runs on the libuv
 *   thread pool: four threads shared with `fs`, `dns` and `crypto`, so four
 *   pending FIFO opens left no thread for the shared waiter's `poll()` and a
 *   pipe read hung — reproduced). The promise gives the result.
 * - `cancellable` functions, on every runtime: the call gives the result
 *   *and the errno it left* (read on the Worker's own thread, right after the
 *   call) and can be interrupted: `cancel()` sends
 *   the Worker's thread a signal (interrupt.ts) whose handler is installed
 *   without `SA_RESTART`, so a blocked `semop`/`semtimedop` (and `msgrcv`,
 *   `sem_wait`, a futex wait) returns `EINTR`; it repeats the signal every
 *   {@linkcode KICK_MS} ms until the call has returned, which closes the
 *   window between the Worker's last look at the cancel flag and its entry
 *   into the kernel. The call stays in the kernel's queue the whole time (a
 *   semaphore's `semncnt` counts it), and an idle pool costs no CPU.
 *
 * The JavaScript thread turns buffer arguments into raw addresses (the
 * backend makes sure the bytes are off the JS heap, where they never move),
 * keeps the buffers referenced until the call returns, writes the arguments
 * into an idle Worker's block and wakes it (`Atomics.notify`). The Worker,
 * parked in `Atomics.wait` outside any event loop, makes the call, writes the
 * result and wakes the JavaScript thread, which waits with
 * `Atomics.waitAsync`: no event-loop message either way. Measured after a
 * pause (the usual case for a wait): 60–65 µs on Bun (95–100 µs with
 * `postMessage`), ~70 µs on Node.
 *
 * The Workers are `node:worker_threads` Workers on all three runtimes
 * (Deno and Bun have the module too): their `ref()`/`unref()` let a Worker
 * hold the process open only while it is in a call (Deno's web `Worker`
 * holds it open for as long as it lives). A Worker blocked in C cannot be
 * stopped, though, and Node joins its Workers when the process exits: the
 * Node backend then ends the process with `_exit()` after the last `exit`
 * listener (see node.ts). One Worker per concurrently blocked call; at most
 * {@linkcode MAX_IDLE} stay once idle, the others are told to quit. A Worker
 * costs memory (measured idle in `Atomics.wait`: ~12 MiB on Deno 2.9, ~8 MiB
 * on Node 20, ~3.6 MiB on Bun 1.4), so the wait engine (`_sys/park.ts`)
 * reads {@linkcode blockedCalls} and stops handing out Workers past a limit.
 *
 * @module
 */
import type { CallOutcome, CancellableCall, FnDef, NativeType } from "./types.ts";
import type { Interrupter } from "./interrupt.ts";
import { CB, KIND, type ThreadFnDef, type ThreadNative, threadSource } from "./thread_main.ts";

/** Idle Workers kept for the next blocking call. */
export const MAX_IDLE = 4;

/** How often a cancellation re-sends its signal until the call returns (ms). */
export const KICK_MS = 2;

/** A started Worker, as the pool needs it. */
export interface PoolWorker {
  ref(): void;
  unref(): void;
}

/**
 * Starts a Worker running `source` with `workerData`; calls `died` with a
 * message if the Worker fails or exits on its own.
 */
export type SpawnWorker = (
  source: string,
  workerData: unknown,
  died: (message: string) => void,
) => PoolWorker;

/** The Worker's start-up data (see {@linkcode threadSource}). */
interface ThreadData {
  sab: SharedArrayBuffer;
  libc: string;
  arg: string;
}

/**
 * Starts a `node:worker_threads` Worker from source text (Deno, Node.js and
 * Bun all have the module; starting from text needs no read permission).
 */
export const spawnNodeWorker: SpawnWorker = (source, workerData, died) => {
  // deno-lint-ignore no-explicit-any
  const proc = (globalThis as any).process;
  const { Worker } = proc.getBuiltinModule("node:worker_threads");
  const w = new Worker(source, { eval: true, workerData });
  w.on("error", (e: Error) => died(String(e?.message ?? e)));
  w.on("exit", (code: number) => died(`the Worker exited (code ${code})`));
  return w;
};

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

/** What the pool needs from its backend. */
export interface OffThreadOptions {
  /** The runtime's `*ThreadNative` function (thread_main.ts). */
  native: (arg: string) => ThreadNative;
  /** Its argument (on Node: where koffi is and its type names, as JSON). */
  nativeArg?: string;
  /** Starts one Worker; {@linkcode spawnNodeWorker} unless a backend needs more. */
  spawn?: SpawnWorker;
  /** The address of a buffer's first byte, stable while it is referenced. */
  addressOf: (buf: ArrayBufferView | ArrayBuffer) => bigint;
  /** Installs the cancel signal's handler (once) for the C library at `path`. */
  interrupter: (path: string) => Interrupter;
}

/** The process's pool (one backend per process), for {@linkcode blockedCalls}. */
let current: OffThread | undefined;

/**
 * How many calls are in progress on the library's threads right now (0
 * before the first one).
 */
export function blockedCalls(): number {
  return current?.busy ?? 0;
}

/** The Worker pool. */
export class OffThread {
  #o: OffThreadOptions;
  #source: string | undefined;
  #libc: string | undefined;
  #interrupter: Interrupter | undefined;
  #idle: Slot[] = [];
  #nextId = 0;
  #busy = 0;

  /** @param options What the pool needs from its backend. */
  constructor(options: OffThreadOptions) {
    this.#o = options;
    current = this;
  }

  /** How many calls are in progress on a Worker. */
  get busy(): number {
    return this.#busy;
  }

  #prepare(path: string, key: string, def: FnDef): { id: number; json: Uint8Array } {
    if (def.parameters.length > CB.MAX_ARGS) {
      throw new RangeError(`An off-thread function takes at most ${CB.MAX_ARGS} parameters`);
    }
    this.#libc ??= path;
    const tdef: ThreadFnDef = {
      path,
      symbol: def.name ?? key,
      parameters: def.parameters,
      result: def.result,
    };
    const json = encoder.encode(JSON.stringify(tdef));
    if (json.length > CB.BYTES - CB.TEXT) throw new RangeError("Function definition too long");
    return { id: this.#nextId++, json };
  }

  /**
   * A function that runs `def` (from library `path`) on a pool Worker and
   * resolves to its result.
   *
   * @param path The library.
   * @param key The table key (the C symbol unless `def.name` says otherwise).
   * @param def The function.
   */
  bind(path: string, key: string, def: FnDef): (...args: unknown[]) => Promise<unknown> {
    const { id, json } = this.#prepare(path, key, def);
    const types = def.parameters;
    return async (...args: unknown[]) => {
      const { slot, done } = this.#start(id, json, types, args);
      await done;
      args.length = 0; // `args` held the buffers until the Worker was done with their addresses
      return this.#finish(slot, id).result;
    };
  }

  /**
   * A function that starts `def` (from library `path`) on a pool Worker and
   * returns a {@linkcode CancellableCall}.
   *
   * @param path The library.
   * @param key The table key (the C symbol unless `def.name` says otherwise).
   * @param def The function.
   */
  bindCancellable(path: string, key: string, def: FnDef): (...args: unknown[]) => CancellableCall {
    const { id, json } = this.#prepare(path, key, def);
    const types = def.parameters;
    return (...args: unknown[]) => {
      // The handler exists before any call could need the signal.
      const interrupter = this.#interrupter ??= this.#o.interrupter(path);
      const { slot, done } = this.#start(id, json, types, args);
      let over = false;
      let timer: ReturnType<typeof setTimeout> | undefined;
      const outcome = done.then(() => {
        over = true;
        if (timer !== undefined) clearTimeout(timer);
        args.length = 0;
        return this.#finish(slot, id);
      });
      const kick = () => {
        timer = undefined;
        if (over || Atomics.load(slot.i32, CB.STATE) !== CB.CALL) return;
        // 0 until the Worker has started: then the flag alone stops the call.
        const tid = Atomics.load(slot.i32, CB.TID);
        if (tid !== 0) interrupter.interrupt(tid);
        timer = setTimeout(kick, KICK_MS);
      };
      return {
        done: outcome,
        cancel() {
          if (over || Atomics.load(slot.i32, CB.CANCEL) !== 0) return;
          Atomics.store(slot.i32, CB.CANCEL, 1);
          kick();
        },
      };
    };
  }

  #start(
    id: number,
    json: Uint8Array,
    types: readonly NativeType[],
    args: unknown[],
  ): { slot: Slot; done: Promise<void> } {
    // Addresses first: a throw here must not leave a Worker marked busy.
    const values = types.map((t, i) => {
      const v = args[i];
      if (v === null || v === undefined) return 0n;
      if (t === "buffer") {
        const b = v as ArrayBufferView | ArrayBuffer;
        return b.byteLength === 0 ? 0n : this.#o.addressOf(b);
      }
      return t === "f64" ? v : BigInt(v as number | bigint);
    });
    let slot = this.#idle.pop();
    while (slot?.dead) slot = this.#idle.pop();
    slot ??= this.#spawn();
    const { i32, i64, f64, bytes } = slot;
    i32[CB.FN] = id;
    i32[CB.KIND] = 0;
    i32[CB.CANCEL] = 0;
    if (!slot.known.has(id)) {
      bytes.set(json, CB.TEXT);
      i32[CB.KIND] = json.length;
      slot.known.add(id);
    }
    types.forEach((t, i) => {
      if (t === "f64") f64[CB.ARGS / 8 + i] = Number(values[i]);
      else i64[CB.ARGS / 8 + i] = values[i] as bigint;
    });
    this.#busy++;
    slot.worker.ref(); // a pending call keeps the process alive
    Atomics.store(i32, CB.STATE, CB.CALL);
    Atomics.notify(i32, CB.STATE);
    const done = (async () => {
      try {
        // deno-lint-ignore no-explicit-any
        const w = ((Atomics as any).waitAsync as WaitAsync)(i32, CB.STATE, CB.CALL);
        if (w.async) await w.value;
      } finally {
        slot.worker.unref();
        this.#busy--;
      }
    })();
    return { slot, done };
  }

  #finish(slot: Slot, id: number): CallOutcome {
    const { i32, i64, f64, bytes } = slot;
    const kind = i32[CB.KIND];
    const r = CB.RESULT / 8;
    if (kind === KIND.ERROR) {
      const message = decoder.decode(bytes.slice(CB.TEXT, CB.TEXT + i32[CB.TEXT_LEN]));
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
    const errno = i32[CB.ERRNO];
    this.#release(slot);
    return { result, errno };
  }

  #release(slot: Slot): void {
    if (slot.dead) return;
    Atomics.store(slot.i32, CB.STATE, CB.IDLE);
    if (this.#idle.length < MAX_IDLE) this.#idle.push(slot);
    else {
      slot.dead = true;
      Atomics.store(slot.i32, CB.STATE, CB.QUIT);
      Atomics.notify(slot.i32, CB.STATE);
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
    this.#source ??= threadSource(this.#o.native);
    const data: ThreadData = { sab, libc: this.#libc!, arg: this.#o.nativeArg ?? "" };
    slot.worker = (this.#o.spawn ?? spawnNodeWorker)(this.#source, data, (message) => {
      if (slot.dead) return;
      slot.dead = true;
      // Release a caller waiting on this Worker with the failure.
      if (Atomics.load(slot.i32, CB.STATE) === CB.CALL) {
        const m = encoder.encode(message).subarray(0, CB.BYTES - CB.TEXT);
        slot.bytes.set(m, CB.TEXT);
        slot.i32[CB.TEXT_LEN] = m.length;
        slot.i32[CB.KIND] = KIND.ERROR;
        Atomics.store(slot.i32, CB.STATE, CB.DONE);
        Atomics.notify(slot.i32, CB.STATE);
      }
    });
    slot.worker.unref();
    return slot;
  }
}
