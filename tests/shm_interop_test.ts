// SharedMemory against real peers: the seed's C programs and Python sysv_ipc.
import assert from "node:assert/strict";
import process from "node:process";
import { ftok, SharedMemory } from "./_support/lib.ts";
import { runtimeName, test } from "./_support/runtime.ts";
import {
  compileC,
  exampleArgv,
  interopFile,
  run,
  start,
  withTempDir,
} from "./_support/children.ts";
import { sleep } from "./_support/timing.ts";
import {
  assertNoShmLeak,
  assertShmAsAtStart,
  cString,
  freeKey,
  ipcrmKey,
  shmRow,
  shmTable,
  waitForKey,
} from "./_support/shm.ts";

const PYTHON = "/usr/bin/python3";
const pid = process.pid;
const shmAtStart = shmTable().map((s) => s.id);

// ---------------------------------------------------------------------------
// Interop: the seed's C programs
// ---------------------------------------------------------------------------

test("interop: our shm_client.ts feeds the seed's C server; killed, that server leaves the segment for ipcrm", async () => {
  await withTempDir("sysipc_shm_", async (dir) => {
    const key = ftok(dir, 1);
    await assertNoShmLeak(async () => {
      const server = await compileC(interopFile("shm_server.c"), dir);
      // Prints every 20 ms for up to 60 s; the test stops it like the seed's Ctrl-C.
      await using srv = start(server, [dir, "3000", "20"]);
      const lines = srv.stdout;
      try {
        const id = await waitForKey(key);
        assert.equal(shmRow(id)?.perms, 0o644);
        assert.equal(shmRow(id)?.size, 4097);
        // One letter per 250 ms: the client stays attached for a second, and the server,
        // printing every 20 ms, shows each stage many times over — on a loaded machine
        // too, where a 50 ms pace let this process miss the whole attachment.
        await using client = start(...exampleArgv("shm_client.ts", [dir, "5", "250"]));
        // Sample `ipcs -m` nattch while the client runs.
        const seen = new Set<number>();
        let done = false;
        const sampling = (async () => {
          for (let i = 0; i < 3000 && !done; i++) {
            const n = shmRow(id)?.nattch;
            if (n !== undefined) seen.add(n);
            await sleep(5);
          }
        })();
        const out = await client.output();
        done = true;
        await sampling;
        assert.equal(out.code, 0, out.stderr);
        assert.match(out.stdout, /client wrote ABCDE/);
        assert.ok(seen.has(2), `nattch 2 while the client was attached (saw ${[...seen]})`);
        // The server prints "", then "A", "AB", … as the client writes: never anything else.
        const printed: string[] = [];
        while (printed.at(-1) !== "ABCDE") {
          const line = await lines.next();
          assert.ok("ABCDE".startsWith(line), `unexpected line ${JSON.stringify(line)}`);
          if (line !== printed.at(-1)) printed.push(line);
        }
        assert.ok(printed.length >= 3, `saw the string grow: ${JSON.stringify(printed)}`);
        assert.equal(shmRow(id)?.nattch, 1, "the client detached");
        srv.kill("SIGKILL");
        await srv.status;
        // 再结束server进程…发现共享内存依旧存在: the segment outlives its creator.
        assert.deepEqual([shmRow(id)?.nattch, shmRow(id)?.lpid], [0, srv.pid]);
        const rm = await run("ipcrm", ["-m", String(id)]);
        assert.equal(rm.code, 0, rm.stderr);
      } finally {
        await ipcrmKey(key);
      }
    });
  });
});

test("interop: the seed's C client feeds our shm_server.ts, whose attachCount goes 1 → 2 → 1", async () => {
  await withTempDir("sysipc_shm_", async (dir) => {
    const key = ftok(dir, 1);
    await assertNoShmLeak(async () => {
      const client = await compileC(interopFile("shm_client.c"), dir);
      // 80 × 50 ms: long enough for the C client's 5 × 200 ms with room to spare. The
      // client's slow pace keeps it attached for most of a second, so the server's
      // 50 ms samples see nattch 2 on a loaded machine too.
      await using srv = start(...exampleArgv("shm_server.ts", [dir, "80", "50"]));
      try {
        const id = await waitForKey(key);
        assert.equal(shmRow(id)?.perms, 0o644, "mode 0644, as the seed");
        await sleep(200); // a few empty reads first, as in the seed
        const c = await run(client, [dir, "5", "200"]);
        assert.equal(c.code, 0, c.stderr);
        const out = await srv.output();
        assert.equal(out.code, 0, out.stderr);
        const text = out.stdout.split("\n");
        assert.match(
          text[0],
          new RegExp(`^server: key 0x${(key >>> 0).toString(16)}, shmid ${id}, 4097 bytes$`),
        );
        const counts = text.filter((l) => l.startsWith("attachCount: ")).map((l) =>
          Number(l.split(" ")[1])
        );
        assert.deepEqual(counts, [1, 2, 1]);
        const strings = text.slice(1).filter((l) =>
          !l.startsWith("attachCount") && !l.startsWith("server")
        );
        assert.equal(strings[0], "", "the server reads an empty string before the client comes");
        assert.equal(strings.at(-2), "ABCDE");
        assert.equal(strings.at(-1), "", "(the output's final newline)");
        for (const s of strings) assert.ok("ABCDE".startsWith(s), s);
        assert.equal(text.at(-2), "server: segment removed");
        assert.equal(shmRow(id), undefined, "our server removed the segment");
      } finally {
        await ipcrmKey(key);
      }
    });
  });
});

// ---------------------------------------------------------------------------
// Interop: Python sysv_ipc
// ---------------------------------------------------------------------------

const ours = `hello from ${runtimeName}`;

test("interop: Python sysv_ipc creates a segment; we open it by key, read its text, and it reads ours", async () => {
  await assertNoShmLeak(async () => {
    await using py = start(PYTHON, [interopFile("shm_peer.py"), "create", "4096"], {
      stdin: "pipe",
    });
    let key: number | undefined;
    try {
      const hello = await py.stdout.json<{ key: number; id: number; pid: number; size: number }>();
      key = hello.key;
      {
        using shm = SharedMemory.open(hello.key);
        assert.equal(shm.id, hello.id);
        assert.equal(shm.size, 4096);
        assert.equal(cString(shm.read(0, 64)), "hello from python");
        const st = shm.stat();
        assert.equal(st.creatorPid, py.pid);
        assert.equal(st.lastPid, pid, "our shmat");
        assert.equal(st.attachCount, 2);
        shm.write(`${ours}\0`, 100);
      }
      await py.send("go");
      const reply = await py.stdout.json();
      assert.deepEqual(reply, { read: ours, nattch: 1, last_pid: pid });
      assert.equal((await py.status).code, 0);
    } finally {
      if (key !== undefined) await ipcrmKey(key);
    }
  });
});

test("interop: we create a segment; Python sysv_ipc attaches by key, reads ours and writes back", async () => {
  await assertNoShmLeak(async () => {
    const key = freeKey();
    using shm = SharedMemory.create({ key, size: 4096 });
    try {
      shm.write(`${ours}\0`);
      const out = await run(PYTHON, [interopFile("shm_peer.py"), "attach", String(key)]);
      assert.equal(out.code, 0, out.stderr);
      const r = JSON.parse(out.stdout);
      assert.deepEqual(
        { ...r, pid: undefined },
        { read: ours, pid: undefined, nattch: 2, creator_pid: pid, size: 4096 },
      );
      assert.equal(cString(shm.read(100)), "hello from python");
      const st = shm.stat();
      assert.equal(st.attachCount, 1);
      assert.equal(st.lastPid, r.pid, "Python's shmdt was the last");
    } finally {
      shm.remove();
    }
  });
});

// ---------------------------------------------------------------------------

test("the whole file leaves ipcs -m as it found it", () => assertShmAsAtStart(shmAtStart));
