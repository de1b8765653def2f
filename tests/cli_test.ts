// The `sysipc` command: ls, stat, rm, reap, limits — in this process through
// main() (what the command runs) and as the real command in a new process
// (the Deno and Bun source; on Node, the installed npm package's bin):
// output, exit statuses, one-line errors, help, colour rules.
import assert from "node:assert/strict";
import process from "node:process";
import { fileURLToPath } from "node:url";
import {
  cliMain,
  limits,
  listObjects,
  MessageQueue,
  PosixSharedMemory,
  SemaphoreSet,
  SharedMemory,
} from "./_support/lib.ts";
import { childArgv, compiled, test } from "./_support/runtime.ts";
import { AsUser, run } from "./_support/children.ts";
import { isRoot, readProcText } from "./_support/procfs.ts";
import { cleanUp, startObjects } from "./_support/objects.ts";

/** Runs main() here, collecting what it writes. */
async function sysipc(...args: string[]): Promise<{ status: number; out: string; err: string }> {
  let out = "";
  let err = "";
  const status = await cliMain(args, {
    out: (t) => void (out += t),
    err: (t) => void (err += t),
    color: false,
  });
  return { status, out, err };
}

/** The command as a user runs it, in a new process of this runtime. */
function commandArgv(args: string[]): [string, string[]] {
  if (compiled) {
    // The Node suite: the bin of the npm package installed next to the tests.
    const bin = fileURLToPath(new URL("../node_modules/sysipc/bin/sysipc.js", import.meta.url));
    return [process.execPath, [bin, ...args]];
  }
  return childArgv(new URL("../cli/main.ts", import.meta.url), args);
}

/** Runs the command in a new process. */
function command(args: string[], env?: Record<string, string>) {
  const [cmd, argv] = commandArgv(args);
  return run(cmd, argv, { env: env ?? envWithout("NO_COLOR") });
}

function envWithout(name: string): Record<string, string> {
  const env: Record<string, string> = {};
  for (const [k, v] of Object.entries(process.env)) if (k !== name && v !== undefined) env[k] = v;
  return env;
}

/** An SGR escape sequence (colour, bold). */
const ESC = new RegExp(String.fromCharCode(27) + "\\[");

const hex = (key: number) => `0x${key.toString(16).padStart(8, "0")}`;

test("sysipc ls: one aligned table of every kind; an exited pid is marked; POSIX holders are named", async () => {
  const held = await startObjects("hold");
  const left = await startObjects("leave");
  left.proc.kill("SIGKILL");
  await left.proc.status;
  try {
    const { status, out, err } = await sysipc("ls");
    assert.equal(status, 0, err);
    const lines = out.split("\n");
    assert.match(lines[0], /^KIND +ID +KEY\/NAME +OWNER +MODE +SIZE +USE +PIDS +AGE$/);
    const row = (needle: RegExp) => lines.find((l) => needle.test(l));
    const leftShm = listObjects({ kinds: ["shm"] }).find((o) =>
      "id" in o && o.id === left.made.shm
    )!;
    const r1 = row(new RegExp(`^shm +${left.made.shm} +${hex((leftShm as { key: number }).key)} `));
    assert.ok(r1, `the killed child's segment is listed:\n${out}`);
    assert.match(r1, /rw------- +8\.0 KiB +0 att +/);
    assert.match(
      r1,
      new RegExp(` ${left.proc.pid}\\*/${left.proc.pid}\\* `),
      "both pids marked gone",
    );
    const r2 = row(new RegExp(`^shm +${held.made.shm} `))!;
    assert.match(
      r2,
      new RegExp(`1 att +${held.proc.pid}/${held.proc.pid} `),
      "a live creator is not marked",
    );
    const r3 = row(new RegExp(`^posix-shm +- +${held.made.posixShm} `))!;
    assert.match(
      r3,
      new RegExp(`12 KiB +1 proc +${held.proc.pid} `),
      "the holder of POSIX memory is named",
    );
    const r4 = row(new RegExp(`^posix-sem +- +${left.made.posixSem} `))!;
    assert.match(r4, / - +0 procs +- +\d+s$/);
    assert.match(out, /\* the process has exited/);
    // Columns line up: every row's KEY/NAME starts where the header's does.
    const at = lines[0].indexOf("KEY/NAME");
    for (const l of [r1, r2]) assert.equal(l.indexOf("0x"), at, l);
    for (const l of [r3, r4]) assert.equal(l.indexOf("/sysipc_test_"), at, l);
    assert.equal(err, "");
  } finally {
    await held.proc[Symbol.asyncDispose]();
    await left.proc[Symbol.asyncDispose](); // its pipe ends, not left to a finalizer
    cleanUp(held.made);
    cleanUp(left.made);
  }
});

test("sysipc ls --json: schema 1, the library's records with ISO times, exited pids and holders; --kind and --user filter", async () => {
  const held = await startObjects("hold");
  try {
    const { status, out } = await sysipc("ls", "--json");
    assert.equal(status, 0);
    const doc = JSON.parse(out);
    assert.equal(doc.schema, 1);
    const shm = doc.objects.find((o: { kind: string; id?: number }) =>
      o.kind === "shm" && o.id === held.made.shm
    );
    assert.ok(shm);
    assert.equal(shm.size, 8192);
    assert.equal(shm.attachCount, 1);
    assert.equal(shm.creatorPid, held.proc.pid);
    assert.deepEqual(shm.exitedPids, []);
    assert.match(shm.changeTime, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    const mem = doc.objects.find((o: { name?: string }) => o.name === held.made.posixShm);
    assert.equal(mem.kind, "posix-shm");
    assert.deepEqual(mem.holders, [held.proc.pid]);
    assert.equal(mem.path, `/dev/shm${held.made.posixShm}`);
    // The same records as listObjects() (times as ISO strings).
    const lib = JSON.parse(JSON.stringify(listObjects()));
    const strip = (list: Record<string, unknown>[]) =>
      list.map(({ holders: _h, exitedPids: _e, rss: _r, ...rest }) => rest);
    const ours = (list: { id?: number; name?: string }[]) =>
      list.filter((o) => o.id === held.made.shm || o.name === held.made.posixShm);
    assert.deepEqual(strip(ours(doc.objects)), strip(ours(lib)));

    const onlySem = JSON.parse((await sysipc("ls", "--kind", "sem,posix-sem", "--json")).out);
    assert.ok(onlySem.objects.length >= 1);
    assert.ok(
      onlySem.objects.every((o: { kind: string }) => o.kind === "sem" || o.kind === "posix-sem"),
    );
    const owner = String(shm.uid);
    const byUid = JSON.parse((await sysipc("ls", "--user", owner, "--json")).out);
    assert.ok(byUid.objects.some((o: { id?: number }) => o.id === held.made.shm));
    const nobody = JSON.parse((await sysipc("ls", "--user", "nobody-at-all", "--json")).out);
    assert.deepEqual(nobody.objects, []);
  } finally {
    await held.proc[Symbol.asyncDispose]();
    cleanUp(held.made);
  }
});

test("sysipc stat: by id, by 0x key and by name; everything the kernel keeps, local times, JSON with ISO times", async () => {
  const held = await startObjects("hold");
  const set = SemaphoreSet.create({
    key: 0x5151_0000 + (process.pid & 0xffff),
    count: 2,
    initial: [3, 0],
  });
  try {
    const byId = await sysipc("stat", "shm", String(held.made.shm), "--json");
    assert.equal(byId.status, 0, byId.err);
    const o = JSON.parse(byId.out).object;
    assert.equal(o.id, held.made.shm);
    assert.equal(o.attachCount, 1);
    for (
      const k of ["creatorPid", "lastPid", "attachTime", "detachTime", "changeTime", "rss", "swap"]
    ) {
      assert.ok(k in o, k);
    }
    const private_ = await sysipc("stat", "shm", hex(o.key));
    assert.equal(private_.status, 2, "IPC_PRIVATE has no key to look up");
    assert.match(private_.err, /IPC_PRIVATE objects have no key; give the id/);
    const text = await sysipc("stat", "shm", String(held.made.shm));
    assert.match(text.out, new RegExp(`^key +${hex(o.key)}$`, "m"));
    assert.match(text.out, /^attachTime +\d{4}-\d\d-\d\d \d\d:\d\d:\d\d \(\d+s ago\)$/m);
    assert.match(text.out, /^detachTime +never$/m);
    assert.match(text.out, /^size +8192 \(8\.0 KiB\)$/m);

    const sem = JSON.parse((await sysipc("stat", "sem", hex(set.key), "--json")).out).object;
    assert.equal(sem.id, set.id, "found by its key");
    assert.deepEqual(sem.semaphores.map((s: { value: number }) => s.value), [3, 0]);
    assert.equal(sem.count, 2);

    const psem =
      JSON.parse((await sysipc("stat", "posix-sem", held.made.posixSem.slice(1), "--json")).out)
        .object;
    assert.equal(psem.value, 2, "the name without its / is accepted");
    assert.deepEqual(psem.holders, [held.proc.pid]);
    const pmem = await sysipc("stat", "posix-shm", held.made.posixShm);
    assert.match(pmem.out, new RegExp(`^holders +${held.proc.pid}$`, "m"));
    assert.match(pmem.out, /^mode +rw------- \(600\)$/m);
    if (held.made.posixMq) {
      const q =
        JSON.parse((await sysipc("stat", "posix-mq", held.made.posixMq, "--json")).out).object;
      assert.deepEqual([q.maxMessages, q.messageSize, q.currentMessages, q.size], [4, 64, 1, 5]);
    }
    const missing = await sysipc("stat", "shm", "2147483000");
    assert.equal(missing.status, 1);
    assert.equal(missing.err, "sysipc: no shm with id 2147483000\n");
  } finally {
    set.remove();
    await held.proc[Symbol.asyncDispose]();
    cleanUp(held.made);
  }
});

test("sysipc rm: by id, by 0x key and by name, saying what it removed; a missing one is one line and status 1", async () => {
  const a = SharedMemory.create({ size: 4096 });
  const b = SharedMemory.create({ size: 4096, key: 0x5150_0000 + (process.pid & 0xffff) });
  const set = SemaphoreSet.create();
  const mem = PosixSharedMemory.create(undefined, { size: 4096 });
  a.detach();
  b.detach();
  mem.close();
  try {
    const r = await sysipc("rm", "shm", String(a.id), hex(b.key));
    assert.equal(r.status, 0, r.err);
    assert.equal(
      r.out,
      `removed shm id ${a.id} (key 0x00000000)\nremoved shm id ${b.id} (key ${hex(b.key)})\n`,
    );
    const s = await sysipc("rm", "sem", String(set.id));
    assert.equal(s.out, `removed sem id ${set.id} (key 0x00000000)\n`);
    const m = await sysipc("rm", "posix-shm", mem.name!.slice(1), "/sysipc_test_not_there");
    assert.equal(m.status, 1, "one of two failed");
    assert.equal(m.out, `removed posix-shm ${mem.name}\n`);
    assert.equal(m.err, "sysipc rm: no posix-shm named /sysipc_test_not_there\n");
    assert.deepEqual(
      listObjects().filter((o) =>
        ("id" in o && [a.id, b.id, set.id].includes(o.id)) || ("name" in o && o.name === mem.name)
      ),
      [],
    );
  } finally {
    for (const x of [a, b]) {
      if (listObjects({ kinds: ["shm"] }).some((o) => "id" in o && o.id === x.id)) x.remove();
    }
    if (listObjects({ kinds: ["sem"] }).some((o) => "id" in o && o.id === set.id)) set.remove();
    if (listObjects({ kinds: ["posix-shm"] }).some((o) => "name" in o && o.name === mem.name)) {
      mem.unlink();
    }
  }
});

// `reap --yes` removes every stale object in the IPC namespace: it runs only
// in the test runner's private namespace, where nothing else lives (the
// dry run, which removes nothing, runs everywhere).
const privateNamespace = process.env.SYSIPC_PRIVATE_SHM === "1";

test("sysipc reap: lists what a SIGKILLed process left; --yes removes exactly that and keeps what live processes use", async () => {
  const held = await startObjects("hold");
  const left = await startObjects("leave");
  try {
    left.proc.kill("SIGKILL");
    await left.proc.status;
    const dry = await sysipc("reap", "--older-than", "0s");
    assert.equal(dry.status, 0, dry.err);
    assert.match(dry.out, /^KIND +ID\/NAME +OWNER +SIZE +IDLE +WHY$/m);
    assert.match(
      dry.out,
      new RegExp(
        `^shm +${left.made.shm} .* no attachment; creator ${left.proc.pid} has exited$`,
        "m",
      ),
    );
    assert.match(
      dry.out,
      new RegExp(
        `^posix-shm +${left.made.posixShm} .* no live process maps it or holds it open$`,
        "m",
      ),
    );
    assert.match(dry.out, new RegExp(`^posix-sem +${left.made.posixSem} `, "m"));
    assert.match(dry.out, /stale objects?; run with --yes to remove/);
    // Its semaphore set and queue are never stale: nothing tells whether a program still uses them.
    assert.doesNotMatch(
      dry.out,
      new RegExp(`^(sem|msg) +(${left.made.sem}|${left.made.msg}) `, "m"),
    );
    for (
      const name of [
        held.made.posixShm,
        held.made.posixSem,
        String(held.made.shm),
        String(held.made.detachedShm),
      ]
    ) {
      assert.doesNotMatch(dry.out, new RegExp(` ${name} `), `${name} is in use, not stale`);
    }
    assert.ok(
      listObjects().some((o) => "id" in o && o.id === left.made.shm),
      "the dry run removed nothing",
    );
    const json = JSON.parse((await sysipc("reap", "--older-than", "0", "--json")).out);
    assert.deepEqual(json.removed, []);
    assert.ok(json.stale.some((s: { object: { id?: number } }) => s.object.id === left.made.shm));
    const idle = await sysipc("reap", "--older-than", "2h");
    assert.doesNotMatch(idle.out, new RegExp(` ${left.made.shm} `), "not idle for 2 hours");

    if (privateNamespace) {
      const wet = await sysipc("reap", "--older-than", "0s", "--yes");
      assert.equal(wet.status, 0, wet.err);
      assert.match(
        wet.out,
        new RegExp(
          `^removed shm id ${left.made.shm} .*: no attachment; creator ${left.proc.pid} has exited, idle \\d+s$`,
          "m",
        ),
      );
      assert.match(wet.out, new RegExp(`^removed posix-shm ${left.made.posixShm}: `, "m"));
      assert.match(wet.out, new RegExp(`^removed posix-sem ${left.made.posixSem}: `, "m"));
      const now = listObjects();
      const has = (f: (o: (typeof now)[number]) => boolean) => now.some(f);
      assert.ok(!has((o) => "id" in o && o.id === left.made.shm), "the stale segment is gone");
      assert.ok(!has((o) => "name" in o && o.name === left.made.posixShm));
      assert.ok(!has((o) => "name" in o && o.name === left.made.posixSem));
      for (const name of [held.made.posixShm, held.made.posixSem]) {
        assert.ok(has((o) => "name" in o && o.name === name), `${name} in use is kept`);
      }
      assert.ok(has((o) => "id" in o && o.id === held.made.shm), "the attached segment is kept");
      assert.ok(has((o) => "id" in o && o.id === held.made.detachedShm), "its creator lives: kept");
      if (held.made.posixMq) assert.ok(has((o) => "name" in o && o.name === held.made.posixMq));
      assert.ok(has((o) => o.kind === "sem" && o.id === left.made.sem), "a set is never reaped");
      assert.ok(has((o) => o.kind === "msg" && o.id === left.made.msg), "a queue is never reaped");
    }
  } finally {
    await held.proc[Symbol.asyncDispose]();
    await left.proc[Symbol.asyncDispose]();
    cleanUp(held.made);
    cleanUp(left.made);
  }
});

test("sysipc limits: the library's figures with percentages; warnings name the command that fixes them", async () => {
  const { status, out } = await sysipc("limits", "--json");
  assert.equal(status, 0);
  const doc = JSON.parse(out);
  assert.equal(doc.schema, 1);
  const lib = limits();
  assert.deepEqual(
    doc.limits.map((l: { resource: string }) => l.resource),
    lib.limits.map((l) => l.resource),
  );
  const shmmni = doc.limits.find((l: { resource: string }) => l.resource === "SHMMNI");
  assert.equal(shmmni.limit, lib.limits.find((l) => l.resource === "SHMMNI")!.limit);
  assert.equal(shmmni.percent, Math.round(10000 * shmmni.used / shmmni.limit) / 100);
  assert.equal(doc.mqueueMount, lib.mqueueMount);
  const mqWarning = doc.warnings.find((w: { resource: string }) => w.resource === "MQUEUE_MOUNT");
  if (lib.mqueueMount === null) {
    assert.equal(mqWarning.fix, "mkdir -p /dev/mqueue && mount -t mqueue none /dev/mqueue");
  } else {
    assert.equal(mqWarning, undefined);
  }
  const text = await sysipc("limits");
  assert.match(text.out, /^RESOURCE +DESCRIPTION +LIMIT +USED +USE%$/m);
  assert.match(text.out, /^SHMMNI +Shared memory segments +\d+ +\d+ +\d+\.\d\d%$/m);
  assert.match(text.out, /^SEMMSL +Max semaphores per semaphore set +\d+ +- +-$/m);
  if (lib.mqueueMount === null) {
    assert.match(
      text.out,
      /^warning: no mqueue file system is mounted.*\n {2}fix: mkdir -p \/dev\/mqueue/m,
    );
  }
});

test("the command: bad arguments are one line on stderr and exit status 2; --help for each verb has an example", async () => {
  for (
    const [args, message] of [
      [["ls", "--bogus"], /^sysipc: ls: Unknown option '--bogus' \(see sysipc ls --help\)$/],
      [["frobnicate"], /^sysipc: unknown verb 'frobnicate'/],
      [["stat", "shm"], /^sysipc: stat: give a kind and one id, key or name/],
      [
        ["rm", "nope", "1"],
        /^sysipc: rm: unknown kind 'nope' \(kinds: shm,sem,msg,posix-shm,posix-sem,posix-mq\)$/,
      ],
      [
        ["rm", "shm", "12abc"],
        /^sysipc: rm: shm 12abc: not an id \(decimal\) or a key \(0x… hex\)$/,
      ],
      [["reap", "--older-than", "soon"], /^sysipc: reap: --older-than takes a duration/],
      [["ls", "--kind", "shm,pipes"], /^sysipc: ls: unknown kind 'pipes'/],
      [["limits", "extra"], /^sysipc: limits: unexpected argument 'extra'/],
    ] as const
  ) {
    const r = await command([...args]);
    assert.equal(r.code, 2, `${args.join(" ")}: ${r.stderr}`);
    assert.equal(r.stderr.split("\n").length, 2, `one line: ${JSON.stringify(r.stderr)}`);
    assert.match(r.stderr.trim(), message);
    assert.equal(r.stdout, "");
  }
  const none = await command([]);
  assert.equal(none.code, 2);
  assert.match(none.stderr, /^Usage: sysipc VERB/);
  for (const verb of ["ls", "stat", "rm", "reap", "limits"]) {
    const r = await command([verb, "--help"]);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, new RegExp(`^Usage: sysipc ${verb}`));
    assert.match(r.stdout, new RegExp(`\nExample: sysipc ${verb} `));
    assert.equal((await command(["help", verb])).stdout, r.stdout);
  }
});

test("the command: colour only on a terminal, never with NO_COLOR; a pipe gets plain text", async () => {
  const [cmd, argv] = commandArgv(["limits"]);
  const line = [cmd, ...argv].map((a) => `'${a.replaceAll("'", "'\\''")}'`).join(" ");
  // script(1) runs the command on a pseudo-terminal.
  const tty = await run("script", ["-qec", line, "/dev/null"], { env: envWithout("NO_COLOR") });
  assert.equal(tty.code, 0, tty.stderr);
  assert.match(tty.stdout, new RegExp(ESC.source + "1mRESOURCE"), "bold header on a terminal");
  const noColor = await run("script", ["-qec", line, "/dev/null"], {
    env: { ...envWithout("NO_COLOR"), NO_COLOR: "1" },
  });
  assert.match(noColor.stdout, /RESOURCE/);
  assert.doesNotMatch(noColor.stdout, ESC, "NO_COLOR: no escape codes");
  const piped = await command(["ls"]);
  assert.equal(piped.code, 0, piped.stderr);
  assert.doesNotMatch(piped.stdout, ESC, "a pipe: no escape codes");
  assert.match(piped.stdout, /^KIND +ID +KEY\/NAME/);
});

test({
  name:
    "sysipc rm without permission: one clear line naming the problem, status 1, nothing removed",
  ignore: !isRoot(), // needs setpriv to become `nobody`
  fn: async () => {
    const seg = SharedMemory.create({ size: 4096 });
    const mem = PosixSharedMemory.create(undefined, { size: 4096 });
    try {
      using nobody = new AsUser();
      const r = await nobody.runFixture("cli_child.ts", ["rm", "shm", String(seg.id)]);
      assert.equal(r.code, 1, r.stderr);
      assert.equal(r.stdout, "");
      assert.match(
        r.stderr,
        /^sysipc rm: Cannot remove shared memory \(shmctl, IPC_RMID, id \d+\): EPERM.* — permission denied: only the owner, the creator or root may do this\n$/,
      );
      const p = await nobody.runFixture("cli_child.ts", ["rm", "posix-shm", mem.name!]);
      assert.equal(p.code, 1, p.stderr);
      assert.equal(p.stderr.split("\n").length, 2, `one line: ${p.stderr}`);
      assert.match(p.stderr, /^sysipc rm: .*(EACCES|EPERM).* — permission denied/);
      assert.ok(
        listObjects().some((o) => "id" in o && o.id === seg.id),
        "the segment is still there",
      );
      assert.ok(listObjects().some((o) => "name" in o && o.name === mem.name), "the memory too");
    } finally {
      seg.detach();
      seg.remove();
      mem.close();
      mem.unlink();
    }
  },
});

// kernel.msgmni is per IPC namespace: in the runner's private one, root may
// lower it to watch the warning come, and nothing outside sees the change.
test({
  name: "sysipc limits warns above 80% of a limit and names the command that raises it",
  ignore: !privateNamespace,
  fn: async () => {
    const path = "/proc/sys/kernel/msgmni";
    const before = readProcText(path)!.trim();
    // Through sh: Deno asks for --allow-all before it writes under /proc.
    const set = async (value: string) => {
      const r = await run("sh", ["-c", `echo ${value} > ${path}`]);
      assert.equal(r.code, 0, r.stderr);
    };
    const have = listObjects({ kinds: ["msg"] }).length;
    const queues = [MessageQueue.create(), MessageQueue.create(), MessageQueue.create()];
    try {
      await set(String(have + 3)); // all used: 100%
      const { out } = await sysipc("limits");
      assert.match(out, /^MSGMNI +Number of message queues +\d+ +\d+ +100\.00%$/m);
      assert.match(
        out,
        new RegExp(
          `^warning: MSGMNI at 100\\.00% \\(${have + 3} of ${
            have + 3
          } objects\\)\n {2}fix: sysctl -w kernel\\.msgmni=${2 * (have + 3)}$`,
          "m",
        ),
      );
      const doc = JSON.parse((await sysipc("limits", "--json")).out);
      const w = doc.warnings.find((x: { resource: string }) => x.resource === "MSGMNI");
      assert.equal(w.fix, `sysctl -w kernel.msgmni=${2 * (have + 3)}`);
      await set(String(have + 30)); // 10%: no warning
      assert.doesNotMatch((await sysipc("limits")).out, /warning: MSGMNI/);
    } finally {
      await set(before);
      for (const q of queues) q.remove();
    }
  },
});
