/**
 * The npm package as its users meet it: `npm pack` gives a tarball that a
 * fresh Node.js project installs (its optional koffi comes from the npm
 * registry) and uses, with types, examples and the demo tour, on Node 24
 * and Node 26; Bun runs the same installed package. Without koffi, Node 26
 * runs it on its own `node:ffi`, printing no warning. And the bad
 * environments: a runtime without usable FFI gets one clear error naming
 * what is missing at first use — never at import, never a crash.
 *
 *     deno task test:interop
 *
 * (`scripts/test.ts interop` packs the package and passes the tarball in
 * `SYSIPC_TARBALL`, the pinned Nodes in `SYSIPC_NODE` (24), `SYSIPC_NODE22`
 * and `SYSIPC_NODE26`, and the pinned Bun in `SYSIPC_BUN`.)
 *
 * @module
 */
import assert from "node:assert/strict";
import { mkdirSync, readFileSync, rmSync, writeFileSync } from "node:fs";
import { dirname, join } from "node:path";
import process from "node:process";
import { run } from "../_support/children.ts";
import { SharedMemory } from "../_support/lib.ts";
import { tempDir, test } from "../_support/runtime.ts";
import { bun, node, node26, required, root } from "./_runtimes.ts";

const tsc = join(root, "tools/node_modules/.bin/tsc");

const tarball = required("SYSIPC_TARBALL");
const node22 = required("SYSIPC_NODE22");
/** npm and npx (`#!/usr/bin/env node`) run on the pinned Node 24 too. */
const onPinnedNode = { PATH: `${dirname(node)}:${process.env.PATH}` };
const denoJson = JSON.parse(readFileSync(join(root, "deno.json"), "utf8"));
const version = denoJson.version as string;
/** The package's entry points: deno.json's exports, the one list of modules. */
const EXPORTS = Object.keys(denoJson.exports);

/** A user's program: every module, through the root and the subpath exports. */
const APP = `
import { IpcError, mkfifo, openFifo, pipe, SemaphoreSet, SharedMemory, spawn } from "sysipc";
import { pipe as pipe2 } from "sysipc/pipe";
import { openFifo as openFifo2 } from "sysipc/fifo";
import { SharedMemory as SharedMemory2 } from "sysipc/shm";
import { SemaphoreSet as SemaphoreSet2 } from "sysipc/sem";
import { SemaphoreSet as SemaphoreSet3, SharedMemory as SharedMemory3 } from "sysipc/sysv";
import { mkdtempSync, rmSync } from "node:fs";

const out = {};
out.sameModules = pipe === pipe2 && openFifo === openFifo2 && SharedMemory === SharedMemory2 &&
  SemaphoreSet === SemaphoreSet2 && SharedMemory === SharedMemory3 && SemaphoreSet === SemaphoreSet3;

const p = pipe();
const child = spawn("sh", { args: ["-c", "echo hello from sh"], stdout: p.writeEnd });
p.writeEnd.close();
out.spawn = await new Response(p.readable).text();
out.status = await child.status;

const dir = mkdtempSync("/tmp/sysipc_app_");
mkfifo(dir + "/f");
const [r, w] = await Promise.all([openFifo(dir + "/f", "read"), openFifo(dir + "/f", "write")]);
await w.write(new TextEncoder().encode("through the FIFO"));
w.close();
out.fifo = await new Response(r.readable).text();
rmSync(dir, { recursive: true });

const shm = SharedMemory.create({ size: 64 });
const other = SharedMemory.fromId(shm.id);
shm.bytes[0] = 42;
out.shm = [other.bytes[0], shm.stat().attachCount];
other.detach();
shm.remove();
shm.detach();

const set = SemaphoreSet.create({ initial: 1 });
await set.at(0).acquire({ timeout: 1000 });
try {
  await set.at(0).acquire({ timeout: 50 });
} catch (e) {
  out.timeout = e.name;
}
set.at(0).release();
out.sem = set.at(0).value;
set.remove();

const q = pipe();
q.readEnd.close();
try {
  await q.writeEnd.write(new Uint8Array(1));
} catch (e) {
  out.epipe = [e instanceof IpcError, e.code];
}
q.close();
console.log(JSON.stringify(out));
`;

const APP_EXPECTED = {
  sameModules: true,
  spawn: "hello from sh\n",
  status: { success: true, code: 0, signal: null },
  fifo: "through the FIFO",
  shm: [42, 2],
  timeout: "TimeoutError",
  sem: 1,
  epipe: [true, "EPIPE"],
};

/** A user's TypeScript: type-checked against the package's .d.ts files. */
const APP_TS = `
import { pipe, SemaphoreSet, type PipeEnd } from "sysipc";
import { SharedMemory } from "sysipc/shm";
const p = pipe({ capacity: 1 << 16 });
const end: PipeEnd = p.readEnd;
const n: Promise<number | null> = end.read(new Uint8Array(4));
const view: Int32Array = SharedMemory.create({ size: 8 }).view(Int32Array);
const set: SemaphoreSet = SemaphoreSet.create({ count: 2, initial: [1, 0] });
export { n, set, view };
`;

test("npm pack's tarball holds the compiled modules with their types, the examples, README and LICENSE — no TypeScript source", async () => {
  const list = await run("tar", ["tzf", tarball]);
  assert.equal(list.code, 0, list.stderr);
  const files = list.stdout.trim().split("\n").map((f) => f.replace(/^package\//, ""));
  for (const m of ["mod", "pipe/mod", "fifo/mod", "shm/mod", "sem/mod"]) {
    assert.ok(files.includes(`esm/${m}.js`), `esm/${m}.js`);
    assert.ok(files.includes(`esm/${m}.d.ts`), `esm/${m}.d.ts`);
  }
  for (
    const f of [
      "package.json",
      "README.md",
      "LICENSE",
      "examples/tour.js",
      "examples/_run.js",
      "bin/sysipc.js",
    ]
  ) {
    assert.ok(files.includes(f), f);
  }
  assert.deepEqual(files.filter((f) => f.endsWith(".ts") && !f.endsWith(".d.ts")), []);
  assert.deepEqual(files.filter((f) => f.startsWith("tests/") || f.startsWith("bench/")), []);
});

test("a fresh Node project installs the packed package and uses it, as a user would", async (t) => {
  const dir = tempDir("sysipc_npm_project_");
  try {
    await t.step("npm install <tarball> brings sysipc and its optional koffi", async () => {
      writeFileSync(
        join(dir, "package.json"),
        JSON.stringify({ name: "app", private: true, type: "module" }),
      );
      const r = await run("npm", [
        "install",
        "--no-audit",
        "--no-fund",
        "--prefer-offline",
        "--loglevel=error",
        tarball,
      ], { cwd: dir, env: onPinnedNode });
      assert.equal(r.code, 0, r.stderr);
      const pkg = JSON.parse(readFileSync(join(dir, "node_modules/sysipc/package.json"), "utf8"));
      assert.equal(pkg.name, "sysipc");
      assert.equal(pkg.version, version);
      assert.equal(pkg.type, "module");
      assert.deepEqual(Object.keys(pkg.exports), EXPORTS);
      assert.ok(pkg.optionalDependencies.koffi, "koffi is an optional dependency");
      assert.equal(pkg.dependencies, undefined, "nothing else is");
      assert.equal(pkg.engines.node, ">=22");
      const koffi = JSON.parse(readFileSync(join(dir, "node_modules/koffi/package.json"), "utf8"));
      assert.equal(koffi.name, "koffi");
      const app = JSON.parse(readFileSync(join(dir, "package.json"), "utf8"));
      assert.ok(app.dependencies.sysipc, "the app depends on sysipc");
    });
    await t.step("node runs a program importing every module", async () => {
      writeFileSync(join(dir, "app.mjs"), APP);
      const r = await run(node, ["app.mjs"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), APP_EXPECTED);
    });
    await t.step("node 26 runs it too, through koffi since it is installed", async () => {
      writeFileSync(join(dir, "which.mjs"), WHICH_FFI);
      const which = await run(node26, ["which.mjs"], { cwd: dir });
      assert.deepEqual([which.code, which.stderr], [0, ""]);
      assert.match(which.stdout, /^Node\.js \(koffi 3\.\d+\.\d+\)\n$/);
      const r = await run(node26, ["app.mjs"], { cwd: dir });
      assert.deepEqual([r.code, r.stderr], [0, ""]);
      assert.deepEqual(JSON.parse(r.stdout), APP_EXPECTED);
    });
    await t.step("bun runs the same program on the same installed package", async () => {
      const r = await run(bun, ["app.mjs"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.deepEqual(JSON.parse(r.stdout), APP_EXPECTED);
    });
    await t.step(
      "npx sysipc and bunx sysipc run the installed command (the package's bin)",
      async () => {
        const seg = SharedMemory.create({ size: 4096 });
        try {
          for (
            const [cmd, args] of [
              ["npx", ["--no-install", "sysipc"]],
              [bun, ["x", "--bun", "sysipc"]],
            ] as const
          ) {
            const r = await run(cmd, [...args, "ls", "--kind", "shm", "--json"], {
              cwd: dir,
              env: onPinnedNode,
            });
            assert.equal(r.code, 0, `${cmd}: ${r.stderr}`);
            const doc = JSON.parse(r.stdout);
            assert.equal(doc.schema, 1);
            assert.ok(
              doc.objects.some((o: { id: number }) => o.id === seg.id),
              `${cmd} lists our segment`,
            );
            const bad = await run(cmd, [...args, "ls", "--nope"], { cwd: dir, env: onPinnedNode });
            assert.equal(bad.code, 2, `${cmd}: a usage error is status 2`);
            assert.match(bad.stderr, /^sysipc: ls: Unknown option '--nope'/);
          }
        } finally {
          seg.remove();
        }
      },
    );
    await t.step(
      "the package's types check a user's TypeScript (and catch a type error)",
      async () => {
        writeFileSync(join(dir, "app.ts"), APP_TS);
        writeFileSync(
          join(dir, "wrong.ts"),
          'import { pipe } from "sysipc";\nconst n: number = pipe();\n',
        );
        const args = (file: string) => [
          "--noEmit",
          "--strict",
          "--module",
          "nodenext",
          "--moduleResolution",
          "nodenext",
          "--target",
          "es2022",
          "--lib",
          "es2022,esnext.disposable,dom",
          "--types",
          "",
          file,
        ];
        const ok = await run(tsc, args("app.ts"), { cwd: dir });
        assert.equal(ok.code, 0, ok.stdout + ok.stderr);
        const wrong = await run(tsc, args("wrong.ts"), { cwd: dir });
        assert.notEqual(wrong.code, 0);
        assert.match(
          wrong.stdout,
          /wrong\.ts.*TS2322: Type 'Pipe' is not assignable to type 'number'/,
        );
      },
    );
    await t.step("node runs the package's examples: the whole demo tour", async () => {
      const r = await run(node, ["node_modules/sysipc/examples/tour.js"], { cwd: dir });
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /✔ 13 demos in/);
      assert.match(r.stdout, /sum = 333328333350000 \(expected 333328333350000\)/);
      assert.match(r.stdout, /wrote: "hello from Node\.js, pid \d+"/);
      assert.match(r.stdout, /counter = 4000, expected 4000/);
      assert.match(r.stdout, /0 lost, 0 duplicated, 0 corrupt, 0 out of order/);
      assert.match(r.stdout, /nattch went 1 → 2 → 1/);
    });
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** A program that prints which FFI the library calls libc through. */
const WHICH_FFI = `
import { getBackend } from "./node_modules/sysipc/esm/_ffi/mod.js";
console.log(getBackend().name);
`;

/** A program that imports the library, then uses it three ways and reports every error. */
const BAD_ENV = `
import * as sysipc from "sysipc";
console.log(JSON.stringify({ imported: Object.keys(sysipc).length }));
for (const use of [
  () => sysipc.pipe(),
  () => sysipc.SemaphoreSet.create(),
  () => sysipc.ftok("/", 1),
]) {
  try {
    use();
    console.log(JSON.stringify({ error: null }));
  } catch (e) {
    console.log(JSON.stringify({ error: e.name, message: e.message }));
  }
}
`;

/** Parses BAD_ENV's output: the import line, then three errors. */
function badEnvReport(
  stdout: string,
): { imported: number; errors: { error: string; message: string }[] } {
  const [first, ...rest] = stdout.trim().split("\n").map((l) => JSON.parse(l));
  return { imported: first.imported, errors: rest };
}

/**
 * Unpacks the packed package into `dir/node_modules/sysipc` without its
 * dependencies, under an ES-module `package.json`.
 */
async function unpackAlone(dir: string): Promise<void> {
  const pkg = join(dir, "node_modules/sysipc");
  mkdirSync(pkg, { recursive: true });
  const x = await run("tar", ["xzf", tarball, "-C", pkg, "--strip-components", "1"]);
  assert.equal(x.code, 0, x.stderr);
  writeFileSync(join(dir, "package.json"), JSON.stringify({ type: "module" }));
}

test("Node 22 without koffi: the import works, and every first use throws one clear Error naming koffi and node:ffi — no crash", async () => {
  const dir = tempDir("sysipc_npm_nokoffi_");
  try {
    // The package without its optional dependency (npm install --omit=optional).
    await unpackAlone(dir);
    writeFileSync(join(dir, "bad.mjs"), BAD_ENV);
    const r = await run(node22, ["bad.mjs"], { cwd: dir });
    assert.deepEqual([r.code, r.signal, r.stderr], [0, null, ""]);
    const report = badEnvReport(r.stdout);
    assert.ok(report.imported > 10, "the import itself needs nothing native");
    assert.equal(report.errors.length, 3);
    for (const e of report.errors) {
      assert.deepEqual(e, {
        error: "Error",
        message:
          "sysipc on Node.js calls libc through the koffi package, which is not installed, or " +
          "through node:ffi, which Node.js has from version 26 on (this is v22.23.5): " +
          "run `npm install koffi`.",
      });
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Uses the library, then warns once itself: only the program's own warning may show. */
const WARN_AFTER = `
import { pipe } from "sysipc";
import { getBackend } from "./node_modules/sysipc/esm/_ffi/mod.js";
const p = pipe();
await p.writeEnd.write(new TextEncoder().encode("x"));
p.close();
console.log(getBackend().name);
process.emitWarning("the program's own warning", "ExperimentalWarning");
`;

test("Node 26 without koffi: the package runs on node:ffi — the demo tour passes and Node's FFI warning is not printed, while other warnings are; without node:ffi or its permission, one clear Error", async () => {
  const dir = tempDir("sysipc_npm_nodeffi_");
  try {
    await unpackAlone(dir);
    writeFileSync(join(dir, "warn.mjs"), WARN_AFTER);
    const w = await run(node26, ["warn.mjs"], { cwd: dir });
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stdout, /^Node\.js \(node:ffi v26\.\d+\.\d+\)\n$/);
    assert.match(w.stderr, /ExperimentalWarning: the program's own warning/);
    assert.doesNotMatch(w.stderr, /FFI/);
    // Every demo, with off-thread waits on the pool's Workers, each loading node:ffi.
    const r = await run(node26, ["node_modules/sysipc/examples/tour.js"], { cwd: dir });
    assert.deepEqual([r.code, r.stderr], [0, ""]);
    assert.match(r.stdout, /✔ 13 demos in/);
    assert.match(r.stdout, /wrote: "hello from Node\.js, pid \d+"/);
    assert.match(r.stdout, /0 lost, 0 duplicated, 0 corrupt, 0 out of order/);
    // node:ffi switched off, or the permission model without --allow-ffi: one clear Error each.
    writeFileSync(join(dir, "bad.mjs"), BAD_ENV);
    for (
      const [flags, message] of [
        [
          ["--no-experimental-ffi"],
          "sysipc on Node.js calls libc through the koffi package, which is not installed, or " +
          "through node:ffi, which this Node.js was started without (--no-experimental-ffi): " +
          "run `npm install koffi`.",
        ],
        [
          ["--permission", `--allow-fs-read=${dir}`],
          "sysipc needs foreign-function access to call libc: run Node.js with --allow-ffi " +
          "(the permission model is on).",
        ],
      ] as const
    ) {
      const b = await run(node26, [...flags, "bad.mjs"], { cwd: dir });
      assert.deepEqual([b.code, b.signal, b.stderr], [0, null, ""], flags.join(" "));
      const report = badEnvReport(b.stdout);
      assert.ok(report.imported > 10);
      assert.deepEqual(report.errors, Array(3).fill({ error: "Error", message }), flags.join(" "));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("a non-Linux OS (process.platform faked before first use): one clear Error on Node and on Bun — no crash", async () => {
  const dir = tempDir("sysipc_npm_platform_");
  try {
    await unpackAlone(dir);
    // The platform is faked before the library module is even evaluated.
    writeFileSync(
      join(dir, "fake.mjs"),
      'Object.defineProperty(process, "platform", { value: "darwin" });\nawait import("./bad.mjs");\n',
    );
    writeFileSync(join(dir, "bad.mjs"), BAD_ENV);
    for (const runtime of [node, node26, bun]) {
      const r = await run(runtime, ["fake.mjs"], { cwd: dir });
      assert.deepEqual([r.code, r.signal, r.stderr], [0, null, ""], runtime);
      const report = badEnvReport(r.stdout);
      assert.ok(report.imported > 10);
      assert.deepEqual(
        report.errors,
        Array(3).fill({ error: "Error", message: "sysipc works on Linux only (this is darwin)." }),
        runtime,
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test("Deno without --allow-ffi: the import works, and every first use throws one clear Error naming --allow-ffi", async () => {
  const dir = tempDir("sysipc_deno_noffi_");
  try {
    const script = join(dir, "bad.ts");
    writeFileSync(
      script,
      BAD_ENV.replace('"sysipc"', JSON.stringify(join(root, "mod.ts"))),
    );
    const r = await run(process.execPath, [
      "run",
      "--quiet",
      "--no-prompt",
      "--allow-read",
      script,
    ]);
    assert.deepEqual([r.code, r.signal, r.stderr], [0, null, ""]);
    const report = badEnvReport(r.stdout);
    assert.ok(report.imported > 10);
    assert.equal(report.errors.length, 3);
    for (const e of report.errors) {
      assert.equal(e.error, "Error");
      assert.equal(
        e.message,
        "sysipc needs foreign-function access to call libc.so.6: run Deno with --allow-ffi.",
      );
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
