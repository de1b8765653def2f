// Introspection (info/): listObjects() agrees with ipcs/lsipc and stat(1) for
// objects made by us, by C and by Python; limits() with /proc/sys; findStale()
// finds what a SIGKILLed process left and never what a live one uses;
// removeObject() removes each kind; bad input.
import assert from "node:assert/strict";
import process from "node:process";
import { rmSync } from "node:fs";
import {
  findStale,
  type IpcObjectInfo,
  limits,
  listObjects,
  MessageQueue,
  type PosixObjectInfo,
  PosixSemaphore,
  PosixSharedMemory,
  removeObject,
  scanHolders,
  SemaphoreSet,
  SharedMemory,
} from "./_support/lib.ts";
import { readProcText } from "./_support/procfs.ts";
import { tempDir, test } from "./_support/runtime.ts";
import { compileC, interopFile, run } from "./_support/children.ts";
import { cleanUp, type Made, startObjects } from "./_support/objects.ts";

const PYTHON = "/usr/bin/python3";
const mqueueMounted = process.env.SYSIPC_MQUEUE_DIR !== undefined;

/** The record of one System V object, by kind and id. */
function sysv(kind: "shm" | "sem" | "msg", id: number): IpcObjectInfo | undefined {
  return listObjects({ kinds: [kind] }).find((o) => "id" in o && o.id === id);
}

/** The record of one POSIX object, by kind and name. */
function posix(
  kind: "posix-shm" | "posix-sem" | "posix-mq",
  name: string,
): Extract<IpcObjectInfo, PosixObjectInfo> | undefined {
  return listObjects({ kinds: [kind] }).find((o): o is Extract<IpcObjectInfo, PosixObjectInfo> =>
    "name" in o && o.name === name
  );
}

/** `lsipc -J` of one family, in bytes, as {id → row}. */
async function lsipc(
  flag: "-m" | "-s" | "-q",
  columns: string,
): Promise<Map<number, Record<string, string>>> {
  const r = await run("lsipc", ["-J", "-b", flag, "-o", columns]);
  assert.equal(r.code, 0, r.stderr);
  const doc = JSON.parse(r.stdout);
  const rows: Record<string, string>[] = Object.values(doc)[0] as Record<string, string>[];
  return new Map(rows.map((row) => [Number(row.id), row]));
}

/** Python's sysv_ipc makes a segment, a set and a queue and leaves them; prints their ids. */
const PY_SYSV = `
import sysv_ipc, json
m = sysv_ipc.SharedMemory(None, sysv_ipc.IPC_CREX, mode=0o640, size=3000)
m.detach()
s = sysv_ipc.Semaphore(None, sysv_ipc.IPC_CREX, mode=0o600)
q = sysv_ipc.MessageQueue(None, sysv_ipc.IPC_CREX, mode=0o600)
q.send(b"twelve bytes")
print(json.dumps({"shm": m.id, "sem": s.id, "msg": q.id}))
`;

test("listObjects() agrees with lsipc -J for System V objects made by us, by C (ipcmk) and by Python (sysv_ipc)", async () => {
  const ours = {
    shm: SharedMemory.create({ size: 5000, mode: 0o640 }),
    sem: SemaphoreSet.create({ count: 3 }),
    msg: MessageQueue.create(),
  };
  const made: { kind: "shm" | "sem" | "msg"; id: number }[] = [
    { kind: "shm", id: ours.shm.id },
    { kind: "sem", id: ours.sem.id },
    { kind: "msg", id: ours.msg.id },
  ];
  try {
    await ours.msg.send("seven b");
    for (const [flag, kind] of [["-M", "shm"], ["-S", "sem"], ["-Q", "msg"]] as const) {
      const args = flag === "-M"
        ? ["-M", "8192", "-p", "0600"]
        : flag === "-S"
        ? ["-S", "2"]
        : ["-Q"];
      const r = await run("ipcmk", args);
      assert.equal(r.code, 0, r.stderr);
      made.push({ kind, id: Number(/id: (\d+)/.exec(r.stdout)![1]) });
    }
    const py = await run(PYTHON, ["-c", PY_SYSV]);
    assert.equal(py.code, 0, py.stderr);
    const ids = JSON.parse(py.stdout);
    for (const kind of ["shm", "sem", "msg"] as const) made.push({ kind, id: ids[kind] });

    const shm = await lsipc("-m", "KEY,ID,PERMS,OWNER,SIZE,NATTCH,CPID,LPID,CUID,CGID");
    const sem = await lsipc("-s", "KEY,ID,PERMS,OWNER,NSEMS");
    const msg = await lsipc("-q", "KEY,ID,PERMS,OWNER,USEDBYTES,MSGS,LSPID,LRPID");
    const rwx = ["---", "--x", "-w-", "-wx", "r--", "r-x", "rw-", "rwx"];
    const perms = (bits: number) => rwx[(bits >> 6) & 7] + rwx[(bits >> 3) & 7] + rwx[bits & 7];
    for (const { kind, id } of made) {
      const o = sysv(kind, id);
      assert.ok(o && "id" in o, `${kind} ${id} is listed`);
      const row = { shm, sem, msg }[kind].get(id);
      assert.ok(row, `lsipc lists ${kind} ${id}`);
      assert.equal(`0x${o.key.toString(16).padStart(8, "0")}`, row.key, `${kind} ${id} key`);
      assert.equal(perms(o.mode), row.perms, `${kind} ${id} perms`);
      assert.equal(o.user, row.owner);
      if (o.kind === "shm") {
        assert.equal(String(o.size), row.size);
        assert.equal(String(o.attachCount), row.nattch);
        assert.equal(String(o.creatorPid), row.cpid);
        assert.equal(String(o.lastPid), row.lpid);
        assert.equal(String(o.creatorUid), row.cuid);
      } else if (o.kind === "sem") {
        assert.equal(String(o.count), row.nsems);
      } else if (o.kind === "msg") {
        assert.equal(String(o.bytes), row.usedbytes);
        assert.equal(String(o.messageCount), row.msgs);
        assert.equal(String(o.lastSendPid), row.lspid);
        assert.equal(String(o.lastReceivePid), row.lrpid);
      }
    }
    // Ours, in detail.
    const mine = sysv("shm", ours.shm.id);
    assert.ok(mine?.kind === "shm");
    assert.equal(mine.size, 5000);
    assert.equal(mine.attachCount, 1);
    assert.equal(mine.creatorPid, process.pid);
    assert.equal(mine.mode, 0o640);
    assert.equal(mine.removed, false);
    assert.ok(Math.abs(mine.changeTime!.getTime() - Date.now()) < 120_000);
    const q = sysv("msg", ours.msg.id);
    assert.ok(q?.kind === "msg");
    assert.deepEqual([q.messageCount, q.bytes, q.lastSendPid], [1, 7, process.pid]);
    const s = sysv("sem", ours.sem.id);
    assert.ok(s?.kind === "sem" && s.count === 3);
    // Kinds filter and order.
    const onlySem = listObjects({ kinds: ["sem"] });
    assert.ok(onlySem.every((o) => o.kind === "sem"));
    const all = listObjects();
    const order = all.map((o) =>
      ["shm", "sem", "msg", "posix-shm", "posix-sem", "posix-mq"].indexOf(o.kind)
    );
    assert.deepEqual(order, [...order].sort((a, b) => a - b));
  } finally {
    ours.shm.detach();
    for (const { kind, id } of made) {
      const o = sysv(kind, id);
      if (o) removeObject(o);
    }
  }
  for (const { kind, id } of made) assert.equal(sysv(kind, id), undefined, `${kind} ${id} removed`);
});

/** Python's multiprocessing.shared_memory makes memory and leaves it (unregistered from its tracker). */
const PY_POSIX = `
import sys
from multiprocessing import shared_memory, resource_tracker
m = shared_memory.SharedMemory(name=sys.argv[1], create=True, size=20000)
resource_tracker.unregister(m._name, "shared_memory")
m.close()
`;

test("listObjects() lists POSIX memory and semaphores made by us, by C and by Python, as stat(1) sees their files", async () => {
  const tag = `sysipc_test_info_${process.pid}`;
  const dir = tempDir();
  const names: { kind: "posix-shm" | "posix-sem" | "posix-mq"; name: string }[] = [];
  try {
    const mem = PosixSharedMemory.create(`/${tag}_ours`, { size: 10000, mode: 0o640 });
    mem.close();
    names.push({ kind: "posix-shm", name: mem.name! });
    PosixSemaphore.create(`/${tag}_sem`, { initial: 1 }).close();
    names.push({ kind: "posix-sem", name: `/${tag}_sem` });
    const peer = await compileC(interopFile("posix_peer.c"), dir);
    const c = await run(peer, ["shm-create", `/${tag}_c`, "4096", "from C"]);
    assert.equal(c.code, 0, c.stderr);
    names.push({ kind: "posix-shm", name: `/${tag}_c` });
    const py = await run(PYTHON, ["-c", PY_POSIX, `${tag}_py`]);
    assert.equal(py.code, 0, py.stderr);
    names.push({ kind: "posix-shm", name: `/${tag}_py` });
    if (mqueueMounted) {
      const { PosixMessageQueue } = await import("./_support/lib.ts");
      using q = PosixMessageQueue.create(`/${tag}_q`);
      await q.send("five!");
      names.push({ kind: "posix-mq", name: q.name });
    }
    for (const { kind, name } of names) {
      const o = posix(kind, name);
      assert.ok(o && "path" in o, `${kind} ${name} is listed`);
      const st = await run("stat", ["-c", "%s %a %u %g %Y", o.path]);
      assert.equal(st.code, 0, st.stderr);
      const [size, mode, uid, gid, mtime] = st.stdout.trim().split(" ").map((x) => parseInt(x, 10));
      assert.equal(o.mode, parseInt(String(mode), 8), `${name} mode`);
      assert.deepEqual([o.uid, o.gid], [uid, gid]);
      assert.equal(Math.floor(o.modifyTime.getTime() / 1000), mtime);
      if (kind === "posix-mq") assert.equal(o.size, 5, "a queue's size is the bytes queued");
      else assert.equal(o.size, size);
    }
    assert.equal(posix("posix-shm", `/${tag}_ours`)?.size, 10000);
    assert.equal(posix("posix-shm", `/${tag}_py`)?.size, 20000);
    assert.equal(posix("posix-sem", `/${tag}_sem`)?.path, `/dev/shm/sem.${tag}_sem`);
    assert.equal(posix("posix-shm", `/sem.${tag}_sem`), undefined, "a semaphore is not memory");
  } finally {
    for (const { kind, name } of names) {
      const o = posix(kind, name);
      if (o) removeObject(o);
      else if (kind === "posix-mq") {
        (await import("./_support/lib.ts")).PosixMessageQueue.unlink(name);
      }
    }
    rmSync(dir, { recursive: true, force: true });
  }
  for (const { kind, name } of names) {
    if (kind !== "posix-mq" || mqueueMounted) assert.equal(posix(kind, name), undefined);
  }
});

test("limits() reads /proc/sys as it is, and counts what ipcs lists", async () => {
  const made = [SharedMemory.create({ size: 3 * 4096 + 1 }), SharedMemory.create({ size: 4096 })];
  const set = SemaphoreSet.create({ count: 5 });
  try {
    const { limits: list, mqueueMount } = limits();
    const get = (r: string) => {
      const l = list.find((x) => x.resource === r);
      assert.ok(l, r);
      return l;
    };
    const proc = (p: string) => readProcText(`/proc/sys/${p}`)!.trim().split(/\s+/).map(Number);
    assert.equal(get("SHMMNI").limit, proc("kernel/shmmni")[0]);
    assert.equal(get("SHMALL").limit, proc("kernel/shmall")[0]);
    assert.equal(get("SHMMAX").limit, proc("kernel/shmmax")[0]);
    assert.equal(get("MSGMNI").limit, proc("kernel/msgmni")[0]);
    assert.equal(get("MSGMAX").limit, proc("kernel/msgmax")[0]);
    assert.equal(get("MSGMNB").limit, proc("kernel/msgmnb")[0]);
    const sem = proc("kernel/sem");
    assert.deepEqual(["SEMMSL", "SEMMNS", "SEMOPM", "SEMMNI"].map((r) => get(r).limit), sem);
    assert.equal(get("MQ_QUEUES").limit, proc("fs/mqueue/queues_max")[0]);
    assert.equal(get("MQ_MSG_MAX").limit, proc("fs/mqueue/msg_max")[0]);
    assert.equal(get("PIPE_MAX_SIZE").limit, proc("fs/pipe-max-size")[0]);
    const ipcs = await run("ipcs", ["-m"]);
    const segments = ipcs.stdout.split("\n").filter((l) => /^0x/.test(l)).length;
    assert.equal(get("SHMMNI").used, segments);
    assert.ok(get("SHMALL").used! >= 4 + 1, "pages: 4 + 1 of ours at least");
    assert.ok(get("SEMMNS").used! >= 5);
    assert.equal(get("SEMMSL").used, null);
    assert.equal(get("SHM_FS").unit, "bytes");
    assert.ok(get("SHM_FS").limit > 0);
    assert.equal(mqueueMount === null, !mqueueMounted && mqueueMount === null);
    if (mqueueMounted) assert.equal(mqueueMount, process.env.SYSIPC_MQUEUE_DIR);
    for (const l of list) {
      assert.ok(
        Number.isFinite(l.limit) && (l.used === null || Number.isInteger(l.used)),
        l.resource,
      );
    }
  } finally {
    for (const s of made) {
      s.detach();
      s.remove();
    }
    set.remove();
  }
});

/** The stale records among `made`'s objects. */
function staleOf(made: Made, olderThan = 0): string[] {
  const found: string[] = [];
  for (const s of findStale({ olderThan })) {
    const o = s.object;
    if (o.kind === "shm" && (o.id === made.shm || o.id === made.detachedShm)) {
      found.push(o.id === made.shm ? "shm" : "detachedShm");
    }
    if ("name" in o && o.name === made.posixShm) found.push("posixShm");
    if ("name" in o && o.name === made.posixSem) found.push("posixSem");
    if ("name" in o && o.name === made.posixMq) found.push("posixMq");
  }
  return found.sort();
}

test("findStale() finds what a SIGKILLed process left, never what a live process uses", async (t) => {
  const held = await startObjects("hold");
  const left = await startObjects("leave");
  // A queue is opened by name, not through a mount: a process we cannot look
  // into (a sandbox's init, run by root) might hold any, so none is stale.
  const blindRoot = scanHolders().unscanned.some((p) => p.uid === 0);
  const all = (m: Made) =>
    ["shm", "posixShm", "posixSem", ...(m.posixMq && !blindRoot ? ["posixMq"] : [])].sort();
  try {
    await t.step("a live holder's objects are never stale, however old", () => {
      assert.deepEqual(staleOf(held.made), []);
    });
    await t.step(
      "the leaver's POSIX objects are stale at once (nothing maps or holds them)",
      () => {
        // Its segment is not: its creator still lives.
        assert.deepEqual(staleOf(left.made), all(left.made).filter((k) => k !== "shm"));
      },
    );
    await t.step("--older-than: nothing is stale before it has been idle that long", () => {
      assert.deepEqual(staleOf(left.made, 3_600_000), []);
    });
    await t.step(
      "SIGKILLed, the leaver's segment is stale too; the holder's still are not",
      async () => {
        left.proc.kill("SIGKILL");
        await left.proc.status;
        assert.deepEqual(staleOf(left.made), all(left.made));
        assert.deepEqual(staleOf(held.made), []);
        const why = findStale({ olderThan: 0 }).find((s) =>
          s.object.kind === "shm" && s.object.id === left.made.shm
        );
        assert.match(why!.reason, new RegExp(`no attachment; creator ${left.proc.pid} has exited`));
      },
    );
    await t.step(
      "SIGKILLed, the holder's objects are stale, its detached segment too",
      async () => {
        held.proc.kill("SIGKILL");
        await held.proc.status;
        assert.deepEqual(staleOf(held.made), [...all(held.made), "detachedShm"].sort());
      },
    );
    await t.step("removeObject() removes each", () => {
      for (const s of findStale({ olderThan: 0 })) {
        const o = s.object;
        const mine = [left.made, held.made].some((m) =>
          ("id" in o && (o.id === m.shm || o.id === m.detachedShm)) ||
          ("name" in o && [m.posixShm, m.posixSem, m.posixMq].includes(o.name))
        );
        if (mine) removeObject(o);
      }
      assert.deepEqual(staleOf(left.made), []);
      assert.deepEqual(staleOf(held.made), []);
      assert.equal(sysv("shm", left.made.shm), undefined);
      assert.equal(posix("posix-sem", held.made.posixSem), undefined);
    });
  } finally {
    await held.proc[Symbol.asyncDispose]();
    await left.proc[Symbol.asyncDispose]();
    cleanUp(held.made);
    cleanUp(left.made);
  }
});

test("introspection: bad input is a TypeError or RangeError naming the parameter", () => {
  assert.throws(() => listObjects({ kinds: ["nope" as "shm"] }), {
    name: "TypeError",
    message: /kinds\[0\] must be "shm" or "sem"/,
  });
  assert.throws(() => listObjects({ kinds: "shm" as unknown as ["shm"] }), {
    name: "TypeError",
    message: /^kinds must be an array/,
  });
  assert.throws(() => listObjects(null as unknown as undefined), { name: "TypeError" });
  assert.throws(() => findStale({ olderThan: -1 }), { name: "RangeError", message: /olderThan/ });
  assert.throws(() => findStale({ olderThan: NaN }), { name: "RangeError", message: /olderThan/ });
  assert.throws(() => findStale({ olderThan: "10m" as unknown as number }), {
    name: "TypeError",
    message: /olderThan/,
  });
  assert.throws(() => findStale({ now: "now" as unknown as Date }), {
    name: "TypeError",
    message: /now/,
  });
  assert.throws(() => removeObject({ kind: "pipe" } as unknown as IpcObjectInfo), {
    name: "TypeError",
    message: /object/,
  });
});
