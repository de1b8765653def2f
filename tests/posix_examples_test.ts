/**
 * The POSIX examples, run as the tour runs them, with real processes: NumPy
 * computing in place on our memory, anonymous memory handed to a child, and
 * the seed's critical section with a named POSIX semaphore — paired with a
 * control run without the lock that must lose updates, so the passing run
 * proves the semaphore did the work.
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { posixShmNumpy } from "../examples/posix_shm_numpy.ts";
import { memfdChild } from "../examples/memfd_child.ts";
import { posixSemCounter } from "../examples/posix_sem_counter.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import { listDir } from "./_support/procfs.ts";
import { runtimeName, test } from "./_support/runtime.ts";

const quiet = () => {};
const shmEntries = () => listDir("/dev/shm") ?? [];

/** Asserts that `fn` leaves this process's descriptors and `/dev/shm` as it found them. */
async function noLeaks(fn: () => Promise<void>): Promise<void> {
  const before = shmEntries();
  await assertNoFdLeak(fn);
  assert.deepEqual(shmEntries(), before, "/dev/shm changed");
}

test("posix_shm_numpy: NumPy squares 100,000 doubles in place and its sum shows here, exact", async () => {
  await noLeaks(async () => {
    const r = await posixShmNumpy(100_000, quiet);
    assert.equal(r.squared, true, "every element holds its square");
    assert.equal(r.expected, 333_328_333_350_000);
    assert.equal(r.sum, r.expected);
    assert.match(r.python, /^numpy \d+\.\d+.*squared 100000 doubles in place/);
  });
});

test("memfd_child: a child of this runtime writes into anonymous memory handed over as fd 3; no name appears", async () => {
  await noLeaks(async () => {
    const during: string[][] = [];
    const r = await memfdChild(() => during.push(shmEntries())); // a look at each step
    assert.equal(during.length, 2);
    assert.equal(r.pid, r.spawnedPid, "the child wrote its own pid");
    assert.notEqual(r.pid, process.pid);
    const name = { deno: "Deno", node: "Node.js", bun: "Bun" }[runtimeName];
    assert.equal(r.message, `hello from ${name}, pid ${r.pid}`);
    assert.deepEqual(during[0], during[1], "nothing appeared in /dev/shm while the child ran");
  });
});

test("posix_sem_counter: 4 processes × 1,500 increments under a named POSIX semaphore end at exactly 6,000", async () => {
  await noLeaks(async () => {
    const r = await posixSemCounter({ processes: 4, increments: 1500, lock: true, log: quiet });
    assert.equal(r.expected, 6000);
    assert.equal(r.total, 6000);
  });
});

test("posix_sem_counter control: the same run without the lock loses updates", async () => {
  await noLeaks(async () => {
    const r = await posixSemCounter({ processes: 4, increments: 1500, lock: false, log: quiet });
    assert.ok(r.total < r.expected, `without the lock ${r.total} of ${r.expected} survived`);
  });
});
