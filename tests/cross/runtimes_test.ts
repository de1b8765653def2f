/**
 * Deno, Node.js and Bun processes working together through the library:
 * the same System V segment and semaphores (the bounded buffer and the
 * counter of the seed, with processes of all three runtimes), a FIFO between
 * runtimes, and a parent of one runtime with a child of another over our
 * pipe. Node runs the npm package as installed by the Node suites' projects:
 * `node` is Node 24 with koffi, `node26` is Node 26 without koffi, on its own
 * `node:ffi`.
 *
 *     deno task test:interop
 *
 * (`scripts/test.ts interop` builds those projects and passes their paths in
 * `SYSIPC_NODE_PROJECT` and `SYSIPC_NODE_FFI_PROJECT`, the pinned Nodes in
 * `SYSIPC_NODE` and `SYSIPC_NODE26`, and the pinned Bun in `SYSIPC_BUN`.)
 *
 * @module
 */
import assert from "node:assert/strict";
import { boundedBuffer } from "../../examples/bounded_buffer.ts";
import { semCounter } from "../../examples/sem_counter.ts";
import { fifoServer } from "../../examples/fifo_server.ts";
import { JOBS } from "../../examples/pmq_priority.ts";
import { posixSemCounter } from "../../examples/posix_sem_counter.ts";
import { memfdChild } from "../../examples/memfd_child.ts";
import { listDir } from "../_support/procfs.ts";
import { PosixMessageQueue } from "../_support/lib.ts";
import { FFI_PREFIX, on, type Runtime, VERSION_PREFIX } from "./_runtimes.ts";
import { assertNoFdLeak, assertNoIpcLeak } from "../_support/leaks.ts";
import { exists, run, start } from "../_support/children.ts";
import { sleep } from "../_support/timing.ts";
import { tempDir, test } from "../_support/runtime.ts";
import { rmSync } from "node:fs";

const quiet = () => {};

test("bounded buffer across runtimes: Node (koffi) and Bun producers, Deno and Node 26 (node:ffi) consumers, one segment and one semaphore set — nothing lost, duplicated, torn or reordered", async () => {
  await assertNoIpcLeak(() =>
    assertNoFdLeak(async () => {
      const producers: Runtime[] = ["node", "bun"];
      const consumers: Runtime[] = ["deno", "node26"];
      let consumer = 0;
      const launched: Runtime[] = [];
      const r = await boundedBuffer({
        producers: 2,
        consumers: 2,
        records: 3000,
        slots: 8,
        log: quiet,
        launch(args) {
          const rt = args[0] === "produce" ? producers[Number(args.at(-1))] : consumers[consumer++];
          launched.push(rt);
          return on(rt, "examples/bounded_buffer.ts", args);
        },
      });
      assert.deepEqual(launched.sort(), ["bun", "deno", "node", "node26"]);
      assert.equal(r.sent, 6000);
      assert.equal(r.received, 6000);
      assert.deepEqual(
        { lost: r.lost, duplicated: r.duplicated, corrupt: r.corrupt, reordered: r.reordered },
        { lost: 0, duplicated: 0, corrupt: 0, reordered: 0 },
      );
      assert.ok(r.perConsumer.every((n) => n > 0), `both consumers took records: ${r.perConsumer}`);
    })
  );
});

test("bounded buffer across runtimes, control: a Node producer and a Deno consumer without the semaphores lose or repeat records", async () => {
  await assertNoIpcLeak(async () => {
    const r = await boundedBuffer({
      records: 5000,
      slots: 8,
      sync: false,
      log: quiet,
      launch: (args) =>
        on(args[0] === "produce" ? "node" : "deno", "examples/bounded_buffer.ts", args),
    });
    assert.ok(
      r.lost + r.duplicated + r.corrupt > 0,
      `without semaphores: ${r.lost} lost, ${r.duplicated} duplicated, ${r.corrupt} corrupt`,
    );
  });
});

test("sem_counter across runtimes: Deno, Node (koffi), Node 26 (node:ffi) and Bun processes × 2,000 increments under one lock() end at exactly 8,000", async () => {
  await assertNoIpcLeak(() =>
    assertNoFdLeak(async () => {
      const runtimes: Runtime[] = ["deno", "node", "node26", "bun"];
      const r = await semCounter({
        processes: 4,
        increments: 2000,
        lock: true,
        log: quiet,
        launch: (args, i) => on(runtimes[i], "examples/sem_counter.ts", args),
      });
      assert.equal(r.expected, 8000);
      assert.equal(r.total, 8000);
    })
  );
});

test("sem_counter across runtimes, control: without the lock the same three processes lose updates", async () => {
  await assertNoIpcLeak(async () => {
    const runtimes: Runtime[] = ["deno", "node", "bun"];
    const r = await semCounter({
      processes: 3,
      increments: 2000,
      lock: false,
      log: quiet,
      launch: (args, i) => on(runtimes[i], "examples/sem_counter.ts", args),
    });
    assert.ok(r.total < r.expected, `without the lock ${r.total} of ${r.expected} survived`);
  });
});

test("message queue across runtimes: a Node msg_server serves Deno, Node, Node 26 (node:ffi) and Bun clients at once; each gets exactly its own replies", async () => {
  await assertNoIpcLeak(async () => {
    const s = on("node", "examples/msg_server.ts", ["12"]);
    await using server = start(s.command, s.args);
    const first = await server.stdout.next();
    const id = /^queue id (\d+):/.exec(first)?.[1];
    assert.ok(id, `the server said ${first}`);
    const clients: Runtime[] = ["deno", "node", "node26", "bun"];
    const outs = await Promise.all(clients.map((rt) => {
      const c = on(rt, "examples/msg_client.ts", [id, "3"]);
      return run(c.command, c.args);
    }));
    for (const out of outs) {
      assert.equal(out.code, 0, out.stderr);
      assert.deepEqual(
        out.stdout.trim().split("\n").map((l) => l.replace(/ \(from server \d+\)$/, "")),
        ["reply: HELLO NUMBER 1", "reply: HELLO NUMBER 2", "reply: HELLO NUMBER 3"],
      );
    }
    const done = await server.output();
    assert.equal(done.code, 0, done.stderr);
    assert.equal(count(done.stdout, "request from pid"), 12, done.stdout);
  });
});

test("POSIX queue across runtimes: Node and Bun senders fill a 10-message queue that this Deno process drains; nothing lost", async () => {
  const q = PosixMessageQueue.create(undefined, { maxMessages: 10, messageSize: 64 });
  try {
    const senders = (["node", "bun"] as const).map((rt) => {
      const c = on(rt, "examples/pmq_priority.ts", ["send", q.name]);
      return run(c.command, c.args);
    });
    const got: string[] = [];
    const dec = new TextDecoder();
    while (got.length < 2 * JOBS.length) {
      const m = await q.receive({ timeout: 20_000 });
      got.push(`${dec.decode(m.data)} ${m.priority}`);
    }
    for (const out of await Promise.all(senders)) assert.equal(out.code, 0, out.stderr);
    const want = [...JOBS, ...JOBS].map(([j, p]) => `${j} ${p}`);
    assert.deepEqual(got.toSorted(), want.toSorted());
    assert.equal(q.tryReceive(), null);
  } finally {
    q.close();
    q.unlink();
  }
});

const count = (text: string, word: string) => text.split(word).length - 1;

test("a Bun process writes into a FIFO that this Deno process reads", async () => {
  const dir = tempDir("sysipc_cross_");
  try {
    await assertNoFdLeak(async () => {
      const path = `${dir}/myfifo`;
      const lines: string[] = [];
      const served = fifoServer(path, (l) => lines.push(l)); // mkfifo, then waits for a writer
      const c = on("bun", "examples/fifo_client.ts", [path, "3", "50"]);
      const client = await run(c.command, c.args);
      assert.equal(client.code, 0, client.stderr);
      assert.equal(count(client.stdout, "client has wrote the msg!"), 3);
      await served;
      assert.equal(count(lines.join("\n"), "hello world"), 3, lines.join("\n"));
      assert.equal(lines.at(-1), "all clients closed the FIFO, server quits");
      assert.equal(exists(path), false, "the server removed its FIFO");
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a Deno process writes into a FIFO that a Node 26 process (node:ffi) reads", async () => {
  const dir = tempDir("sysipc_cross_");
  try {
    const path = `${dir}/myfifo`;
    const s = on("node26", "examples/fifo_server.ts", [path]);
    await using server = start(s.command, s.args);
    for (let i = 0; i < 500 && !exists(path); i++) await sleep(20);
    const c = on("deno", "examples/fifo_client.ts", [path, "4", "20"]);
    const client = await run(c.command, c.args);
    assert.equal(client.code, 0, client.stderr);
    const out = await server.output();
    assert.equal(out.code, 0, out.stderr);
    assert.equal(count(out.stdout, "hello world"), 4, out.stdout);
    assert.match(out.stdout, /server quits/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

const PAIRS: [Runtime, Runtime][] = [
  ["node", "deno"],
  ["deno", "node"],
  ["bun", "deno"],
  ["deno", "bun"],
  ["node", "bun"],
  ["bun", "node"],
  ["node26", "node"],
  ["deno", "node26"],
  ["node26", "bun"],
];

for (const [parentRt, childRt] of PAIRS) {
  test(`a ${parentRt} parent spawns a ${childRt} child over our pipe and reads it to EOF`, async () => {
    const child = on(childRt, "tests/fixtures/pipe_child.ts", ["hello", "3", "5"]);
    const parent = on(parentRt, "tests/fixtures/pipe_child.ts", [
      "parent",
      child.command,
      ...child.args,
    ]);
    const out = await run(parent.command, parent.args);
    assert.equal(out.code, 0, out.stderr);
    const r = JSON.parse(out.stdout);
    assert.ok(r.parent.startsWith(VERSION_PREFIX[parentRt]), `the parent is ${r.parent}`);
    assert.ok(r.ffi.startsWith(FFI_PREFIX[parentRt]), `the parent calls libc through ${r.ffi}`);
    assert.deepEqual(r.status, { success: true, code: 0, signal: null });
    const lines = r.text.trimEnd().split("\n");
    assert.equal(lines.length, 5, r.text);
    lines.forEach((line: string, i: number) => {
      const m = /^hello (\d)\/5 from (\S+ \S+) \((.+)\) pid (\d+)$/.exec(line);
      assert.ok(m, `line ${JSON.stringify(line)}`);
      assert.equal(Number(m[1]), i + 1);
      assert.ok(m[2].startsWith(VERSION_PREFIX[childRt]), `the child is ${m[2]}`);
      assert.ok(m[3].startsWith(FFI_PREFIX[childRt]), `the child calls libc through ${m[3]}`);
      assert.equal(Number(m[4]), r.childPid, "written by the child the parent spawned");
    });
  });
}

test("POSIX semaphore and shared memory across runtimes: Deno, Node, Node 26 (node:ffi) and Bun processes × 1,500 increments under one named semaphore end at exactly 6,000", async () => {
  const before = listDir("/dev/shm");
  await assertNoFdLeak(async () => {
    const runtimes: Runtime[] = ["deno", "node", "node26", "bun"];
    const r = await posixSemCounter({
      processes: 4,
      increments: 1500,
      lock: true,
      log: quiet,
      launch: (args, i) => on(runtimes[i], "examples/posix_sem_counter.ts", args),
    });
    assert.equal(r.expected, 6000);
    assert.equal(r.total, 6000);
  });
  assert.deepEqual(listDir("/dev/shm"), before, "/dev/shm changed");
});

test("POSIX semaphore across runtimes, control: without the lock the same three processes lose updates", async () => {
  const runtimes: Runtime[] = ["deno", "node", "bun"];
  const r = await posixSemCounter({
    processes: 3,
    increments: 1500,
    lock: false,
    log: quiet,
    launch: (args, i) => on(runtimes[i], "examples/posix_sem_counter.ts", args),
  });
  assert.ok(r.total < r.expected, `without the lock ${r.total} of ${r.expected} survived`);
});

for (const childRt of ["node", "node26", "bun"] as const) {
  test(`this Deno process hands anonymous memory (memfd) to a ${childRt} child as fd 3; the child writes, we read`, async () => {
    const before = listDir("/dev/shm");
    await assertNoFdLeak(async () => {
      const during: (string[] | undefined)[] = []; // a look at each step, while the memory exists
      const r = await memfdChild(
        () => during.push(listDir("/dev/shm")),
        (args) => on(childRt, "examples/memfd_child.ts", args),
      );
      assert.deepEqual(during, [before, before], "nothing appeared in /dev/shm");
      const name = childRt === "bun" ? "Bun" : "Node.js";
      assert.equal(r.message, `hello from ${name}, pid ${r.spawnedPid}`);
      assert.equal(r.pid, r.spawnedPid);
    });
    assert.deepEqual(listDir("/dev/shm"), before, "/dev/shm changed");
  });
}

const MEMFD_PAIRS: [Runtime, Runtime][] = [
  ["node", "bun"],
  ["bun", "deno"],
  ["node", "deno"],
  ["node26", "node"],
];

for (const [parentRt, childRt] of MEMFD_PAIRS) {
  test(`a ${parentRt} parent hands anonymous memory (memfd) to a ${childRt} child as fd 3; the parent reads what it wrote`, async () => {
    const before = listDir("/dev/shm");
    const child = on(childRt, "examples/memfd_child.ts");
    const parent = on(parentRt, "examples/memfd_child.ts", [child.command, ...child.args]);
    const out = await run(parent.command, parent.args);
    assert.equal(out.code, 0, out.stderr);
    assert.match(out.stdout, /^anonymous memory: 4096 bytes on fd \d+, no name \(memfd_create\)$/m);
    const m = /^the child \(pid (\d+)\) wrote: "hello from (\S+), pid (\d+)"$/m.exec(out.stdout);
    assert.ok(m, out.stdout);
    assert.equal(m[2], { deno: "Deno", node: "Node.js", node26: "Node.js", bun: "Bun" }[childRt]);
    assert.equal(m[3], m[1], "written by the child the parent spawned");
    assert.deepEqual(listDir("/dev/shm"), before, "/dev/shm changed");
  });
}
