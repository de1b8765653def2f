/**
 * Semaphore benchmark: sysipc's `SemaphoreSet` on Deno, Node and Bun, against
 * C doing the same semops.
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/sem_bench.ts
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/sem_bench.ts --quick
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/sem_bench.ts --runtimes deno,bun
 * ```
 *
 * (also `deno task bench:sem`). Options: `--quick` (fewer rounds, for a
 * smoke run), `--json PATH` (write every sample and ratio as JSON), `--reps
 * N` (repetitions per row, default 5, minimum 3), `--rounds N` (most timed
 * round trips per ping-pong run; `--max-ms` caps the time), `--warmup N` /
 * `--warmup-ms MS` (untimed rounds first; the JavaScript roles also warm up
 * for at least MS after the peer answered), `--pairs N` (acquire+release
 * pairs per uncontended run), `--runtimes deno,node,bun` (which runtimes get
 * rows; default all), `--pinnings "0,1 0 0|1"` (which tables; see below),
 * `--node PATH` / `--bun PATH` (the executables; default from PATH, then
 * `tools/node_modules/.bin`), `--node-lib PATH` (a built npm package's
 * `esm/mod.js` for Node; default a private build, see `bench/_runtimes.ts`).
 * A runtime that is not installed gives rows that say "skipped: …".
 *
 * It compiles `bench/sem_pingpong.c` with `cc -O2` into `bench/bin/`
 * (gitignored), then measures, in one run:
 *
 * 1. Ping-pong round trips (µs) between two processes over two semaphores
 *    of an `IPC_PRIVATE` set: one side does V(0) then P(1), the other P(0)
 *    then V(1). C ↔ C (fork, blocking `semop`); X ↔ X (our `release()` /
 *    `await acquire()`, the peer a second process of the same runtime); X ↔
 *    C (our ping side, the C peer). Both JavaScript sides first park once
 *    off-thread (so the off-thread worker's one-time start — ~50 ms for a
 *    Node Worker loading koffi — is not timed) and warm up for ≥ 500 ms:
 *    Node and Bun take 15 000–30 000 rounds to reach their steady state.
 * 2. The uncontended pair (µs): `await sem.acquire(); sem.release();` in one
 *    process; the same with `tryAcquire()`; and C's `semop(-1, IPC_NOWAIT)`
 *    + `semop(+1, IPC_NOWAIT)`.
 *
 * The measuring side is `bench/roles/sem_roles.mjs`, one plain-JavaScript
 * file that every runtime runs. Every row runs as its own process tree, once
 * per pinning (`--pinnings`, default all three, one table each): `0,1` —
 * `taskset -c 0,1` for the measuring process and every peer it starts; `0` —
 * `taskset -c 0` for all of them; `0|1` — the measuring process on CPU 0,
 * its peer (or C's forked child) on CPU 1, so that the two sides are on
 * different CPUs in every run (under `0,1` the scheduler decides, run by
 * run, and the two placements differ by 2–3×). Each tree is its own session
 * (`setsid`), killed as a whole on a timeout. Rows are repeated round-robin
 * (≥ 3 times) and the median is reported with the spread. Node and Bun are compared with Deno in the same run: the target
 * is each within 1.5× of Deno's round trip.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  bin,
  compileC,
  fmt,
  killAll,
  machineInfo,
  median,
  readProc,
  renderRows,
  renderVerdicts,
  runPinned,
} from "./_runner.ts";
import {
  LABEL,
  parsePinnings,
  parseRuntimes,
  PERMS,
  type Pinning,
  prepareRuntimes,
  type Runtime,
  type RuntimeName,
} from "./_runtimes.ts";

const HERE = new URL(".", import.meta.url);
const ROLES = new URL("./roles/sem_roles.mjs", HERE).pathname;
const COMMAND = `deno run ${PERMS.join(" ")} bench/sem_bench.ts`;

interface Trip {
  rounds: number;
  ns: number;
}
interface Pairs {
  pairs: number;
  ns: number;
}

type Kind = "roundtrip" | "pair";

interface RowDef {
  id: string;
  label: string;
  kind: Kind;
  /** The runtime the row needs (C-only rows need none). */
  runtime?: RuntimeName;
  /** argv after `taskset -c CPUS setsid`. */
  argv: (c: Config, pin: Pinning) => string[];
}

interface Config {
  rounds: number;
  warmup: number;
  warmupMs: number;
  maxMs: number;
  pairs: number;
  reps: number;
  timeoutMs: number;
}

interface RowResult {
  id: string;
  label: string;
  kind: Kind;
  unit: "µs";
  samples: number[];
  median: number | null;
  /** (max − min) / median of the samples. */
  spread: number | null;
  errors: string[];
  skipped?: string;
}

interface Verdict {
  name: string;
  value: number | null;
  target: string;
  pass: boolean | null;
}

interface Table {
  cpus: string;
  pinning: string;
  rows: RowResult[];
  verdicts: Verdict[];
}

/** The rows, in table order, for the selected runtimes. */
function rowDefs(rts: Record<RuntimeName, Runtime>, selected: RuntimeName[]): RowDef[] {
  const role = (rt: RuntimeName, pin: Pinning, ...args: string[]) => {
    const r = rts[rt];
    if (!r.ok) throw new Error(r.skipped);
    const peer = pin.peerCpus === undefined ? [] : ["--peer-cpus", pin.peerCpus];
    return r.argv(ROLES, ["--lib", r.lib, ...args, ...peer]);
  };
  const ping = (peer: string, c: Config) => [
    "ping",
    "--peer",
    peer,
    "--rounds",
    String(c.rounds),
    "--warmup",
    String(c.warmup),
    "--warmup-ms",
    String(c.warmupMs),
    "--max-ms",
    String(c.maxMs),
  ];
  const each = (f: (rt: RuntimeName, L: string) => RowDef) =>
    selected.map((rt) => f(rt, LABEL[rt]));
  return [
    {
      id: "rt_c_c",
      label: "C ↔ C (fork, blocking semop)",
      kind: "roundtrip",
      argv: (c, pin) => [
        bin("sem_pingpong"),
        "self",
        String(c.rounds),
        String(c.warmup),
        String(c.maxMs),
        pin.peerCpus ?? "-1",
      ],
    },
    ...each((rt, L) => ({
      id: `rt_${rt}_${rt}`,
      label: `${L} ↔ ${L} (release / await acquire)`,
      kind: "roundtrip",
      runtime: rt,
      argv: (c, pin) => role(rt, pin, ...ping("self", c)),
    })),
    ...each((rt, L) => ({
      id: `rt_${rt}_c`,
      label: `${L} ↔ C peer`,
      kind: "roundtrip",
      runtime: rt,
      argv: (c, pin) => role(rt, pin, ...ping("c", c)),
    })),
    {
      id: "un_c",
      label: "C: semop −1, +1 (IPC_NOWAIT)",
      kind: "pair",
      argv: (c) => [bin("sem_pingpong"), "uncontended", String(c.pairs)],
    },
    ...each((rt, L) => ({
      id: `un_${rt}`,
      label: `${L}: await acquire(); release()`,
      kind: "pair",
      runtime: rt,
      argv: (c, pin) => role(rt, pin, "uncontended", "--pairs", String(c.pairs)),
    })),
    ...each((rt, L) => ({
      id: `un_${rt}_try`,
      label: `${L}: tryAcquire(); release()`,
      kind: "pair",
      runtime: rt,
      argv: (c, pin) => role(rt, pin, "uncontended-try", "--pairs", String(c.pairs)),
    })),
  ];
}

function toSample(def: RowDef, r: unknown): number {
  if (def.kind === "roundtrip") {
    const { rounds, ns } = r as Trip;
    if (!(rounds > 0)) throw new Error("no round trips");
    return ns / rounds / 1000;
  }
  const { pairs, ns } = r as Pairs;
  if (!(pairs > 0)) throw new Error("no pairs");
  return ns / pairs / 1000;
}

async function measureTable(
  pin: Pinning,
  c: Config,
  defs: RowDef[],
  rts: Record<RuntimeName, Runtime>,
  selected: RuntimeName[],
  log: (s: string) => void,
): Promise<Table> {
  const rows: RowResult[] = defs.map((d) => {
    const rt = d.runtime === undefined ? undefined : rts[d.runtime];
    return {
      id: d.id,
      label: d.label,
      kind: d.kind,
      unit: "µs",
      samples: [],
      median: null,
      spread: null,
      errors: [],
      skipped: rt && !rt.ok ? rt.skipped : undefined,
    };
  });
  for (let rep = 0; rep < c.reps; rep++) {
    for (const [i, def] of defs.entries()) {
      const row = rows[i];
      if (row.skipped) continue;
      try {
        const v = toSample(def, await runPinned(pin.cpus, def.argv(c, pin), c.timeoutMs));
        row.samples.push(v);
        log(`  [${pin.id}] rep ${rep + 1}/${c.reps} ${def.label}: ${fmt(v)} µs`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        row.errors.push(msg);
        log(`  [${pin.id}] rep ${rep + 1}/${c.reps} ${def.label}: FAILED (${msg})`);
      }
    }
  }
  for (const row of rows) {
    row.median = median(row.samples);
    if (row.median !== null && row.median > 0) {
      row.spread = (Math.max(...row.samples) - Math.min(...row.samples)) / row.median;
    }
  }
  const get = (id: string) => rows.find((r) => r.id === id)?.median ?? null;
  const ratio = (name: string, a: string, b: string, target: string, max: number): Verdict => {
    const x = get(a), y = get(b);
    const value = x !== null && y !== null && y > 0 ? x / y : null;
    return { name, value, target, pass: value === null ? null : value <= max };
  };
  const absolute = (name: string, a: string, target: string, max: number): Verdict => {
    const value = get(a);
    return { name, value, target, pass: value === null ? null : value <= max };
  };
  const verdicts: Verdict[] = [];
  if (selected.includes("deno")) {
    verdicts.push(
      ratio("round trip: Deno↔Deno / C↔C", "rt_deno_deno", "rt_c_c", "≤ 1.5×", 1.5),
      ratio("round trip: Deno↔C / C↔C", "rt_deno_c", "rt_c_c", "≤ 1.5×", 1.5),
    );
    for (const rt of selected.filter((r) => r !== "deno")) {
      const L = LABEL[rt];
      verdicts.push(
        ratio(`round trip: ${L}↔${L} / Deno↔Deno`, `rt_${rt}_${rt}`, "rt_deno_deno", "≤ 1.5×", 1.5),
        ratio(`round trip: ${L}↔C / Deno↔C`, `rt_${rt}_c`, "rt_deno_c", "≤ 1.5×", 1.5),
      );
    }
  }
  for (const rt of selected) {
    const L = LABEL[rt];
    verdicts.push(absolute(`${L}: uncontended acquire+release (µs)`, `un_${rt}`, "≤ 2 µs", 2));
  }
  for (const rt of selected) {
    const L = LABEL[rt];
    verdicts.push(ratio(`uncontended: ${L} / C`, `un_${rt}`, "un_c", "(info)", Infinity));
  }
  if (selected.includes("deno")) {
    for (const rt of selected.filter((r) => r !== "deno")) {
      const L = LABEL[rt];
      verdicts.push(ratio(`uncontended: ${L} / Deno`, `un_${rt}`, "un_deno", "(info)", Infinity));
    }
  }
  return { cpus: pin.id, pinning: pin.title, rows, verdicts };
}

function renderTable(t: Table, c: Config): string {
  const lines: string[] = [];
  lines.push(`\n## Pinning ${t.cpus}: ${t.pinning}`);
  lines.push(
    `   round trip: up to ${c.rounds} timed rounds (≤ ${c.maxMs} ms) after ≥ ${c.warmup} warm-up rounds (JS: and ≥ ${c.warmupMs} ms); ` +
      `uncontended: ${c.pairs} pairs; median of ${c.reps} runs; spread = (max − min) / median`,
  );
  lines.push(...renderRows(t.rows), "", ...renderVerdicts("measure", t.verdicts));
  return lines.join("\n");
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      rounds: { type: "string" },
      warmup: { type: "string" },
      "warmup-ms": { type: "string" },
      "max-ms": { type: "string" },
      pairs: { type: "string" },
      reps: { type: "string" },
      quick: { type: "boolean", default: false },
      json: { type: "string" },
      runtimes: { type: "string" },
      pinnings: { type: "string" },
      node: { type: "string" },
      bun: { type: "string" },
      "node-lib": { type: "string" },
    },
    strict: true,
  });
  const int = (s: string | undefined, d: number) => {
    if (s === undefined) return d;
    const n = Number(s);
    if (!Number.isSafeInteger(n) || n < 0) {
      throw new RangeError(`Expected a non-negative integer: ${s}`);
    }
    return n;
  };

  const quick = values.quick!;
  const c: Config = {
    rounds: int(values.rounds, quick ? 20000 : 200000),
    warmup: int(values.warmup, quick ? 500 : 2000),
    warmupMs: int(values["warmup-ms"], quick ? 200 : 500),
    maxMs: int(values["max-ms"], quick ? 500 : 1500),
    pairs: int(values.pairs, quick ? 200_000 : 1_000_000),
    reps: Math.max(3, int(values.reps, 5)),
    timeoutMs: quick ? 30_000 : 60_000,
  };
  const selected = parseRuntimes(values.runtimes);
  const pinnings = parsePinnings(values.pinnings);
  const log = (s: string) => console.error(s);
  const prepared = await prepareRuntimes({
    runtimes: selected,
    node: values.node,
    bun: values.bun,
    nodeLib: values["node-lib"],
  }, log);
  const onSignal = () => {
    killAll();
    prepared.cleanup();
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const started = performance.now();
    const env = await machineInfo({
      sem: (await readProc("/proc/sys/kernel/sem")).trim().split(/\s+/).join(" "),
    });
    const rts = prepared.runtimes;
    const versions = selected.map((r) => {
      const rt = rts[r];
      return rt.ok ? rt.version : `${r}: ${rt.skipped}`;
    });
    const args = Deno.args.join(" ");
    console.log(`# sysipc semaphore benchmark`);
    console.log(`command: ${COMMAND}${args ? ` ${args}` : ""}`);
    console.log(`kernel ${env.kernel}, ${env.cpus}× ${env.cpuModel}; ${versions.join("; ")}`);
    await compileC(["sem_pingpong"]);
    log(`compiled bench/sem_pingpong.c with cc -O2 into bench/bin/`);
    const defs = rowDefs(rts, selected);
    const tables: Table[] = [];
    for (const pin of pinnings) {
      log(`measuring with pinning ${pin.id} …`);
      const t = await measureTable(pin, c, defs, rts, selected, log);
      tables.push(t);
      console.log(renderTable(t, c));
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`\ntotal ${seconds.toFixed(1)} s`);
    if (values.json !== undefined) {
      const doc = {
        command: `${COMMAND}${args ? ` ${args}` : ""}`,
        date: new Date().toISOString(),
        env: { ...env, runtimes: versions },
        config: c,
        tables,
        seconds,
      };
      await Deno.writeTextFile(values.json, JSON.stringify(doc, null, 2) + "\n");
      console.log(`wrote ${values.json}`);
    }
    return 0;
  } finally {
    killAll();
    prepared.cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

if (import.meta.main) {
  try {
    Deno.exit(await main());
  } catch (e) {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    Deno.exit(1);
  }
}
