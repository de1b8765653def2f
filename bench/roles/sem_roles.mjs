// The measuring side of bench/sem_bench.ts, in plain JavaScript so that the
// very same code runs on Deno, Node and Bun. The orchestrator starts it inside
// a pinned process tree, once per sample:
//
//   deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env \
//        bench/roles/sem_roles.mjs --lib /abs/mod.ts ROLE [options]
//   bun  bench/roles/sem_roles.mjs --lib /abs/mod.ts ROLE [options]
//   node bench/roles/sem_roles.mjs --lib /abs/npm/esm/mod.js ROLE [options]
//
// `--lib` is the library's entry module: the .ts source (Deno, Bun) or the
// compiled npm build (Node 20 runs no TypeScript). `--peer-cpus LIST` starts
// the peer a role talks to (C program or second runtime process) under
// `taskset -c LIST`. Roles print one JSON line:
//
//   ping             round trips over an IPC_PRIVATE set of two: V(0) then
//                    `await P(1)`; --peer self (a child of the same runtime
//                    running `pong`) or c (bench/bin/sem_pingpong pong).
//                    Warm-up: one wait that parks off-thread, then --warmup
//                    rounds and at least --warmup-ms after the peer answered
//                    (JIT tiers settle: Node and Bun need ~15 000–30 000
//                    rounds); then up to --rounds timed rounds, at most
//                    --max-ms. {"rounds","ns"}
//   pong --id ID     P(0) then V(1) until the set is removed
//   uncontended      `await acquire(); release();` × --pairs  {"pairs","ns"}
//   uncontended-try  `tryAcquire(); release();` × --pairs

import { parseArgs } from "node:util";
import { pathToFileURL } from "node:url";

const PERMS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-run", "--allow-env"];
const SELF = new URL(import.meta.url).pathname;
const bin = (name) => new URL(`../bin/${name}`, import.meta.url).pathname;

const { values, positionals } = parseArgs({
  args: globalThis.Deno ? Deno.args : process.argv.slice(2),
  options: {
    lib: { type: "string" },
    peer: { type: "string", default: "self" },
    id: { type: "string" },
    rounds: { type: "string", default: "20000" },
    warmup: { type: "string", default: "2000" },
    "warmup-ms": { type: "string", default: "500" },
    "max-ms": { type: "string", default: "1500" },
    "peer-cpus": { type: "string" },
    pairs: { type: "string", default: "1000000" },
  },
  allowPositionals: true,
  strict: true,
});
if (!values.lib) throw new Error("--lib PATH (the library's mod.ts or mod.js) is required");
const { IpcError, SemaphoreSet, spawn } = await import(pathToFileURL(values.lib).href);

/**
 * Starts the peer process — on the CPUs of `--peer-cpus` (through `taskset`)
 * when given, so the orchestrator can put the two sides on different CPUs.
 */
function spawnPeer(cmd, options) {
  const cpus = values["peer-cpus"];
  if (cpus === undefined) return spawn(cmd, options);
  return spawn("taskset", { ...options, args: ["-c", cpus, cmd, ...(options.args ?? [])] });
}

/** This runtime's command line for running this file again. */
function selfArgv(...rest) {
  if (globalThis.Deno) return [Deno.execPath(), ["run", ...PERMS, SELF, ...rest]];
  return [process.execPath, [SELF, ...rest]];
}

/**
 * One wait that parks off-thread (an acquire that times out on a scratch
 * semaphore), so that the off-thread worker's one-time start — a Worker
 * loading koffi takes ~50 ms on Node, ~6 ms on Bun, < 1 ms for Deno's pool
 * thread — happens during the warm-up, not in the timed rounds.
 */
async function warmOffThread() {
  const scratch = SemaphoreSet.create();
  try {
    await scratch.at(0).acquire({ timeout: 5 });
  } catch (e) {
    if (e?.name !== "TimeoutError") throw e;
  } finally {
    scratch.remove();
    scratch[Symbol.dispose]();
  }
}

async function ping(peer, rounds, warmup, warmupMs, maxMs) {
  await warmOffThread();
  const set = SemaphoreSet.create({ count: 2 });
  try {
    let child;
    if (peer === "self") {
      const [cmd, args] = selfArgv("--lib", values.lib, "pong", "--id", String(set.id));
      child = spawnPeer(cmd, { args });
    } else if (peer === "c") {
      child = spawnPeer(bin("sem_pingpong"), { args: ["pong", String(set.id)] });
    } else {
      throw new Error(`Unknown --peer ${peer} (self or c)`);
    }
    const [theirs, mine] = set;
    theirs.release();
    await mine.acquire(); // the peer is up
    const up = performance.now();
    for (let i = 1; i < warmup || performance.now() - up < warmupMs; i++) {
      theirs.release();
      await mine.acquire();
    }
    const t0 = performance.now();
    let done = 0;
    while (done < rounds) {
      theirs.release();
      await mine.acquire();
      done++;
      if ((done & 255) === 0 && performance.now() - t0 > maxMs) break;
    }
    const ns = Math.round((performance.now() - t0) * 1e6);
    set.remove(); // the peer's P(0) fails with EIDRM: it exits
    const st = await child.status;
    if (!st.success) throw new Error(`${peer} peer failed: code ${st.code}`);
    return { rounds: done, ns };
  } finally {
    set.remove();
  }
}

async function pong(id) {
  await warmOffThread();
  const set = SemaphoreSet.fromId(id);
  const [mine, theirs] = set;
  try {
    for (;;) {
      try {
        await mine.acquire();
      } catch (e) {
        if (e instanceof IpcError && e.code === "EIDRM") return;
        throw e;
      }
      theirs.release();
    }
  } finally {
    set[Symbol.dispose]();
  }
}

async function uncontended(pairs, tryOnly) {
  const set = SemaphoreSet.create({ initial: 1 });
  try {
    const sem = set.at(0);
    const run = async (n) => {
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
    await run(Math.max(1000, pairs / 10)); // warm up the JIT
    const t0 = performance.now();
    await run(pairs);
    return { pairs, ns: Math.round((performance.now() - t0) * 1e6) };
  } finally {
    set.remove();
    set[Symbol.dispose]();
  }
}

const int = (s) => {
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < 0) throw new RangeError(`Expected an integer ≥ 0: ${s}`);
  return n;
};

const role = positionals[0];
let result;
switch (role) {
  case "ping":
    result = await ping(
      values.peer,
      int(values.rounds),
      int(values.warmup),
      int(values["warmup-ms"]),
      int(values["max-ms"]),
    );
    break;
  case "pong":
    await pong(int(values.id));
    break;
  case "uncontended":
  case "uncontended-try":
    result = await uncontended(int(values.pairs), role.endsWith("try"));
    break;
  default:
    throw new Error(`Unknown role ${role}`);
}
if (result !== undefined) console.log(JSON.stringify(result));
process.exit(0);
