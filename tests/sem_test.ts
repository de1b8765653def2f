import assert from "node:assert/strict";
import process from "node:process";
import { IPC_PRIVATE, IpcError, type Semaphore, SemaphoreSet } from "./_support/lib.ts";
import { test } from "./_support/runtime.ts";
import { isCode, isName, rejectsWith } from "./_support/reject.ts";
import { assertNoLeaks as noLeaks, withNewSet } from "./_support/leaks.ts";
import { interopFile, type Proc, start, startFixture } from "./_support/children.ts";
import { readProcText } from "./_support/procfs.ts";
import { sleep, stillPending, until } from "./_support/timing.ts";

const pid = process.pid;

/** A key nobody else uses: random in 0x5e30_0000–0x5e3f_ffff, checked free. */
function freshKey(): number {
  for (;;) {
    const key = 0x5e30_0000 + Math.floor(Math.random() * 0x10_0000);
    try {
      SemaphoreSet.open(key);
    } catch (e) {
      if (e instanceof IpcError && e.code === "ENOENT") return key;
      throw e;
    }
  }
}

const startChild = (...args: (string | number)[]): Proc => startFixture("sem_child.ts", args);
const startPython = (...args: string[]) =>
  start("/usr/bin/python3", [interopFile("sem_peer.py"), ...args], { stdin: "pipe" });

/** The fields /proc/sysvipc/sem shows for one id (what `ipcs -s` reads). */
function procSem(id: number): Record<string, number> | undefined {
  const lines = (readProcText("/proc/sysvipc/sem") ?? "").trim().split("\n");
  const head = lines[0].trim().split(/\s+/);
  for (const line of lines.slice(1)) {
    const f = line.trim().split(/\s+/);
    if (Number(f[1]) !== id) continue;
    return Object.fromEntries(
      head.map((h, i) => [h, h === "perms" ? parseInt(f[i], 8) : Number(f[i])]),
    );
  }
  return undefined;
}

/** Removes the set with `key` if it is still there (cleanup after a failed test). */
function removeKey(key: number): void {
  try {
    SemaphoreSet.open(key).remove();
  } catch {
    // already gone
  }
}

test("create() sets count, values and mode, and stat() reads struct semid_ds as ipcs does", async () => {
  await noLeaks(() => {
    const key = freshKey();
    using set = SemaphoreSet.create({ key, count: 3, initial: [1, 0, 32767], mode: 0o640 });
    try {
      assert.equal(set.key, key);
      assert.equal(set.count, 3);
      assert.deepEqual(set.getValues(), [1, 0, 32767]);
      const st = set.stat();
      const proc = procSem(set.id)!;
      assert.ok(proc, "the set is listed in /proc/sysvipc/sem");
      assert.equal(st.key, proc.key);
      assert.equal(st.count, proc.nsems);
      assert.equal(st.count, 3);
      assert.equal(st.mode, 0o640);
      assert.equal(st.mode, proc.perms & 0o777);
      assert.equal(st.uid, proc.uid);
      assert.equal(st.gid, proc.gid);
      assert.equal(st.creatorUid, proc.cuid);
      assert.equal(st.creatorGid, proc.cgid);
      // create() stamps sem_otime after initialising (the semget/SETALL race remedy).
      assert.equal(st.lastOpTime?.getTime(), proc.otime * 1000);
      assert.equal(st.changeTime!.getTime(), proc.ctime * 1000);
      assert.ok(Math.abs(st.changeTime!.getTime() - Date.now()) < 5000);
      // The defaults: IPC_PRIVATE, one semaphore at 0, mode 0o600.
      using priv = SemaphoreSet.create();
      try {
        assert.equal(priv.key, IPC_PRIVATE);
        assert.deepEqual(priv.getValues(), [0]);
        assert.equal(priv.stat().mode, 0o600);
        assert.equal(procSem(priv.id)?.nsems, 1);
      } finally {
        priv.remove();
      }
    } finally {
      set.remove();
    }
    assert.equal(procSem(set.id), undefined, "remove() takes it out of ipcs");
  });
});

test("every semctl command goes through the variadic binding: SETVAL GETVAL SETALL GETALL GETPID", async () => {
  await noLeaks(() => {
    using set = SemaphoreSet.create({ count: 2 });
    try {
      const [a, b] = set;
      a.setValue(3); // SETVAL passes `int val` in the union semun register
      assert.equal(a.value, 3);
      // semop (not semctl) agrees: exactly 3 can be taken.
      assert.equal(a.tryAcquire({ count: 3 }), true);
      assert.equal(a.tryAcquire(), false);
      set.setValues([5, 32767]); // SETALL passes a pointer to unsigned short[2]
      assert.deepEqual(set.getValues(), [5, 32767]);
      assert.equal(b.tryAcquire({ count: 32767 }), true);
      assert.equal(b.value, 0);
      assert.equal(a.lastPid, pid);
      assert.equal(a.waitingForIncrease, 0);
      assert.equal(a.waitingForZero, 0);
      set.setValues(9);
      assert.deepEqual(set.getValues(), [9, 9]);
    } finally {
      set.remove();
    }
  });
});

test("Python sysv_ipc creates a semaphore; we open, acquire and release it, and Python waits for our signal", async () => {
  await noLeaks(async () => {
    const key = freshKey();
    try {
      await pythonCreates(key);
    } finally {
      removeKey(key); // only if a failure left it behind
    }
  });
});

async function pythonCreates(key: number): Promise<void> {
  {
    await using py = startPython("create", String(key));
    const [ready, pyId, pyPid] = (await py.stdout.next()).split(" ");
    assert.equal(ready, "ready");
    using set = SemaphoreSet.open(key);
    assert.equal(set.id, Number(pyId));
    assert.equal(set.count, 1);
    const sem = set.at(0);
    assert.equal(sem.value, 1, "Python's initial value");
    await sem.acquire({ timeout: 5000 });
    assert.equal(sem.value, 0);
    await py.send("go");
    // Python now waits (P) on the semaphore we hold: seen from this process.
    await until("Python waits", () => sem.waitingForIncrease === 1);
    const acquired = py.stdout.next();
    assert.equal(await stillPending(acquired, 100), true, "Python is blocked");
    sem.release(); // V: wakes Python
    assert.equal(await acquired, "acquired 0");
    assert.equal(sem.lastPid, Number(pyPid));
    await py.send("remove");
    assert.equal(await py.stdout.next(), "removed");
    // Python removed it: our handle learns EINVAL from the kernel, reported as EIDRM.
    assert.throws(() => sem.release(), isCode("EIDRM"));
    await rejectsWith(sem.acquire(), isCode("EIDRM"), "acquire after a foreign remove");
    assert.equal((await py.status).success, true);
  }
}

test("we create a semaphore; Python waits until we signal it, then signals us back", async () => {
  await noLeaks(async () => {
    const key = freshKey();
    using set = SemaphoreSet.create({ key, initial: 0 });
    try {
      const sem = set.at(0);
      await using py = startPython("wait", `0x${key.toString(16)}`);
      const [waiting, pyPid] = (await py.stdout.next()).split(" ");
      assert.equal(waiting, "waiting");
      await until("Python waits", () => sem.waitingForIncrease === 1);
      sem.release(); // we signal
      assert.equal(await py.stdout.next(), "acquired");
      // Python signals back with V(2); we wait for both units at once.
      await sem.acquire({ count: 2, timeout: 10_000 });
      assert.equal(await py.stdout.next(), "released");
      assert.equal(sem.value, 0);
      assert.equal((await py.status).success, true);
      assert.notEqual(Number(pyPid), pid);
    } finally {
      set.remove();
    }
  });
});

test("a child killed by SIGKILL while holding lock() does not deadlock the others (SEM_UNDO)", async () => {
  await noLeaks(async () => {
    using set = SemaphoreSet.create({ initial: 1 });
    try {
      const mutex = set.at(0);
      {
        await using holder = startChild("lock", set.id);
        assert.equal(await holder.stdout.next(), "held");
        assert.equal(mutex.value, 0);
        assert.equal(mutex.tryAcquire(), false, "the child holds it");
        holder.kill("SIGKILL");
        assert.equal((await holder.status).signal, "SIGKILL");
      }
      // The kernel undid the child's -1 when it died.
      using _ = await mutex.lock({ timeout: 5000 });
      assert.equal(mutex.value, 0);
    } finally {
      set.remove();
    }
    // The control: without SEM_UNDO the same death leaves the semaphore taken.
    using set2 = SemaphoreSet.create({ initial: 1 });
    try {
      await using holder = startChild("take", set2.id);
      assert.equal(await holder.stdout.next(), "held");
      holder.kill("SIGKILL");
      await holder.status;
      await rejectsWith(
        set2.at(0).acquire({ timeout: 200 }),
        isName("TimeoutError"),
        "a plain acquire is not undone",
      );
    } finally {
      set2.remove();
    }
  });
});

test("acquire({ timeout: 100 }) on a zero semaphore rejects with TimeoutError after 100–300 ms", async () => {
  await withNewSet(undefined, async (set) => {
    const t0 = performance.now();
    const e = await rejectsWith(
      set.at(0).acquire({ timeout: 100 }),
      isName("TimeoutError"),
      "timeout",
    );
    const ms = performance.now() - t0;
    assert.ok(ms >= 100 && ms <= 300, `rejected after ${ms.toFixed(1)} ms`);
    assert.match((e as Error).message, /timed out after 100 ms/);
    assert.equal(set.at(0).value, 0);
    // timeout 0 tries once and does not wait.
    await rejectsWith(set.at(0).acquire({ timeout: 0 }), isName("TimeoutError"), "timeout 0");
    set.at(0).release();
    await set.at(0).acquire({ timeout: 0 });
  });
});

test("an abort rejects a waiting acquire promptly with signal.reason, taking nothing", async () => {
  await withNewSet(undefined, async (set) => {
    const sem = set.at(0);
    const ac = new AbortController();
    const reason = new Error("no longer needed");
    const p = sem.acquire({ signal: ac.signal });
    await until("the wait is parked", () => sem.waitingForIncrease === 1);
    const t0 = performance.now();
    ac.abort(reason);
    await rejectsWith(p, (e) => e === reason, "abort");
    const ms = performance.now() - t0;
    assert.ok(ms < 100, `rejected ${ms.toFixed(1)} ms after the abort`);
    assert.equal(sem.waitingForIncrease, 0, "no thread is left parked");
    // Already aborted: rejects without waiting, even if it could take it.
    sem.release();
    await rejectsWith(
      sem.acquire({ signal: AbortSignal.abort(reason) }),
      (e) => e === reason,
      "pre-aborted",
    );
    assert.equal(sem.value, 1, "nothing was taken");
  });
});

test("an abort that races the grant gives back what the wait took, or resolves if it also released", async () => {
  await withNewSet({ count: 2 }, async (set) => {
    const [a] = set;
    // The wait is asleep in semtimedop; release() grants it inside the kernel
    // (the sleeper's -1 is applied during our semop), then we abort before
    // the worker thread reports back: the wait owns the unit when it learns of the abort.
    const ac = new AbortController();
    const p = a.acquire({ signal: ac.signal, undo: true });
    await until("the wait is parked", () => a.waitingForIncrease === 1);
    a.release();
    assert.equal(a.value, 0, "the kernel granted the sleeping wait");
    ac.abort(new Error("late"));
    await rejectsWith(p, (e) => (e as Error).message === "late", "abort after the grant");
    assert.equal(a.value, 1, "the unit was given back before rejecting");
    a.setValue(0);
    // An op that also releases cannot be taken back: it resolves instead.
    const ac2 = new AbortController();
    const q = set.op([{ index: 0, delta: -1 }, { index: 1, delta: 1 }], { signal: ac2.signal });
    await until("the op is parked", () => a.waitingForIncrease === 1);
    a.release();
    ac2.abort(new Error("late"));
    await q;
    assert.deepEqual(set.getValues(), [0, 1]);
  });
});

test("remove() under a waiter rejects it with EIDRM, ours and another process's, and nothing hangs", async () => {
  await noLeaks(async () => {
    // Ours.
    using set = SemaphoreSet.create();
    using set2 = SemaphoreSet.create({ count: 2 });
    try {
      await removeUnderWaiters(set, set2);
    } finally {
      removeKeyless(set, set2);
    }
  });
});

/** Removes sets a failed test left behind (a second remove() is a no-op). */
function removeKeyless(...sets: SemaphoreSet[]): void {
  for (const s of sets) {
    try {
      s.remove();
    } catch {
      // removed elsewhere
    }
  }
}

async function removeUnderWaiters(set: SemaphoreSet, set2: SemaphoreSet): Promise<void> {
  {
    const p = set.at(0).acquire();
    await until("the wait is parked", () => set.at(0).waitingForIncrease === 1);
    const t0 = performance.now();
    set.remove();
    const e = await rejectsWith(p, isCode("EIDRM"), "our waiter");
    assert.ok(performance.now() - t0 < 1000);
    assert.equal((e as IpcError).errno, 43);
    assert.match((e as Error).message, /removed/);
    set.remove(); // a second remove() on the same handle does nothing
    // Another process's.
    await using waiter = startChild("wait", set2.id, 1);
    await until("the child waits", () => set2.at(1).waitingForIncrease === 1);
    set2.remove();
    assert.equal(await waiter.stdout.next(), "EIDRM");
    assert.equal((await waiter.status).success, true);
  }
}

test("a blocked acquire does not block the event loop, and another process's release wakes it", async () => {
  await withNewSet(undefined, async (set) => {
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const t0 = performance.now();
    const p = set.at(0).acquire({ timeout: 15_000 });
    await sleep(200);
    await using releaser = startChild("release", set.id, 0);
    await p;
    clearInterval(timer);
    const ms = performance.now() - t0;
    assert.equal(await releaser.stdout.next(), "released");
    assert.ok(ticks >= ms / 10 / 4, `${ticks} ticks in ${ms.toFixed(0)} ms`);
    assert.equal(set.at(0).value, 0);
  });
});

test("op() takes two semaphores together or not at all, across processes", async () => {
  await withNewSet({ count: 2, initial: [1, 0] }, async (set) => {
    const [a, b] = set;
    await using c = startChild("both", set.id);
    await until("the child waits", () => b.waitingForIncrease === 1);
    // Not partially taken: semaphore 0 is still free while the child waits.
    assert.equal(a.value, 1);
    assert.equal(a.tryAcquire(), true);
    a.release();
    const both = c.stdout.next();
    assert.equal(await stillPending(both, 100), true);
    b.release(); // now both are available: the child takes both at once
    assert.equal(await both, "both");
    assert.deepEqual(set.getValues(), [0, 0]);
    assert.equal(a.lastPid, c.pid);
    assert.equal(b.lastPid, c.pid);
    // Locally too: with only one available, op() waits and takes nothing.
    a.release();
    await rejectsWith(
      set.op([{ index: 0, delta: -1 }, { index: 1, delta: -1 }], { timeout: 50 }),
      isName("TimeoutError"),
      "op on [1, 0]",
    );
    assert.deepEqual(set.getValues(), [1, 0]);
  });
});

test("waitZero, waitingForIncrease, waitingForZero and lastPid seen from another process", async () => {
  await withNewSet({ count: 2, initial: [2, 0] }, async (set) => {
    const [a, b] = set;
    await using zero = startChild("wait-zero", set.id, 0);
    await using inc = startChild("wait", set.id, 1);
    await until("both children wait", () => a.waitingForZero === 1 && b.waitingForIncrease === 1);
    assert.equal(a.waitingForIncrease, 0);
    assert.equal(b.waitingForZero, 0);
    await a.acquire({ count: 2 }); // value 0: wakes the zero-waiter
    assert.equal(await zero.stdout.next(), "zero");
    const acquired = inc.stdout.next();
    assert.equal(await stillPending(acquired, 100), true);
    await using rel = startChild("release", set.id, 1);
    assert.equal(await rel.stdout.next(), "released");
    assert.equal(await acquired, "acquired");
    assert.equal(b.lastPid, inc.pid, "the waiter's -1 was the last operation");
    assert.equal(a.waitingForZero, 0);
    assert.equal(b.waitingForIncrease, 0);
    // Our own waitZero.
    a.release();
    const z = a.waitZero({ timeout: 5000 });
    assert.equal(await stillPending(z, 50), true);
    await a.acquire();
    await z;
  });
});

test("two processes take turns over two semaphores for 300 rounds, in strict order", async () => {
  await noLeaks(async () => {
    const rounds = 300;
    // 0: the child's turn, 1: ours, 2: how many turns the child has taken.
    using set = SemaphoreSet.create({ count: 3 });
    try {
      const [childTurn, ourTurn, childTurns] = set;
      await using c = startChild("pong", set.id, rounds);
      for (let i = 0; i < rounds; i++) {
        childTurn.release();
        await ourTurn.acquire({ timeout: 10_000 });
        // The child took exactly one turn per release: never ahead, never behind.
        assert.equal(childTurns.value, i + 1, `round ${i}`);
        assert.equal(childTurn.value, 0);
      }
      assert.equal(await c.stdout.next(), "done");
      assert.equal((await c.status).success, true);
    } finally {
      set.remove();
    }
  });
});

test("lock() releases once at the end of a using block, even if released twice", async () => {
  await withNewSet({ initial: 1 }, async (set) => {
    const m = set.at(0);
    {
      using held = await m.lock();
      assert.equal(m.value, 0);
      assert.equal(held.released, false);
      held.release();
      assert.equal(held.released, true);
      assert.equal(m.value, 1);
    } // dispose: a second release, which must do nothing
    assert.equal(m.value, 1, "not released twice");
    const order: string[] = [];
    const worker = async (name: string) => {
      using _ = await m.lock({ timeout: 5000 });
      order.push(`${name} in`);
      await sleep(20);
      order.push(`${name} out`);
    };
    await Promise.all([worker("a"), worker("b")]);
    assert.deepEqual(order, ["a in", "a out", "b in", "b out"]);
    assert.equal(m.value, 1);
  });
});

test("[Symbol.dispose] cancels the handle's waits, keeps the set, and later calls throw", async () => {
  await noLeaks(async () => {
    const set = SemaphoreSet.create({ count: 2, initial: [1, 0] });
    const other = SemaphoreSet.fromId(set.id);
    try {
      const lock = await set.at(0).lock();
      const p = set.at(1).acquire();
      const q = set.op([{ index: 1, delta: 0 }, { index: 1, delta: -1 }]);
      await until("two waits are parked", () => other.at(1).waitingForIncrease === 2);
      set[Symbol.dispose]();
      set[Symbol.dispose](); // idempotent
      // Both handlers at once: the two waits reject independently (on Node and
      // Bun each as its Worker returns), and neither may go unhandled meanwhile.
      await Promise.all([
        rejectsWith(p, isName("AbortError"), "acquire after dispose"),
        rejectsWith(q, isName("AbortError"), "op after dispose"),
      ]);
      assert.equal(other.at(1).waitingForIncrease, 0, "no thread left parked");
      await rejectsWith(set.at(1).acquire(), isName("InvalidStateError"), "acquire");
      assert.throws(() => set.at(0).value, isName("InvalidStateError"));
      lock.release(); // a lock taken before dispose can still be released
      assert.deepEqual(other.getValues(), [1, 0], "the set is still there");
    } finally {
      other.remove();
    }
  });
});

test("create({ exclusive: false }) opens an existing set without touching its values", async () => {
  await noLeaks(() => {
    const key = freshKey();
    using a = SemaphoreSet.create({ key, count: 2, initial: [4, 5] });
    try {
      using b = SemaphoreSet.create({ key, count: 2, initial: 0, exclusive: false });
      assert.equal(b.id, a.id);
      assert.deepEqual(b.getValues(), [4, 5]);
      using c = SemaphoreSet.create({ key, count: 1, exclusive: false });
      assert.equal(c.count, 2);
      assert.throws(
        () => SemaphoreSet.create({ key, count: 3, exclusive: false }),
        (e: unknown) => isCode("EINVAL")(e) && /semget, key 0x5e3/.test((e as Error).message),
      );
      using d = SemaphoreSet.open(key);
      assert.equal(d.id, a.id);
      assert.equal(d.count, 2);
    } finally {
      a.remove();
    }
  });
});

test("bad input gets a clear error before any syscall, never a crash or hang", async (t) => {
  await noLeaks(async () => {
    const key = freshKey();
    using set = SemaphoreSet.create({ key, count: 2 });
    try {
      const sem = set.at(0);
      const typeErr = (re: RegExp) => (e: unknown) => e instanceof TypeError && re.test(String(e));
      const rangeErr = (re: RegExp) => (e: unknown) =>
        e instanceof RangeError && re.test(String(e));

      await t.step("counts outside 1–SEMMSL", () => {
        assert.throws(
          () => SemaphoreSet.create({ count: 0 }),
          rangeErr(/^RangeError: count must be an integer from 1 to 32000 \(SEMMSL\), got 0$/),
        );
        assert.throws(() => SemaphoreSet.create({ count: 32001 }), rangeErr(/SEMMSL/));
        assert.throws(
          () => SemaphoreSet.create({ count: 1.5 }),
          typeErr(/count must be an integer.*got 1\.5/),
        );
      });
      await t.step("initial values above SEMVMX, negative, or the wrong number of them", () => {
        assert.throws(
          () => SemaphoreSet.create({ initial: 32768 }),
          rangeErr(/initial must be an integer from 0 to 32767 \(SEMVMX\), got 32768/),
        );
        assert.throws(
          () => SemaphoreSet.create({ initial: -1 }),
          rangeErr(/initial must .* from 0 to 32767.*got -1/),
        );
        assert.throws(
          () => SemaphoreSet.create({ count: 3, initial: [1, 2] }),
          rangeErr(
            /^RangeError: initial must be an array of one value per semaphore \(3\), got 2 values$/,
          ),
        );
        assert.throws(
          () => SemaphoreSet.create({ initial: [0.5] }),
          typeErr(/initial\[0\] must be an integer/),
        );
        assert.throws(
          // deno-lint-ignore no-explicit-any
          () => SemaphoreSet.create({ initial: "1" as any }),
          typeErr(/number or an array/),
        );
        assert.throws(
          () => SemaphoreSet.create({ mode: 0o1000 }),
          rangeErr(/mode must be an integer from 0 to 0o777.*got 0o1000/),
        );
      });
      await t.step("keys that are not 32-bit integers", () => {
        assert.throws(
          () => SemaphoreSet.create({ key: 2 ** 32 }),
          rangeErr(/key must be an integer .* \(key_t, 32 bits\), got 4294967296/),
        );
        assert.throws(() => SemaphoreSet.open(1.5), typeErr(/key must be an integer.*got 1\.5/));
        assert.throws(
          // deno-lint-ignore no-explicit-any
          () => SemaphoreSet.open("0x1f" as any),
          typeErr(/key must be an integer.*got "0x1f"/),
        );
        assert.throws(
          () => SemaphoreSet.open(IPC_PRIVATE),
          rangeErr(/^RangeError: key must be a key other than IPC_PRIVATE.*fromId\(\)\), got 0$/),
        );
        assert.throws(
          () => SemaphoreSet.fromId(-1),
          rangeErr(/id must be an integer from 0 to 2147483647, got -1/),
        );
      });
      await t.step("a missing key, a taken key, a missing id", () => {
        const missing = freshKey();
        assert.throws(
          () => SemaphoreSet.open(missing),
          (e: unknown) =>
            isCode("ENOENT")(e) &&
            (e as Error).message ===
              `Cannot open semaphore set (semget, key 0x${missing.toString(16)}): ENOENT`,
        );
        assert.throws(
          () => SemaphoreSet.create({ key }),
          (e: unknown) =>
            isCode("EEXIST")(e) &&
            (e as Error).message ===
              `Cannot create semaphore set (semget, key 0x${key.toString(16)}): EEXIST`,
        );
        assert.throws(() => SemaphoreSet.fromId(0x7fff_fff0), isCode("EINVAL"));
      });
      await t.step("indexes out of range", async () => {
        assert.throws(() => set.at(2), rangeErr(/index must be an integer from 0 to 1, got 2/));
        assert.throws(() => set.at(-1), rangeErr(/index must be an integer from 0 to 1, got -1/));
        assert.throws(() => set.at(0.5), typeErr(/index must be an integer/));
        await assert.rejects(
          set.op([{ index: 2, delta: -1 }]),
          rangeErr(/ops\[0\]\.index must be an integer from 0 to 1, got 2/),
        );
      });
      await t.step("values, counts and deltas outside the semaphore's range", async () => {
        assert.throws(() => sem.setValue(32768), rangeErr(/value must .*SEMVMX.*got 32768/));
        assert.throws(() => sem.setValue(-1), rangeErr(/value must be an integer from 0 to 32767/));
        assert.throws(() => sem.release(0), rangeErr(/count must be an integer from 1 to 32767/));
        assert.throws(() => sem.release(32768), rangeErr(/count must .*SEMVMX/));
        assert.throws(() => sem.release(1.5), typeErr(/count must be an integer/));
        assert.throws(
          () => sem.tryAcquire({ count: 0 }),
          rangeErr(/count must be an integer from 1 to 32767/),
        );
        await assert.rejects(
          sem.acquire({ count: -1 }),
          rangeErr(/count must be an integer from 1 to 32767/),
        );
        await assert.rejects(
          set.op([{ index: 0, delta: 0.5 }]),
          typeErr(/ops\[0\]\.delta must be an integer/),
        );
        await assert.rejects(
          set.op([{ index: 0, delta: 40000 }]),
          rangeErr(/ops\[0\]\.delta must be an integer from -32767 to 32767/),
        );
        // A release the kernel refuses: the value would pass SEMVMX.
        sem.setValue(32767);
        assert.throws(() => sem.release(), isCode("ERANGE"));
        sem.setValue(0);
      });
      await t.step("operation lists that are empty, too long or malformed", async () => {
        await assert.rejects(
          set.op([]),
          rangeErr(/^RangeError: ops must be an array of 1 to 500 operations \(SEMOPM\), got 0$/),
        );
        const many = Array.from({ length: 501 }, () => ({ index: 0, delta: 1 }));
        await assert.rejects(set.op(many), rangeErr(/SEMOPM/));
        // deno-lint-ignore no-explicit-any
        await assert.rejects(set.op({ index: 0, delta: 1 } as any), typeErr(/array/));
        // deno-lint-ignore no-explicit-any
        await assert.rejects(set.op([null as any]), typeErr(/ops\[0\] must be an object/));
        // deno-lint-ignore no-explicit-any
        await assert.rejects(set.op([{ index: 0, dleta: -1 } as any]), typeErr(/delta/));
        await assert.rejects(
          // deno-lint-ignore no-explicit-any
          set.op([{ index: 0, delta: 1, undo: 1 as any }]),
          typeErr(/undo must be a boolean/),
        );
        assert.deepEqual(set.getValues(), [0, 0], "nothing ran");
      });
      await t.step(
        "timeouts that are negative or NaN, signals that are not AbortSignals",
        async () => {
          await assert.rejects(
            sem.acquire({ timeout: -1 }),
            rangeErr(/timeout must be a number of milliseconds from 0 to Infinity, got -1/),
          );
          await assert.rejects(
            sem.acquire({ timeout: NaN }),
            rangeErr(/timeout must be .*got NaN/),
          );
          // deno-lint-ignore no-explicit-any
          await assert.rejects(sem.acquire({ signal: {} as any }), typeErr(/AbortSignal/));
          await assert.rejects(sem.waitZero({ timeout: -5 }), rangeErr(/timeout must be/));
          // deno-lint-ignore no-explicit-any
          await assert.rejects(sem.lock({ signal: "x" as any }), typeErr(/AbortSignal/));
        },
      );
    } finally {
      set.remove();
    }
    await t.step("release after remove: EIDRM, whoever removed it", () => {
      assert.throws(
        () => set.at(0).release(),
        (e: unknown) =>
          isCode("EIDRM")(e) &&
          (e as Error).message ===
            `Cannot release semaphore 0 (semop, id ${set.id}, key 0x${
              key.toString(16)
            }): EIDRM (the set was removed)`,
      );
      const a = SemaphoreSet.create();
      const b = SemaphoreSet.fromId(a.id);
      a.remove();
      // b's id is gone: the kernel answers EINVAL, reported as EIDRM.
      assert.throws(() => b.at(0).release(), isCode("EIDRM"));
      assert.throws(() => b.at(0).value, isCode("EIDRM"));
      assert.throws(() => b.remove(), isCode("EIDRM"));
    });
  });
});

test("Semaphore and SemaphoreSet are not constructed directly", () => {
  // deno-lint-ignore no-explicit-any
  const S = SemaphoreSet as any;
  assert.throws(() => new S({}), TypeError);
  using set = SemaphoreSet.create();
  try {
    // deno-lint-ignore no-explicit-any
    const Sem = set.at(0).constructor as any;
    assert.throws(() => new Sem(set, {}, 0), TypeError);
    const sems: Semaphore[] = [...set];
    assert.equal(sems.length, 1);
    assert.equal(sems[0], set.at(0), "at() hands out one object per index");
  } finally {
    set.remove();
  }
});
