/**
 * The off-thread wait behind a blocked semaphore operation: one `semtimedop`
 * for the whole wait on a thread of the library's own, interrupted by a
 * signal when the wait is cancelled.
 *
 * @module
 */
import assert from "node:assert/strict";
import { IpcError, maxBlockedWaits, mkfifo, openFifo, pipe, SemaphoreSet } from "./_support/lib.ts";
import { tempDir, test } from "./_support/runtime.ts";
import { threadCount } from "./_support/procfs.ts";
import { rmSync } from "node:fs";
import { isName } from "./_support/reject.ts";
import { interopFile, start } from "./_support/children.ts";
import { assertNoLeaks as noLeaks, withNewSet } from "./_support/leaks.ts";
import { sleep, until } from "./_support/timing.ts";

async function settled(p: Promise<unknown>): Promise<{ ok: boolean; error?: unknown }> {
  try {
    await p;
    return { ok: true };
  } catch (error) {
    return { ok: false, error };
  }
}

test("another process sees waitingForIncrease === 1 in every sample during one of our waits", async () => {
  await withNewSet(undefined, async (set) => {
    const sem = set.at(0);
    const p = sem.acquire({ timeout: 15_000 });
    await until("the wait is parked", () => sem.waitingForIncrease === 1);
    // A peer that reads semctl(GETNCNT) in a tight loop for 1 s: a waiter
    // that left the kernel's queue even for a few µs (to retry, or between
    // slices of a timed wait) shows up as a 0.
    await using peer = start("/usr/bin/python3", [
      interopFile("sem_ncnt.py"),
      `${set.id}`,
      "0",
      "1",
    ]);
    assert.equal(await peer.stdout.next(), "ready");
    const [samples, min, max, zeros] = (await peer.stdout.next()).split(" ").map(Number);
    assert.ok(samples > 1000, `only ${samples} samples`);
    assert.deepEqual({ min, max, zeros }, { min: 1, max: 1, zeros: 0 }, `${samples} samples`);
    sem.release();
    await p;
    assert.equal(sem.value, 0);
  });
});

test("a parked wait ends within milliseconds of an abort, a dispose or its timeout", async () => {
  await noLeaks(async () => {
    using set = SemaphoreSet.create();
    try {
      const sem = set.at(0);
      for (let i = 0; i < 10; i++) {
        const ac = new AbortController();
        const p = settled(sem.acquire({ signal: ac.signal }));
        await until("the wait is parked", () => sem.waitingForIncrease === 1);
        const t0 = performance.now();
        ac.abort(new Error("stop"));
        const r = await p;
        const ms = performance.now() - t0;
        assert.equal((r.error as Error).message, "stop");
        assert.ok(ms < 50, `abort took ${ms.toFixed(1)} ms`);
        assert.equal(sem.waitingForIncrease, 0);
      }
      const t0 = performance.now();
      const r = await settled(sem.acquire({ timeout: 30 }));
      const ms = performance.now() - t0;
      assert.ok(isName("TimeoutError")(r.error), String(r.error));
      assert.ok(ms >= 30 && ms < 200, `timeout 30 took ${ms.toFixed(1)} ms`);
      assert.equal(sem.value, 0);
    } finally {
      set.remove();
    }
    // Dispose: a second handle on the same set, so the set outlives it.
    using owner = SemaphoreSet.create();
    try {
      const handle = SemaphoreSet.fromId(owner.id);
      const p = settled(handle.at(0).acquire());
      await until("the wait is parked", () => owner.at(0).waitingForIncrease === 1);
      const t0 = performance.now();
      handle[Symbol.dispose]();
      const r = await p;
      assert.ok(isName("AbortError")(r.error), String(r.error));
      assert.ok(performance.now() - t0 < 50);
      assert.equal(owner.at(0).waitingForIncrease, 0);
    } finally {
      owner.remove();
    }
  });
});

test("six waits parked at once are all counted, and an abort racing three grants loses nothing", async () => {
  await withNewSet(undefined, async (set) => {
    const sem = set.at(0);
    const ac = new AbortController();
    // Six: more than the four Workers the pool keeps idle, so two start for
    // this test and quit after it, which the leak check must tell from a leak.
    const waits = Array.from({ length: 6 }, () => settled(sem.acquire({ signal: ac.signal })));
    await until("six waits are parked", () => sem.waitingForIncrease === 6);
    sem.release(3);
    ac.abort(new Error("enough"));
    const results = await Promise.all(waits);
    const won = results.filter((r) => r.ok).length;
    // Three units were granted to three sleepers before the abort: those
    // either keep them (resolved) or gave them back (rejected).
    assert.equal(sem.value + won, 3, `${won} resolved, value ${sem.value}`);
    assert.equal(sem.waitingForIncrease, 0);
  });
});

test("an abort racing a grant loses nothing: the unit is either ours or back in the set", async () => {
  await withNewSet(undefined, async (set) => {
    const sem = set.at(0);
    let kept = 0;
    let returned = 0;
    for (let i = 0; i < 60; i++) {
      sem.setValue(0);
      const ac = new AbortController();
      const p = settled(sem.acquire({ signal: ac.signal, undo: i % 2 === 0 }));
      // Sometimes while it spins or starts, mostly while it sleeps in the kernel.
      if (i % 4 !== 0) await until("the wait is parked", () => sem.waitingForIncrease === 1);
      else if (i % 8 === 0) await sleep(1);
      sem.release(); // grants the sleeper inside the kernel, or is taken by the spin
      ac.abort(new Error("late"));
      const r = await p;
      if (r.ok) {
        kept++;
        assert.equal(sem.value, 0, `round ${i}: resolved, so it holds the unit`);
      } else {
        returned++;
        assert.equal((r.error as Error).message, "late");
        assert.equal(sem.value, 1, `round ${i}: rejected, so the unit is back`);
      }
    }
    assert.equal(kept + returned, 60);
  });
});

test("removal of the set under a parked wait rejects it with EIDRM at once", async () => {
  await noLeaks(async () => {
    const set = SemaphoreSet.create({ count: 2 });
    try {
      const waits = [set.at(0).acquire(), set.at(1).acquire({ timeout: 5_000 })].map(settled);
      await until(
        "both are parked",
        () => set.at(0).waitingForIncrease === 1 && set.at(1).waitingForIncrease === 1,
      );
      const t0 = performance.now();
      SemaphoreSet.fromId(set.id).remove(); // another handle: the kernel tells the sleepers

      for (const r of await Promise.all(waits)) {
        assert.ok(r.error instanceof IpcError && r.error.code === "EIDRM", String(r.error));
      }
      assert.ok(performance.now() - t0 < 100);
    } finally {
      set[Symbol.dispose]();
    }
  });
});

test("forty-eight pending waits take no more threads than the limit, every other wait keeps working, and each completes once", async () => {
  const dir = tempDir("sysipc_park_");
  try {
    await noLeaks(async () => {
      using set = SemaphoreSet.create({ count: 3 });
      const [sem, other, doomed] = [set.at(0), set.at(1), set.at(2)];
      const limit = maxBlockedWaits();
      // The first `limit` waits block on threads of the library's own…
      const waits = Array.from({ length: limit }, () => sem.acquire({ timeout: 60_000 }));
      await until("the first waits are in the kernel", () => sem.waitingForIncrease === limit);
      const threads = threadCount();
      // …the next 32, and 8 FIFO writers waiting for a reader, find them taken.
      for (let i = 0; i < 32; i++) waits.push(sem.acquire({ timeout: 60_000 }));
      const path = `${dir}/f`;
      mkfifo(path);
      const writers = Array.from({ length: 8 }, () => openFifo(path, "write"));
      await sleep(200);
      const grown = threadCount() - threads;
      assert.ok(grown <= 2, `${grown} more threads for 40 more pending waits (limit ${limit})`);
      assert.equal(sem.waitingForIncrease, limit, "the others are not in the kernel's queue");

      // Every other kind of wait still works meanwhile.
      {
        using p = pipe();
        const buf = new Uint8Array(4);
        const read = p.readEnd.read(buf);
        await p.writeEnd.write(new Uint8Array([1, 2, 3]));
        assert.equal(await read, 3, "a pipe read whose data arrived");
      }
      const timedOut = await settled(other.acquire({ timeout: 300 }));
      assert.equal((timedOut.error as Error)?.name, "TimeoutError", String(timedOut.error));
      const ac = new AbortController();
      const aborted = settled(other.acquire({ signal: ac.signal }));
      ac.abort(new Error("stop"));
      assert.equal(((await aborted).error as Error)?.message, "stop");
      const granted = other.acquire({ timeout: 60_000 });
      other.release();
      await granted;
      // A FIFO reader's open always gets a thread: the writers' tries then open.
      const reader = await openFifo(path, "read");
      const ends = await Promise.all(writers);
      for (const w of ends) w.close();
      reader.close();

      // 40 units for the 40 semaphore waits: each takes exactly one.
      sem.release(40);
      await Promise.all(waits);
      assert.equal(sem.value, 0);
      assert.equal(sem.waitingForIncrease, 0);

      // A removal ends blocked and polling waits alike, with EIDRM.
      const last = Array.from({ length: limit + 4 }, () => settled(doomed.acquire()));
      await until("the blocked ones are in the kernel", () => doomed.waitingForIncrease === limit);
      await sleep(50);
      SemaphoreSet.fromId(set.id).remove();
      for (const r of await Promise.all(last)) {
        assert.ok(r.error instanceof IpcError && r.error.code === "EIDRM", String(r.error));
      }
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
