// removeOnExit (every create() and mkfifo()), and removal by id without attaching.
import assert from "node:assert/strict";
import { existsSync, rmSync } from "node:fs";
import { join } from "node:path";
import process from "node:process";
import {
  MessageQueue,
  mkfifo,
  PosixMessageQueue,
  PosixSemaphore,
  PosixSharedMemory,
  SemaphoreSet,
  SharedMemory,
} from "./_support/lib.ts";
import { runtimeName, tempDir, test } from "./_support/runtime.ts";
import { fixtureArgv, type Proc, start } from "./_support/children.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import { ipcObjects, listDir, readProcText } from "./_support/procfs.ts";
import { isCode } from "./_support/reject.ts";
import { queueExists, queues } from "./_support/objects.ts";
import { stillPending } from "./_support/timing.ts";

/** What the fixture prints: the ids, names and path of what it made. */
interface Made {
  pid: number;
  shm: number;
  sem: number;
  msg: number;
  pshm: string;
  psem: string;
  pmq: string;
  fifo: string;
  controlShm: number;
  controlPshm: string;
}

/** The objects made with `removeOnExit`, and the controls made without it. */
const REMOVED = ["shm", "sem", "msg", "pshm", "psem", "pmq", "fifo"] as const;
const CONTROLS = ["controlShm", "controlPshm"] as const;
type Which = (typeof REMOVED)[number] | (typeof CONTROLS)[number];

let serial = 0;
const freshPrefix = () => `/sysipc_roe_${process.pid}_${serial++}`;

const shmEntries = () => listDir("/dev/shm") ?? [];

/**
 * The System V shared memory segments not marked for removal: one that
 * `IPC_RMID` marked stays listed, as `ipcs` "dest", while a process is
 * attached (`SHM_DEST`, 0o1000 in the perms column of /proc/sysvipc/shm).
 */
function liveSegments(): Set<number> {
  const live = new Set<number>();
  for (const line of (readProcText("/proc/sysvipc/shm") ?? "").split("\n").slice(1)) {
    const f = line.trim().split(/\s+/);
    if (f.length > 2 && (parseInt(f[2], 8) & 0o1000) === 0) live.add(Number(f[1]));
  }
  return live;
}

/** Which of the child's objects exist now (a segment only if not marked for removal). */
function present(m: Made): Record<Which, boolean> {
  const sysv = ipcObjects();
  const has = (kind: "sem" | "msg", id: number) => sysv.some((o) => o.kind === kind && o.id === id);
  const segments = liveSegments();
  const shm = shmEntries();
  return {
    shm: segments.has(m.shm),
    sem: has("sem", m.sem),
    msg: has("msg", m.msg),
    pshm: shm.includes(m.pshm.slice(1)),
    psem: shm.includes(`sem.${m.psem.slice(1)}`),
    pmq: queueExists(m.pmq),
    fifo: existsSync(m.fifo),
    controlShm: segments.has(m.controlShm),
    controlPshm: shm.includes(m.controlPshm.slice(1)),
  };
}

/** `present()` as it should be: the removeOnExit objects `removed` or not, the controls there. */
function expected(removed: boolean): Record<Which, boolean> {
  return {
    ...Object.fromEntries(REMOVED.map((k) => [k, !removed])) as Record<Which, boolean>,
    controlShm: true,
    controlPshm: true,
  };
}

/** Runs `f`, ignoring the error of an object that is gone already. */
function ignoringGone(f: () => void): void {
  try {
    f();
  } catch (e) {
    if (!(isCode("ENOENT")(e) || isCode("EINVAL")(e) || isCode("EIDRM")(e))) throw e;
  }
}

/** Removes whatever the child left (the controls always; everything after SIGKILL). */
function cleanUp(prefix: string, m: Made | undefined): void {
  if (m !== undefined) {
    for (const id of [m.shm, m.controlShm]) ignoringGone(() => SharedMemory.removeById(id));
    ignoringGone(() => SemaphoreSet.removeById(m.sem));
    ignoringGone(() => MessageQueue.removeById(m.msg));
  }
  for (const kind of ["_shm", "_control"]) {
    ignoringGone(() => PosixSharedMemory.unlink(prefix + kind));
  }
  ignoringGone(() => PosixSemaphore.unlink(`${prefix}_sem`));
  ignoringGone(() => PosixMessageQueue.unlink(`${prefix}_mq`));
}

/** What the leak check compares: `ipcs`, `/dev/shm` and the POSIX queues. */
function snapshot() {
  return {
    sysv: ipcObjects().map((o) => `${o.kind} ${o.id}`).sort(),
    devShm: shmEntries(),
    queues: queues(),
  };
}

/** The fixture's modes that wait for the test's "exit" (the others end at once). */
const WAITING = new Set(["wait", "listen", "listen-once", "unlink-first"]);

/**
 * Starts the fixture in `mode` (through `wrap`, e.g. a shell that ignores a
 * signal first), reads what it made, and runs `body`; then removes what is
 * left and checks that nothing else was: `ipcs`, `/dev/shm`, the queues and
 * the FIFO's directory are as they were.
 */
async function withChild(
  mode: string,
  body: (child: Proc, made: Made) => Promise<void>,
  wrap: (cmd: string, args: string[]) => [string, string[]] = (c, a) => [c, a],
): Promise<void> {
  const before = snapshot();
  const dir = tempDir("sysipc_roe_");
  const prefix = freshPrefix();
  let made: Made | undefined;
  try {
    const [cmd, args] = wrap(...fixtureArgv("exit_child.ts", [mode, prefix, dir]));
    await using child = start(cmd, args, { stdin: "pipe" });
    made = await child.stdout.json<Made>(30_000);
    assert.equal(made.fifo, join(dir, "fifo"));
    if (WAITING.has(mode)) {
      assert.deepEqual(present(made), expected(false), "everything exists while the child runs");
    }
    await body(child, made);
  } finally {
    cleanUp(prefix, made);
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(snapshot(), before, "something was left behind");
}

/** Waits for the child's end: its status, and what it printed on stderr. */
async function ended(child: Proc) {
  const out = await child.output();
  return { code: out.code, signal: out.signal, stderr: out.stderr };
}

// ---------------------------------------------------------------------------
// Normal ends
// ---------------------------------------------------------------------------

test("removeOnExit: every kind of object is removed when the child's event loop runs dry; the controls stay", async () => {
  await withChild("return", async (child, made) => {
    assert.deepEqual(await ended(child), { code: 0, signal: null, stderr: "" });
    assert.deepEqual(present(made), expected(true));
  });
});

test("removeOnExit: process.exit() removes them too", async () => {
  await withChild("exit", async (child, made) => {
    assert.deepEqual(await ended(child), { code: 0, signal: null, stderr: "" });
    assert.deepEqual(present(made), expected(true));
  });
});

test({
  name: "removeOnExit: Deno.exit() removes them too (Deno only)",
  ignore: runtimeName !== "deno",
  fn: async () => {
    await withChild("deno-exit", async (child, made) => {
      assert.deepEqual(await ended(child), { code: 0, signal: null, stderr: "" });
      assert.deepEqual(present(made), expected(true));
    });
  },
});

// ---------------------------------------------------------------------------
// Signals
// ---------------------------------------------------------------------------

for (const signal of ["SIGINT", "SIGTERM", "SIGHUP"]) {
  test(`removeOnExit: ${signal} removes them, and the child still dies of ${signal}`, async () => {
    await withChild("wait", async (child, made) => {
      child.kill(signal);
      assert.deepEqual(await ended(child), {
        code: 128 + signalNumber(signal),
        signal,
        stderr: "",
      });
      assert.deepEqual(present(made), expected(true));
    });
  });
}

test("removeOnExit: SIGKILL cannot be caught — every object stays (the test removes them)", async () => {
  await withChild("wait", async (child, made) => {
    child.kill("SIGKILL");
    assert.deepEqual(await ended(child), { code: 137, signal: "SIGKILL", stderr: "" });
    assert.deepEqual(present(made), expected(false));
  });
});

for (const mode of ["listen", "listen-once"]) {
  test(`removeOnExit: a program with a SIGINT listener of its own (${mode}) keeps running and keeps its objects until it exits`, async () => {
    await withChild(mode, async (child, made) => {
      child.kill("SIGINT");
      assert.equal(await child.stdout.next(), "got SIGINT");
      assert.ok(await stillPending(child.status, 200), "the child still runs after SIGINT");
      assert.deepEqual(present(made), expected(false), "nothing was removed on SIGINT");
      await child.send("exit");
      assert.equal(await child.stdout.next(), "exiting");
      assert.deepEqual(await ended(child), { code: 0, signal: null, stderr: "" });
      assert.deepEqual(present(made), expected(true), "removed at the normal exit");
    });
  });
}

test("removeOnExit: a signal the child inherited as ignored stays ignored (Node.js resets it at start-up: dies)", async () => {
  // `trap '' HUP` then exec: the runtime starts with SIGHUP ignored, as under nohup.
  const ignoringHup = (cmd: string, args: string[]): [string, string[]] => [
    "sh",
    ["-c", `trap '' HUP; exec "$0" "$@"`, cmd, ...args],
  ];
  await withChild("wait", async (child, made) => {
    child.kill("SIGHUP");
    if (runtimeName === "node") {
      // Node.js sets every signal back to its default before running any code.
      assert.deepEqual(await ended(child), { code: 129, signal: "SIGHUP", stderr: "" });
      assert.deepEqual(present(made), expected(true));
      return;
    }
    assert.ok(await stillPending(child.status, 300), "SIGHUP is still ignored");
    assert.deepEqual(present(made), expected(false), "nothing was removed on SIGHUP");
    await child.send("exit");
    assert.equal(await child.stdout.next(), "exiting");
    assert.deepEqual(await ended(child), { code: 0, signal: null, stderr: "" });
    assert.deepEqual(present(made), expected(true));
  }, ignoringHup);
});

// ---------------------------------------------------------------------------
// Removed before the exit
// ---------------------------------------------------------------------------

test("removeOnExit: objects another process removed first are skipped at exit without a word", async () => {
  await withChild("wait", async (child, made) => {
    SharedMemory.removeById(made.shm); // the child stays attached: marked, not yet destroyed
    SemaphoreSet.removeById(made.sem);
    MessageQueue.removeById(made.msg);
    PosixSharedMemory.unlink(made.pshm);
    PosixSemaphore.unlink(made.psem);
    PosixMessageQueue.unlink(made.pmq);
    rmSync(made.fifo);
    assert.deepEqual(present(made), expected(true));
    await child.send("exit");
    assert.equal(await child.stdout.next(), "exiting");
    assert.deepEqual(await ended(child), { code: 0, signal: null, stderr: "" });
    assert.deepEqual(present(made), expected(true));
  });
});

test("removeOnExit: removing an object yourself cancels its removal at exit — a new object under its name stays", async () => {
  await withChild("unlink-first", async (child, made) => {
    await child.send("exit");
    assert.equal(await child.stdout.next(), "recreated");
    assert.deepEqual(await ended(child), { code: 0, signal: null, stderr: "" });
    assert.deepEqual(present(made), {
      ...expected(true),
      pshm: true,
      psem: true,
      pmq: true,
    }, "the POSIX objects made again without removeOnExit outlive the child");
  });
});

// ---------------------------------------------------------------------------
// Validation
// ---------------------------------------------------------------------------

test("removeOnExit must be a boolean: a TypeError naming it, before anything is created", async () => {
  const before = snapshot();
  const dir = tempDir("sysipc_roe_");
  try {
    await assertNoFdLeak(() => {
      const name = `${freshPrefix()}_bad`;
      const fifo = join(dir, "fifo");
      for (const bad of ["yes", 1, null, {}]) {
        const o = { removeOnExit: bad as unknown as boolean };
        const calls: [string, () => unknown][] = [
          ["SharedMemory.create", () => SharedMemory.create({ size: 64, ...o })],
          ["SemaphoreSet.create", () => SemaphoreSet.create(o)],
          ["MessageQueue.create", () => MessageQueue.create(o)],
          ["PosixSharedMemory.create", () => PosixSharedMemory.create(name, { size: 64, ...o })],
          ["PosixSharedMemory.create({…})", () => PosixSharedMemory.create({ size: 64, ...o })],
          ["PosixSemaphore.create", () => PosixSemaphore.create(name, o)],
          ["PosixMessageQueue.create", () => PosixMessageQueue.create(name, o)],
          ["mkfifo", () => mkfifo(fifo, o)],
        ];
        for (const [what, call] of calls) {
          assert.throws(
            call,
            (e) =>
              e instanceof TypeError && /^removeOnExit must be a boolean, got /.test(e.message),
            `${what} with removeOnExit ${JSON.stringify(bad)}`,
          );
        }
      }
      assert.equal(existsSync(fifo), false, "no FIFO was made");
      // false is the default, and allowed.
      const shm = SharedMemory.create({ size: 64, removeOnExit: false });
      shm.detach();
      shm.remove();
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.deepEqual(snapshot(), before, "nothing was created");
});

// ---------------------------------------------------------------------------
// removeById
// ---------------------------------------------------------------------------

test("SharedMemory.removeById() marks a segment for removal without attaching; gone on the last detach; then EINVAL", async () => {
  const before = snapshot();
  await assertNoFdLeak(() => {
    const shm = SharedMemory.create({ size: 64 });
    const id = shm.id;
    try {
      SharedMemory.removeById(id);
      assert.equal(shm.stat().removed, true, "marked: the attachment keeps it for now");
      shm.bytes[0] = 7; // still usable
      assert.equal(shm.bytes[0], 7);
    } finally {
      shm.detach();
    }
    assert.equal(ipcObjects().some((o) => o.kind === "shm" && o.id === id), false, "destroyed");
    assert.throws(() => SharedMemory.removeById(id), (e) => {
      assert.ok(isCode("EINVAL")(e), String(e));
      assert.equal(
        (e as Error).message,
        `Cannot remove shared memory (shmctl, IPC_RMID, id ${id}): EINVAL`,
      );
      return true;
    });
  });
  assert.deepEqual(snapshot(), before);
});

test("SemaphoreSet.removeById() removes a set another handle uses (EIDRM there); then EINVAL", async () => {
  const before = snapshot();
  await assertNoFdLeak(async () => {
    using set = SemaphoreSet.create({ initial: 0 });
    const id = set.id;
    const waiting = set.at(0).acquire({ timeout: 20_000 });
    SemaphoreSet.removeById(id);
    await assert.rejects(waiting, isCode("EIDRM"), "a waiter is woken with EIDRM");
    assert.throws(() => set.getValues(), isCode("EIDRM"));
    assert.equal(ipcObjects().some((o) => o.kind === "sem" && o.id === id), false);
    assert.throws(() => SemaphoreSet.removeById(id), (e) => {
      assert.ok(isCode("EINVAL")(e), String(e));
      assert.equal((e as Error).message, `Cannot remove semaphore set (semctl, id ${id}): EINVAL`);
      return true;
    });
  });
  assert.deepEqual(snapshot(), before);
});

test("removeById() checks the id before any call: TypeError for a non-integer, RangeError outside 0–2147483647", () => {
  for (const removeById of [SharedMemory.removeById, SemaphoreSet.removeById]) {
    for (const bad of ["1", 1.5, NaN, null, undefined, 1n]) {
      assert.throws(
        () => removeById(bad as unknown as number),
        (e) => e instanceof TypeError && /^id must be an integer/.test(e.message),
        `id ${String(bad)}`,
      );
    }
    for (const bad of [-1, 2 ** 31, Number.MAX_SAFE_INTEGER]) {
      assert.throws(
        () => removeById(bad),
        (e) =>
          e instanceof RangeError && /^id must be an integer from 0 to 2147483647/.test(e.message),
        `id ${bad}`,
      );
    }
  }
});

/** A signal's number, for the exit code a signal death is reported with (128 + n). */
function signalNumber(name: string): number {
  return { SIGHUP: 1, SIGINT: 2, SIGTERM: 15 }[name]!;
}
