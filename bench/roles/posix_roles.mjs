// The measuring side of bench/posix_bench.ts, in plain JavaScript so that the
// very same code runs on Deno, Node and Bun (started like sem_roles.mjs, with
// `--lib` and, under a split pinning, `--peer-cpus`). Roles print one JSON line:
//
//   ping             round trips over two named POSIX semaphores A and B:
//                    release(A) then `await acquire(B)`; --peer self (a child
//                    of the same runtime running `pong`) or c
//                    (bench/bin/posix_pingpong pong). The peer releases B once
//                    when it has both open; then the names are unlinked (so
//                    nothing is left even if a run is killed); the peer is
//                    killed at the end. Warm-up and timing as in sem_roles.mjs. {"rounds","ns"}
//   --sync           (ping and pong) acquireSync() in place of `await acquire()`
//   pong --a A --b B `await acquire(A)` then release(B), until killed; it
//                    releases B once at the start to say it has opened both
//   uncontended      `await acquire(); release();` × --pairs  {"pairs","ns"}
//   uncontended-try  `tryAcquire(); release();` × --pairs
//   set-in, write-in, set-out, slice-out, read-out
//                    --bytes B --iters N: copies into and out of POSIX shared
//                    memory (unlinked at once), timeCopies() in _role.mjs:
//                    `mem.bytes.set(src)`, `dst.set(mem.bytes)` into a
//                    preallocated array, `mem.read()` allocating, …
//                    {"bytes","iters","ns","check"}

import {
  bin,
  COPIES,
  int,
  run,
  selfArgv,
  spawnPeer as startPeer,
  start,
  timeCopies,
  timeRounds,
  timeUncontended,
} from "./_role.mjs";

const SELF = new URL(import.meta.url).pathname;

const { values, role, lib } = await start({
  a: { type: "string" },
  b: { type: "string" },
  pairs: { type: "string", default: "1000000" },
  bytes: { type: "string", default: String(64 * 1024 * 1024) },
  iters: { type: "string", default: "10" },
});
const { PosixSemaphore, PosixSharedMemory, spawn } = lib;
const spawnPeer = (cmd, options) => startPeer(spawn, values, cmd, options);

/**
 * One wait that parks off-thread (an acquire that times out), so the
 * off-thread worker's one-time start happens during the warm-up.
 */
async function warmOffThread(sem) {
  try {
    await sem.acquire({ timeout: 5 });
  } catch (e) {
    if (e?.name !== "TimeoutError") throw e;
  }
}

// Plain JavaScript for Node 20 too: no `using` (try/finally instead).

async function ping(peer) {
  const a = PosixSemaphore.create();
  const b = PosixSemaphore.create();
  let child;
  let named = true;
  const unlink = () => {
    if (!named) return;
    named = false;
    a.unlink();
    b.unlink();
  };
  try {
    await warmOffThread(b);
    if (peer === "self") {
      const sync = values.sync ? ["--sync"] : [];
      const [cmd, args] = selfArgv(
        SELF,
        "--lib",
        values.lib,
        "pong",
        "--a",
        a.name,
        "--b",
        b.name,
        ...sync,
      );
      child = spawnPeer(cmd, { args });
    } else if (peer === "c") {
      child = spawnPeer(bin("posix_pingpong"), { args: ["pong", a.name, b.name] });
    } else {
      throw new Error(`Unknown --peer ${peer} (self or c)`);
    }
    await b.acquire({ timeout: 30_000 }); // the peer has both open
    unlink();
    const result = await timeRounds(
      values,
      values.sync
        ? () => {
          a.release();
          b.acquireSync();
        }
        : async () => {
          a.release();
          await b.acquire();
        },
    );
    return result;
  } finally {
    unlink();
    if (child !== undefined) {
      child.kill("SIGKILL");
      await child.status;
    }
    a.close();
    b.close();
  }
}

async function pong(aName, bName) {
  const mine = PosixSemaphore.open(aName);
  const theirs = PosixSemaphore.open(bName);
  await warmOffThread(mine);
  theirs.release(); // ready
  for (;;) {
    if (values.sync) mine.acquireSync();
    else await mine.acquire();
    theirs.release();
  }
}

async function uncontended(pairs, tryOnly) {
  const sem = PosixSemaphore.create(undefined, { initial: 1 });
  sem.unlink();
  try {
    return await timeUncontended(sem, pairs, tryOnly);
  } finally {
    sem.close();
  }
}

function copy(op, bytes, iters) {
  const mem = PosixSharedMemory.create({ size: bytes });
  mem.unlink(); // gone when this process lets go of it
  try {
    return timeCopies(mem, op, iters);
  } finally {
    mem.close();
  }
}

await run(role, {
  ping: () => ping(values.peer),
  pong: () => pong(values.a, values.b),
  uncontended: () => uncontended(int(values.pairs), false),
  "uncontended-try": () => uncontended(int(values.pairs), true),
  ...Object.fromEntries(
    COPIES.map((op) => [op, () => copy(op, int(values.bytes, 1), int(values.iters, 1))]),
  ),
});
