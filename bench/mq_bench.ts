/**
 * Message queue benchmark: sysipc's System V `MessageQueue` and POSIX
 * `PosixMessageQueue` on Deno, Node and Bun, against C doing the same calls.
 *
 * Run from the repository root:
 *
 * ```sh
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/mq_bench.ts
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/mq_bench.ts --quick
 * deno run --allow-ffi --allow-read --allow-write --allow-run --allow-env bench/mq_bench.ts --pinnings "0 0|1"
 * ```
 *
 * (also `deno task bench:mq`). Options: `--quick`, `--json PATH`, `--reps N`,
 * `--runtimes deno,node,bun`, `--pinnings "0,1 0 0|1"`, `--node`, `--bun`,
 * `--node-lib`, the round-trip options `--rounds`, `--warmup`, `--warmup-ms`,
 * `--max-ms` (see `bench/_harness.ts`), and its own: `--count N` (messages
 * per one-way run at 64 B; a tenth of that at 8 KiB), `--idle-ms MS` (how
 * long the idle receiver waits) and `--families sysv,posix` (which rows).
 *
 * It compiles `bench/msg_pingpong.c` and `bench/pmq_pingpong.c` with `cc -O2`
 * into `bench/bin/`, then measures, in one run and per pinning:
 *
 * 1. 64-byte round trips (µs), System V (one queue, requests of type 1,
 *    answers of type 2) and POSIX (two queues, there and back): C ↔ C (fork,
 *    blocking calls), X ↔ X (our `send()` / `await receive()`, the peer a
 *    second process of the same runtime), X ↔ C (our side, the C peer);
 *    and both again with `sendSync()`/`receiveSync()` (`--sync`), which block
 *    the thread as C's calls do.
 * 2. One-way messages per second (thousands) at 64 B and 8 KiB, a sender
 *    process to a receiver, for each family: C → C, and X → X.
 * 3. The idle cost: the CPU a whole process uses while one `receive()` waits
 *    `--idle-ms` for a message that never comes (`process.cpuUsage()`,
 *    every thread of the process).
 *
 * The measuring side is `bench/roles/mq_roles.mjs`. Targets (the issue's):
 * round trips ≤ 1.5× C on one CPU (`0`) and ≤ 1× C with two (`0|1`), where
 * spinning before parking beats C's blocking wake-up; one-way rates ≥ 0.8×
 * C; idle < 1 % of a CPU.
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
  roundTripArgs,
  type Row,
} from "./_harness.ts";
import * as lib from "../mod.ts";

const ROLES = new URL("./roles/mq_roles.mjs", import.meta.url).pathname;
const FAMILIES = ["sysv", "posix"] as const;
type Family = typeof FAMILIES[number];
const FAMILY: Record<Family, string> = { sysv: "System V", posix: "POSIX" };
const PEER: Record<Family, string> = { sysv: "msg_pingpong", posix: "pmq_pingpong" };
const SIZES = [64, 8192] as const;

/**
 * `--families sysv,posix`: which families' rows run. By default every family
 * the library exports.
 */
function chosenFamilies(): Family[] {
  const i = Deno.args.indexOf("--families");
  if (i < 0) return FAMILIES.filter((f) => f === "sysv" || "PosixMessageQueue" in lib);
  const picked = (Deno.args[i + 1] ?? "").split(",").filter(Boolean);
  const bad = picked.filter((f) => !(FAMILIES as readonly string[]).includes(f));
  if (picked.length === 0 || bad.length > 0) {
    throw new Error(
      `--families takes ${FAMILIES.join(",")} (a comma-separated list), got ${picked}`,
    );
  }
  return picked as Family[];
}
const families = chosenFamilies();

interface Own {
  /** Messages per one-way run at 64 B (a tenth at 8 KiB). */
  count: number;
  /** How long the idle receiver waits (ms). */
  idleMs: number;
}
type C = Config<Own>;

const roundtrip = { unit: "µs", sample: microsPer("rounds") };
/** Thousands of messages per second from `{ messages, ns }`. */
const rate = {
  unit: "k msg/s",
  sample: (r: unknown) => {
    const { messages, ns } = r as { messages: number; ns: number };
    if (!(messages > 0 && ns > 0)) throw new Error("no messages");
    return (messages / ns) * 1e6;
  },
};
const cpu = {
  unit: "% CPU",
  sample: (r: unknown) => {
    const { cpuPercent } = r as { cpuPercent: number };
    if (!(cpuPercent >= 0)) throw new Error("no cpuPercent");
    return cpuPercent;
  },
};
const count = (c: C, bytes: number) => bytes > 1024 ? Math.max(2, c.count / 10) : c.count;
const atMost = (x: number, unit = "×") => ({ target: `≤ ${x}${unit}`, ok: (v: number) => v <= x });
const atLeast = (x: number) => ({ target: `≥ ${x}×`, ok: (v: number) => v >= x });

await main<Own>({
  name: "message queue",
  url: import.meta.url,
  runtimes: true,
  roundTrips: true,
  reps: [3, 3],
  timeoutMs: [90_000, 45_000],
  options: ["count", "idle-ms", "families"],
  config: (v, quick) => ({
    count: int(v.count, quick ? 20_000 : 100_000, 20),
    idleMs: int(v["idle-ms"], quick ? 2_000 : 10_000),
  }),
  peers: ["msg_pingpong", "pmq_pingpong"],
  describe: (c) =>
    `round trip: 64 B, ${describeRoundTrips(c)}; one-way: ${c.count} × 64 B, ` +
    `${count(c, 8192)} × 8 KiB; idle: ${c.idleMs} ms; median of ${c.reps} runs`,

  rows: ({ each, role }) => {
    const rows: Row<C>[] = [];
    for (const f of families) {
      const ping = (peer: string, c: C) => [`${f}-ping`, "--peer", peer, ...roundTripArgs(c)];
      rows.push(
        {
          id: `rt_${f}_c_c`,
          label: `${FAMILY[f]} round trip: C ↔ C`,
          ...roundtrip,
          argv: (c, pin) => [
            bin(PEER[f]),
            "self",
            String(c.rounds),
            "64",
            String(c.warmup),
            String(c.maxMs),
            pin.peerCpus ?? "-1",
          ],
        },
        ...each((rt, L) => ({
          id: `rt_${f}_${rt}_${rt}`,
          label: `${FAMILY[f]} round trip: ${L} ↔ ${L}`,
          ...roundtrip,
          runtime: rt,
          argv: (c, pin) => role(rt, ROLES, pin, ping("self", c)),
        })),
        ...each((rt, L) => ({
          id: `rt_${f}_${rt}_c`,
          label: `${FAMILY[f]} round trip: ${L} ↔ C`,
          ...roundtrip,
          runtime: rt,
          argv: (c, pin) => role(rt, ROLES, pin, ping("c", c)),
        })),
        // The same with sendSync()/receiveSync(): the calls block the thread, as C's do.
        ...each((rt, L) => ({
          id: `rt_${f}_${rt}_${rt}_sync`,
          label: `${FAMILY[f]} round trip: ${L} ↔ ${L} (sync)`,
          ...roundtrip,
          runtime: rt,
          argv: (c, pin) => role(rt, ROLES, pin, [...ping("self", c), "--sync"]),
        })),
        ...each((rt, L) => ({
          id: `rt_${f}_${rt}_c_sync`,
          label: `${FAMILY[f]} round trip: ${L} ↔ C (sync)`,
          ...roundtrip,
          runtime: rt,
          argv: (c, pin) => role(rt, ROLES, pin, [...ping("c", c), "--sync"]),
        })),
      );
    }
    for (const f of families) {
      for (const bytes of SIZES) {
        const kb = bytes > 1024 ? "8 KiB" : "64 B";
        rows.push(
          {
            id: `ow_${f}_${bytes}_c`,
            label: `${FAMILY[f]} one-way ${kb}: C → C`,
            ...rate,
            argv: (c, pin) => [
              bin(PEER[f]),
              "oneway",
              String(count(c, bytes)),
              String(bytes),
              pin.peerCpus ?? "-1",
            ],
          },
          ...each((rt, L) => ({
            id: `ow_${f}_${bytes}_${rt}`,
            label: `${FAMILY[f]} one-way ${kb}: ${L} → ${L}`,
            ...rate,
            runtime: rt,
            argv: (c, pin) =>
              role(rt, ROLES, pin, [
                `${f}-oneway`,
                "--count",
                String(count(c, bytes)),
                "--size",
                String(bytes),
              ]),
          })),
        );
      }
    }
    for (const f of families) {
      rows.push(...each((rt, L) => ({
        id: `idle_${f}_${rt}`,
        label: `${FAMILY[f]} idle receive: ${L}`,
        ...cpu,
        runtime: rt,
        argv: (c, pin) => role(rt, ROLES, pin, ["idle", "--family", f, "--ms", String(c.idleMs)]),
      })));
    }
    return rows;
  },

  checksTitle: "measure (round trips: ≤ 1.5× C on one CPU, ≤ 1× with two)",
  checks: (selected) => {
    const checks: Check[] = [];
    for (const f of families) {
      for (const rt of selected) {
        const L = LABEL[rt];
        checks.push(
          {
            name: `${FAMILY[f]} round trip: ${L}↔${L} / C↔C`,
            of: `rt_${f}_${rt}_${rt}`,
            over: `rt_${f}_c_c`,
            ...atMost(1.5),
          },
          {
            name: `${FAMILY[f]} round trip: ${L}↔C / C↔C`,
            of: `rt_${f}_${rt}_c`,
            over: `rt_${f}_c_c`,
            ...atMost(1.5),
          },
          {
            name: `${FAMILY[f]} round trip sync: ${L}↔${L} / C↔C`,
            of: `rt_${f}_${rt}_${rt}_sync`,
            over: `rt_${f}_c_c`,
            ...atMost(1.5),
          },
          {
            name: `${FAMILY[f]} round trip sync: ${L}↔C / C↔C`,
            of: `rt_${f}_${rt}_c_sync`,
            over: `rt_${f}_c_c`,
            ...atMost(1.5),
          },
        );
      }
    }
    for (const f of families) {
      for (const bytes of SIZES) {
        for (const rt of selected) {
          checks.push({
            name: `${FAMILY[f]} one-way ${bytes} B: ${LABEL[rt]} / C`,
            of: `ow_${f}_${bytes}_${rt}`,
            over: `ow_${f}_${bytes}_c`,
            ...atLeast(0.8),
          });
        }
      }
    }
    for (const f of families) {
      for (const rt of selected) {
        checks.push({
          name: `${FAMILY[f]} idle receive: ${LABEL[rt]} (% CPU)`,
          of: `idle_${f}_${rt}`,
          ...atMost(1, " %"),
        });
      }
    }
    return checks;
  },
});
