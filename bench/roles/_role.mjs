// The role side of bench/_harness.ts, shared by the role files: the command
// line every role takes, the peer started on its own CPUs, and the warm-up
// and timing of round trips — so a role file is only what it measures.
//
// Every role file takes `--lib PATH` (the library's entry: the .ts source on
// Deno and Bun, a compiled build on Node), `--peer-cpus LIST` (start the peer
// under `taskset -c LIST`), `--peer self|c` and the round-trip options
// `--rounds`, `--warmup`, `--warmup-ms`, `--max-ms`, plus its own; the first
// positional argument names the role. A role returns an object, printed as
// the one JSON line the harness reads.

import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

const PERMS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-run", "--allow-env"];

/** The path of a compiled C peer in `bench/bin/`. */
export const bin = (name) => new URL(`../bin/${name}`, import.meta.url).pathname;

/**
 * Parses the command line (the shared options and `own`), imports the
 * library from `--lib`, and returns `{ values, role, lib }`.
 */
export async function start(own = {}) {
  const { values, positionals } = parseArgs({
    args: globalThis.Deno ? Deno.args : process.argv.slice(2),
    options: {
      lib: { type: "string" },
      peer: { type: "string", default: "self" },
      "peer-cpus": { type: "string" },
      rounds: { type: "string", default: "20000" },
      warmup: { type: "string", default: "2000" },
      "warmup-ms": { type: "string", default: "500" },
      "max-ms": { type: "string", default: "1500" },
      // The round trips with the calls that block the thread (acquireSync(), …).
      sync: { type: "boolean", default: false },
      ...own,
    },
    allowPositionals: true,
    strict: true,
  });
  if (!values.lib) throw new Error("--lib PATH (the library's mod.ts or mod.js) is required");
  const lib = await import(pathToFileURL(values.lib).href);
  return { values, role: positionals[0], lib };
}

/** A whole number option of at least `min`. */
export function int(s, min = 0) {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`Expected an integer ≥ ${min}: ${s}`);
  }
  return n;
}

/**
 * Starts the peer process with the library's `spawn` — on the CPUs of
 * `--peer-cpus` (through `taskset`) when given, so the harness can put the
 * two sides on different CPUs.
 */
export function spawnPeer(spawn, values, cmd, options) {
  const cpus = values["peer-cpus"];
  if (cpus === undefined) return spawn(cmd, options);
  return spawn("taskset", { ...options, args: ["-c", cpus, cmd, ...(options.args ?? [])] });
}

/** This runtime's `[command, args]` for running the role file `self` again. */
export function selfArgv(self, ...rest) {
  if (globalThis.Deno) return [Deno.execPath(), ["run", ...PERMS, self, ...rest]];
  return [process.execPath, [self, ...rest]];
}

/** Waits for a child's status; throws unless it succeeded. */
export async function mustSucceed(status, what) {
  const st = await status;
  if (!st.success) throw new Error(`${what} failed: code ${st.code}`);
}

/** Reads a pipe end to end of file, closes it, and returns the text. */
export async function readAll(end) {
  const parts = [];
  for (;;) {
    const buf = new Uint8Array(4096);
    const n = await end.read(buf);
    if (n === null) break;
    parts.push(buf.subarray(0, n));
  }
  end.close();
  return new TextDecoder().decode(await new Blob(parts).arrayBuffer());
}

/**
 * Times round trips: `once()` a first time (the peer is up), then untimed
 * `--warmup` rounds and at least `--warmup-ms` (JIT tiers settle: Node and
 * Bun need ~15 000–30 000 rounds), then up to `--rounds` timed rounds, at
 * most `--max-ms`. Returns `{ rounds, ns }`.
 */
export async function timeRounds(values, once) {
  if (values.sync) return timeRoundsSync(values, once);
  const rounds = int(values.rounds, 1), warmup = int(values.warmup);
  const warmupMs = int(values["warmup-ms"]), maxMs = int(values["max-ms"], 1);
  await once();
  const up = performance.now();
  for (let i = 1; i < warmup || performance.now() - up < warmupMs; i++) await once();
  const t0 = performance.now();
  let done = 0;
  while (done < rounds) {
    await once();
    done++;
    if ((done & 127) === 0 && performance.now() - t0 > maxMs) break;
  }
  return { rounds: done, ns: Math.round((performance.now() - t0) * 1e6) };
}

/** {@link timeRounds} for a round that never awaits (`--sync`): no promise per round. */
function timeRoundsSync(values, once) {
  const rounds = int(values.rounds, 1), warmup = int(values.warmup);
  const warmupMs = int(values["warmup-ms"]), maxMs = int(values["max-ms"], 1);
  once();
  const up = performance.now();
  for (let i = 1; i < warmup || performance.now() - up < warmupMs; i++) once();
  const t0 = performance.now();
  let done = 0;
  while (done < rounds) {
    once();
    done++;
    if ((done & 127) === 0 && performance.now() - t0 > maxMs) break;
  }
  return { rounds: done, ns: Math.round((performance.now() - t0) * 1e6) };
}

/**
 * Times the uncontended pair on `sem`: `pairs` × { `await sem.acquire();
 * sem.release();` } — or `tryAcquire()` with `tryOnly` — after a tenth as
 * many untimed (the JIT settles). Returns `{ pairs, ns }`.
 */
export async function timeUncontended(sem, pairs, tryOnly) {
  const go = async (n) => {
    if (tryOnly) {
      for (let i = 0; i < n; i++) {
        if (!sem.tryAcquire()) throw new Error("contended?");
        sem.release();
      }
    } else {
      for (let i = 0; i < n; i++) {
        await sem.acquire();
        sem.release();
      }
    }
  };
  await go(Math.max(1000, pairs / 10));
  const t0 = performance.now();
  await go(pairs);
  return { pairs, ns: Math.round((performance.now() - t0) * 1e6) };
}

/** The copies {@link timeCopies} times, each into or out of shared memory. */
export const COPIES = ["set-in", "write-in", "set-out", "slice-out", "read-out"];

/**
 * Times `iters` copies of all of `mem` (shared memory with `bytes`, `read()`
 * and `write()`: a `SharedMemory` or a `PosixSharedMemory`) in one of
 * {@link COPIES}: `bytes.set(src)` or `write(src)` in; out `dst.set(bytes)`
 * into a preallocated array, or `bytes.slice()` or `read()`, which allocate.
 * First one untimed copy each way, so every page of both is faulted in.
 * Returns `{ bytes, iters, ns, check }` (check: a byte a page of the last copy).
 */
export function timeCopies(mem, op, iters) {
  if (!COPIES.includes(op)) throw new Error(`Unknown copy ${op} (${COPIES.join(", ")})`);
  const shm = mem.bytes;
  const bytes = shm.length;
  const src = new Uint8Array(bytes);
  for (let i = 0; i < bytes; i++) src[i] = (i * 131 + 7) & 0xff;
  const dst = new Uint8Array(bytes);
  shm.set(src); // warm-up: fault in every page of both
  dst.set(shm);
  let out = dst;
  const t0 = performance.now();
  for (let k = 0; k < iters; k++) {
    switch (op) {
      case "set-in":
        shm.set(src);
        break;
      case "write-in":
        mem.write(src);
        break;
      case "set-out":
        dst.set(shm);
        break;
      case "slice-out":
        out = shm.slice();
        break;
      case "read-out":
        out = mem.read();
        break;
    }
  }
  const ns = Math.round((performance.now() - t0) * 1e6);
  const probe = op.endsWith("-in") ? shm : out;
  let check = 0;
  for (let i = 0; i < bytes; i += 4096) check += probe[i];
  return { bytes, iters, ns, check };
}

/** Runs the role named on the command line from `roles`, prints its result, exits. */
export async function run(role, roles) {
  const f = roles[role];
  if (f === undefined) throw new Error(`Unknown role ${role}`);
  const result = await f();
  if (result !== undefined) console.log(JSON.stringify(result));
  process.exit(0);
}
