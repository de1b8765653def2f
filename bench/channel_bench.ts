/**
 * Channel benchmark: sysipc's `Channel` on Deno, Node and Bun, against C
 * over the same kind of shared memory, our own pipes, and the message
 * channels the runtimes themselves offer (issue 11, item 5).
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/channel_bench.ts
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/channel_bench.ts --quick
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/channel_bench.ts --runtimes deno --pinnings 0,1
 * ```
 *
 * (also `deno task bench:channel`). Options as in `bench/pipe_bench.ts`
 * (`--quick`, `--json PATH`, `--reps N`, `--rounds N`, `--max-ms`,
 * `--warmup N`, `--warmup-ms MS`, `--runtimes`, `--pinnings`, `--node`,
 * `--bun`, `--node-lib`), plus `--mib N` (MiB streamed per run, default
 * 1024, 256 with `--quick`) and `--messages N` (64-byte messages per
 * one-way run, default 1 000 000, 100 000 with `--quick`).
 *
 * It compiles `bench/channel_ring.c` and `bench/futex_pingpong.c` with
 * `cc -O2` into `bench/bin/` (gitignored), then measures, in one run:
 *
 * 1. Streaming (GB/s) `--mib` in 64 KiB messages one way, the clock at the
 *    receiver from the first message to the last: C ↔ C over a channel
 *    (`channel_ring self`: memfd, fork, both sides written from
 *    `channel/LAYOUT.md` — the same bytes, records, futex words and wake
 *    rules as ours, so it doubles as a check of the document; the consumer
 *    copies each message out, a waiting producer asks for half the ring);
 *    X `send()` → X `receiveView()`/`release()` (the bytes are not read) and
 *    → X `receive()` (a copy), X being a child of the same runtime; Deno
 *    `send()` → the C consumer (`channel_ring sink`); and our own pipe,
 *    `PipeEnd.write()` → `PipeEnd.read()` (64 KiB pipe, the kernel's
 *    default), parent and child of the same runtime. Goals: ours ≥ 3× our
 *    pipe and ≥ 10 GB/s with two CPUs, ≥ 8 GB/s on one; ≥ 0.7× C.
 * 2. 64-byte round trips (µs): C ↔ C (`futex_pingpong`: two slots in a
 *    shared page, a 10 µs spin where the two may run side by side — as
 *    ours does — then FUTEX_WAIT); X ↔ X over our Channel (`send()` then
 *    `await receive()`; the child answers with the message it received);
 *    Node `child_process.fork` + `process.send`; Bun `Bun.spawn({ ipc })`;
 *    a Deno child echoing its stdin to its stdout through `Deno.Command`.
 *    Goals: ≤ 2 µs with two CPUs, ≤ 15 µs on one; ≤ 0.05× Node's
 *    `process.send`.
 * 3. 64-byte messages one way (million per second): C ↔ C (`channel_ring`
 *    with 64-byte messages) and X → X (`send()` × N, `receive()` × N).
 * 4. Futex calls in that one-way run, each side's (wait + wake) per 1000
 *    messages, from the library's internal `futexCalls` (`channel/_sys.ts`).
 *    Goal: ≤ 10 per 1000 (0.01 a message) with two CPUs.
 *
 * The measuring side is `bench/roles/channel_roles.mjs`, one
 * plain-JavaScript file every runtime runs; under the `0|1` pinning the peer
 * it starts (child, C program) gets CPU 1. Goals for two CPUs are judged
 * in the `0,1` and `0|1` tables, for one CPU in the `0` table (elsewhere
 * such a check shows its value with verdict `n/a`).
 *
 * @module
 */
import {
  bin,
  type Check,
  type Config,
  describeRoundTrips,
  int,
  LABEL,
  main,
  microsPer,
  type Pinning,
  roundTripArgs,
  type Row,
  type RuntimeName,
} from "./_harness.ts";

const ROLES = new URL("./roles/channel_roles.mjs", import.meta.url).pathname;
const CHUNK = 65536;
const MSG = 64;
const CAPACITY = 1 << 20;
const MiB = 1024 ** 2;

interface Own {
  /** Bytes per streaming run. */
  bytes: number;
  /** 64-byte messages per one-way run. */
  messages: number;
}
type C = Config<Own>;

/** GB/s from a streaming result `{ bytes, timedBytes, ns }` (bytes per ns). */
function rate(r: unknown, c: C): number {
  const { bytes, timedBytes, ns } = r as { bytes: number; timedBytes: number; ns: number };
  if (bytes !== c.bytes) throw new Error(`moved ${bytes} bytes, expected ${c.bytes}`);
  if (!(ns > 0)) throw new Error(`no time: ${JSON.stringify(r)}`);
  return timedBytes / ns;
}

interface OneWay {
  messages: number;
  ns: number;
  futex: Record<"tx" | "rx", { wait: number; wake: number }>;
}

function oneWay(r: unknown, c: C): OneWay {
  const x = r as OneWay;
  if (x.messages !== c.messages || !(x.ns > 0) || x.futex?.tx === undefined) {
    throw new Error(`bad result ${JSON.stringify(r)}`);
  }
  return x;
}

/** Million messages per second (the first message starts the clock). */
const perSecond = (r: unknown, c: C) => {
  const x = oneWay(r, c);
  return (x.messages - 1) / x.ns * 1000;
};

/** A side's futex calls per 1000 messages (the goal, 0.01 a message, is 10). */
const futexPer = (side: "tx" | "rx") => (r: unknown, c: C) => {
  const x = oneWay(r, c);
  return (x.futex[side].wait + x.futex[side].wake) / x.messages * 1000;
};

const stream = { unit: "GB/s", sample: rate };
const roundtrip = { unit: "µs", sample: microsPer("rounds") };
const info = { target: "(info)" };
const atLeast = (x: number, unit = "×") => ({
  target: `≥ ${x}${unit}`,
  ok: (v: number) => v >= x,
});
const atMost = (x: number, unit = "×") => ({
  target: `≤ ${x}${unit}`,
  ok: (v: number) => v <= x,
});

/** Each runtime's own message channel to a child, where it has one. */
const NATIVE: Record<RuntimeName, { peer: string; label: string }> = {
  deno: { peer: "deno-stdio", label: "Deno ↔ Deno (Deno.Command stdin/stdout)" },
  node: { peer: "node-ipc", label: "Node ↔ Node (fork + process.send)" },
  bun: { peer: "bun-ipc", label: "Bun ↔ Bun (Bun.spawn ipc + send)" },
};

/** The tables that judge the goals for two CPUs, and for one. */
const TWO = ["0,1", "0|1"];
const ONE = ["0"];

await main<Own>({
  name: "channel",
  url: import.meta.url,
  runtimes: true,
  roundTrips: true,
  reps: [3, 3],
  timeoutMs: [120_000, 60_000],
  options: ["mib", "messages"],
  config: (v, quick) => ({
    bytes: int(v.mib, quick ? 256 : 1024) * MiB,
    messages: int(v.messages, quick ? 100_000 : 1_000_000, 2),
  }),
  peers: ["channel_ring", "futex_pingpong"],
  facts: () =>
    Promise.resolve({
      header: [`chunk ${CHUNK} B, capacity ${CAPACITY / 1024} KiB per direction`],
    }),
  describe: (c) =>
    `stream: ${c.bytes / MiB} MiB per run in ${CHUNK / 1024} KiB messages; ` +
    `one way: ${c.messages} × ${MSG} B; round trip: ${MSG} B, ${describeRoundTrips(c)}; ` +
    `median of ${c.reps} runs; spread = (max − min) / median`,

  rows: ({ selected, each, role }) => {
    const ring = (bytes: (c: C) => number, chunk: number) => (c: C, pin: Pinning): string[] => [
      bin("channel_ring"),
      "self",
      String(bytes(c)),
      String(chunk),
      String(CAPACITY),
      pin.peerCpus ?? "-1",
    ];
    const streamArgs = (c: C) => ["--bytes", String(c.bytes), "--chunk", String(CHUNK)];
    const deno: Row<C>[] = selected.includes("deno")
      ? [{
        id: "stream_deno_c",
        label: "Deno send → C sink (LAYOUT.md)",
        ...stream,
        runtime: "deno",
        argv: (c, pin) => role("deno", ROLES, pin, ["stream-c", ...streamArgs(c)]),
      }]
      : [];
    return [
      {
        id: "stream_c",
        label: "C → C channel ring (LAYOUT.md)",
        ...stream,
        argv: ring((c) => c.bytes, CHUNK),
      },
      ...each((rt, L) => ({
        id: `stream_${rt}_view`,
        label: `${L} send → receiveView/release`,
        ...stream,
        runtime: rt,
        argv: (c: C, pin: Pinning) =>
          role(rt, ROLES, pin, ["stream", "--via", "view", ...streamArgs(c)]),
      })),
      ...each((rt, L) => ({
        id: `stream_${rt}_copy`,
        label: `${L} send → receive (copy)`,
        ...stream,
        runtime: rt,
        argv: (c: C, pin: Pinning) =>
          role(rt, ROLES, pin, ["stream", "--via", "copy", ...streamArgs(c)]),
      })),
      ...deno,
      ...each((rt, L) => ({
        id: `stream_${rt}_pipe`,
        label: `${L} pipe write → read (ours)`,
        ...stream,
        runtime: rt,
        argv: (c: C, pin: Pinning) => role(rt, ROLES, pin, ["stream-pipe", ...streamArgs(c)]),
      })),
      {
        id: "rt_c",
        label: "C ↔ C futex ping-pong",
        ...roundtrip,
        argv: (c, pin) => [
          bin("futex_pingpong"),
          "self",
          String(c.rounds),
          String(MSG),
          String(c.warmup),
          String(c.maxMs),
          pin.peerCpus ?? "-1",
        ],
      },
      ...each((rt, L) => ({
        id: `rt_${rt}`,
        label: `${L} ↔ ${L} Channel`,
        ...roundtrip,
        runtime: rt,
        argv: (c: C, pin: Pinning) =>
          role(rt, ROLES, pin, ["ping", "--peer", "self", ...roundTripArgs(c)]),
      })),
      ...each((rt) => ({
        id: `rt_${rt}_native`,
        label: NATIVE[rt].label,
        ...roundtrip,
        runtime: rt,
        argv: (c: C, pin: Pinning) =>
          role(rt, ROLES, pin, ["ping", "--peer", NATIVE[rt].peer, ...roundTripArgs(c)]),
      })),
      {
        id: "small_c",
        label: "C → C 64 B messages (M/s)",
        unit: "M/s",
        sample: (r: unknown, c: C) => {
          const x = r as { messages: number; ns: number };
          if (x.messages !== c.messages) throw new Error(`bad result ${JSON.stringify(r)}`);
          return (x.messages - 1) / x.ns * 1000;
        },
        argv: ring((c) => c.messages * MSG, MSG),
      },
      ...each((rt, L) => ({
        id: `small_${rt}`,
        label: `${L} → ${L} 64 B messages (M/s)`,
        unit: "M/s",
        sample: perSecond,
        runtime: rt,
        argv: (c: C, pin: Pinning) =>
          role(rt, ROLES, pin, ["small", "--messages", String(c.messages)]),
      })),
      ...(["tx", "rx"] as const).flatMap((side) =>
        each((rt, L) => ({
          id: `futex_${rt}_${side}`,
          label: `${L} futex calls / 1000 msgs, ${side === "tx" ? "sender" : "receiver"}`,
          unit: "/1k",
          sample: futexPer(side),
          runtime: rt,
          argv: (c: C, pin: Pinning) =>
            role(rt, ROLES, pin, ["small", "--messages", String(c.messages)]),
        }))
      ),
    ];
  },

  checksTitle: "measure",
  checks: (selected) => {
    const checks: Check[] = [];
    for (const rt of selected) {
      const L = LABEL[rt];
      checks.push(
        {
          name: `stream ${L} view, GB/s (2 CPUs)`,
          of: `stream_${rt}_view`,
          ...atLeast(10, ""),
          pinnings: TWO,
        },
        {
          name: `stream ${L} view, GB/s (1 CPU)`,
          of: `stream_${rt}_view`,
          ...atLeast(8, ""),
          pinnings: ONE,
        },
        {
          name: `stream ${L} view / ${L} pipe (2 CPUs)`,
          of: `stream_${rt}_view`,
          over: `stream_${rt}_pipe`,
          ...atLeast(3),
          pinnings: TWO,
        },
        {
          name: `stream ${L} view / C ring`,
          of: `stream_${rt}_view`,
          over: "stream_c",
          ...atLeast(0.7),
        },
        {
          name: `stream ${L} copy / C ring`,
          of: `stream_${rt}_copy`,
          over: "stream_c",
          ...atLeast(0.7),
        },
        {
          name: `stream ${L} copy / ${L} pipe`,
          of: `stream_${rt}_copy`,
          over: `stream_${rt}_pipe`,
          ...info,
        },
      );
    }
    if (selected.includes("deno")) {
      checks.push({
        name: "stream Deno → C sink / C ring",
        of: "stream_deno_c",
        over: "stream_c",
        ...info,
      });
    }
    for (const rt of selected) {
      const L = LABEL[rt];
      checks.push(
        {
          name: `round trip ${L}↔${L}, µs (2 CPUs)`,
          of: `rt_${rt}`,
          ...atMost(2, " µs"),
          pinnings: TWO,
        },
        {
          name: `round trip ${L}↔${L}, µs (1 CPU)`,
          of: `rt_${rt}`,
          ...atMost(15, " µs"),
          pinnings: ONE,
        },
        { name: `round trip ${L}↔${L} / C↔C`, of: `rt_${rt}`, over: "rt_c", ...info },
      );
    }
    if (selected.includes("node")) {
      checks.push({
        name: "round trip Node Channel / fork+process.send",
        of: "rt_node",
        over: "rt_node_native",
        ...atMost(0.05),
      });
    }
    for (const rt of selected.filter((r) => r !== "node")) {
      checks.push({
        name: `round trip ${LABEL[rt]} Channel / ${rt === "bun" ? "Bun ipc" : "Deno stdio"}`,
        of: `rt_${rt}`,
        over: `rt_${rt}_native`,
        ...info,
      });
    }
    for (const rt of selected) {
      checks.push({
        name: `64 B one way: ${LABEL[rt]} / C`,
        of: `small_${rt}`,
        over: "small_c",
        ...info,
      });
    }
    for (const rt of selected) {
      for (const side of ["tx", "rx"] as const) {
        checks.push({
          name: `futex calls/1000 msgs ${LABEL[rt]} ${
            side === "tx" ? "sender" : "receiver"
          } (2 CPUs)`,
          of: `futex_${rt}_${side}`,
          ...atMost(10, ""),
          pinnings: TWO,
        });
      }
    }
    return checks;
  },
});
