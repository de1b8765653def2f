/**
 * POSIX message queue priorities: a child process sends eight jobs with mixed
 * priorities; the parent, reading only once they are all queued, receives
 * them highest priority first — and in the order sent among equals.
 *
 *     deno run --allow-ffi --allow-run --allow-read examples/pmq_priority.ts
 *     bun examples/pmq_priority.ts
 *     node node_modules/sysipc/examples/pmq_priority.js     (the npm package)
 *
 * @module
 */
import { PosixMessageQueue } from "../posix/mod.ts";
import { spawn } from "../pipe/mod.ts";
import { args, isMain, selfCommand } from "./_run.ts";

/** The jobs the child sends, in this order: [name, priority]. */
export const JOBS: readonly (readonly [string, number])[] = [
  ["backup", 0],
  ["thumbnail", 0],
  ["payment", 5],
  ["email", 1],
  ["outage page", 9],
  ["cleanup", 0],
  ["refund", 5],
  ["report", 2],
];

/**
 * Runs the demo: creates a queue, lets a child process (this script with
 * `send NAME`) fill it, then receives everything.
 *
 * @param log Where each received job is reported.
 * @returns The jobs as received.
 */
export async function pmqPriority(
  log: (line: string) => void = console.log,
): Promise<{ job: string; priority: number }[]> {
  using queue = PosixMessageQueue.create(undefined, { maxMessages: JOBS.length, messageSize: 64 });
  try {
    const c = selfCommand(import.meta.url, ["send", queue.name], [
      "--allow-ffi",
      "--allow-read",
    ]);
    const status = await spawn(c.command, { args: c.args }).status;
    if (!status.success) throw new Error(`the sender failed: ${JSON.stringify(status)}`);
    log(`sent in this order: ${JOBS.map(([j, p]) => `${j} (${p})`).join(", ")}`);
    const decoder = new TextDecoder();
    const got: { job: string; priority: number }[] = [];
    for (let m; (m = queue.tryReceive()) !== null;) {
      got.push({ job: decoder.decode(m.data), priority: m.priority });
      log(`received ${decoder.decode(m.data)} (priority ${m.priority})`);
    }
    return got;
  } finally {
    queue.unlink();
  }
}

if (isMain(import.meta)) {
  if (args[0] === "send") {
    using queue = PosixMessageQueue.open(args[1], { access: "write" });
    for (const [job, priority] of JOBS) await queue.send(job, { priority });
  } else {
    await pmqPriority();
  }
}
