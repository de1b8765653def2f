/**
 * The POSIX examples, run as the tour runs them, with real processes: NumPy
 * computing in place on our memory, anonymous memory handed to a child, and
 * the seed's critical section with a named POSIX semaphore — paired with a
 * control run without the lock that must lose updates, so the passing run
 * proves the semaphore did the work. Every test also checks that this
 * process's descriptors and `/dev/shm` are as it found them — after the
 * failures too (Python failing or missing, a child dying before the gate).
 *
 * @module
 */
import assert from "node:assert/strict";
import process from "node:process";
import { posixShmNumpy } from "../examples/posix_shm_numpy.ts";
import { memfdChild } from "../examples/memfd_child.ts";
import { posixSemCounter } from "../examples/posix_sem_counter.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import { exampleArgv } from "./_support/children.ts";
import { fdTarget, listDir } from "./_support/procfs.ts";
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
    const before = shmEntries();
    const seen: { shm: string[]; fd: string }[] = [];
    let fd = -1;
    const r = await memfdChild((line) => {
      // A look at each step, while the memory exists: its first line names its descriptor.
      fd = Number(/ on fd (\d+)/.exec(line)?.[1] ?? fd);
      seen.push({ shm: shmEntries(), fd: fdTarget(fd) });
    });
    assert.equal(seen.length, 2);
    for (const s of seen) {
      assert.deepEqual(s.shm, before, "nothing appeared in /dev/shm while the memory existed");
      assert.match(
        s.fd,
        /^\/memfd:sysipc \(deleted\)$/,
        "a memfd, with no name in any file system",
      );
    }
    assert.equal(r.pid, r.spawnedPid, "the child wrote its own pid");
    assert.notEqual(r.pid, process.pid);
    const name = { deno: "Deno", node: "Node.js", bun: "Bun" }[runtimeName];
    assert.equal(r.message, `hello from ${name}, pid ${r.pid}`);
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

test("posix_shm_numpy: when Python fails or is missing, the error arrives and the name is unlinked all the same", async () => {
  await noLeaks(async () => {
    await assert.rejects(posixShmNumpy(10, quiet, "/bin/false"), /python failed: .*"code":1/);
    // no interpreter at all: spawn() throws, and the pipe is closed too
    await assert.rejects(posixShmNumpy(10, quiet, "/nonexistent/python3"), { code: "ENOENT" });
  });
});

test("posix_sem_counter: a child that dies before the gate fails the run at once; the others are ended and no name is left", async () => {
  await noLeaks(async () => {
    const t0 = performance.now();
    await assert.rejects(
      posixSemCounter({
        processes: 3,
        increments: 10,
        log: quiet,
        // child 1 gets a name that does not exist: it fails to open it and
        // exits (its error, expected, goes to /dev/null)
        launch: (args, i) => {
          if (i !== 1) {
            const [command, argv] = exampleArgv("posix_sem_counter.ts", args);
            return { command, args: argv };
          }
          const bad = args.map((x, j) => j === 2 ? "/sysipc_posix_ex_no_such_mutex" : x);
          const [command, argv] = exampleArgv("posix_sem_counter.ts", bad);
          return { command: "sh", args: ["-c", 'exec "$@" 2>/dev/null', "sh", command, ...argv] };
        },
      }),
      /child 1 \(pid \d+\) ended before the gate opened/,
    );
    const ms = performance.now() - t0;
    assert.ok(ms < 20_000, `failed after ${ms.toFixed(0)} ms, not at once`);
  });
});
