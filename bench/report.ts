/**
 * The benchmark report: runs every `bench/*_bench.ts` one after another
 * with `--json`, then writes `bench/REPORT.md` and one SVG bar chart per
 * benchmark and pinning in `bench/report/` — ratios to C, drawn by
 * `bench/_report.ts` (no chart service, no chart package).
 *
 * ```sh
 * deno task bench:report              # 14 min on a 2-core VM
 * deno task bench:report --quick      # 3 min: the benchmarks' --quick, pinning 0|1 only
 * deno task bench:report --full       # the benchmarks' own defaults, every pinning (40 min or more)
 * deno task bench:report --only pipe,sem --keep /tmp/json   # some benchmarks; keep the JSON
 * deno task bench:report --from /tmp/json                   # redraw from kept JSON, no run
 * ```
 *
 * Benchmarks are found by name (`bench/<key>_bench.ts`), so a new one is
 * in the report without an edit here; each says which options it takes
 * (`--options`, see `bench/_harness.ts`), and the report passes only those.
 * The default run gives every benchmark its own sizes within a budget
 * ({@linkcode BUDGET}, by option, to whichever benchmark takes it): 3 runs
 * per row, the pinnings `0` (one CPU) and `0|1` (one CPU each side) — the
 * two placements that measure something definite; `0,1` leaves the
 * placement to the scheduler — round trips timed for at most 1 s per run
 * (after the usual warm-up) and idle receives watched for 3 s. With the
 * benchmarks' own defaults and those pinnings it took 25 minutes here, the
 * queues' 10 s idle rows a quarter of it. `--quick` passes `--quick` and
 * pinning `0|1`; `--full` passes nothing extra. `--out PATH` writes the
 * report elsewhere (the charts go in `report/` beside it).
 *
 * @module
 */
import { parseArgs } from "node:util";
import { basename, dirname, join, relative } from "node:path";
import { type BenchDoc, buildReport, type Family } from "./_report.ts";

const BENCH = new URL(".", import.meta.url).pathname;
const ROOT = join(BENCH, "..");
const PERMS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-run", "--allow-env"];
const CHART_DIR = "report";

const { values } = parseArgs({
  args: Deno.args,
  options: {
    quick: { type: "boolean", default: false },
    full: { type: "boolean", default: false },
    only: { type: "string" },
    from: { type: "string" },
    keep: { type: "string" },
    out: { type: "string" },
  },
  strict: true,
});
if (values.quick && values.full) throw new RangeError("--quick and --full exclude each other");

/** `bench/<key>_bench.ts`, sorted by key, or those named with `--only`. */
async function discover(): Promise<{ key: string; file: string }[]> {
  const found: { key: string; file: string }[] = [];
  for await (const e of Deno.readDir(BENCH)) {
    const m = /^([a-z0-9]+)_bench\.ts$/.exec(e.name);
    if (e.isFile && m) found.push({ key: m[1], file: join(BENCH, e.name) });
  }
  found.sort((a, b) => a.key.localeCompare(b.key));
  if (values.only === undefined) return found;
  const wanted = values.only.split(",").map((s) => s.trim()).filter(Boolean);
  const unknown = wanted.filter((w) => !found.some((f) => f.key === w));
  if (unknown.length) {
    throw new RangeError(
      `--only: no bench/${unknown[0]}_bench.ts (there are ${found.map((f) => f.key).join(", ")})`,
    );
  }
  return found.filter((f) => wanted.includes(f.key));
}

/** The first paragraph of a file's module doc, on one line. */
function aboutOf(source: string): string {
  const doc = /^\s*\/\*\*([\s\S]*?)\*\//.exec(source)?.[1] ?? "";
  const text = doc.split("\n").map((l) => l.replace(/^\s*\* ?/, "")).join("\n").trim();
  return text.split(/\n\s*\n/)[0].replace(/\s*\n\s*/g, " ");
}

/** The options a benchmark takes (`--options`). */
async function optionsOf(file: string): Promise<string[]> {
  const out = await new Deno.Command(Deno.execPath(), {
    args: ["run", ...PERMS, file, "--options"],
    stdout: "piped",
    stderr: "inherit",
  }).output();
  if (!out.success) throw new Error(`${basename(file)} --options failed (exit ${out.code})`);
  const line = new TextDecoder().decode(out.stdout).trim().split("\n").at(-1) ?? "";
  return (JSON.parse(line) as { options: string[] }).options;
}

/** The arguments the report gives a benchmark, from the options it takes. */
function argsFor(options: string[]): string[] {
  const args: string[] = [];
  const has = (o: string) => options.includes(o);
  if (values.quick) {
    if (has("quick")) args.push("--quick");
    if (has("pinnings")) args.push("--pinnings", "0|1");
  } else if (!values.full) {
    for (const [option, value] of Object.entries(BUDGET)) {
      if (has(option)) args.push(`--${option}`, value);
    }
  }
  return args;
}

/** The default run's settings, by option: 14 minutes on a 2-core VM (25 without). */
const BUDGET: Readonly<Record<string, string>> = {
  reps: "3",
  pinnings: "0 0|1",
  "max-ms": "1000",
  "idle-ms": "3000",
};

async function readDoc(path: string): Promise<BenchDoc | null> {
  try {
    return JSON.parse(await Deno.readTextFile(path)) as BenchDoc;
  } catch {
    return null;
  }
}

const started = new Date();
const t0 = performance.now();
const benches = await discover();
const jsonDir = values.from ?? values.keep ?? await Deno.makeTempDir({ prefix: "sysipc_report_" });
await Deno.mkdir(jsonDir, { recursive: true });
const families: Family[] = [];
let failed = false;
try {
  for (const { key, file } of benches) {
    const script = relative(ROOT, file);
    const about = aboutOf(await Deno.readTextFile(file));
    const json = join(jsonDir, `${key}.json`);
    if (values.from !== undefined) {
      const doc = await readDoc(json);
      families.push({ key, script, about, doc, failure: doc ? undefined : `no ${json}` });
      continue;
    }
    await Deno.remove(json).catch(() => {});
    const args = [...argsFor(await optionsOf(file)), "--json", json];
    console.error(`\n=== ${script} ${args.join(" ")}`);
    const run = await new Deno.Command(Deno.execPath(), {
      args: ["run", ...PERMS, file, ...args],
      cwd: ROOT,
      stdin: "null",
      stdout: "inherit",
      stderr: "inherit",
    }).output();
    const doc = await readDoc(json);
    const failure = run.success
      ? undefined
      : doc
      ? `exit code ${run.code}: a row gave no result (see its table)`
      : `exit code ${run.code}, no results`;
    if (failure) failed = true;
    families.push({ key, script, about, doc, failure });
  }
} finally {
  if (values.from === undefined && values.keep === undefined) {
    await Deno.remove(jsonDir, { recursive: true });
  }
}

const out = values.out ?? join(BENCH, "REPORT.md");
const chartDir = join(dirname(out), CHART_DIR);
const fromDocs = families.flatMap((f) => f.doc ? [f.doc] : []);
const { markdown, charts } = buildReport({
  families,
  command: ["deno task bench:report", ...Deno.args].join(" "),
  date: values.from === undefined
    ? started.toISOString()
    : fromDocs.map((d) => d.date).sort()[0] ?? started.toISOString(),
  seconds: values.from === undefined
    ? (performance.now() - t0) / 1000
    : fromDocs.reduce((s, d) => s + d.seconds, 0),
  chartDir: CHART_DIR,
});
// The charts of this report only: none left from a benchmark or pinning that is gone.
await Deno.mkdir(chartDir, { recursive: true });
for await (const e of Deno.readDir(chartDir)) {
  if (e.isFile && e.name.endsWith(".svg")) await Deno.remove(join(chartDir, e.name));
}
for (const c of charts) await Deno.writeTextFile(join(dirname(out), c.path), c.svg);
await Deno.writeTextFile(out, markdown + "\n");
console.error(
  `\nwrote ${relative(Deno.cwd(), out)} and ${charts.length} charts in ${
    relative(Deno.cwd(), chartDir)
  }/ (${((performance.now() - t0) / 1000).toFixed(0)} s)`,
);
if (failed) Deno.exit(1);
