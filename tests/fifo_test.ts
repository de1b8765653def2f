import assert from "node:assert/strict";
import { IpcError } from "../mod.ts";
import { mkfifo, openFifo } from "../fifo/mod.ts";
import {
  assertNoFdLeak,
  compileC,
  denoRun,
  example,
  fdFlags,
  sleep,
  stillPending,
} from "./_helpers.ts";
import { PipeEnd } from "../pipe/mod.ts";

const deno = Deno.execPath();
const enc = new TextEncoder();
const dec = new TextDecoder();

function tempDir(): string {
  return Deno.makeTempDirSync({ prefix: "sysipc_fifo_" });
}

/** Reads a child's stdout until `done(text)` holds or `ms` pass. */
async function readUntil(
  stream: ReadableStream<Uint8Array>,
  done: (text: string) => boolean,
  ms: number,
): Promise<string> {
  const reader = stream.getReader();
  let text = "";
  const deadline = Date.now() + ms;
  try {
    while (!done(text) && Date.now() < deadline) {
      const r = await Promise.race([reader.read(), sleep(deadline - Date.now()).then(() => null)]);
      if (r === null || r.done) break;
      text += dec.decode(r.value);
    }
  } finally {
    reader.releaseLock();
  }
  return text;
}

const count = (text: string, word: string) => text.split(word).length - 1;

Deno.test("mkfifo() makes a FIFO with mode 0o600 by default, or the mode asked", () => {
  const dir = tempDir();
  try {
    mkfifo(`${dir}/a`);
    const a = Deno.statSync(`${dir}/a`);
    assert.equal(a.isFifo, true);
    assert.equal(a.mode! & 0o777, 0o600);
    mkfifo(new URL(`file://${dir}/b`), { mode: 0o644 });
    assert.equal(Deno.statSync(`${dir}/b`).mode! & 0o777, 0o644);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("openFifo() for reading waits until a writer opens, without blocking the event loop", async () => {
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
      const w = new Deno.Command("sh", { args: ["-c", `printf 'from sh' > '${dir}/f'`] }).spawn();
      using reader = await reading;
      clearInterval(timer);
      assert.equal(await new Response(reader.readable).text(), "from sh");
      assert.equal((await w.status).success, true);
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("openFifo() for writing waits until a reader opens", async () => {
  const dir = tempDir();
  try {
    mkfifo(`${dir}/f`);
    const writing = openFifo(`${dir}/f`, "write");
    assert.equal(await stillPending(writing, 200), true);
    const cat = new Deno.Command("cat", { args: [`${dir}/f`], stdout: "piped" }).spawn();
    using writer = await writing;
    await writer.write(enc.encode("to cat"));
    writer.close();
    assert.equal(dec.decode((await cat.output()).stdout), "to cat");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("an AbortSignal cancels a pending openFifo() for either side, leaving no descriptor", async () => {
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
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("a FIFO descriptor handed to a child is blocking (no O_NONBLOCK leaks to it)", async () => {
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
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("interop: our fifo_client.ts feeds the seed's C server", async () => {
  const dir = tempDir();
  try {
    const server = await compileC(new URL("./interop/fifo_server.c", import.meta.url), dir);
    const srv = new Deno.Command(server, { cwd: dir, stdout: "piped", stderr: "piped" }).spawn();
    try {
      for (let i = 0; i < 100 && !exists(`${dir}/myfifo`); i++) await sleep(20);
      const client = await new Deno.Command(deno, {
        args: denoRun(example("fifo_client.ts"), `${dir}/myfifo`, "3", "50"),
        stdout: "piped",
      }).output();
      assert.equal(client.code, 0);
      assert.equal(count(dec.decode(client.stdout), "client has wrote the msg!"), 3);
      const out = await readUntil(srv.stdout, (t) => count(t, "hello world") >= 3, 8000);
      assert.ok(out.startsWith("server has got the msg:hello world\n"), out);
      assert.equal(count(out, "hello world"), 3);
    } finally {
      srv.kill("SIGKILL");
      await srv.status;
      await srv.stderr.cancel();
      await srv.stdout.cancel();
    }
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("interop: the seed's C client feeds our fifo_server.ts", async () => {
  const dir = tempDir();
  try {
    const client = await compileC(new URL("./interop/fifo_client.c", import.meta.url), dir);
    const srv = new Deno.Command(deno, {
      args: denoRun(example("fifo_server.ts"), "myfifo"),
      cwd: dir,
      stdout: "piped",
    }).spawn();
    for (let i = 0; i < 200 && !exists(`${dir}/myfifo`); i++) await sleep(20);
    const c = await new Deno.Command(client, { args: ["3", "50"], cwd: dir, stdout: "piped" })
      .output();
    assert.equal(c.code, 0);
    const out = await srv.output();
    assert.equal(out.code, 0);
    const text = dec.decode(out.stdout);
    assert.equal(count(text, "hello world"), 3, text);
    assert.match(text, /server has got the msg:hello world/);
    assert.match(text, /server quits/);
    assert.equal(exists(`${dir}/myfifo`), false, "our server removed its FIFO");
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("interop: two of our processes talk through a FIFO (server and client examples)", async () => {
  const dir = tempDir();
  try {
    const srv = new Deno.Command(deno, {
      args: denoRun(example("fifo_server.ts"), `${dir}/myfifo`),
      stdout: "piped",
    }).spawn();
    for (let i = 0; i < 200 && !exists(`${dir}/myfifo`); i++) await sleep(20);
    const c = await new Deno.Command(deno, {
      args: denoRun(example("fifo_client.ts"), `${dir}/myfifo`, "4", "10"),
      stdout: "null",
    }).output();
    assert.equal(c.code, 0);
    const text = dec.decode((await srv.output()).stdout);
    assert.equal(count(text, "hello world"), 4);
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

Deno.test("FIFO bad input gets a clear error", async (t) => {
  const dir = tempDir();
  try {
    await t.step("a path containing a NUL byte", async () => {
      assert.throws(() => mkfifo(`${dir}/a\0b`), TypeError);
      await assert.rejects(openFifo(`${dir}/a\0b`, "read"), TypeError);
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
      Deno.writeTextFileSync(`${dir}/file`, "x");
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
      await assert.rejects(openFifo(`${dir}/file`, "rw" as "read"), TypeError);
      assert.throws(() => mkfifo(`${dir}/m`, { mode: 0o1000 }), RangeError);
      assert.throws(() => mkfifo(`${dir}/m`, { mode: 1.5 }), TypeError);
      assert.throws(() => mkfifo(""), TypeError);
      assert.throws(() => mkfifo(42 as unknown as string), TypeError);
      assert.throws(() => mkfifo(new URL("http://example.com/x")), TypeError);
    });
  } finally {
    Deno.removeSync(dir, { recursive: true });
  }
});

function exists(path: string): boolean {
  try {
    Deno.statSync(path);
    return true;
  } catch {
    return false;
  }
}
