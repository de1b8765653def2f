import assert from "node:assert/strict";
import { createHash } from "node:crypto";
import { writeFileSync } from "node:fs";
import { IpcError, pipe, PipeEnd, spawn, type SpawnOptions } from "./_support/lib.ts";
import { test } from "./_support/runtime.ts";
import { fillPattern } from "./fixtures/pattern.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import { exampleArgv, fixtureArgv, run, startFixture, withTempDir } from "./_support/children.ts";
import { isZombie, readProcText } from "./_support/procfs.ts";
import { sleep, stillPending } from "./_support/timing.ts";

const enc = new TextEncoder();
const dec = new TextDecoder();

/** Starts tests/fixtures/pipe_child.ts in a new process of this runtime. */
function spawnChild(args: (string | number)[], options: Omit<SpawnOptions, "args"> = {}) {
  const [command, argv] = fixtureArgv("pipe_child.ts", args);
  return spawn(command, { ...options, args: argv });
}

async function readAll(end: PipeEnd): Promise<Uint8Array> {
  const parts: Uint8Array[] = [];
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await end.read(buf);
    if (n === null) break;
    parts.push(buf.slice(0, n));
  }
  const out = new Uint8Array(parts.reduce((s, p) => s + p.length, 0));
  let o = 0;
  for (const p of parts) out.set(p, o), o += p.length;
  return out;
}

test("a child's writes cross the process boundary and the parent sees EOF when it closes", async () => {
  await assertNoFdLeak(async () => {
    using p = pipe();
    const c = spawnChild(["write", "3", "hello world!\n", "5", "20"], { fds: { 3: p.writeEnd } });
    p.writeEnd.close(); // 写之前关闭读 / 读之前关闭写: the parent only reads
    const text = dec.decode(await readAll(p.readEnd));
    assert.equal(text, "hello world!\n".repeat(5));
    assert.deepEqual(await c.status, { success: true, code: 0, signal: null });
    assert.equal(isZombie(c.pid), false);
  });
});

test("case 1: a full pipe holds the writer back until the reader drains it, nothing lost", async () => {
  await assertNoFdLeak(async () => {
    using p = pipe();
    using go = pipe();
    using out = pipe();
    const reader = spawnChild(["drain-after-go", "3"], {
      fds: { 3: p.readEnd },
      stdin: go.readEnd,
      stdout: out.writeEnd,
    });
    p.readEnd.close();
    go.readEnd.close();
    out.writeEnd.close();
    assert.equal(p.writeEnd.capacity, 65536);
    // Exactly one capacity's worth fits while nobody reads…
    const fill = new Uint8Array(65536);
    fillPattern(fill, 0);
    await p.writeEnd.write(fill);
    // …and one byte more waits.
    const extra = new Uint8Array([fill[0] ^ 0x5a]);
    const blocked = p.writeEnd.write(extra);
    assert.equal(await stillPending(blocked, 300), true, "writer should block on a full pipe");
    await go.writeEnd.write(enc.encode("go\n"));
    assert.equal(await blocked, 1);
    p.writeEnd.close();
    const [count, digest] = dec.decode(await readAll(out.readEnd)).trim().split(" ");
    assert.equal(Number(count), 65537);
    const h = createHash("sha256").update(fill).update(extra).digest("hex");
    assert.equal(digest, h);
    assert.equal((await reader.status).success, true);
  });
});

test("case 2: an empty pipe holds the reader without blocking the event loop", async () => {
  await assertNoFdLeak(async () => {
    using p = pipe();
    // The child holds the write end open and writes nothing for 300 ms, then once.
    const c = spawnChild(["late", "3", "300", "late\n"], { fds: { 3: p.writeEnd } });
    p.writeEnd.close();
    let ticks = 0;
    const timer = setInterval(() => ticks++, 10);
    const buf = new Uint8Array(64);
    const n = await p.readEnd.read(buf);
    clearInterval(timer);
    assert.equal(dec.decode(buf.subarray(0, n!)), "late\n");
    assert.ok(ticks > 3, `the event loop ran while the reader waited (${ticks} ticks)`);
    assert.equal(await p.readEnd.read(buf), null);
    await c.status;
  });
});

test("case 2: a reader waits as long as the writer stays silent", async () => {
  using p = pipe();
  const c = spawnChild(["hold", "3", "600"], { fds: { 3: p.writeEnd } });
  p.writeEnd.close();
  const r = p.readEnd.read(new Uint8Array(8));
  assert.equal(await stillPending(r, 300), true);
  assert.equal(await r, null, "EOF once the silent writer exits");
  await c.status;
});

test("case 3: when the writer closes, read() returns null and the stream ends", async () => {
  using p = pipe();
  const c = spawnChild(["write", "3", "bye\n", "2", "0"], { fds: { 3: p.writeEnd } });
  p.writeEnd.close();
  const chunks: string[] = [];
  for await (const chunk of p.readable) chunks.push(dec.decode(chunk));
  assert.equal(chunks.join(""), "bye\nbye\n");
  assert.equal(p.readEnd.closed, true, "the stream closed its end at EOF");
  await c.status;
});

test("case 4: when every reader has closed, write() rejects with EPIPE and the process lives", async () => {
  using p = pipe();
  const c = spawnChild(["close-then-wait", "3", "0"], { fds: { 3: p.readEnd } });
  p.readEnd.close();
  await c.status; // the only reader is gone
  await assert.rejects(p.writeEnd.write(enc.encode("anyone?")), (e: unknown) => {
    assert.ok(e instanceof IpcError);
    assert.equal(e.code, "EPIPE");
    assert.equal(e.errno, 32);
    assert.equal(e.syscall, "write");
    return true;
  });
  // Still alive and working.
  using q = pipe();
  await q.writeEnd.write(enc.encode("x"));
  assert.equal(await q.readEnd.read(new Uint8Array(1)), 1);
});

test("capacity: 65536 by default, 1 MiB after setCapacity, and the writer blocks exactly when full", async () => {
  using p = pipe();
  assert.equal(p.readEnd.capacity, 65536);
  assert.equal(p.writeEnd.setCapacity(1 << 20), 1 << 20);
  assert.equal(p.readEnd.capacity, 1 << 20, "both ends see one pipe");
  await p.writeEnd.write(new Uint8Array(1 << 20));
  const blocked = p.writeEnd.write(new Uint8Array(1));
  assert.equal(await stillPending(blocked, 200), true);
  const buf = new Uint8Array(4096);
  assert.equal(await p.readEnd.read(buf), 4096);
  assert.equal(await blocked, 1);
  using q = pipe({ capacity: 200_000 });
  assert.equal(q.readEnd.capacity, 262144, "the kernel rounds up to a power-of-two of pages");
});

test("parent and child exchange data both ways over pipe() + spawn() + fromFd()", async () => {
  using toChild = pipe();
  using fromChild = pipe();
  const c = spawnChild(["echo", "3", "4"], { fds: { 3: toChild.readEnd, 4: fromChild.writeEnd } });
  toChild.readEnd.close();
  fromChild.writeEnd.close();
  const message = enc.encode("ping ".repeat(50_000)); // > capacity: both directions flow
  const echoed = readAll(fromChild.readEnd);
  await toChild.writeEnd.write(message);
  toChild.writeEnd.close();
  assert.deepEqual(await echoed, message);
  assert.equal((await c.status).success, true);
});

test("ls -l | grep through our pipe matches the shell's output", async () => {
  await withTempDir("sysipc_pipe_", async (dir) => {
    for (const f of ["a.txt", "b.txt", "c.log", "d.txt.bak"]) writeFileSync(`${dir}/${f}`, f);
    const shell = await run("sh", ["-c", `ls -l '${dir}' | grep txt`]);
    const ours = await run(...exampleArgv("ls_grep.ts", [dir, "txt"]));
    assert.equal(ours.code, 0, ours.stderr);
    assert.ok(shell.stdout.includes("a.txt"));
    assert.equal(ours.stdout, shell.stdout);
  });
});

test("1 GiB through a pipe between two processes arrives byte-exact", async () => {
  const total = 1 << 30;
  using p = pipe();
  const c = spawnChild(["pattern", "3", String(total)], { fds: { 3: p.writeEnd } });
  p.writeEnd.close();
  const got = createHash("sha256");
  const buf = new Uint8Array(1 << 16);
  let n: number | null, count = 0;
  while ((n = await p.readEnd.read(buf)) !== null) {
    got.update(buf.subarray(0, n));
    count += n;
  }
  assert.equal(count, total);
  const want = createHash("sha256");
  const chunk = new Uint8Array(1 << 20);
  for (let off = 0; off < total; off += chunk.length) {
    fillPattern(chunk, off);
    want.update(chunk);
  }
  assert.equal(got.digest("hex"), want.digest("hex"));
  assert.equal((await c.status).success, true);
});

test("the readable stream supports BYOB readers", async () => {
  using p = pipe();
  await p.writeEnd.write(enc.encode("abcdef"));
  p.writeEnd.close();
  const reader = p.readable.getReader({ mode: "byob" });
  const r1 = await reader.read(new Uint8Array(4));
  assert.equal(dec.decode(r1.value), "abcd");
  const r2 = await reader.read(new Uint8Array(4));
  assert.equal(dec.decode(r2.value), "ef");
  const r3 = await reader.read(new Uint8Array(4));
  assert.equal(r3.done, true);
});

test("the writable stream applies backpressure instead of buffering without bound", async () => {
  using p = pipe();
  const w = p.writable.getWriter();
  await w.write(new Uint8Array(65536));
  const pending = w.write(new Uint8Array(10));
  assert.equal(await stillPending(pending, 200), true);
  assert.equal(w.desiredSize! <= 0, true);
  await p.readEnd.read(new Uint8Array(65536));
  await pending;
  await w.close();
  assert.equal(p.writeEnd.closed, true);
  const rest = new Uint8Array(64);
  assert.equal(await p.readEnd.read(rest), 10);
  assert.equal(await p.readEnd.read(rest), null);
});

test("closing an end while a read waits rejects that read with EBADF", async () => {
  using p = pipe();
  const r = p.readEnd.read(new Uint8Array(8));
  await sleep(20);
  p.readEnd.close();
  await assert.rejects(r, (e: unknown) => e instanceof IpcError && e.code === "EBADF");
});

/** Detaches a buffer the way a program hands it to a Worker: transferred away. */
const transferAway = (buf: ArrayBufferLike) =>
  structuredClone(buf, { transfer: [buf as ArrayBuffer] });

test("a buffer transferred away while read() waits: a TypeError that says so, and the data stays in the pipe", async () => {
  using p = pipe();
  const into = new Uint8Array(16);
  const r = p.readEnd.read(into);
  await sleep(20);
  transferAway(into.buffer);
  await p.writeEnd.write(new TextEncoder().encode("abc"));
  await assert.rejects(r, {
    name: "TypeError",
    message:
      /^into was detached while read\(\) waited .*: nothing was read; the data stays in the pipe$/,
  });
  const rest = new Uint8Array(16);
  assert.equal(await p.readEnd.read(rest), 3, "not a false end of file: the bytes are there");
  assert.equal(new TextDecoder().decode(rest.subarray(0, 3)), "abc");
});

test("data transferred away while write() waits on a full pipe: a TypeError with bytesWritten, never a silent 0", async () => {
  using p = pipe();
  const cap = p.writeEnd.capacity;
  const data = new Uint8Array(cap + 100).fill(7);
  const w = p.writeEnd.write(data); // fills the pipe, then waits with 100 bytes to go
  await sleep(20);
  assert.ok(await stillPending(w, 10));
  transferAway(data.buffer);
  const drain = new Uint8Array(cap * 2);
  let got = 0;
  while (got < cap) got += (await p.readEnd.read(drain.subarray(got)))!;
  await assert.rejects(w, (e: unknown) => {
    assert.ok(e instanceof TypeError);
    assert.match(
      e.message,
      new RegExp(
        `^data was detached while write\\(\\) waited .*: ${cap} of ${
          cap + 100
        } bytes had been written$`,
      ),
    );
    assert.equal((e as TypeError & { bytesWritten: number }).bytesWritten, cap);
    return true;
  });
  assert.equal(got, cap, "exactly what bytesWritten says reached the pipe");
  assert.ok(drain.subarray(0, cap).every((b) => b === 7));
  p.writeEnd.close();
  assert.equal(await p.readEnd.read(drain), null, "nothing else was written");
});

test("bad input gets a clear error, never a crash or hang", async (t) => {
  await t.step("fromFd: negative, fractional, not a number, closed", () => {
    assert.throws(() => PipeEnd.fromFd(-1), {
      name: "RangeError",
      message: "fd must be an integer from 0 to 2147483647, got -1",
    });
    assert.throws(() => PipeEnd.fromFd(1.5), {
      name: "TypeError",
      message: "fd must be an integer from 0 to 2147483647, got 1.5",
    });
    assert.throws(() => PipeEnd.fromFd("3" as unknown as number), {
      name: "TypeError",
      message: 'fd must be an integer from 0 to 2147483647, got "3"',
    });
    const p = pipe();
    const fd = p.readEnd.fd;
    p.close();
    assert.throws(
      () => PipeEnd.fromFd(fd),
      (e: unknown) => e instanceof IpcError && e.code === "EBADF",
    );
  });
  await t.step("capacity: 0, negative, fractional, above pipe-max-size", () => {
    const max = Number(readProcText("/proc/sys/fs/pipe-max-size")!.trim());
    using p = pipe();
    const allowed = `an integer from 1 to ${max} (fs.pipe-max-size)`;
    assert.throws(() => p.writeEnd.setCapacity(0), {
      name: "RangeError",
      message: `bytes must be ${allowed}, got 0`,
    });
    assert.throws(() => p.writeEnd.setCapacity(-4096), RangeError);
    assert.throws(() => p.writeEnd.setCapacity(4096.5), {
      name: "TypeError",
      message: `bytes must be ${allowed}, got 4096.5`,
    });
    assert.throws(() => p.writeEnd.setCapacity(max + 1), {
      name: "RangeError",
      message: `bytes must be ${allowed}, got ${max + 1}`,
    });
    assert.throws(() => pipe({ capacity: 0 }), {
      name: "RangeError",
      message: `capacity must be ${allowed}, got 0`,
    });
  });
  await t.step("write after close, read after close, double close", async () => {
    const p = pipe();
    p.close();
    p.close(); // idempotent
    p.writeEnd.close();
    await assert.rejects(
      async () => await p.writeEnd.write(enc.encode("x")),
      (e: unknown) => e instanceof IpcError && e.code === "EBADF",
    );
    await assert.rejects(
      async () => await p.readEnd.read(new Uint8Array(1)),
      (e: unknown) => e instanceof IpcError && e.code === "EBADF",
    );
    assert.equal(p.readEnd.fd, -1);
  });
  await t.step("write/read of something that is not a Uint8Array", async () => {
    using p = pipe();
    await assert.rejects(p.writeEnd.write("text" as unknown as Uint8Array), {
      name: "TypeError",
      message: 'data must be a Uint8Array, got "text"',
    });
    await assert.rejects(p.readEnd.read([] as unknown as Uint8Array), {
      name: "TypeError",
      message: "into must be a Uint8Array, got an array",
    });
  });
  await t.step("pipe() options that are not an object", () => {
    assert.throws(() => pipe(null as unknown as undefined), {
      name: "TypeError",
      message: "options must be an object, got null",
    });
  });
  await t.step("spawning a command that does not exist", () => {
    assert.throws(
      () => spawn("sysipc-no-such-command"),
      (e: unknown) =>
        e instanceof IpcError && e.code === "ENOENT" && /sysipc-no-such-command/.test(e.message),
    );
  });
  await t.step("spawn options that make no sense", () => {
    using p = pipe();
    const stdio = 'an open PipeEnd, "inherit" or "null"';
    const bad = (options: unknown, name: string, message: string | RegExp) =>
      assert.throws(() => spawn("true", options as SpawnOptions), { name, message });
    bad({ stdin: "pipe" }, "TypeError", `stdin must be ${stdio}, got "pipe"`);
    bad(
      { fds: { 1: p.writeEnd } },
      "RangeError",
      'fds key must be an integer from 3 to 1023, got "1"',
    );
    const handle = "an open handle that owns a descriptor (a PipeEnd, a PosixSharedMemory)";
    bad({ fds: { 3: 3 } }, "TypeError", `fds[3] must be ${handle}, got 3`);
    bad({ fds: { 3: { fd: -1 } } }, "TypeError", `fds[3] must be ${handle}, got a closed handle`);
    bad({ fds: { 3: { fd: "3" } } }, "TypeError", /^fds\[3\] must be an open handle/);
    bad(
      { fds: null },
      "TypeError",
      "fds must be an object of open handles (PipeEnd, PosixSharedMemory), got null",
    );
    bad({ args: "-l" }, "TypeError", 'args must be an array of strings, got "-l"');
    bad(
      { args: ["a\0b"] },
      "TypeError",
      /^args\[0\] must be a string without NUL characters, got "a/,
    );
    bad({ args: [1] }, "TypeError", "args[0] must be a string without NUL characters, got 1");
    bad(
      { env: { "A=B": "x" } },
      "TypeError",
      /^env key must be a non-empty string without "=" or NUL/,
    );
    bad({ env: { FOO: 1 } }, "TypeError", "env.FOO must be a string without NUL characters, got 1");
    bad({ cwd: 7 }, "TypeError", /^cwd must be a non-empty string or a file: URL.*, got 7$/);
    p.writeEnd.close();
    bad({ stdout: p.writeEnd }, "TypeError", `stdout must be ${stdio}, got a closed PipeEnd`);
    assert.throws(() => spawn(""), {
      name: "TypeError",
      message: 'command must be a non-empty string without NUL characters, got ""',
    });
  });
  await t.step("spawn(…, null) and clearEnv that is not a boolean", () => {
    assert.throws(() => spawn("true", null as unknown as undefined), {
      name: "TypeError",
      message: "options must be an object, got null",
    });
    // "false" is truthy: taken as is, it would start the child with no environment.
    assert.throws(() => spawn("true", { clearEnv: "false" as unknown as boolean }), {
      name: "TypeError",
      message: 'clearEnv must be a boolean, got "false"',
    });
  });
  await t.step("a missing cwd is reported as the directory, not the program", async () => {
    await withTempDir("sysipc_cwd_", (dir) => {
      writeFileSync(`${dir}/file`, "x");
      assert.throws(
        () => spawn("true", { cwd: `${dir}/missing` }),
        (e: unknown) =>
          e instanceof IpcError && e.code === "ENOENT" && e.syscall === "statx" &&
          e.path === `${dir}/missing` && /^Cannot use cwd for "true" \(statx, /.test(e.message),
      );
      assert.throws(
        () => spawn("true", { cwd: `${dir}/file` }),
        (e: unknown) => e instanceof IpcError && e.code === "ENOTDIR" && e.path === `${dir}/file`,
      );
    });
  });
  await t.step("kill with an unknown signal, and after the child was reaped", async () => {
    const c = spawn("true");
    const allowed = 'a signal name such as "SIGTERM" or "TERM", or a number from 1 to 64';
    assert.throws(() => c.kill("SIGNOPE"), {
      name: "TypeError",
      message: `signal must be ${allowed}, got "SIGNOPE"`,
    });
    assert.throws(() => c.kill(65), {
      name: "RangeError",
      message: `signal must be ${allowed}, got 65`,
    });
    assert.throws(() => c.kill(1.5), {
      name: "TypeError",
      message: `signal must be ${allowed}, got 1.5`,
    });
    await c.status;
    assert.throws(() => c.kill(), (e: unknown) => e instanceof IpcError && e.code === "ESRCH");
  });
});

test("children are reaped and no descriptors leak across many spawns", async () => {
  await assertNoFdLeak(async () => {
    const pids: number[] = [];
    for (let i = 0; i < 20; i++) {
      using p = pipe();
      const c = spawn("sh", { args: ["-c", "echo $$"], stdout: p.writeEnd, stderr: "null" });
      p.writeEnd.close();
      const text = dec.decode(await readAll(p.readEnd)).trim();
      assert.equal(Number(text), c.pid);
      assert.equal((await c.status).code, 0);
      pids.push(c.pid);
    }
    for (const pid of pids) assert.equal(isZombie(pid), false);
  });
});

test("kill() ends a child and status reports the signal", async () => {
  const c = spawn("sleep", { args: ["30"] });
  c.kill("SIGKILL");
  assert.deepEqual(await c.status, { success: false, code: 137, signal: "SIGKILL" });
});

test('spawn() with stdio "inherit" (the default) hands the child our stdin, stdout and stderr', async () => {
  // Node.js marks its own stdio close-on-exec: the child must still get it.
  await using p = startFixture("pipe_child.ts", ["inherit-stdio"], { stdin: "pipe" });
  await p.send("hello");
  const out = await p.output();
  assert.deepEqual(out, {
    success: true,
    code: 0,
    signal: null,
    stdout: "out:hello\nstatus 0\n",
    stderr: "err:hello\n",
  });
});

test("spawn() passes cwd, env and /dev/null as asked", async () => {
  using p = pipe();
  const c = spawn("sh", {
    args: ["-c", 'printf "%s|%s|" "$SYSIPC_T" "$(pwd)"; cat'],
    cwd: "/tmp",
    env: { SYSIPC_T: "yes" },
    stdin: "null",
    stdout: p.writeEnd,
  });
  p.writeEnd.close();
  assert.equal(dec.decode(await readAll(p.readEnd)), "yes|/tmp|");
  await c.status;
});

test("a child gets SIGPIPE back: `yes | head -1` ends instead of spinning", async () => {
  using p = pipe();
  const yes = spawn("yes", { stdout: p.writeEnd });
  const head = spawn("head", { args: ["-1"], stdin: p.readEnd, stdout: "null" });
  p.close();
  assert.equal((await head.status).success, true);
  assert.equal((await yes.status).signal, "SIGPIPE");
});

test("PipeEnd, Pipe and Child are not constructed directly: a JavaScript caller gets a TypeError", async () => {
  await assertNoFdLeak(async () => {
    // deno-lint-ignore no-explicit-any
    const End = PipeEnd as any;
    assert.throws(() => new End(0), /PipeEnd is not constructed directly/);
    const child = spawn("true");
    try {
      // deno-lint-ignore no-explicit-any
      const C = child.constructor as any;
      assert.throws(() => new C(child.pid, 0), /Child is not constructed directly/);
    } finally {
      await child.status;
    }
  });
});
