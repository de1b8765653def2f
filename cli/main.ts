/**
 * The `sysipc` command: list, inspect, remove and reap IPC objects of every
 * family, and show the kernel's limits on them — one tool for what `ipcs`,
 * `ipcrm`, `lsipc` and `ls /dev/shm` do between them, and what none of them
 * does: tell which objects crashed programs left behind.
 *
 *     deno task cli ls                        # from a clone
 *     deno run -A jsr:@sysipc/sysipc/cli ls   # from JSR
 *     npx sysipc ls                           # from npm (Node.js)
 *     bunx sysipc ls                          # from npm (Bun)
 *
 * Verbs: `ls [--kind K,…] [--user NAME] [--json]`, `stat KIND ID|KEY|NAME
 * [--json]`, `rm KIND ID|KEY|NAME…`, `reap [--older-than 10m] [--yes]
 * [--json]`, `limits [--json]`; `sysipc help VERB` or `VERB --help` for
 * each. Exit status: 0 done, 1 an operation failed (nothing found, no
 * permission), 2 a usage error. Errors go to standard error, one line each;
 * colour only on a terminal and never with `NO_COLOR`.
 *
 * @example From a program: the same as `sysipc ls --kind shm --json`
 * ```ts
 * import { main } from "@sysipc/sysipc/cli";
 * const status = await main(["ls", "--kind", "shm", "--json"]);
 * console.log(status); // 0
 * ```
 *
 * @module
 */
import process from "node:process";
import { parseArgs } from "node:util";
import { IPC_OBJECT_KINDS, type IpcObjectKind } from "../info/objects.ts";
import { CliError, limits, ls, oneLine, reap, rm, stat } from "./_commands.ts";
import { type Output, parseDuration } from "./_format.ts";

export type { Output };

const KINDS = IPC_OBJECT_KINDS.join(",");

/** Each verb's help: usage, what it does, an example. */
const HELP: Record<string, string> = {
  ls: `Usage: sysipc ls [--kind KIND,…] [--user NAME] [--json]

Lists IPC objects: System V shared memory (shm), semaphore sets (sem) and
message queues (msg); POSIX shared memory (posix-shm), named semaphores
(posix-sem) and queues (posix-mq, when an mqueue file system is mounted).
PIDS marks with * a process that has exited.

  --kind KIND,…   only these kinds (${KINDS})
  --user NAME     only objects this user (name or uid) owns
  --json          one JSON document: { schema: 1, objects: [...] }, times in ISO 8601

Example: sysipc ls --kind shm,posix-shm --user postgres`,
  stat: `Usage: sysipc stat KIND ID|KEY|NAME [--json]

Shows everything the kernel keeps about one object: ids, owner and creator,
mode, sizes, pids, times (local time; ISO 8601 in JSON), semaphore values,
queue attributes, and which processes hold a POSIX object.
A System V object is named by id (decimal) or key (0x… hex, as ipcs prints
it); a POSIX one by name, with or without its leading "/".

  --json          one JSON document: { schema: 1, object: {...} }

Example: sysipc stat shm 0x0000162e`,
  rm: `Usage: sysipc rm KIND ID|KEY|NAME…

Removes exactly the objects named (System V by id or 0x key, without
attaching; POSIX by name) and says what it removed. Exit status 1 if any
could not be removed.

Example: sysipc rm posix-shm /jobs /results`,
  reap: `Usage: sysipc reap [--older-than DURATION] [--yes] [--json]

Finds what crashed programs left behind: System V shared memory that nothing
attaches and whose creator and last user have exited; POSIX shared memory,
semaphores and queues that no live process maps or holds open (every
/proc/PID/maps and /proc/PID/fd). Only objects idle for DURATION or longer.
Without --yes it only lists them. System V semaphore sets and queues are
never reaped (nothing tells whether a program still uses them): use rm.

  --older-than D  idle at least D: 90s, 10m (default), 2h, 7d
  --yes           remove them (each is checked again just before)
  --json          { schema: 1, stale: [...], removed: [...] }

Example: sysipc reap --older-than 1h --yes`,
  limits: `Usage: sysipc limits [--json]

Shows the kernel's limits on IPC objects with usage and percentage (like
lsipc), POSIX queue limits, /dev/shm space and pipe limits, then a warning
line for each limit above 80% and for a missing mqueue mount, with the
command that fixes it.

  --json          { schema: 1, limits: [...], mqueueMount, warnings: [...] }

Example: sysipc limits --json`,
};

const USAGE = `Usage: sysipc VERB [options]

  ls       list IPC objects of every family
  stat     everything about one object
  rm       remove objects by id, key or name
  reap     find (and with --yes remove) objects crashed programs left behind
  limits   kernel limits, usage and warnings

sysipc help VERB (or sysipc VERB --help) shows a verb's options and an example.
Exit status: 0 done, 1 an operation failed, 2 a usage error.`;

/** The options each verb takes (beyond `--help`). */
const OPTIONS = {
  ls: { kind: { type: "string" }, user: { type: "string" }, json: { type: "boolean" } },
  stat: { json: { type: "boolean" } },
  rm: {},
  reap: { "older-than": { type: "string" }, yes: { type: "boolean" }, json: { type: "boolean" } },
  limits: { json: { type: "boolean" } },
} as const;

type Verb = keyof typeof OPTIONS;

/**
 * Runs the command with these arguments (without the program's name).
 *
 * @param args The arguments, e.g. `["ls", "--json"]`.
 * @param io Where to write (default: the process's standard output and
 *   error; colour on a terminal without `NO_COLOR`).
 * @returns The exit status: 0 done, 1 an operation failed, 2 a usage error.
 */
export function main(args: string[], io: Output = processOutput()): Promise<number> {
  return Promise.resolve().then(() => run(args, io)).catch((e) => {
    io.err(`sysipc: ${oneLine(e)}\n`);
    return e instanceof CliError ? e.status : 1;
  });
}

function run(args: string[], io: Output): number {
  const [verb, ...rest] = args;
  if (verb === undefined) {
    io.err(USAGE + "\n");
    return 2;
  }
  if (verb === "--help" || verb === "-h") {
    io.out(USAGE + "\n");
    return 0;
  }
  if (verb === "help") {
    const about = rest[0];
    if (about === undefined) io.out(USAGE + "\n");
    else if (about in HELP) io.out(HELP[about] + "\n");
    else {throw new CliError(
        `help: unknown verb '${about}' (verbs: ${Object.keys(OPTIONS).join(", ")})`,
      );}
    return 0;
  }
  if (!(verb in OPTIONS)) {
    throw new CliError(
      `unknown verb '${verb}' (verbs: ${Object.keys(OPTIONS).join(", ")}; see sysipc --help)`,
    );
  }
  const v = verb as Verb;
  let parsed;
  try {
    parsed = parseArgs({
      args: rest,
      options: { ...OPTIONS[v], help: { type: "boolean", short: "h" } },
      allowPositionals: true,
      strict: true,
    });
  } catch (e) {
    const why = (e as Error).message.split("\n")[0].replace(/\. To specify a positional.*$/, "");
    throw new CliError(`${v}: ${why} (see sysipc ${v} --help)`);
  }
  const values = parsed.values as Record<string, string | boolean | undefined>;
  const pos = parsed.positionals;
  if (values.help) {
    io.out(HELP[v] + "\n");
    return 0;
  }
  const json = values.json === true;
  const noPositionals = () => {
    if (pos.length) {
      throw new CliError(`${v}: unexpected argument '${pos[0]}' (see sysipc ${v} --help)`);
    }
  };
  switch (v) {
    case "ls": {
      noPositionals();
      const kinds = values.kind === undefined
        ? IPC_OBJECT_KINDS
        : parseKinds(values.kind as string);
      return ls(io, kinds, values.user as string | undefined, json);
    }
    case "stat": {
      if (pos.length !== 2) {
        throw new CliError(`stat: give a kind and one id, key or name (see sysipc stat --help)`);
      }
      return stat(io, parseKind(pos[0], "stat"), pos[1], json);
    }
    case "rm": {
      if (pos.length < 2) {
        throw new CliError(
          `rm: give a kind and at least one id, key or name (see sysipc rm --help)`,
        );
      }
      return rm(io, parseKind(pos[0], "rm"), pos.slice(1));
    }
    case "reap": {
      noPositionals();
      const text = (values["older-than"] as string | undefined) ?? "10m";
      const ms = parseDuration(text);
      if (ms === undefined) {
        throw new CliError(
          `reap: --older-than takes a duration such as 90s, 10m, 2h or 7d, got '${text}'`,
        );
      }
      return reap(io, ms, values.yes === true, json);
    }
    case "limits":
      noPositionals();
      return limits(io, json);
  }
}

function parseKind(text: string, verb: string): IpcObjectKind {
  if (!(IPC_OBJECT_KINDS as readonly string[]).includes(text)) {
    throw new CliError(`${verb}: unknown kind '${text}' (kinds: ${KINDS})`);
  }
  return text as IpcObjectKind;
}

function parseKinds(text: string): IpcObjectKind[] {
  const kinds = text.split(",").map((k) => k.trim()).filter((k) => k !== "");
  if (kinds.length === 0) throw new CliError(`ls: --kind takes a list of kinds (${KINDS})`);
  return kinds.map((k) => parseKind(k, "ls"));
}

/** The process's standard output and error, colour on a terminal unless `NO_COLOR` is set. */
function processOutput(): Output {
  const noColor = (process.env.NO_COLOR ?? "") !== "";
  return {
    out: (text) => void process.stdout.write(text),
    err: (text) => void process.stderr.write(text),
    color: !noColor && process.stdout.isTTY === true,
  };
}

if ((import.meta as { main?: boolean }).main) {
  process.exitCode = await main(process.argv.slice(2));
}
