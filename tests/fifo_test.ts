import assert from "node:assert/strict";
import process from "node:process";
import {
  chmodSync,
  lstatSync,
  renameSync,
  rmSync,
  statSync,
  symlinkSync,
  writeFileSync,
} from "node:fs";
import { IpcError, libc, mkfifo, openFifo, PipeEnd } from "./_support/lib.ts";
import { tempDir as makeTempDir, test } from "./_support/runtime.ts";
import { assertNoFdLeak } from "./_support/leaks.ts";
import {
  compileC,
  exampleArgv,
  exists,
  fixtureArgv,
  interopFile,
  run,
  start,
} from "./_support/children.ts";
import { fdFlags, listDir, readProcText } from "./_support/procfs.ts";
import { sleep, stillPending } from "./_support/timing.ts";

const enc = new TextEncoder();

function tempDir(): string {
  return makeTempDir("sysipc_fifo_");
}

function removeDir(dir: string): void {
  rmSync(dir, { recursive: true, force: true });
}

const count = (text: string, word: string) => text.split(word).length - 1;

test("mkfifo() makes a FIFO with mode 0o600 by default, or the mode asked", () => {
  const dir = tempDir();
  try {
    mkfifo(`${dir}/a`);
    const a = statSync(`${dir}/a`);
    assert.equal(a.isFIFO(), true);
    assert.equal(a.mode & 0o777, 0o600);
    mkfifo(new URL(`file://${dir}/b`), { mode: 0o644 });
    assert.equal(statSync(`${dir}/b`).mode & 0o777, 0o644);
  } finally {
    removeDir(dir);
  }
});

test("mkfifo()'s mode never lands on a file a symlink swapped in before it was set (chmod delayed by strace)", async () => {
  const dir = tempDir();
  try {
    const path = `${dir}/fifo`;
    const victim = `${dir}/victim`;
    writeFileSync(victim, "secret", { mode: 0o600 });
    chmodSync(victim, 0o600);
    // The child's chmod calls wait 1.5 s: between mkfifo() and the mode, we
    // replace the FIFO by a symbolic link to the victim, atomically.
    const [cmd, args] = fixtureArgv("mkfifo_child.ts", [path, "666"]);
    const delayed = [
      "-f",
      "-qq",
      "-o",
      "/dev/null",
      "-e",
      "trace=chmod,fchmodat",
      "-e",
      "inject=chmod,fchmodat:delay_enter=1500000",
      cmd,
      ...args,
    ];
    await using child = start("strace", delayed);
    const deadline = Date.now() + 30_000;
    while (!lstatSync(path, { throwIfNoEntry: false })?.isFIFO()) {
      assert.ok(Date.now() < deadline, "the child made no FIFO");
      await sleep(1);
    }
    symlinkSync(victim, `${dir}/link`);
    renameSync(`${dir}/link`, path);
    const out = await child.output();
    assert.equal(out.code, 0, out.stderr);
    const report = JSON.parse(out.stdout);
    // Our open(O_PATH|O_NOFOLLOW) came before the swap (the mode went to the
    // FIFO's inode) or after it (the swap was noticed): either way, not the victim.
    if (!report.ok) {
      assert.match(report.message, /EEXIST — the FIFO was replaced before its mode was set/);
    }
    assert.equal(statSync(victim).mode & 0o777, 0o600, "the victim's mode is untouched");
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("openFifo() for reading waits until a writer opens, without blocking the event loop", async () => {
  const dir = tempDir();
  try {
    await assertNoFdLeak(async () => {
      mkfifo(`${dir}/f`);
      let ticks = 0;
      const timer = setInterval(() => ticks++, 10);
      const reading = openFifo(`${dir}/f`, "read");
      assert.equal(await stillPending(reading, 200), true);
      assert.ok(ticks >= 5, `timers ran meanwhile (${ticks})`);
      // The writer is another process.
      await using w = start("sh", ["-c", `printf 'from sh' > '${dir}/f'`]);
      using reader = await reading;
      clearInterval(timer);
      assert.equal(await new Response(reader.readable).text(), "from sh");
      assert.equal((await w.status).success, true);
    });
  } finally {
    removeDir(dir);
  }
});

test("openFifo() for writing waits until a reader opens", async () => {
  const dir = tempDir();
  try {
    mkfifo(`${dir}/f`);
    const writing = openFifo(`${dir}/f`, "write");
    assert.equal(await stillPending(writing, 200), true);
    await using cat = start("cat", [`${dir}/f`]);
    using writer = await writing;
    await writer.write(enc.encode("to cat"));
    writer.close();
    assert.equal((await cat.output()).stdout, "to cat");
  } finally {
    removeDir(dir);
  }
});

test("openFifo() meets a peer already waiting in open(): a waiting writer is not killed by SIGPIPE, its data arrives", async () => {
  const dir = tempDir();
  try {
    await assertNoFdLeak(async () => {
      for (let i = 0; i < 3; i++) {
        // A shell writer first, blocked in open() until a reader comes…
        const path = `${dir}/r${i}`;
        mkfifo(path);
        await using w = start("sh", ["-c", `printf 'hello ${i}' > '${path}'`]);
        await sleep(150);
        // …then our reader: it must meet that writer, however long our own
        // open takes to reach the kernel (never a hang: 10 s at most).
        const ac = new AbortController();
        const timer = setTimeout(
          () => ac.abort(new Error("openFifo() never met the writer")),
          10_000,
        );
        try {
          using r = await openFifo(path, "read", { signal: ac.signal });
          assert.equal(await new Response(r.readable).text(), `hello ${i}`);
        } finally {
          clearTimeout(timer);
        }
        const out = await w.output();
        assert.deepEqual([out.code, out.signal, out.stderr], [0, null, ""], "the writer's fate");
        // And the other way round: `cat` waits to read, then we open for writing.
        const path2 = `${dir}/w${i}`;
        mkfifo(path2);
        await using cat = start("cat", [path2]);
        await sleep(150);
        {
          using writer = await openFifo(path2, "write");
          await writer.write(enc.encode(`to cat ${i}`));
        }
        assert.equal((await cat.output()).stdout, `to cat ${i}`);
      }
    });
  } finally {
    removeDir(dir);
  }
});

test("aborting our pending openFifo() is invisible to other processes waiting on the same FIFO", async (t) => {
  const dir = tempDir();
  try {
    await t.step(
      "a shell blocked in `echo > fifo` stays blocked, then delivers to the real reader",
      async () => {
        const path = `${dir}/w`;
        mkfifo(path);
        await using shell = start("sh", ["-c", `echo data > '${path}' && echo written`]);
        const ac = new AbortController();
        // Our writer waits for a reader too; then we give up.
        const ours = openFifo(path, "write", { signal: ac.signal });
        assert.ok(await stillPending(ours, 100));
        ac.abort(new Error("gave up"));
        await assert.rejects(ours, { message: "gave up" });
        assert.ok(
          await stillPending(shell.status, 300),
          "the shell was not released (no SIGPIPE, no lost data)",
        );
        using reader = await openFifo(path, "read");
        assert.equal(await new Response(reader.readable).text(), "data\n");
        const out = await shell.output();
        assert.deepEqual([out.code, out.stdout], [0, "written\n"]);
      },
    );
    await t.step(
      "a `cat fifo` blocked in open() sees no end of file; it reads what the real writer sends",
      async () => {
        const path = `${dir}/r`;
        mkfifo(path);
        await using cat = start("cat", [path]);
        const ac = new AbortController();
        const ours = openFifo(path, "read", { signal: ac.signal });
        assert.ok(await stillPending(ours, 100));
        ac.abort(new Error("gave up"));
        await assert.rejects(ours, { message: "gave up" });
        assert.ok(await stillPending(cat.status, 300), "cat did not see end of file");
        using writer = await openFifo(path, "write");
        await writer.write(enc.encode("for cat"));
        writer.close();
        assert.equal((await cat.output()).stdout, "for cat");
      },
    );
  } finally {
    removeDir(dir);
  }
});

test("a signal that interrupts the blocked open(2) (no SA_RESTART) does not make openFifo() resolve without a writer", async () => {
  const dir = tempDir();
  try {
    const path = `${dir}/f`;
    mkfifo(path);
    const reading = openFifo(path, "read");
    assert.ok(await stillPending(reading, 100));
    // Find the thread blocked in openat(2) on our behalf and interrupt it
    // with a signal whose handler has no SA_RESTART (the library's own).
    const openat = process.arch === "arm64" ? 56 : 257;
    const blocked = (listDir("/proc/self/task") ?? []).filter((tid) =>
      readProcText(`/proc/self/task/${tid}/syscall`)?.startsWith(`${openat} `)
    );
    assert.equal(blocked.length, 1, "one thread waits in openat");
    const sig = signals();
    for (let i = 0; i < 5; i++) {
      assert.equal(
        sig.tgkill(process.pid, Number(blocked[0]), sig.__libc_current_sigrtmin() + 8),
        0,
      );
      await sleep(20);
    }
    assert.ok(await stillPending(reading, 200), "still waiting for a writer");
    using writer = await openFifo(path, "write");
    using reader = await reading;
    await writer.write(enc.encode("x"));
    const buf = new Uint8Array(4);
    assert.equal(await reader.read(buf), 1);
  } finally {
    removeDir(dir);
  }
});

/** tgkill(2) and SIGRTMIN, through libc. */
const signals = libc(
  {
    tgkill: { parameters: ["i32", "i32", "i32"], result: "i32" },
    __libc_current_sigrtmin: { parameters: [], result: "i32" },
  } as const,
);

test("an AbortSignal cancels a pending openFifo() for either side, leaving no descriptor", async () => {
  const dir = tempDir();
  try {
    mkfifo(`${dir}/f`);
    await assertNoFdLeak(async () => {
      for (const access of ["read", "write"] as const) {
        const ac = new AbortController();
        const t0 = performance.now();
        setTimeout(() => ac.abort(new Error(`stop ${access}`)), 50);
        await assert.rejects(openFifo(`${dir}/f`, access, { signal: ac.signal }), {
          message: `stop ${access}`,
        });
        assert.ok(performance.now() - t0 < 1000);
      }
      await assert.rejects(
        openFifo(`${dir}/f`, "read", { signal: AbortSignal.abort() }),
        (e: unknown) => (e as Error).name === "AbortError",
      );
      await sleep(20); // the helper descriptor that unblocked the open is closed in a microtask
    });
  } finally {
    removeDir(dir);
  }
});

test("a FIFO descriptor handed to a child is blocking (no O_NONBLOCK leaks to it)", async () => {
  const dir = tempDir();
  try {
    mkfifo(`${dir}/f`);
    const reader = openFifo(`${dir}/f`, "read");
    using w = await openFifo(`${dir}/f`, "write");
    using r = await reader;
    assert.equal(fdFlags(w.fd) & 0o4000, 0, "write end is not O_NONBLOCK");
    assert.equal(fdFlags(r.fd) & 0o4000, 0, "read end is not O_NONBLOCK");
    assert.ok(r instanceof PipeEnd);
  } finally {
    removeDir(dir);
  }
});

test("interop: our fifo_client.ts feeds the seed's C server", async () => {
  const dir = tempDir();
  try {
    const server = await compileC(interopFile("fifo_server.c"), dir);
    await using srv = start(server, [], { cwd: dir });
    for (let i = 0; i < 100 && !exists(`${dir}/myfifo`); i++) await sleep(20);
    const client = await run(...exampleArgv("fifo_client.ts", [`${dir}/myfifo`, "3", "50"]));
    assert.equal(client.code, 0, client.stderr);
    assert.equal(count(client.stdout, "client has wrote the msg!"), 3);
    const out = await srv.stdout.readUntil((t) => count(t, "hello world") >= 3, 8000);
    assert.ok(out.startsWith("server has got the msg:hello world\n"), out);
    assert.equal(count(out, "hello world"), 3);
  } finally {
    removeDir(dir);
  }
});

test("interop: the seed's C client feeds our fifo_server.ts", async () => {
  const dir = tempDir();
  try {
    const client = await compileC(interopFile("fifo_client.c"), dir);
    await using srv = start(...exampleArgv("fifo_server.ts", ["myfifo"]), { cwd: dir });
    for (let i = 0; i < 200 && !exists(`${dir}/myfifo`); i++) await sleep(20);
    // The seed's client opens the FIFO O_RDWR: it never waits for a reader,
    // and what it writes is gone if it exits before the server has opened
    // (mkfifo comes first; the server's open may lag behind under load).
    // Our own write end opens only once the server's read end is open, and
    // holding it keeps the FIFO open until the client has finished.
    const held = await openFifo(`${dir}/myfifo`, "write");
    const c = await run(client, ["3", "50"], { cwd: dir });
    held.close();
    assert.equal(c.code, 0, c.stderr);
    const out = await srv.output();
    assert.equal(out.code, 0, out.stderr);
    const text = out.stdout;
    assert.equal(count(text, "hello world"), 3, text);
    assert.match(text, /server has got the msg:hello world/);
    assert.match(text, /server quits/);
    assert.equal(exists(`${dir}/myfifo`), false, "our server removed its FIFO");
  } finally {
    removeDir(dir);
  }
});

test("interop: two of our processes talk through a FIFO (server and client examples)", async () => {
  const dir = tempDir();
  try {
    await using srv = start(...exampleArgv("fifo_server.ts", [`${dir}/myfifo`]));
    for (let i = 0; i < 200 && !exists(`${dir}/myfifo`); i++) await sleep(20);
    const c = await run(...exampleArgv("fifo_client.ts", [`${dir}/myfifo`, "4", "10"]));
    assert.equal(c.code, 0, c.stderr);
    const out = await srv.output();
    assert.equal(out.code, 0, out.stderr);
    assert.equal(count(out.stdout, "hello world"), 4);
  } finally {
    removeDir(dir);
  }
});

test("FIFO bad input gets a clear error", async (t) => {
  const dir = tempDir();
  try {
    const badPath = (got: string) => ({
      name: "TypeError",
      message: `path must be a non-empty string or a file: URL, without NUL characters, got ${got}`,
    });
    await t.step("a path containing a NUL byte", async () => {
      const got = JSON.stringify(`${dir}/a\0b`);
      assert.throws(() => mkfifo(`${dir}/a\0b`), badPath(got));
      await assert.rejects(openFifo(`${dir}/a\0b`, "read"), badPath(got));
    });
    await t.step("a FIFO in a missing directory", async () => {
      assert.throws(
        () => mkfifo(`${dir}/missing/f`),
        (e: unknown) =>
          e instanceof IpcError && e.code === "ENOENT" && e.syscall === "mkfifo" &&
          e.path === `${dir}/missing/f`,
      );
      await assert.rejects(
        openFifo(`${dir}/missing/f`, "read"),
        (e: unknown) => e instanceof IpcError && e.code === "ENOENT",
      );
    });
    await t.step("mkfifo over an existing file", () => {
      writeFileSync(`${dir}/file`, "x");
      assert.throws(
        () => mkfifo(`${dir}/file`),
        (e: unknown) => e instanceof IpcError && e.code === "EEXIST" && /mkfifo/.test(e.message),
      );
    });
    await t.step("openFifo on something that is not a FIFO", async () => {
      await assert.rejects(openFifo(`${dir}/file`, "read"), /Not a FIFO/);
      await assert.rejects(openFifo(`${dir}/file`, "write"), /Not a FIFO/);
    });
    await t.step("bad access, mode, path types", async () => {
      await assert.rejects(openFifo(`${dir}/file`, "rw" as "read"), {
        name: "TypeError",
        message: 'access must be "read" or "write", got "rw"',
      });
      const mode = "an integer from 0 to 0o777 (permission bits such as 0o600)";
      assert.throws(() => mkfifo(`${dir}/m`, { mode: 0o1000 }), {
        name: "RangeError",
        message: `mode must be ${mode}, got 0o1000`,
      });
      assert.throws(() => mkfifo(`${dir}/m`, { mode: 1.5 }), {
        name: "TypeError",
        message: `mode must be ${mode}, got 1.5`,
      });
      assert.throws(() => mkfifo(""), badPath('""'));
      assert.throws(() => mkfifo(42 as unknown as string), badPath("42"));
      assert.throws(
        () => mkfifo(new URL("http://example.com/x")),
        badPath('the URL "http://example.com/x"'),
      );
    });
    await t.step("null options, and a signal that is not an AbortSignal", async () => {
      const options = { name: "TypeError", message: "options must be an object, got null" };
      assert.throws(() => mkfifo(`${dir}/n`, null as unknown as undefined), options);
      await assert.rejects(openFifo(`${dir}/n`, "read", null as unknown as undefined), options);
      await assert.rejects(
        openFifo(`${dir}/n`, "read", { signal: "stop" as unknown as AbortSignal }),
        { name: "TypeError", message: 'signal must be an AbortSignal, got "stop"' },
      );
      assert.equal(exists(`${dir}/n`), false, "nothing was made");
    });
  } finally {
    removeDir(dir);
  }
});
