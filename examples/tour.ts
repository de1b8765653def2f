/**
 * The demo tour: every demo of the seed tutorial, run one after another
 * without any input, each with real processes on both sides.
 *
 *     deno task demo
 *     bun examples/tour.ts
 *     node node_modules/sysipc/examples/tour.js      (from the npm package)
 *
 * (the first is `deno run --allow-ffi --allow-read --allow-write --allow-run
 * --allow-env examples/tour.ts`). Every process a demo starts runs on the
 * same runtime as the tour. Pass demo names to run only some of them:
 * `deno task demo fifo ls_grep`.
 *
 * @module
 */
import { mkdtempSync, rmSync } from "node:fs";
import { tmpdir } from "node:os";
import { join } from "node:path";
import process from "node:process";
import { fileURLToPath } from "node:url";
import { pipe, spawn } from "../pipe/mod.ts";
import { args, isMain, selfCommand } from "./_run.ts";
import { parent } from "./pipe_parent_child.ts";
import { fourCases } from "./pipe_four_cases.ts";
import { lsGrep } from "./ls_grep.ts";
import { fifoServer } from "./fifo_server.ts";
import { shmServer } from "./shm_server.ts";
import { semCounter } from "./sem_counter.ts";
import { boundedBuffer } from "./bounded_buffer.ts";
import { msgServer } from "./msg_server.ts";
import { pmqPriority } from "./pmq_priority.ts";
import { posixShmNumpy } from "./posix_shm_numpy.ts";
import { memfdChild } from "./memfd_child.ts";
import { posixSemCounter } from "./posix_sem_counter.ts";
import { workerPool } from "./channel_worker.ts";
import { MessageQueue } from "../sysv/mod.ts";

const bold = (s: string) => process.stdout.isTTY ? `\x1b[1m${s}\x1b[0m` : s;
const indent = (line: string) => console.log(`  ${line.trimEnd()}`);
const PERMS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-run", "--allow-env"];

const tempDir = () => mkdtempSync(join(tmpdir(), "sysipc_tour_"));

/** Runs an example file as its own process of this runtime; its output is indented into ours. */
async function runExample(file: string, args: string[]): Promise<number> {
  const out = pipe();
  const c = selfCommand(new URL(file, import.meta.url), args, PERMS);
  const child = spawn(c.command, { args: c.args, stdout: out.writeEnd });
  out.writeEnd.close();
  let pending = "";
  const decoder = new TextDecoder();
  for await (const chunk of out.readable) {
    pending += decoder.decode(chunk, { stream: true });
    const lines = pending.split("\n");
    pending = lines.pop()!;
    for (const line of lines) console.log(`    [pid ${child.pid}] ${line}`);
  }
  if (pending) console.log(`    [pid ${child.pid}] ${pending}`);
  return (await child.status).code;
}

interface Demo {
  name: string;
  title: string;
  run(): Promise<void>;
}

const DEMOS: Demo[] = [
  {
    name: "pipe",
    title: "匿名管道 — a child writes into a pipe, the parent reads until EOF and reaps it",
    run: () => parent(200, indent),
  },
  {
    name: "four_cases",
    title: "管道读写的四种特殊情况 — the four special cases, and the pipe's size",
    run: () => fourCases(indent),
  },
  {
    name: "ls_grep",
    title: "ls -l | grep — two children joined by our pipe; the parent copies nothing",
    run: async () => {
      const dir = fileURLToPath(new URL(".", import.meta.url));
      indent(`$ ls -l ${dir} | grep fifo     (grep writes straight to this terminal)`);
      const code = await lsGrep(dir, "fifo");
      indent(`(ls and grep exited; grep's code is ${code})`);
    },
  },
  {
    name: "fifo",
    title: "命名管道 — a FIFO server reads what a separate client process writes",
    run: async () => {
      const dir = tempDir();
      try {
        const path = `${dir}/myfifo`;
        const served = fifoServer(path, indent);
        const code = await runExample("./fifo_client.ts", [path, "3", "200"]);
        const messages = await served;
        indent(`(client exited with ${code}; the server read ${messages} messages)`);
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: "shm",
    title: "共享内存 — a client process writes A, AB, ABC… into a segment the server prints; " +
      "nattch moves like `ipcs -m`",
    run: async () => {
      const dir = tempDir();
      try {
        const stop = new AbortController();
        const show = (l: string) => indent(l === "" ? "(empty: no client has written yet)" : l);
        const served = shmServer(dir, 100, 150, show, stop.signal);
        await new Promise((r) => setTimeout(r, 300)); // the server creates the segment first
        const code = await runExample("./shm_client.ts", [dir, "5", "200"]);
        await new Promise((r) => setTimeout(r, 300)); // let the server see the detach
        stop.abort();
        const { last, attachCounts } = await served;
        indent(
          `(client exited with ${code}; last text "${last}"; nattch went ${
            attachCounts.join(" → ")
          })`,
        );
      } finally {
        rmSync(dir, { recursive: true, force: true });
      }
    },
  },
  {
    name: "bounded_buffer",
    title: "共享内存没有同步 — records through a ring in shared memory, first without, " +
      "then with semaphores",
    run: async () => {
      await boundedBuffer({ records: 2000, slots: 8, sync: false, log: indent });
      await boundedBuffer({ producers: 2, consumers: 2, records: 2000, slots: 8, log: indent });
    },
  },
  {
    name: "sem_counter",
    title: "信号量 P/V, 临界区 — processes add to one counter in shared memory, " +
      "first without, then with a semaphore around the critical section",
    run: async () => {
      await semCounter({ processes: 4, increments: 1000, lock: false, log: indent });
      await semCounter({ processes: 4, increments: 1000, lock: true, log: indent });
    },
  },
  {
    name: "msg",
    title: "消息队列 — three client processes send typed requests to one server; " +
      "each reply is typed with its client's pid, so each client gets only its own",
    run: async () => {
      using queue = MessageQueue.create();
      try {
        const served = msgServer(queue, 9, indent);
        const codes = await Promise.all(
          [0, 1, 2].map(() => runExample("./msg_client.ts", [String(queue.id), "3"])),
        );
        const pids = new Set(await served);
        indent(`(clients exited with ${codes.join(", ")}; ${pids.size} clients served)`);
      } finally {
        queue.remove();
      }
    },
  },
  {
    name: "pmq_priority",
    title: "POSIX 消息队列 — a child queues eight jobs; the parent receives the highest " +
      "priority first, in the order sent among equals",
    run: async () => {
      await pmqPriority(indent);
    },
  },
  {
    name: "posix_shm_numpy",
    title: "POSIX 共享内存 + NumPy — a Python process squares our Float64Array in place; " +
      "the sum it stores shows here, nothing copied",
    run: async () => {
      await posixShmNumpy(100_000, indent);
    },
  },
  {
    name: "memfd_child",
    title: "匿名共享内存 — memory with no name (memfd) handed to a child as fd 3; " +
      "the parent reads what the child wrote",
    run: async () => {
      await memfdChild(indent);
    },
  },
  {
    name: "posix_sem_counter",
    title: "POSIX 信号量, 临界区 — the counter again, with a named POSIX semaphore, " +
      "first without, then with the lock",
    run: async () => {
      await posixSemCounter({ processes: 4, increments: 1000, lock: false, log: indent });
      await posixSemCounter({ processes: 4, increments: 1000, lock: true, log: indent });
    },
  },
  {
    name: "channel_worker",
    title: "共享内存通道 — a pool of two worker processes answers 20,000 jobs over channels, " +
      "then over JSON lines on pipes (what process.send does); every answer checked",
    run: async () => {
      const channel = await workerPool({ transport: "channel", jobs: 20_000, log: indent });
      const pipes = await workerPool({ transport: "pipe", jobs: 20_000, log: indent });
      indent(
        `channels: ${(channel.jobsPerSecond / pipes.jobsPerSecond).toFixed(1)}× the jobs per ` +
          "second of pipes",
      );
    },
  },
];

if (isMain(import.meta)) {
  const wanted = args.length > 0 ? new Set(args) : undefined;
  const unknown = [...(wanted ?? [])].filter((n) => !DEMOS.some((d) => d.name === n));
  if (unknown.length > 0) {
    console.error(`Unknown demo ${unknown.join(", ")}; pick from ${DEMOS.map((d) => d.name)}`);
    process.exit(2);
  }
  const t0 = performance.now();
  let n = 0;
  for (const demo of DEMOS) {
    if (wanted && !wanted.has(demo.name)) continue;
    console.log(bold(`\n▶ ${demo.name}: ${demo.title}`));
    await demo.run();
    n++;
  }
  console.log(bold(`\n✔ ${n} demos in ${((performance.now() - t0) / 1000).toFixed(1)} s`));
}
