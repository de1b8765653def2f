/**
 * A pool of worker processes fed over channels — the pattern people use
 * `child_process.fork()` for: the parent hands out jobs, each worker answers,
 * the parent checks every answer. The same program runs twice: over
 * `Channel`s (shared memory) and over pipes carrying one JSON line per
 * message (what `process.send()` does), and prints jobs per second for both.
 *
 *     deno run --allow-ffi --allow-run --allow-read --allow-env examples/channel_worker.ts
 *     bun examples/channel_worker.ts
 *     node node_modules/sysipc/examples/channel_worker.js     (the npm package)
 *
 * Options: `--workers N` (default 2), `--jobs N` (default 50000), `--transport
 * channel|pipe|both` (default both). After `--`, the command that starts a
 * worker (with `worker <transport>` appended) — another runtime, say:
 *
 *     deno run --allow-ffi --allow-run --allow-read --allow-env examples/channel_worker.ts -- bun examples/channel_worker.ts
 *
 * @module
 */
import { Channel } from "../channel/mod.ts";
import { pipe, PipeEnd, spawn } from "../pipe/mod.ts";
import { args, type Command, isMain, selfCommand } from "./_run.ts";

/** How jobs and answers travel. */
export type Transport = "channel" | "pipe";

/** A job: the sum of the squares below `n`. */
interface Job {
  id: number;
  n: number;
}
interface Answer {
  id: number;
  sum: number;
  pid: number;
  /** The worker's runtime and version: `"bun 1.4.5"`. */
  runtime: string;
}

const enc = new TextEncoder();
const dec = new TextDecoder();

/** What a run measured. */
export interface PoolResult {
  transport: Transport;
  jobs: number;
  workers: number;
  seconds: number;
  jobsPerSecond: number;
  /** How many jobs each worker process answered. */
  perWorker: number[];
  /** The runtime of each worker, as it said. */
  runtimes: string[];
}

const squaresBelow = (n: number) => (n - 1) * n * (2 * n - 1) / 6;

/** One worker's link, seen from the parent: send a job, receive answers. */
interface Link {
  send(job: Job): Promise<void>;
  answers(): AsyncIterable<Answer>;
  /** No more jobs. */
  end(): void;
  done: Promise<unknown>;
}

function channelLink(c: Command): Link {
  const channel = Channel.create();
  const child = spawn(c.command, { args: c.args, channel });
  return {
    send: (job) => channel.send(JSON.stringify(job)),
    async *answers() {
      for (;;) {
        const m = await channel.receive();
        if (m === null) return;
        yield JSON.parse(dec.decode(m)) as Answer;
      }
    },
    end: () => channel.trySend(""), // an empty message: no more jobs
    done: child.status.finally(() => channel.close()),
  };
}

function pipeLink(c: Command): Link {
  const toChild = pipe();
  const fromChild = pipe();
  const child = spawn(c.command, {
    args: c.args,
    stdin: toChild.readEnd,
    stdout: fromChild.writeEnd,
  });
  toChild.readEnd.close();
  fromChild.writeEnd.close();
  return {
    send: async (job) => void await toChild.writeEnd.write(enc.encode(JSON.stringify(job) + "\n")),
    async *answers() {
      for await (const line of lines(fromChild.readEnd)) yield JSON.parse(line) as Answer;
    },
    end: () => toChild.writeEnd.close(),
    done: child.status.finally(() => fromChild.readEnd.close()),
  };
}

/** The lines of a pipe end, until end of file. */
async function* lines(end: PipeEnd): AsyncIterable<string> {
  const buf = new Uint8Array(64 * 1024);
  let rest = "";
  for (;;) {
    const n = await end.read(buf);
    if (n === null) return;
    const text = rest + dec.decode(buf.subarray(0, n), { stream: true });
    const parts = text.split("\n");
    rest = parts.pop()!;
    yield* parts;
  }
}

/**
 * Runs the pool: `jobs` jobs spread over `workers` processes, every answer
 * checked.
 *
 * @param o The transport, the pool's size, the number of jobs, where lines go,
 *   and how to start a worker (default: this file in this runtime).
 * @returns The measurement.
 */
export async function workerPool(o: {
  transport: Transport;
  workers?: number;
  jobs?: number;
  log?: (line: string) => void;
  launch?: (args: string[]) => Command;
}): Promise<PoolResult> {
  const { transport, workers = 2, jobs = 50_000, log = console.log } = o;
  const launch = o.launch ??
    ((a: string[]) => selfCommand(import.meta.url, a, ["--allow-ffi", "--allow-env"]));
  const links = Array.from(
    { length: workers },
    () => (transport === "channel" ? channelLink : pipeLink)(launch(["worker", transport])),
  );
  const perWorker = links.map(() => 0);
  const runtimes = links.map(() => "");
  // Each worker answers a first job before the clock starts: the pool is
  // measured, not how long a runtime takes to start.
  const streams = links.map((link) => link.answers()[Symbol.asyncIterator]());
  await Promise.all(links.map(async (link, w) => {
    await link.send({ id: -1, n: 0 });
    const first = await streams[w].next();
    if (first.done || first.value.id !== -1) throw new Error(`worker ${w} did not start`);
  }));
  const t0 = performance.now();
  await Promise.all(links.map(async (link, w) => {
    const feeding = (async () => {
      for (let id = w; id < jobs; id += workers) await link.send({ id, n: id % 1000 });
    })();
    const share = Math.ceil((jobs - w) / workers);
    let pid = 0;
    for (let r = await streams[w].next(); !r.done; r = await streams[w].next()) {
      const a = r.value;
      if (a.sum !== squaresBelow(a.id % 1000) || a.id % workers !== w) {
        throw new Error(`worker ${w} answered job ${a.id} with ${a.sum}`);
      }
      pid = a.pid;
      runtimes[w] = a.runtime;
      if (++perWorker[w] === share) break;
    }
    await feeding;
    link.end();
    await link.done;
    if (perWorker[w] !== share) {
      throw new Error(`worker ${w} (pid ${pid}) answered ${perWorker[w]} of ${share}`);
    }
  }));
  const seconds = (performance.now() - t0) / 1000;
  const jobsPerSecond = jobs / seconds;
  log(
    `${transport.padEnd(7)}: ${jobs} jobs on ${workers} workers in ${seconds.toFixed(2)} s — ` +
      `${Math.round(jobsPerSecond).toLocaleString("en-US")} jobs/s (${perWorker.join(" + ")}; ` +
      `workers on ${[...new Set(runtimes)].join(", ")})`,
  );
  return { transport, jobs, workers, seconds, jobsPerSecond, perWorker, runtimes };
}

/** A worker: answer every job until told to stop. */
export async function worker(transport: Transport): Promise<void> {
  const pid = (globalThis as { process?: { pid: number } }).process?.pid ??
    (globalThis as unknown as { Deno: { pid: number } }).Deno.pid;
  const g = globalThis as { Bun?: { version: string }; Deno?: { version: { deno: string } } };
  const runtime = g.Bun
    ? `bun ${g.Bun.version}`
    : g.Deno
    ? `deno ${g.Deno.version.deno}`
    : `node ${
      (globalThis as unknown as { process: { versions: { node: string } } }).process.versions.node
    }`;
  const answer = (text: string) => {
    const job = JSON.parse(text) as Job;
    return JSON.stringify({ id: job.id, sum: squaresBelow(job.n), pid, runtime } satisfies Answer);
  };
  if (transport === "channel") {
    using parent = Channel.fromParent();
    for (;;) {
      const m = await parent.receive();
      if (m === null || m.length === 0) break;
      await parent.send(answer(dec.decode(m)));
    }
  } else {
    using input = PipeEnd.fromFd(0);
    using output = PipeEnd.fromFd(1);
    for await (const line of lines(input)) await output.write(enc.encode(answer(line) + "\n"));
  }
}

if (isMain(import.meta)) {
  if (args[0] === "worker") await worker(args[1] as Transport);
  else {
    const dash = args.indexOf("--");
    const own = dash < 0 ? args : args.slice(0, dash);
    const opt = (name: string, fallback: string) => {
      const i = own.indexOf(`--${name}`);
      return i < 0 ? fallback : own[i + 1];
    };
    const workers = Number(opt("workers", "2"));
    const jobs = Number(opt("jobs", "50000"));
    const which = opt("transport", "both");
    const launch = dash < 0
      ? undefined
      : (a: string[]) => ({ command: args[dash + 1], args: [...args.slice(dash + 2), ...a] });
    const results: PoolResult[] = [];
    for (const transport of ["channel", "pipe"] as const) {
      if (which === "both" || which === transport) {
        results.push(await workerPool({ transport, workers, jobs, launch }));
      }
    }
    if (results.length === 2) {
      console.log(
        `channels: ${(results[0].jobsPerSecond / results[1].jobsPerSecond).toFixed(1)}× the jobs ` +
          "per second of JSON lines over pipes",
      );
    }
  }
}
