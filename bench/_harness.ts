/**
 * The one harness every benchmark runs on. A benchmark file declares what it
 * measures — its rows (one command each, and how to read a figure from the
 * JSON line it prints), the peers among them (C programs, `Deno.Command`),
 * the checks that compare rows, and its own options — and calls
 * {@linkcode runBench}, which does the rest the same way for all of them:
 *
 * - the command line: `--quick`, `--reps N` (≥ 3), `--json PATH`
 *   (`--options` alone prints the options it takes, as JSON); with
 *   runtimes, `--runtimes deno,node,bun`, `--node`, `--bun`, `--node-lib`
 *   (`_runtimes.ts`) and `--pinnings "0,1 0 0|1"`; without, `--cpus LIST`;
 *   with round trips, `--rounds`, `--warmup`, `--warmup-ms`, `--max-ms`;
 * - pinning: every row runs as its own session (`setsid`) under `taskset`,
 *   once per pinning, one table each (see {@linkcode PINNINGS});
 * - warm-up: the round-trip options above, passed to the roles (which park
 *   once off-thread and warm up before timing), and untimed first copies;
 * - repetitions: rows run round-robin `--reps` times, so a slow spell of
 *   the machine touches every row alike; the median is reported with the
 *   spread;
 * - peers in the same run: C rows are rows like any other, measured in the
 *   same round-robin, and the checks divide by them;
 * - the output: the machine facts and versions, one table per pinning (rows
 *   with median, unit, spread and samples — or, with `style: "peer"`, a "vs"
 *   column dividing by each row's peer), the checks against their targets,
 *   the total time, and with `--json` every sample.
 *
 * @module
 */
import { parseArgs } from "node:util";
import {
  LABEL,
  parseRuntimes,
  PERMS,
  prepareRuntimes,
  type Runtime,
  type RuntimeName,
} from "./_runtimes.ts";

export { LABEL, PERMS, type RuntimeName };

const BIN = new URL("./bin/", import.meta.url);

/** The path of a compiled C peer in `bench/bin/`. */
export const bin = (name: string): string => new URL(name, BIN).pathname;

/** Process groups (= session ids) of running measurements, killed on exit or timeout. */
export const live = new Set<number>();

/** Kills a whole process group; nothing if it is already gone. */
export function killGroup(pgid: number): void {
  try {
    Deno.kill(-pgid, "SIGKILL");
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

/** Kills every measurement still running (on SIGINT, or when main() ends). */
export function killAll(): void {
  for (const g of live) killGroup(g);
}

/**
 * Runs `argv` once as its own session (`setsid`) under `taskset -c cpus`, so
 * every process it starts inherits the CPU mask and can be killed as a group;
 * returns the JSON object on the last line of its stdout.
 *
 * @param cpus A `taskset -c` list such as `0,1` or `0`.
 * @param argv The command.
 * @param timeoutMs The group is killed after this.
 */
export async function runPinned(cpus: string, argv: string[], timeoutMs: number): Promise<unknown> {
  const child = new Deno.Command("taskset", {
    args: ["-c", cpus, "setsid", ...argv],
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  live.add(child.pid);
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    killGroup(child.pid);
  }, timeoutMs);
  try {
    const out = await child.output();
    const stdout = new TextDecoder().decode(out.stdout).trim();
    const stderr = new TextDecoder().decode(out.stderr).trim();
    if (timedOut) throw new Error(`timed out after ${timeoutMs} ms`);
    if (!out.success) throw new Error(`exit code ${out.code}${explain(stderr)}`);
    const line = stdout.split("\n").at(-1) ?? "";
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`no result line (stdout ${JSON.stringify(stdout.slice(-200))})`);
    }
  } finally {
    clearTimeout(timer);
    killGroup(child.pid); // anything the measurement left behind (normally nothing)
    live.delete(child.pid);
  }
}

/** The line of a role's stderr that says what went wrong (not a stack frame), as ": …". */
function explain(stderr: string): string {
  // deno-lint-ignore no-control-regex
  const lines = stderr.replace(/\x1b\[[0-9;]*m/g, "").split("\n").map((l) => l.trim())
    .filter((l) => l !== "" && !l.startsWith("at "));
  const why = lines.find((l) => /error|Error:/.test(l)) ?? lines.at(-1);
  return why ? `: ${why.slice(0, 300)}` : "";
}

/** The median, or `null` for no samples. */
export function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
}

/** A figure for a table: `—` when there is none. */
export function fmt(v: number | null, digits = 2): string {
  return v === null ? "—" : v.toFixed(digits);
}

/** Compiles `bench/<name>.c` with `cc -O2 -Wall` into `bench/bin/<name>`, for each name. */
export async function compileC(names: string[]): Promise<void> {
  await Deno.mkdir(BIN, { recursive: true });
  for (const name of names) {
    const src = new URL(`./${name}.c`, import.meta.url).pathname;
    const out = await new Deno.Command("cc", {
      args: ["-O2", "-Wall", "-o", bin(name), src],
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    if (!out.success) throw new Error(`cc -O2 ${name}.c failed (exit ${out.code})`);
  }
}

/**
 * Reads a small file such as one under /proc, or `""`. Deno 2.9 wants
 * --allow-all for any read under /proc, so `cat` reads it.
 */
export async function readProc(path: string): Promise<string> {
  try {
    const r = await new Deno.Command("cat", { args: [path], stdout: "piped", stderr: "null" })
      .output();
    return new TextDecoder().decode(r.stdout);
  } catch {
    return "";
  }
}

/** Deno's version, the kernel, the CPU model and count, plus `extra`. */
export async function machineInfo(
  extra: Record<string, unknown> = {},
): Promise<Record<string, unknown>> {
  const cpuinfo = await readProc("/proc/cpuinfo");
  return {
    deno: Deno.version.deno,
    kernel: (await readProc("/proc/sys/kernel/osrelease")).trim(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    cpus: navigator.hardwareConcurrency,
    ...extra,
  };
}

/** One measured row of a table, as `renderRows` prints it. */
export interface RowLine {
  id: string;
  label: string;
  unit: string;
  samples: number[];
  median: number | null;
  /** (max − min) / median of the samples. */
  spread: number | null;
  errors: string[];
  /** Why the row did not run (a runtime not installed). */
  skipped?: string;
  /** Median over its peer's median (`Row.vs`). */
  vs?: number | null;
  /** The runtime the row needs (`Row.runtime`); none for a peer such as a C program. */
  runtime?: RuntimeName;
  /** The id of the row it is compared with (`Row.vs`), for the report. */
  peer?: string;
}

/** A ratio or figure checked against a target, as `renderVerdicts` prints it. */
export interface VerdictLine {
  name: string;
  value: number | null;
  /** `"≥ 0.9"`, `"≤ 2 µs"`, … or `"(info)"` for no target. */
  target: string;
  pass: boolean | null;
}

/** The rows table: label, median, unit, spread, samples (or why skipped, or what failed). */
export function renderRows(rows: RowLine[]): string[] {
  const w = Math.max(...rows.map((r) => r.label.length)) + 2;
  const head = `   ${"row".padEnd(w)}${"median".padStart(9)}  ${"unit".padEnd(5)}${
    "spread".padStart(7)
  }  samples`;
  const lines = [head, `   ${"-".repeat(head.length - 3)}`];
  for (const r of rows) {
    const samples = r.skipped ?? r.samples.map((s) => fmt(s)).join(", ") +
        (r.errors.length ? `  (${r.errors.length} failed: ${r.errors[0]})` : "");
    const spread = r.spread === null ? "—" : `${(r.spread * 100).toFixed(0)}%`;
    lines.push(
      `   ${r.label.padEnd(w)}${fmt(r.median).padStart(9)}  ${r.unit.padEnd(5)}${
        spread.padStart(7)
      }  ${samples}`,
    );
  }
  return lines;
}

/** The verdicts table: name, value, target, met / MISSED (nothing for info rows). */
export function renderVerdicts(title: string, verdicts: VerdictLine[]): string[] {
  const rw = Math.max(...verdicts.map((r) => r.name.length)) + 2;
  const lines = [
    `   ${title.padEnd(rw)}${"value".padStart(7)}  ${"target".padEnd(7)} verdict`,
    `   ${"-".repeat(rw + 24)}`,
  ];
  for (const r of verdicts) {
    const verdict = r.target === "(info)"
      ? ""
      : r.pass === null
      ? "n/a"
      : r.pass
      ? "met"
      : "MISSED";
    lines.push(
      `   ${r.name.padEnd(rw)}${fmt(r.value).padStart(7)}  ${r.target.padEnd(7)} ${verdict}`,
    );
  }
  return lines;
}

/** The rows table with a peer column: label, median (headed by the unit), vs C, samples. */
export function renderPeerRows(rows: RowLine[]): string[] {
  const w = Math.max(...rows.map((r) => r.label.length)) + 2;
  const head = `   ${"row".padEnd(w)}${rows[0].unit.padStart(7)}  ${"vs C".padStart(5)}  samples`;
  const lines = [head, `   ${"-".repeat(head.length - 3)}`];
  for (const r of rows) {
    const samples = r.samples.map((s) => fmt(s)).join(", ") +
      (r.errors.length ? `  (${r.errors.length} failed: ${r.errors[0]})` : "");
    lines.push(
      `   ${r.label.padEnd(w)}${fmt(r.median).padStart(7)}  ${
        fmt(r.vs ?? null).padStart(5)
      }  ${samples}`,
    );
  }
  return lines;
}

/** The ratios table without targets: name, value. */
export function renderRatios(title: string, ratios: VerdictLine[]): string[] {
  const rw = Math.max(...ratios.map((r) => r.name.length)) + 2;
  const lines = [`   ${title.padEnd(rw)}${"value".padStart(6)}`, `   ${"-".repeat(rw + 6)}`];
  for (const r of ratios) lines.push(`   ${r.name.padEnd(rw)}${fmt(r.value).padStart(6)}`);
  return lines;
}

// ---------------------------------------------------------------------------
// Pinning
// ---------------------------------------------------------------------------

/**
 * Where a row's processes run. Two processes that hand work back and forth
 * and may use both CPUs (`0,1`) land on one CPU or on two at the scheduler's
 * whim, and the two cases differ by 2–3× (a ping-pong that spins shares one
 * CPU through `sched_yield`; blocking C wakes a sleeping vCPU): the median of
 * a few runs then picks a mode rather than measuring a runtime. `0|1` fixes
 * the placement — the measuring process on CPU 0, the peer it starts on CPU
 * 1 — so that runtimes compare on equal terms with two CPUs.
 */
export interface Pinning {
  /** `0,1`, `0` or `0|1`, as `--pinnings` takes it (or the `--cpus` list). */
  id: string;
  /** `taskset -c` for the measuring process (and what it starts, unless `peerCpus`). */
  cpus: string;
  /** `taskset -c` for the peer process, when it gets its own CPU. */
  peerCpus?: string;
  /** Table heading. */
  title: string;
}

/** The pinnings a benchmark with runtimes knows (`--pinnings`). */
export const PINNINGS: Readonly<Record<string, Pinning>> = {
  "0,1": { id: "0,1", cpus: "0,1", title: "taskset -c 0,1 — every process of every row" },
  "0": { id: "0", cpus: "0", title: "taskset -c 0 — every process of every row" },
  "0|1": {
    id: "0|1",
    cpus: "0",
    peerCpus: "1",
    title: "taskset -c 0 for the measuring process, -c 1 for the peer it starts (one CPU each)",
  },
};

/** Parses `--pinnings "0,1 0 0|1"` (space- or semicolon-separated; default all three). */
export function parsePinnings(s: string | undefined): Pinning[] {
  // Not Object.values(): "0" is an integer-like key and would come first.
  if (s === undefined || s.trim() === "") return ["0,1", "0", "0|1"].map((id) => PINNINGS[id]);
  return s.split(/[\s;]+/).filter(Boolean).map((id) => {
    const p = PINNINGS[id];
    if (!p) throw new RangeError(`Unknown pinning ${id}: --pinnings takes 0,1 0 0|1`);
    return p;
  });
}

// ---------------------------------------------------------------------------
// What a benchmark declares
// ---------------------------------------------------------------------------

/** The settings every benchmark has, besides its own. */
export interface Common {
  quick: boolean;
  /** Runs per row (≥ 3). */
  reps: number;
  /** A run's process group is killed after this. */
  timeoutMs: number;
}

/** Round trips' warm-up and length (`--rounds`, `--warmup`, `--warmup-ms`, `--max-ms`). */
export interface RoundTrips {
  /** Most timed round trips per run. */
  rounds: number;
  /** Untimed rounds first. */
  warmup: number;
  /** The JavaScript roles also warm up at least this long after the peer answered. */
  warmupMs: number;
  /** The timed rounds stop after this. */
  maxMs: number;
}

/** The role arguments for {@linkcode RoundTrips}. */
export function roundTripArgs(c: RoundTrips): string[] {
  return [
    "--rounds",
    String(c.rounds),
    "--warmup",
    String(c.warmup),
    "--warmup-ms",
    String(c.warmupMs),
    "--max-ms",
    String(c.maxMs),
  ];
}

/** {@linkcode RoundTrips} in a table's description line. */
export function describeRoundTrips(c: RoundTrips): string {
  return `up to ${c.rounds} timed rounds (≤ ${c.maxMs} ms) after ≥ ${c.warmup} warm-up rounds (JS: and ≥ ${c.warmupMs} ms)`;
}

/**
 * A row's figure from a `{ [count]: n, ns }` result line: µs per operation
 * (per round trip, per acquire+release pair).
 */
export function microsPer(count: string): (r: unknown) => number {
  return (r) => {
    const x = r as Record<string, number>;
    if (!(x[count] > 0)) throw new Error(`no ${count}`);
    return x.ns / x[count] / 1000;
  };
}

/**
 * GB/s from a copy role's `{ bytes, iters, ns }` line (bytes per ns), after
 * checking it copied what was asked.
 */
export function copyRate(r: unknown, c: { bytes: number; iters: number }): number {
  const s = r as { bytes: number; iters: number; ns: number };
  if (s.bytes !== c.bytes || s.iters !== c.iters || !(s.ns > 0)) {
    throw new Error(`bad result ${JSON.stringify(s)}`);
  }
  return (s.bytes * s.iters) / s.ns;
}

/** One row: a command run once per sample, and how to read its figure. */
export interface Row<C> {
  id: string;
  label: string;
  /** `GB/s`, `µs`, … */
  unit: string;
  /** The runtime the row needs (peers need none); skipped when it is missing. */
  runtime?: RuntimeName;
  /** The command, run under `taskset -c CPUS setsid`. */
  argv(c: C, pin: Pinning): string[];
  /** The figure from the JSON object on the command's last stdout line; throws if invalid. */
  sample(result: unknown, c: C): number;
  /** The peer row this one is compared with in the "vs" column (`style: "peer"`). */
  vs?: string;
}

/** A figure checked against a target: one row's median, or its ratio to another's. */
export interface Check {
  name: string;
  /** The row whose median is the value (the numerator). */
  of: string;
  /** The row it is divided by, if a ratio. */
  over?: string;
  /** `"≥ 0.9"`, `"≤ 2 µs"`, … default `"(info)"`: shown, not judged. */
  target?: string;
  ok?: (x: number) => boolean;
  /**
   * The pinnings (`0,1`, `0`, `0|1`) whose tables judge it; in the others
   * it is shown with its value and target, verdict `n/a`. Default: all.
   */
  pinnings?: readonly string[];
}

/** A benchmark's settings: the common ones, round trips' (if it has them), its own. */
export type Config<Own> = Common & RoundTrips & Own;

/** What a benchmark's rows are built from. */
export interface Context<C> {
  runtimes: Record<RuntimeName, Runtime>;
  /** The runtimes chosen with `--runtimes`, in table order. */
  selected: RuntimeName[];
  /** One row per selected runtime. */
  each(f: (rt: RuntimeName, label: string) => Row<C>): Row<C>[];
  /**
   * The argv that runs a role script on a runtime, with its `--lib` and,
   * under a split pinning, `--peer-cpus` for the peer it starts.
   */
  role(rt: RuntimeName, script: string, pin: Pinning, args: string[]): string[];
}

type Values = Record<string, string | boolean | undefined>;

/** A benchmark, as it describes itself to {@linkcode runBench}. */
export interface Bench<Own> {
  /** `pipe` → `# sysipc pipe benchmark`. */
  name: string;
  /** `import.meta.url` of the benchmark file (the command line printed, the `--role` re-runs). */
  url: string;
  /** Runs per row without and with `--quick`. */
  reps: [number, number];
  /** The run timeout without and with `--quick` (ms). */
  timeoutMs: [number, number];
  /** Rows on Deno, Node and Bun (`--runtimes`, `--pinnings`); otherwise Deno only, `--cpus`. */
  runtimes?: boolean;
  /** Round-trip options (`--rounds`, `--warmup`, `--warmup-ms`, `--max-ms`). */
  roundTrips?: boolean;
  /** The benchmark's own string options. */
  options?: readonly string[];
  /** Its own settings from its options (use {@linkcode int}). */
  config(values: Values, quick: boolean): Own;
  /** The C peers, `bench/<name>.c`, compiled into `bench/bin/`. */
  peers: string[];
  /** More machine facts (JSON) and words for the header line. */
  facts?(): Promise<{ facts?: Record<string, unknown>; header?: string[] }>;
  rows(ctx: Context<Config<Own>>): Row<Config<Own>>[];
  checks(selected: RuntimeName[]): Check[];
  /** The line under each table's heading: sizes, rounds, repetitions. */
  describe(c: Config<Own>): string;
  /** Heading of the checks table. */
  checksTitle: string;
  /** `"peer"`: a "vs" column instead of unit and spread, checks without targets. */
  style?: "rows" | "peer";
  /** With `--role NAME`, this file runs one measurement and prints its JSON line. */
  role?(name: string, values: Values): unknown;
}

/** Parses a whole number option of at least `min`, or gives `d`. */
export function int(s: string | boolean | undefined, d: number, min = 1): number {
  if (s === undefined || typeof s === "boolean") return d;
  const n = Number(s);
  if (!Number.isSafeInteger(n) || n < min) {
    throw new RangeError(`Expected an integer ≥ ${min}: ${s}`);
  }
  return n;
}

// ---------------------------------------------------------------------------
// Running one
// ---------------------------------------------------------------------------

/** One measured table: a pinning's rows and checks. */
export interface Table {
  cpus: string;
  pinning: string;
  rows: RowLine[];
  ratios: VerdictLine[];
}

async function measureTable<C>(
  pin: Pinning,
  c: C & Common,
  defs: Row<C>[],
  runtimes: Record<RuntimeName, Runtime>,
  checks: Check[],
  log: (s: string) => void,
): Promise<Table> {
  const rows: RowLine[] = defs.map((d) => {
    const rt = d.runtime === undefined ? undefined : runtimes[d.runtime];
    return {
      id: d.id,
      label: d.label,
      unit: d.unit,
      runtime: d.runtime,
      peer: d.vs,
      samples: [],
      median: null,
      spread: null,
      errors: [],
      skipped: rt && !rt.ok ? rt.skipped : undefined,
    };
  });
  // Round-robin: a slow spell of the machine touches every row alike.
  for (let rep = 0; rep < c.reps; rep++) {
    for (const [i, def] of defs.entries()) {
      const row = rows[i];
      if (row.skipped) continue;
      const at = `  [${pin.id}] rep ${rep + 1}/${c.reps} ${def.label}`;
      try {
        const v = def.sample(await runPinned(pin.cpus, def.argv(c, pin), c.timeoutMs), c);
        row.samples.push(v);
        log(`${at}: ${fmt(v)} ${row.unit}`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        row.errors.push(msg);
        log(`${at}: FAILED (${msg})`);
      }
    }
  }
  for (const row of rows) {
    row.median = median(row.samples);
    if (row.median !== null && row.median > 0) {
      row.spread = (Math.max(...row.samples) - Math.min(...row.samples)) / row.median;
    }
  }
  const get = (id: string | undefined) => rows.find((r) => r.id === id)?.median ?? null;
  const ratio = (a: string, b: string | undefined) => {
    const x = get(a), y = b === undefined ? 1 : get(b);
    return x !== null && y !== null && y > 0 ? x / y : null;
  };
  for (const [i, def] of defs.entries()) {
    if (def.vs !== undefined) rows[i].vs = ratio(def.id, def.vs);
  }
  const ratios = checks.map((k): VerdictLine => {
    const value = ratio(k.of, k.over);
    const judged = k.pinnings === undefined || k.pinnings.includes(pin.id);
    const pass = value === null || !judged ? null : k.ok ? k.ok(value) : true;
    return { name: k.name, value, target: k.target ?? "(info)", pass };
  });
  return { cpus: pin.id, pinning: pin.title, rows, ratios };
}

/**
 * Runs a benchmark from its command line (`Deno.args`): every row, under
 * every pinning, round-robin, then prints the tables. Returns the exit code:
 * 1 when a row that ran gave no sample at all.
 */
export async function runBench<Own>(bench: Bench<Own>): Promise<number> {
  type C = Config<Own>;
  const flags = [
    ...(bench.options ?? []),
    "reps",
    "json",
    ...(bench.roundTrips ? ["rounds", "warmup", "warmup-ms", "max-ms"] : []),
    ...(bench.runtimes ? ["runtimes", "pinnings", "node", "bun", "node-lib"] : ["cpus"]),
    ...(bench.role ? ["role"] : []),
  ];
  // `--options`: the flags this benchmark takes, as JSON (for bench/report.ts).
  if (Deno.args.length === 1 && Deno.args[0] === "--options") {
    console.log(JSON.stringify({ name: bench.name, options: [...flags, "quick"] }));
    return 0;
  }
  const values: Values = parseArgs({
    args: Deno.args,
    options: {
      ...Object.fromEntries(flags.map((f) => [f, { type: "string" as const }])),
      quick: { type: "boolean", default: false },
    },
    strict: true,
  }).values;
  if (bench.role && values.role !== undefined) {
    console.log(JSON.stringify(await bench.role(values.role as string, values)));
    return 0;
  }

  const quick = values.quick === true;
  const at = (normal: number, fast: number) => quick ? fast : normal;
  const c = {
    ...(bench.roundTrips
      ? {
        rounds: int(values.rounds, at(200000, 20000)),
        warmup: int(values.warmup, at(2000, 500), 0),
        warmupMs: int(values["warmup-ms"], at(500, 200), 0),
        maxMs: int(values["max-ms"], at(1500, 500)),
      }
      : {}),
    ...bench.config(values, quick),
    quick,
    reps: Math.max(3, int(values.reps, at(...bench.reps))),
    timeoutMs: at(...bench.timeoutMs),
  } as C;
  // Without --runtimes a benchmark runs on Deno alone (its rows may say `runtime: "deno"`).
  const selected: RuntimeName[] = bench.runtimes
    ? parseRuntimes(values.runtimes as string | undefined)
    : ["deno"];
  const cpus = (values.cpus as string | undefined) ?? "0";
  const pinnings = bench.runtimes
    ? parsePinnings(values.pinnings as string | undefined)
    : [{ id: cpus, cpus, title: `taskset -c ${cpus} — every row` }];
  const log = (s: string) => console.error(s);
  const prepared = await prepareRuntimes({
    runtimes: selected,
    node: values.node as string | undefined,
    bun: values.bun as string | undefined,
    nodeLib: values["node-lib"] as string | undefined,
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
    const extra = await bench.facts?.() ?? {};
    const env = await machineInfo(extra.facts);
    const runtimes = prepared.runtimes;
    const versions = bench.runtimes
      ? selected.map((r) => {
        const rt = runtimes[r];
        return rt.ok ? rt.version : `${r}: ${rt.skipped}`;
      })
      : [`deno ${Deno.version.deno}`];
    const script = new URL(bench.url).pathname.split("/").slice(-2).join("/");
    const command = `deno run ${PERMS.join(" ")} ${script}` +
      Deno.args.map((a) => ` ${a}`).join("");
    console.log(`# sysipc ${bench.name} benchmark`);
    console.log(`command: ${command}`);
    console.log(
      [`kernel ${env.kernel}, ${env.cpus}× ${env.cpuModel}`, ...extra.header ?? [], ...versions]
        .join("; "),
    );
    await compileC(bench.peers);
    log(
      `compiled ${bench.peers.map((p) => `bench/${p}.c`).join(", ")} with cc -O2 into bench/bin/`,
    );
    const ctx: Context<C> = {
      runtimes,
      selected,
      each: (f) => selected.map((rt) => f(rt, LABEL[rt])),
      role(rt, script, pin, args) {
        const r = runtimes[rt];
        if (!r.ok) throw new Error(r.skipped);
        const peer = pin.peerCpus === undefined ? [] : ["--peer-cpus", pin.peerCpus];
        return r.argv(script, ["--lib", r.lib, ...args, ...peer]);
      },
    };
    const rows = bench.rows(ctx);
    const checks = bench.checks(selected);
    const tables: Table[] = [];
    for (const pin of pinnings) {
      log(`measuring with pinning ${pin.id} …`);
      const t = await measureTable(pin, c, rows, runtimes, checks, log);
      tables.push(t);
      const heading = bench.runtimes
        ? `## Pinning ${t.cpus}: ${t.pinning}`
        : `## Pinning: ${t.pinning}`;
      console.log(
        [
          `\n${heading}`,
          `   ${bench.describe(c)}`,
          ...(bench.style === "peer" ? renderPeerRows(t.rows) : renderRows(t.rows)),
          "",
          ...(bench.style === "peer"
            ? renderRatios(bench.checksTitle, t.ratios)
            : renderVerdicts(bench.checksTitle, t.ratios)),
        ].join("\n"),
      );
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`\ntotal ${seconds.toFixed(1)} s`);
    if (values.json !== undefined) {
      const doc = {
        name: bench.name,
        script,
        command,
        date: new Date().toISOString(),
        env: { ...env, runtimes: versions },
        config: c,
        tables,
        seconds,
      };
      await Deno.writeTextFile(values.json as string, JSON.stringify(doc, null, 2) + "\n");
      console.log(`wrote ${values.json}`);
    }
    const empty = tables.some((t) => t.rows.some((r) => !r.skipped && r.samples.length === 0));
    return empty ? 1 : 0;
  } finally {
    killAll();
    prepared.cleanup();
    Deno.removeSignalListener("SIGINT", onSignal);
    Deno.removeSignalListener("SIGTERM", onSignal);
  }
}

/** Runs {@linkcode runBench} as the program: exits with its code, or 1 with the error. */
export async function main<Own>(bench: Bench<Own>): Promise<never> {
  try {
    Deno.exit(await runBench(bench));
  } catch (e) {
    console.error(e instanceof Error ? (e.stack ?? e.message) : e);
    Deno.exit(1);
  }
}

/** What {@linkcode semaphoreRows} needs of a benchmark's settings. */
export type SemaphoreConfig = Common & RoundTrips & { pairs: number };

/**
 * The rows every semaphore benchmark has, for one kind of semaphore: the
 * ping-pong round trip (C ↔ C, each runtime with itself and with the C
 * peer) and the uncontended acquire+release pair (C, and each runtime with
 * `await acquire()` and with `tryAcquire()`). The C peer takes
 * `self ROUNDS WARMUP MAX_MS CHILD_CPU` and `uncontended PAIRS`; the role
 * file has the roles `ping --peer self|c`, `uncontended` and
 * `uncontended-try` (see `roles/_role.mjs`).
 *
 * @param ctx The benchmark's context.
 * @param roles The role file.
 * @param peer The C peer's name in `bench/bin/`.
 * @param cLabels How the C rows are labelled: the round trip and the pair.
 */
export function semaphoreRows<C extends SemaphoreConfig>(
  { each, role }: Context<C>,
  roles: string,
  peer: string,
  cLabels: { roundTrip: string; pair: string },
): Row<C>[] {
  const roundtrip = { unit: "µs", sample: microsPer("rounds") };
  const pair = { unit: "µs", sample: microsPer("pairs") };
  const ping = (who: string, c: C) => ["ping", "--peer", who, ...roundTripArgs(c)];
  return [
    {
      id: "rt_c_c",
      label: cLabels.roundTrip,
      ...roundtrip,
      argv: (c, pin) => [
        bin(peer),
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
      ...roundtrip,
      runtime: rt,
      argv: (c: C, pin: Pinning) => role(rt, roles, pin, ping("self", c)),
    })),
    ...each((rt, L) => ({
      id: `rt_${rt}_c`,
      label: `${L} ↔ C peer`,
      ...roundtrip,
      runtime: rt,
      argv: (c: C, pin: Pinning) => role(rt, roles, pin, ping("c", c)),
    })),
    // The same with acquireSync(): the calls block the thread, as C's do.
    ...each((rt, L) => ({
      id: `rt_${rt}_${rt}_sync`,
      label: `${L} ↔ ${L} (release / acquireSync)`,
      ...roundtrip,
      runtime: rt,
      argv: (c: C, pin: Pinning) => role(rt, roles, pin, [...ping("self", c), "--sync"]),
    })),
    ...each((rt, L) => ({
      id: `rt_${rt}_c_sync`,
      label: `${L} ↔ C peer (acquireSync)`,
      ...roundtrip,
      runtime: rt,
      argv: (c: C, pin: Pinning) => role(rt, roles, pin, [...ping("c", c), "--sync"]),
    })),
    {
      id: "un_c",
      label: cLabels.pair,
      ...pair,
      argv: (c) => [bin(peer), "uncontended", String(c.pairs)],
    },
    ...each((rt, L) => ({
      id: `un_${rt}`,
      label: `${L}: await acquire(); release()`,
      ...pair,
      runtime: rt,
      argv: (c: C, pin: Pinning) =>
        role(rt, roles, pin, ["uncontended", "--pairs", String(c.pairs)]),
    })),
    ...each((rt, L) => ({
      id: `un_${rt}_try`,
      label: `${L}: tryAcquire(); release()`,
      ...pair,
      runtime: rt,
      argv: (c: C, pin: Pinning) =>
        role(rt, roles, pin, ["uncontended-try", "--pairs", String(c.pairs)]),
    })),
  ];
}

/**
 * The checks on the `semaphoreRows` rounds made with `acquireSync()` (the
 * calls block the thread, as C's do): each runtime's sync round trip, with
 * a peer of its own and with the C peer, at most 1.5× C↔C.
 *
 * @param selected The runtimes measured.
 */
export function syncRoundTripChecks(selected: readonly RuntimeName[]): Check[] {
  const atMost = { target: "≤ 1.5×", ok: (v: number) => v <= 1.5 };
  return selected.flatMap((rt) => {
    const L = LABEL[rt];
    return [
      {
        name: `round trip sync: ${L}↔${L} / C↔C`,
        of: `rt_${rt}_${rt}_sync`,
        over: "rt_c_c",
        ...atMost,
      },
      { name: `round trip sync: ${L}↔C / C↔C`, of: `rt_${rt}_c_sync`, over: "rt_c_c", ...atMost },
    ];
  });
}
