// PosixSemaphore: named semaphores (sem_open) and unnamed ones inside shared
// memory (sem_init, pshared); waits with timeout, abort and close; nothing
// lost to a cancellation; no undo on a crash; C peers both ways.
import assert from "node:assert/strict";
import { rmSync } from "node:fs";
import process from "node:process";
import {
  IpcError,
  PosixSemaphore,
  PosixSharedMemory,
  SemaphoreSet,
  SharedMemory,
} from "./_support/lib.ts";
import { fileMode, isRoot, listDir } from "./_support/procfs.ts";
import { tempDir, test } from "./_support/runtime.ts";
import { assertNoFdLeak, assertNoIpcLeak } from "./_support/leaks.ts";
import { isCode, isName, rejectsWith } from "./_support/reject.ts";
import {
  AsUser,
  compileC,
  fixtureArgv,
  interopFile,
  run,
  start,
  startFixture,
} from "./_support/children.ts";
import { sleep, stillPending, until } from "./_support/timing.ts";

let names = 0;
const freshName = () => `/sysipc_test_${process.pid}_${names++}`;
const shmEntries = () => listDir("/dev/shm") ?? [];
/** Whether a named semaphore exists (glibc keeps it as /dev/shm/sem.<name>). */
const semListed = (name: string) => shmEntries().includes(`sem.${name.slice(1)}`);

/** Asserts that `fn` leaves this process's descriptors, `/dev/shm` and `ipcs` as it found them. */
async function noLeaks(fn: () => Promise<void> | void): Promise<void> {
  const before = shmEntries();
  await assertNoFdLeak(() => assertNoIpcLeak(fn));
  assert.deepEqual(shmEntries(), before, "/dev/shm changed");
}

/** Runs `fn` on a new named semaphore, unlinking it whatever happens. */
function withSem(
  initial: number,
  fn: (sem: PosixSemaphore) => Promise<void> | void,
): Promise<void> {
  return noLeaks(async () => {
    using sem = PosixSemaphore.create(freshName(), { initial });
    try {
      await fn(sem);
    } finally {
      sem.unlink();
    }
  });
}

let cPeer: Promise<string> | undefined;
let cDir: string | undefined;
/** The C peer (`tests/interop/posix_peer.c`), compiled once. */
function posixPeer(): Promise<string> {
  cDir ??= tempDir("sysipc_posix_c_");
  return cPeer ??= compileC(interopFile("posix_peer.c"), cDir);
}

test("create, open, value, tryAcquire and release: two handles on one name share the count", async () => {
  await withSem(2, (sem) => {
    assert.match(sem.name!, /^\/sysipc_test_/);
    assert.ok(semListed(sem.name!));
    assert.equal(sem.value, 2);
    using other = PosixSemaphore.open(sem.name!);
    assert.equal(other.tryAcquire(), true);
    assert.equal(sem.tryAcquire(), true);
    assert.equal(sem.tryAcquire(), false, "0: nothing to take");
    assert.equal(other.value, 0);
    other.release();
    assert.equal(sem.value, 1);
  });
});

test("create() without a name picks a unique one; mode is exact; exclusive: EEXIST, or open the existing one", async () => {
  await noLeaks(() => {
    using a = PosixSemaphore.create(undefined, { initial: 1, mode: 0o640 });
    try {
      assert.match(a.name!, /^\/sysipc_[0-9a-f]{16}$/);
      assert.equal(fileMode(`/dev/shm/sem.${a.name!.slice(1)}`), 0o640);
      assert.throws(
        () => PosixSemaphore.create(a.name!),
        (e) =>
          e instanceof IpcError && e.code === "EEXIST" && e.syscall === "sem_open" &&
          e.message === `Cannot create semaphore (sem_open, ${a.name}): EEXIST`,
      );
      using same = PosixSemaphore.create(a.name!, { initial: 7, exclusive: false });
      assert.equal(same.value, 1, "the existing semaphore, its value untouched");
    } finally {
      a.unlink();
    }
  });
});

test("acquire() waits while the value is 0 and resolves when another process releases", async () => {
  await withSem(0, async (sem) => {
    const got = sem.acquire({ timeout: 15_000 });
    assert.equal(await stillPending(got, 50), true, "waits while 0");
    const out = await run(...fixtureArgv("posix_child.ts", ["post", sem.name!, 1]));
    assert.equal(out.stdout.trim(), "posted", out.stderr);
    await got;
    assert.equal(sem.value, 0, "the unit went to the waiter");
  });
});

test("timeout: rejects with a TimeoutError naming the call; 0 tries once; nothing is taken", async () => {
  await withSem(0, async (sem) => {
    const t0 = performance.now();
    const e = await rejectsWith(sem.acquire({ timeout: 80 }), isName("TimeoutError"), "timeout");
    assert.ok(performance.now() - t0 >= 75, "not before its time");
    assert.equal(
      (e as Error).message,
      `Cannot acquire semaphore: timed out after 80 ms (sem_clockwait, ${sem.name})`,
    );
    await rejectsWith(sem.acquire({ timeout: 0 }), isName("TimeoutError"), "timeout 0");
    sem.release();
    await sem.acquire({ timeout: 0 }); // available: 0 succeeds at once
    assert.equal(sem.value, 0);
  });
});

test("abort: rejects with signal.reason; an aborted signal takes nothing; the value is untouched", async () => {
  await withSem(0, async (sem) => {
    const ac = new AbortController();
    const reason = new Error("stop waiting");
    const p = sem.acquire({ signal: ac.signal });
    await sleep(20);
    ac.abort(reason);
    assert.equal(await p.catch((e) => e), reason);
    sem.release();
    await assert.rejects(sem.acquire({ signal: AbortSignal.abort(reason) }), (e) => e === reason);
    assert.equal(sem.value, 1, "nothing was taken");
  });
});

test("close() ends pending waits with an AbortError; after it every call is EBADF; unlink() still works", async () => {
  await noLeaks(async () => {
    const sem = PosixSemaphore.create(freshName());
    const waits = [sem.acquire(), sem.acquire({ timeout: 10_000 })];
    await sleep(20);
    sem.close();
    sem.close();
    // Both handled at once: the second may reject while the first is awaited.
    await Promise.all(
      waits.map((w) => rejectsWith(w, isName("AbortError"), "a wait ended by close()")),
    );
    assert.equal(sem.closed, true);
    for (const f of [() => sem.tryAcquire(), () => sem.release(), () => sem.value]) {
      assert.throws(
        f,
        (e) => e instanceof IpcError && e.code === "EBADF" && /handle is closed/.test(e.message),
      );
    }
    await rejectsWith(sem.acquire(), isCode("EBADF"), "acquire after close");
    sem.unlink();
    assert.throws(() => sem.unlink(), { name: "IpcError", code: "ENOENT" });
    assert.throws(() => PosixSemaphore.open(sem.name!), {
      name: "IpcError",
      code: "ENOENT",
      message: `Cannot open semaphore (sem_open, ${sem.name}): ENOENT`,
    });
  });
});

test("nothing lost to cancellation: 1,500 units posted by a C process, taken by acquires aborted at random moments — every unit is accounted for", async () => {
  await withSem(0, async (sem) => {
    const N = 1500;
    const peer = await posixPeer();
    // One unit every ~300 µs, and after every 25 the poster waits until all
    // are taken, then for our go-ahead, which we give once an acquire was
    // cancelled: acquires park and get aborted however slow the machine
    // makes either side.
    await using poster = start(peer, ["sem-post", sem.name!, String(N), "300", "25", "go"], {
      stdin: "pipe",
    });
    let taken = 0;
    let cancelled = 0;
    while (taken + sem.value < N || (await stillPending(poster.status, 0))) {
      const ac = new AbortController();
      const timer = setTimeout(() => ac.abort(), Math.random() * 2);
      try {
        await sem.acquire({ signal: ac.signal, timeout: 10_000 });
        taken++;
      } catch (e) {
        assert.ok(e instanceof DOMException && e.name === "AbortError", String(e));
        cancelled++;
        void poster.send("go").catch(() => {});
      } finally {
        clearTimeout(timer);
      }
      if (taken + cancelled > 20 * N) break;
    }
    poster.stdin!.close(); // no more go-aheads
    assert.equal((await poster.output()).stdout.trim(), "posted");
    assert.equal(taken + sem.value, N, `taken ${taken} + left ${sem.value}`);
    assert.ok(taken > 0 && cancelled > 0, `taken ${taken}, cancelled ${cancelled}`);
  });
});

test("lock() has no undo: a process that dies holding it leaves it taken — a SemaphoreSet's lock() is given back", async () => {
  await withSem(1, async (sem) => {
    const out = await run(...fixtureArgv("posix_child.ts", ["lock-die", sem.name!]));
    assert.equal(out.stdout.trim(), "holding", out.stderr);
    assert.equal(sem.value, 0, "the dead process's unit is still taken");
    assert.equal(sem.tryAcquire(), false);
    await rejectsWith(
      sem.lock({ timeout: 30 }),
      isName("TimeoutError"),
      "a lock() after the crash",
    );
    // The System V lock (SEM_UNDO) for comparison: killed holding it, given back.
    using set = SemaphoreSet.create({ initial: 1 });
    try {
      await using holder = startFixture("sem_child.ts", ["lock", set.id]);
      assert.equal(await holder.stdout.next(), "held");
      assert.equal(set.at(0).value, 0);
      holder.kill("SIGKILL");
      await holder.status;
      assert.equal(set.at(0).value, 1, "the kernel undid the dead holder's lock");
    } finally {
      set.remove();
    }
  });
});

test("a lock is released once; releasing after close() does nothing", async () => {
  await withSem(1, async (sem) => {
    const held = await sem.lock();
    held.release();
    held.release();
    assert.equal(sem.value, 1);
    const again = await sem.lock();
    assert.equal(sem.value, 0);
    using other = PosixSemaphore.open(sem.name!);
    sem.close();
    again[Symbol.dispose](); // nothing to give it back through
    assert.equal(other.value, 0);
    assert.equal(again.released, true);
  });
});

test("at(): an unnamed semaphore inside PosixSharedMemory, used by another handle that does not initialise it", async () => {
  await noLeaks(async () => {
    using mem = PosixSharedMemory.create({ size: 4096 });
    try {
      using a = PosixSemaphore.at(mem, 64, { initial: 1 });
      assert.equal(a.name, null);
      assert.equal(a.value, 1);
      using other = PosixSharedMemory.open(mem.name!);
      using b = PosixSemaphore.at(other, 64); // no initial: the one already there
      assert.equal(b.value, 1);
      assert.equal(b.tryAcquire(), true);
      assert.equal(a.value, 0);
      const w = a.acquire({ timeout: 10_000 });
      await sleep(10);
      b.release();
      await w;
      assert.throws(() => a.unlink(), { name: "TypeError", message: /it has no name/ });
    } finally {
      mem.unlink();
    }
  });
});

test("at() in a System V segment too; detaching it ends the semaphore's waits", async () => {
  await noLeaks(async () => {
    using shm = SharedMemory.create({ size: 256 });
    try {
      using sem = PosixSemaphore.at(shm, 0, { initial: 0 });
      const w = sem.acquire();
      await sleep(20);
      shm.detach();
      const e = await rejectsWith(w, isName("AbortError"), "a wait whose memory went");
      assert.match((e as Error).message, /the shared memory holding it was closed/);
      assert.throws(() => sem.release(), { name: "IpcError", code: "EBADF" });
      assert.equal(sem.closed, true);
    } finally {
      shm.remove();
    }
  });
});

test("closing the memory under a blocked wait: the wait ends with an AbortError, nothing crashes, the memory goes once the wait has returned", async () => {
  await noLeaks(async () => {
    const mem = PosixSharedMemory.anonymous({ size: 4096 });
    const sem = PosixSemaphore.at(mem, 0, { initial: 0 });
    const view = mem.view(Int32Array);
    const waits = [sem.acquire(), sem.acquire({ timeout: 10_000 })];
    await sleep(30); // parked off-thread, inside sem_wait on this memory
    mem.close();
    await Promise.all(
      waits.map((w) => rejectsWith(w, isName("AbortError"), "a wait on closed memory")),
    );
    assert.equal(view.length === 0 || view.every((x) => x === 0), true);
    assert.throws(() => sem.tryAcquire(), { name: "IpcError", code: "EBADF" });
    sem.close();
  });
});

test("resize() replaces the mapping: a semaphore placed in the old one is unusable, and can be placed again", async () => {
  await noLeaks(() => {
    using mem = PosixSharedMemory.anonymous({ size: 4096 });
    const old = PosixSemaphore.at(mem, 0, { initial: 3 });
    mem.resize(8192);
    assert.throws(() => old.value, { name: "IpcError", code: "EBADF" });
    using again = PosixSemaphore.at(mem, 0);
    assert.equal(again.value, 3, "the semaphore itself lives in the object, not the mapping");
  });
});

test("at() refuses what is not writable shared memory, and offsets that are misaligned or too close to the end", async () => {
  await noLeaks(() => {
    using mem = PosixSharedMemory.create({ size: 100 });
    try {
      const allowed = "memory must be a PosixSharedMemory or SharedMemory";
      for (const bad of [{}, null, new Uint8Array(64), 5]) {
        assert.throws(() => PosixSemaphore.at(bad as unknown as PosixSharedMemory, 0), {
          name: "TypeError",
          message: new RegExp(`^${allowed}, got`),
        });
      }
      using ro = PosixSharedMemory.open(mem.name!, { readOnly: true });
      assert.throws(() => PosixSemaphore.at(ro, 0), {
        name: "TypeError",
        message: `${allowed} mapped read-write, got read-only memory`,
      });
      const closed = PosixSharedMemory.anonymous({ size: 64 });
      closed.close();
      assert.throws(() => PosixSemaphore.at(closed, 0), {
        name: "TypeError",
        message: `${allowed}, got closed or detached memory`,
      });
      assert.throws(() => PosixSemaphore.at(mem, 4), {
        name: "RangeError",
        message: "byteOffset must be a multiple of 8, got 4",
      });
      assert.throws(() => PosixSemaphore.at(mem, 72), {
        name: "RangeError",
        message: /^byteOffset must be/,
      });
      assert.throws(() => PosixSemaphore.at(mem, -8), { name: "RangeError" });
      assert.throws(() => PosixSemaphore.at(mem, 1.5), { name: "TypeError" });
      assert.throws(() => PosixSemaphore.at(mem, 0, { initial: -1 }), { name: "RangeError" });
      using ok = PosixSemaphore.at(mem, 64, { initial: 0 }); // bytes 64–95 of 100
      assert.equal(ok.value, 0);
    } finally {
      mem.unlink();
    }
  });
});

test("bad names and values are refused before any call, naming the parameter", async () => {
  await noLeaks(() => {
    const rule = /^name must be a name of one leading "\/" and 1 to 251 bytes without "\/" or NUL/;
    for (const name of ["", "lock", "/", "/a/b", `/${"x".repeat(252)}`, "/a\0b", "/..", null, 3]) {
      assert.throws(() => PosixSemaphore.create(name as string), {
        name: "TypeError",
        message: rule,
      });
      assert.throws(() => PosixSemaphore.open(name as string), {
        name: "TypeError",
        message: rule,
      });
      assert.throws(() => PosixSemaphore.unlink(name as string), {
        name: "TypeError",
        message: rule,
      });
    }
    const name = freshName();
    for (const initial of [-1, 2 ** 31]) {
      assert.throws(() => PosixSemaphore.create(name, { initial }), {
        name: "RangeError",
        message: /^initial must be/,
      });
    }
    assert.throws(() => PosixSemaphore.create(name, { initial: 0.5 }), { name: "TypeError" });
    assert.throws(() => PosixSemaphore.create(name, { mode: -1 }), { name: "RangeError" });
    assert.equal(semListed(name), false, "nothing was created");
    using longest = PosixSemaphore.create(`/${"y".repeat(251)}`);
    longest.unlink();
    assert.throws(() => new (PosixSemaphore as unknown as new () => unknown)(), {
      name: "TypeError",
      message: /not constructed directly/,
    });
  });
});

test("release() at the largest value is EOVERFLOW and changes nothing", async () => {
  await withSem(2 ** 31 - 1, (sem) => {
    assert.throws(
      () => sem.release(),
      (e) =>
        e instanceof IpcError && e.code === "EOVERFLOW" &&
        e.message === `Cannot release semaphore (sem_post, ${sem.name}): EOVERFLOW`,
    );
    assert.equal(sem.value, 2 ** 31 - 1);
  });
});

test({
  name: "another user's 0o600 semaphore is refused (EACCES); 0o666 lets them use it",
  ignore: !isRoot(), // needs setpriv to become `nobody`
  async fn() {
    await noLeaks(async () => {
      using nobody = new AsUser(65534, 65534);
      const asNobody = async (name: string) => {
        const out = await nobody.runFixture("posix_child.ts", ["open-sem", name]);
        assert.equal(out.code, 0, out.stderr);
        return JSON.parse(out.stdout);
      };
      using secret = PosixSemaphore.create(undefined, { initial: 1 });
      try {
        assert.deepEqual(await asNobody(secret.name!), {
          name: "IpcError",
          code: "EACCES",
          message: `Cannot open semaphore (sem_open, ${secret.name}): EACCES`,
        });
      } finally {
        secret.unlink();
      }
      using open = PosixSemaphore.create(undefined, { initial: 4, mode: 0o666 });
      try {
        assert.deepEqual(await asNobody(open.name!), { ok: true, value: 4 });
      } finally {
        open.unlink();
      }
    });
  },
});

test("bad wait options are rejections, not throws", async () => {
  await withSem(1, async (sem) => {
    await assert.rejects(sem.acquire({ timeout: -1 }), { name: "RangeError" });
    await assert.rejects(sem.acquire({ timeout: "1" as unknown as number }), { name: "TypeError" });
    await assert.rejects(
      sem.acquire({ signal: {} as AbortSignal }),
      { name: "TypeError", message: /^signal must be/ },
    );
    assert.equal(sem.value, 1);
  });
});

test("C peer: a ping-pong with sem_wait/sem_post over two named semaphores, and C waiting on our releases", async () => {
  await noLeaks(async () => {
    const peer = await posixPeer();
    using a = PosixSemaphore.create();
    using b = PosixSemaphore.create();
    try {
      const rounds = 300;
      await using pong = start(peer, ["sem-pong", a.name!, b.name!, String(rounds)]);
      for (let i = 0; i < rounds; i++) {
        a.release();
        await b.acquire({ timeout: 10_000 });
      }
      assert.equal((await pong.output()).stdout.trim(), "done");
      await using waiter = start(peer, ["sem-wait", a.name!, "50"]);
      for (let i = 0; i < 50; i++) a.release();
      assert.equal((await waiter.output()).stdout.trim(), "done");
      assert.equal(a.value, 0);
    } finally {
      a.unlink();
      b.unlink();
    }
  });
});

test("C peer: a semaphore C placed with sem_init guards a counter that C and this runtime's processes increment — none lost", async () => {
  await noLeaks(async () => {
    const peer = await posixPeer();
    using mem = PosixSharedMemory.create({ size: 4096 });
    try {
      const init = await run(peer, ["shm-sem-init", mem.name!, "0", "1"]);
      assert.equal(init.stdout.trim(), "ok", init.stderr);
      using lock = PosixSemaphore.at(mem, 0);
      assert.equal(lock.value, 1, "C's sem_init is what we see");
      const times = 300;
      const procs = [
        start(peer, ["shm-sem-add", mem.name!, "0", "64", String(times)]),
        startFixture("posix_child.ts", ["add", mem.name!, 0, 64, times]),
        startFixture("posix_child.ts", ["add", mem.name!, 0, 64, times]),
      ];
      const outs = await Promise.all(procs.map((p) => p.output()));
      await Promise.all(procs.map((p) => p[Symbol.asyncDispose]()));
      assert.deepEqual(outs.map((o) => o.stdout.trim()), ["added", "added", "added"]);
      assert.equal(mem.view(Int32Array, 64, 1)[0], 3 * times);
      assert.equal(lock.value, 1);
    } finally {
      mem.unlink();
    }
  });
});

test("the uncontended path: many acquire/release pairs leave the value as it was", async () => {
  await withSem(1, async (sem) => {
    for (let i = 0; i < 10_000; i++) {
      await sem.acquire();
      sem.release();
    }
    for (let i = 0; i < 10_000; i++) {
      assert.equal(sem.tryAcquire(), true);
      sem.release();
    }
    assert.equal(sem.value, 1);
  });
});

test("many waits at once on one semaphore each get one unit", async () => {
  await withSem(0, async (sem) => {
    const waits = Array.from({ length: 6 }, () => sem.acquire({ timeout: 10_000 }));
    await sleep(20);
    for (let i = 0; i < 6; i++) sem.release();
    await Promise.all(waits);
    assert.equal(sem.value, 0);
    await until("the value stays 0", () => sem.value === 0);
  });
});

test("cleanup: the compiled C peer's directory", () => {
  if (cDir !== undefined) rmSync(cDir, { recursive: true, force: true });
});
