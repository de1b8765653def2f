/**
 * Semaphore benchmark: sysipc's `SemaphoreSet` against C doing the same semops.
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/sem_bench.ts
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/sem_bench.ts --quick
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/sem_bench.ts --json out.json
 * ```
 *
 * Options: `--quick` (fewer rounds, for a smoke run), `--json PATH` (write
 * every sample and ratio as JSON), `--reps N` (repetitions per row, default
 * 5, minimum 3), `--rounds N` (timed round trips per ping-pong run),
 * `--pairs N` (acquire+release pairs per uncontended run).
 *
 * It compiles `bench/sem_pingpong.c` with `cc -O2` into `bench/bin/`
 * (gitignored), then measures, in one run:
 *
 * 1. Ping-pong round trips (µs) between two processes over two semaphores
 *    of an `IPC_PRIVATE` set: one side does V(0) then P(1), the other P(0)
 *    then V(1). C ↔ C (fork, blocking `semop`); Deno ↔ Deno (our
 *    `release()` / `await acquire()`, the peer a second Deno process); Deno ↔
 *    C (our ping side, the C peer).
 * 2. The uncontended pair (µs): `await sem.acquire(); sem.release();` in one
 *    process; the same with `tryAcquire()`; and C's `semop(-1, IPC_NOWAIT)`
 *    + `semop(+1, IPC_NOWAIT)`.
 *
 * Every row runs as its own process tree under `taskset -c 0,1` (first
 * table) and again under `taskset -c 0` (second table): the measuring
 * process (`--role …`, a re-run of this file) and every peer it starts
 * inherit that CPU mask, and each tree is its own session (`setsid`), killed
 * as a whole on a timeout. Rows are repeated round-robin (≥ 3 times) and the
 * median is reported.
 *
 * @module
 */
import { parseArgs } from "node:util";
import { spawn } from "../pipe/mod.ts";
import { SemaphoreSet } from "../sem/mod.ts";
import { IpcError } from "../mod.ts";
import { readProcText } from "../tests/_helpers.ts";

const HERE = new URL(".", import.meta.url);
const BIN = new URL("./bin/", HERE);
const SELF = new URL(import.meta.url).pathname;
const PERMS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-run", "--allow-env"];
const COMMAND = `deno run ${PERMS.join(" ")} bench/sem_bench.ts`;

const bin = (name: string) => new URL(name, BIN).pathname;

// ---------------------------------------------------------------------------
// Roles: this file re-run inside a pinned process tree, printing one JSON line.
// ---------------------------------------------------------------------------

interface Trip {
  rounds: number;
  ns: number;
}
interface Pairs {
  pairs: number;
  ns: number;
}

/** Ping side in Deno: V(0), P(1) per round; the peer is a Deno child or C. */
async function rolePing(
  peer: string,
  rounds: number,
  warmup: number,
  maxMs: number,
): Promise<Trip> {
  const set = SemaphoreSet.create({ count: 2 });
  try {
    const child = peer === "deno"
      ? spawn(Deno.execPath(), {
        args: ["run", ...PERMS, SELF, "--role", "pong", "--id", String(set.id)],
      })
      : spawn(bin("sem_pingpong"), { args: ["pong", String(set.id)] });
    const [theirs, mine] = set;
    for (let i = 0; i < warmup; i++) { // includes the peer's start-up
      theirs.release();
      await mine.acquire();
    }
    const t0 = performance.now();
    let done = 0;
    while (done < rounds) {
      theirs.release();
      await mine.acquire();
      done++;
      if ((done & 255) === 0 && performance.now() - t0 > maxMs) break;
    }
    const ns = Math.round((performance.now() - t0) * 1e6);
    set.remove(); // the peer's P(0) fails with EIDRM: it exits
    const st = await child.status;
    if (!st.success) throw new Error(`${peer} peer failed: code ${st.code}`);
    return { rounds: done, ns };
  } finally {
    set.remove();
  }
}

/** Pong side in Deno: P(0), V(1) until the set is removed. */
async function rolePong(id: number): Promise<void> {
  using set = SemaphoreSet.fromId(id);
  const [mine, theirs] = set;
  for (;;) {
    try {
      await mine.acquire();
    } catch (e) {
      if (e instanceof IpcError && e.code === "EIDRM") return;
      throw e;
    }
    theirs.release();
  }
}

/** `await acquire(); release();` (or `tryAcquire(); release();`) in one process. */
async function roleUncontended(pairs: number, tryOnly: boolean): Promise<Pairs> {
  using set = SemaphoreSet.create({ initial: 1 });
  try {
    const sem = set.at(0);
    const run = async (n: number) => {
      if (tryOnly) {
        for (let i = 0; i < n; i++) {
          if (!sem.tryAcquire()) throw new Error("contended?");
          sem.release();
        }
      } else {
        for (let i = 0; i < n; i++) {
          await sem.acquire();
          sem.release();
        }
      }
    };
    await run(Math.max(1000, pairs / 10)); // warm up the JIT
    const t0 = performance.now();
    await run(pairs);
    return { pairs, ns: Math.round((performance.now() - t0) * 1e6) };
  } finally {
    set.remove();
  }
}

// ---------------------------------------------------------------------------
// Orchestrator.
// ---------------------------------------------------------------------------

type Kind = "roundtrip" | "pair";

interface RowDef {
  id: string;
  label: string;
  kind: Kind;
  argv: (c: Config) => string[];
}

interface Config {
  rounds: number;
  warmup: number;
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
  errors: string[];
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

const denoRole = (role: string, ...rest: string[]) => [
  Deno.execPath(),
  "run",
  ...PERMS,
  SELF,
  "--role",
  role,
  ...rest,
];

const pingArgv = (peer: string, c: Config) =>
  denoRole(
    "ping",
    "--peer",
    peer,
    "--rounds",
    String(c.rounds),
    "--warmup",
    String(c.warmup),
    "--max-ms",
    String(c.maxMs),
  );

const ROWS: RowDef[] = [
  {
    id: "rt_c_c",
    label: "C ↔ C (fork, blocking semop)",
    kind: "roundtrip",
    argv: (c) => [bin("sem_pingpong"), "self", String(c.rounds), String(c.warmup)],
  },
  {
    id: "rt_ours_ours",
    label: "Deno ↔ Deno (release / await acquire)",
    kind: "roundtrip",
    argv: (c) => pingArgv("deno", c),
  },
  {
    id: "rt_ours_c",
    label: "Deno ↔ C peer",
    kind: "roundtrip",
    argv: (c) => pingArgv("c", c),
  },
  {
    id: "un_c",
    label: "C: semop −1, +1 (IPC_NOWAIT)",
    kind: "pair",
    argv: (c) => [bin("sem_pingpong"), "uncontended", String(c.pairs)],
  },
  {
    id: "un_ours",
    label: "ours: await acquire(); release()",
    kind: "pair",
    argv: (c) => denoRole("uncontended", "--pairs", String(c.pairs)),
  },
  {
    id: "un_ours_try",
    label: "ours: tryAcquire(); release()",
    kind: "pair",
    argv: (c) => denoRole("uncontended-try", "--pairs", String(c.pairs)),
  },
];

/** Process groups (= session ids) of running row trees, killed on exit or timeout. */
const live = new Set<number>();

function killGroup(pgid: number): void {
  try {
    Deno.kill(-pgid, "SIGKILL");
  } catch {
    // ESRCH: the whole group is already gone.
  }
}

/** Runs one row once in its own pinned session; returns its JSON line. */
async function runOnce(cpus: string, argv: string[], timeoutMs: number): Promise<unknown> {
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
    if (!out.success) {
      throw new Error(`exit code ${out.code}${stderr ? `: ${stderr.split("\n").at(-1)}` : ""}`);
    }
    const line = stdout.split("\n").at(-1) ?? "";
    try {
      return JSON.parse(line);
    } catch {
      throw new Error(`no result line (stdout ${JSON.stringify(stdout.slice(-200))})`);
    }
  } finally {
    clearTimeout(timer);
    killGroup(child.pid); // anything the row left behind (normally nothing)
    live.delete(child.pid);
  }
}

function median(xs: number[]): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
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

async function measureTable(cpus: string, c: Config, log: (s: string) => void): Promise<Table> {
  const rows: RowResult[] = ROWS.map((d) => ({
    id: d.id,
    label: d.label,
    kind: d.kind,
    unit: "µs",
    samples: [],
    median: null,
    errors: [],
  }));
  for (let rep = 0; rep < c.reps; rep++) {
    for (const [i, def] of ROWS.entries()) {
      const row = rows[i];
      try {
        const v = toSample(def, await runOnce(cpus, def.argv(c), c.timeoutMs));
        row.samples.push(v);
        log(`  [${cpus}] rep ${rep + 1}/${c.reps} ${def.label}: ${fmt(v)} µs`);
      } catch (e) {
        const msg = e instanceof Error ? e.message : String(e);
        row.errors.push(msg);
        log(`  [${cpus}] rep ${rep + 1}/${c.reps} ${def.label}: FAILED (${msg})`);
      }
    }
  }
  for (const row of rows) row.median = median(row.samples);
  const get = (id: string) => rows.find((r) => r.id === id)!.median;
  const ratio = (name: string, a: string, b: string, target: string, max: number): Verdict => {
    const x = get(a), y = get(b);
    const value = x !== null && y !== null && y > 0 ? x / y : null;
    return { name, value, target, pass: value === null ? null : value <= max };
  };
  const absolute = (name: string, a: string, target: string, max: number): Verdict => {
    const value = get(a);
    return { name, value, target, pass: value === null ? null : value <= max };
  };
  const verdicts = [
    ratio("round trip: Deno↔Deno / C↔C", "rt_ours_ours", "rt_c_c", "≤ 1.5×", 1.5),
    ratio("round trip: Deno↔C / C↔C", "rt_ours_c", "rt_c_c", "≤ 1.5×", 1.5),
    absolute("uncontended acquire+release (µs)", "un_ours", "≤ 2 µs", 2),
    ratio("uncontended: ours / C", "un_ours", "un_c", "(info)", Infinity),
  ];
  return { cpus, pinning: `taskset -c ${cpus} (every process of every row)`, rows, verdicts };
}

function fmt(v: number | null, digits = 2): string {
  return v === null ? "—" : v.toFixed(digits);
}

function renderTable(t: Table, c: Config): string {
  const lines: string[] = [];
  lines.push(`\n## Pinning: taskset -c ${t.cpus} — every process of every row`);
  lines.push(
    `   round trip: up to ${c.rounds} timed rounds (≤ ${c.maxMs} ms) after ${c.warmup} warm-up; ` +
      `uncontended: ${c.pairs} pairs; median of ${c.reps} runs`,
  );
  const w = Math.max(...t.rows.map((r) => r.label.length)) + 2;
  const head = `   ${"row".padEnd(w)}${"median".padStart(9)}  ${"unit".padEnd(5)} samples`;
  lines.push(head);
  lines.push(`   ${"-".repeat(head.length - 3)}`);
  for (const r of t.rows) {
    const samples = r.samples.map((s) => fmt(s)).join(", ") +
      (r.errors.length ? `  (${r.errors.length} failed: ${r.errors[0]})` : "");
    lines.push(
      `   ${r.label.padEnd(w)}${fmt(r.median).padStart(9)}  ${r.unit.padEnd(5)} ${samples}`,
    );
  }
  lines.push("");
  const rw = Math.max(...t.verdicts.map((r) => r.name.length)) + 2;
  lines.push(`   ${"measure".padEnd(rw)}${"value".padStart(7)}  ${"target".padEnd(7)} verdict`);
  lines.push(`   ${"-".repeat(rw + 24)}`);
  for (const r of t.verdicts) {
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
  return lines.join("\n");
}

async function compileHelpers(): Promise<void> {
  await Deno.mkdir(BIN, { recursive: true });
  const src = new URL("sem_pingpong.c", HERE).pathname;
  const out = await new Deno.Command("cc", {
    args: ["-O2", "-Wall", "-o", bin("sem_pingpong"), src],
    stdout: "inherit",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`cc -O2 sem_pingpong.c failed (exit ${out.code})`);
}

function envInfo(): Record<string, unknown> {
  // Deno 2.9 wants --allow-all to read /proc: go through libc, as the tests do.
  const read = (p: string) => readProcText(p) ?? "";
  const cpuinfo = read("/proc/cpuinfo");
  return {
    deno: Deno.version.deno,
    kernel: read("/proc/sys/kernel/osrelease").trim(),
    cpuModel: /^model name\s*:\s*(.*)$/m.exec(cpuinfo)?.[1] ?? "unknown",
    cpus: navigator.hardwareConcurrency,
    sem: read("/proc/sys/kernel/sem").trim().split(/\s+/).join(" "),
  };
}

async function main(): Promise<number> {
  const { values } = parseArgs({
    args: Deno.args,
    options: {
      role: { type: "string" },
      peer: { type: "string", default: "deno" },
      id: { type: "string" },
      rounds: { type: "string" },
      warmup: { type: "string" },
      "max-ms": { type: "string" },
      pairs: { type: "string" },
      reps: { type: "string" },
      quick: { type: "boolean", default: false },
      json: { type: "string" },
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

  // Child roles print one JSON line and exit.
  if (values.role !== undefined) {
    let r: unknown;
    switch (values.role) {
      case "ping":
        r = await rolePing(
          values.peer!,
          int(values.rounds, 20000),
          int(values.warmup, 2000),
          int(values["max-ms"], 2000),
        );
        break;
      case "pong":
        await rolePong(int(values.id, -1));
        return 0;
      case "uncontended":
      case "uncontended-try":
        r = await roleUncontended(int(values.pairs, 1_000_000), values.role.endsWith("try"));
        break;
      default:
        throw new Error(`Unknown role ${values.role}`);
    }
    console.log(JSON.stringify(r));
    return 0;
  }

  const quick = values.quick!;
  const c: Config = {
    rounds: int(values.rounds, quick ? 3000 : 20000),
    warmup: int(values.warmup, quick ? 500 : 2000),
    maxMs: int(values["max-ms"], quick ? 500 : 1500),
    pairs: int(values.pairs, quick ? 200_000 : 1_000_000),
    reps: Math.max(3, int(values.reps, 5)),
    timeoutMs: quick ? 30_000 : 60_000,
  };
  const log = (s: string) => console.error(s);
  const onSignal = () => {
    for (const g of live) killGroup(g);
    Deno.exit(130);
  };
  Deno.addSignalListener("SIGINT", onSignal);
  Deno.addSignalListener("SIGTERM", onSignal);
  try {
    const started = performance.now();
    const env = envInfo();
    console.log(`# sysipc semaphore benchmark`);
    console.log(`command: ${COMMAND}${quick ? " --quick" : ""}`);
    console.log(`deno ${env.deno}, kernel ${env.kernel}, ${env.cpus}× ${env.cpuModel}`);
    await compileHelpers();
    log(`compiled bench/sem_pingpong.c with cc -O2 into ${BIN.pathname}`);
    const tables: Table[] = [];
    for (const cpus of ["0,1", "0"]) {
      log(`measuring with taskset -c ${cpus} …`);
      const t = await measureTable(cpus, c, log);
      tables.push(t);
      console.log(renderTable(t, c));
    }
    const seconds = (performance.now() - started) / 1000;
    console.log(`\ntotal ${seconds.toFixed(1)} s`);
    if (values.json !== undefined) {
      const doc = {
        command: COMMAND + (quick ? " --quick" : ""),
        date: new Date().toISOString(),
        env,
        config: c,
        tables,
        seconds,
      };
      await Deno.writeTextFile(values.json, JSON.stringify(doc, null, 2) + "\n");
      console.log(`wrote ${values.json}`);
    }
    return 0;
  } finally {
    for (const g of live) killGroup(g);
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
