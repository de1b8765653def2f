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
//   --sync           (ping and pong) acquireSync() in place of `await acquire()`
//   uncontended      `await acquire(); release();` × --pairs  {"pairs","ns"}
//   uncontended-try  `tryAcquire(); release();` × --pairs

import {
  bin,
  int,
  run,
  selfArgv,
  spawnPeer as startPeer,
  start,
  timeRounds,
  timeUncontended,
} from "./_role.mjs";

const SELF = new URL(import.meta.url).pathname;

const { values, role, lib } = await start({
  id: { type: "string" },
  pairs: { type: "string", default: "1000000" },
});
const { IpcError, SemaphoreSet, spawn } = lib;
const spawnPeer = (cmd, options) => startPeer(spawn, values, cmd, options);

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

async function ping(peer) {
  await warmOffThread();
  const set = SemaphoreSet.create({ count: 2 });
  try {
    let child;
    if (peer === "self") {
      const sync = values.sync ? ["--sync"] : [];
      const [cmd, args] = selfArgv(
        SELF,
        "--lib",
        values.lib,
        "pong",
        "--id",
        String(set.id),
        ...sync,
      );
      child = spawnPeer(cmd, { args });
    } else if (peer === "c") {
      child = spawnPeer(bin("sem_pingpong"), { args: ["pong", String(set.id)] });
    } else {
      throw new Error(`Unknown --peer ${peer} (self or c)`);
    }
    const [theirs, mine] = set;
    const result = await timeRounds(
      values,
      values.sync
        ? () => {
          theirs.release();
          mine.acquireSync();
        }
        : async () => {
          theirs.release();
          await mine.acquire();
        },
    );
    set.remove(); // the peer's P(0) fails with EIDRM: it exits
    const st = await child.status;
    if (!st.success) throw new Error(`${peer} peer failed: code ${st.code}`);
    return result;
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
        if (values.sync) mine.acquireSync();
        else await mine.acquire();
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
    return await timeUncontended(set.at(0), pairs, tryOnly);
  } finally {
    set.remove();
    set[Symbol.dispose]();
  }
}

await run(role, {
  ping: () => ping(values.peer),
  pong: () => pong(int(values.id)),
  uncontended: () => uncontended(int(values.pairs), false),
  "uncontended-try": () => uncontended(int(values.pairs), true),
});
