// The benchmark report's generator (bench/_report.ts): a fixed sample of a
// benchmark's --json output in; cases, ratios, SVG bars and Markdown out.
// No benchmark runs here and no figure is measured.
import assert from "node:assert/strict";
import { spawnSync } from "node:child_process";
import {
  type BenchDoc,
  buildReport,
  cases,
  chartSvg,
  type ReportRow,
  type ReportTable,
  scaleFor,
  shortLabels,
} from "../bench/_report.ts";
import { test } from "./_support/runtime.ts";

function row(
  id: string,
  unit: string,
  samples: number[],
  more: Partial<ReportRow> = {},
): ReportRow {
  const s = [...samples].sort((a, b) => a - b);
  const median = s.length ? s[s.length >> 1] : null;
  return {
    id,
    label: more.label ?? `case: ${id}`,
    unit,
    samples,
    median,
    spread: median ? (s[s.length - 1] - s[0]) / median : null,
    errors: [],
    ...more,
  };
}

/** Two cases in benchmark order, a row naming its peer out of order, one row without a peer. */
function sampleTable(): ReportTable {
  return {
    cpus: "0|1",
    pinning: "taskset -c 0 for the measuring process, -c 1 for the peer",
    rows: [
      row("rt_c", "µs", [10, 11, 12], { label: "round trip: C ↔ C <&>" }),
      row("rt_deno", "µs", [22, 20, 24], { runtime: "deno", label: "round trip: Deno ↔ Deno" }),
      row("rt_node", "µs", [], { runtime: "node", skipped: "skipped: node not installed" }),
      row("rt_bun", "µs", [], { runtime: "bun", errors: ["exit code 1"] }),
      row("gb_c", "GB/s", [4, 4, 4]),
      row("gb_bun", "GB/s", [2, 3, 2], { runtime: "bun" }),
      row("gb_c_fresh", "GB/s", [1, 1, 1], { peer: "rt_c_unknown" }),
      row("gb_deno", "GB/s", [8, 8, 8], { runtime: "deno", peer: "gb_c" }),
      row("idle", "% CPU", [0.1, 0.2, 0.1], { runtime: "deno" }),
    ],
    ratios: [
      { name: "round trip: Deno / C", value: 2, target: "≤ 1.5×", pass: false },
      { name: "rate: Bun / C", value: 0.5, target: "≥ 0.4×", pass: true },
      { name: "idle", value: 0.1, target: "(info)", pass: true },
    ],
  };
}

/** Parses the SVG with Python's XML parser: throws unless it is well-formed XML. */
function assertWellFormed(svg: string): void {
  const r = spawnSync(
    "python3",
    ["-c", "import sys, xml.dom.minidom; xml.dom.minidom.parseString(sys.stdin.buffer.read())"],
    { input: svg },
  );
  assert.equal(r.status, 0, `not well-formed XML: ${r.stderr}`);
}

/** Every `<rect class="bar" …>`: its x and width. */
function bars(svg: string): { x: number; width: number; title: string }[] {
  return [
    ...svg.matchAll(/<rect class="bar" x="([\d.]+)" [^>]*width="([\d.]+)"[^>]*><title>([^<]*)</g),
  ]
    .map((m) => ({ x: Number(m[1]), width: Number(m[2]), title: m[3] }));
}

test("report: rows group into cases by their C peer, and each ratio is over that peer", () => {
  const cs = cases(sampleTable().rows);
  assert.deepEqual(
    cs.map((c) => [c.peer?.id ?? null, c.bars.map((b) => b.row.id)]),
    [
      ["rt_c", ["rt_c", "rt_deno", "rt_node", "rt_bun"]],
      ["gb_c", ["gb_c", "gb_bun", "gb_deno"]],
      // A peer that names no row in the table is a C row of its own.
      ["gb_c_fresh", ["gb_c_fresh"]],
      [null, ["idle"]],
    ],
  );
  const ratio = (id: string) => cs.flatMap((c) => c.bars).find((b) => b.row.id === id)!;
  assert.equal(ratio("rt_c").ratio, 1);
  assert.equal(ratio("rt_deno").ratio, 2);
  assert.equal(ratio("rt_deno").low, 20 / 11);
  assert.equal(ratio("rt_deno").high, 24 / 11);
  assert.equal(ratio("rt_node").ratio, null);
  assert.equal(ratio("rt_bun").ratio, null);
  assert.equal(ratio("gb_bun").ratio, 0.5);
  assert.equal(ratio("gb_deno").ratio, 2); // named its peer after another C row came between
  assert.equal(ratio("idle").ratio, null);
});

test("report: the chart has one bar per measured row, lengths in proportion, valid XML", () => {
  const svg = chartSvg(sampleTable(), { title: "Sample <1>", subtitle: "a & b" });
  assertWellFormed(svg);
  assert.match(
    svg,
    /^<\?xml version="1.0" encoding="UTF-8"\?>\n<svg xmlns="http:\/\/www.w3.org\/2000\/svg"/,
  );
  const drawn = bars(svg);
  // rt_c, rt_deno, gb_c, gb_bun, gb_c_fresh, gb_deno: the skipped, failed and peerless rows have none.
  assert.equal(drawn.length, 6);
  assert.deepEqual(drawn.map((b) => b.title.split(":")[0]), [
    "round trip",
    "round trip",
    "case",
    "case",
    "case",
    "case",
  ]);
  // Ratios 1, 2, 1, 0.5, 1, 2 span 4×: a linear scale from 0, so widths go as the ratios.
  assert.match(svg, /linear scale/);
  const [c, deno, gb, bun] = drawn;
  assert.ok(Math.abs(deno.width / c.width - 2) < 0.01, `${deno.width} vs ${c.width}`);
  assert.ok(Math.abs(bun.width / gb.width - 0.5) < 0.01);
  // The C bar ends on the dashed 1× line.
  const one = /<line class="one" x1="([\d.]+)"/.exec(svg);
  assert.ok(one);
  assert.ok(Math.abs(c.x + c.width - Number(one[1])) < 0.2, `${c.x + c.width} vs ${one[1]}`);
  // What did not run says why, and the labels are escaped.
  assert.match(svg, /skipped: node not installed/);
  assert.match(svg, /failed: exit code 1/);
  assert.match(svg, /C ↔ C &lt;&amp;&gt;/);
  assert.match(svg, /2\.00×/);
  assert.match(svg, /22\.0 µs/);
});

test("report: ratios spanning more than 20× go on a log scale", () => {
  const t = sampleTable();
  t.rows = [
    row("c", "µs", [1, 1, 1]),
    row("fast", "µs", [0.02, 0.02, 0.02], { runtime: "deno" }),
    row("slow", "µs", [3, 3, 3], { runtime: "node" }),
  ];
  const svg = chartSvg(t, { title: "log", subtitle: "" });
  assertWellFormed(svg);
  assert.match(svg, /log scale/);
  const [c, fast, slow] = bars(svg);
  // Equal steps per factor: 1 → 3 is log10(3) decades, 0.02 → 1 is log10(50).
  const perDecade = (slow.width - c.width) / Math.log10(3);
  assert.ok(Math.abs((c.width - fast.width) / perDecade - Math.log10(50)) < 0.01);
  const s = scaleFor([0.02, 3]);
  assert.equal(s.log, true);
  assert.equal(s.min, 0.02);
  assert.equal(s.max, 5);
  assert.ok(s.ticks.includes(1));
  assert.equal(scaleFor([0.5, 3]).log, false);
});

test("report: labels lose the prefix their case shares up to a colon", () => {
  assert.deepEqual(shortLabels(["System V round trip: C ↔ C", "System V round trip: Deno ↔ C"]), [
    "C ↔ C",
    "Deno ↔ C",
  ]);
  assert.deepEqual(shortLabels(["C writer → C reader", "C writer → Deno read"]), [
    "C writer → C reader",
    "C writer → Deno read",
  ]);
});

test("report: the Markdown has the machine, a chart per table, the figures and the verdicts", () => {
  const doc: BenchDoc = {
    name: "sample",
    command: "deno run bench/sample_bench.ts --json x.json",
    date: "2026-12-04T08:00:00.000Z",
    env: {
      cpuModel: "Test CPU 9000",
      cpus: 2,
      kernel: "6.1.0",
      deno: "2.9.6",
      runtimes: ["deno 2.9.6"],
    },
    config: {},
    tables: [sampleTable(), { ...sampleTable(), cpus: "0" }],
    seconds: 12,
  };
  const { markdown, charts } = buildReport({
    families: [
      { key: "sample", script: "bench/sample_bench.ts", about: "A sample.", doc },
      {
        key: "broken",
        script: "bench/broken_bench.ts",
        about: "Fails.",
        doc: null,
        failure: "exit code 1, no results",
      },
    ],
    command: "deno task bench:report --quick",
    date: "2026-12-04T08:00:00.000Z",
    seconds: 100,
    chartDir: "report",
  });
  assert.deepEqual(charts.map((c) => c.path), [
    "report/sample-cpu0_peer1.svg",
    "report/sample-cpu0.svg",
  ]);
  for (const c of charts) assertWellFormed(c.svg);
  for (const c of charts) assert.ok(markdown.includes(`](${c.path})`), c.path);
  for (const fact of ["Test CPU 9000", "6.1.0", "deno 2.9.6", "deno task bench:report --quick"]) {
    assert.ok(markdown.includes(fact), fact);
  }
  assert.match(markdown, /^## Sample$/m);
  assert.match(markdown, /^## Broken$/m);
  assert.match(markdown, /exit code 1, no results/);
  assert.match(
    markdown,
    /\| round trip: Deno ↔ Deno \| 22\.0 µs \| 18 % \| 2\.00× \| 22\.0, 20\.0, 24\.0 \|/,
  );
  assert.match(markdown, /\| \*\*round trip: C ↔ C <&>\*\* \| 11\.0 µs \|/);
  assert.match(markdown, /\| round trip: Deno \/ C \| 2\.00 \| ≤ 1\.5× \| \*\*missed\*\* \|/);
  assert.match(markdown, /\| rate: Bun \/ C \| 0\.50 \| ≥ 0\.4× \| met \|/);
  // Goals over both pinnings: 2 met, 2 missed, 2 without a target.
  assert.match(markdown, /\| \[Sample\]\(#sample\) \| 2 \| 2 \| 0 \| 2 \|/);
});
