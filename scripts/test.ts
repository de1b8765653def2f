/**
 * Runs the test suites — the same tests (`tests/*_test.ts`) on each runtime,
 * then the cross-runtime tests (`tests/cross/`):
 *
 *     deno run -A scripts/test.ts deno       # deno test, sanitizers on
 *     deno run -A scripts/test.ts node22     # build npm/, pack it, install the tarball into
 *                                            # .build/node/, compile tests/ and examples/ there
 *                                            # importing "sysipc", run them with node --test on
 *                                            # the pinned Node 22 (koffi)
 *     deno run -A scripts/test.ts node24     # the same on Node 24 (koffi)
 *     deno run -A scripts/test.ts node26     # the same on Node 26 in .build/node26/, where the
 *                                            # package is installed without its optional koffi:
 *                                            # the node:ffi backend
 *     deno run -A scripts/test.ts node       # node22, node24 and node26
 *     deno run -A scripts/test.ts bun        # bun test, from the TypeScript source
 *     deno run -A scripts/test.ts interop    # Deno, Node (koffi and node:ffi) and Bun processes
 *                                            # together; the npm package in a fresh project;
 *                                            # Node without koffi
 *
 * The Nodes are pinned in `tools/package.json` (`node22`, `node24`, `node26`).
 * (`deno task test` runs them all after `scripts/prereqs.ts`; `deno task
 * test:deno` etc. run one.) Arguments after `--` go to the runner, e.g.
 * `deno task test:node -- --test-name-pattern=FIFO`; test file paths
 * (`tests/pipe_test.ts`) pick files.
 *
 * When run as root with `unshare` at hand, each suite runs in a private
 * IPC namespace: the `ipcs` leak checks then see only the objects the tests
 * make, never a benchmark or another test run on the same machine, and
 * nothing the tests make can outlive them. With a private mount namespace
 * too, the namespace's POSIX message queues are mounted for the suite on a
 * temporary directory named in `SYSIPC_MQUEUE_DIR` (many machines have no
 * `/dev/mqueue`), so the tests can list them, and `/dev/shm` is a fresh
 * tmpfs of the suite's own (POSIX shared memory and named semaphores).
 * Otherwise (or with
 * `SYSIPC_TEST_SHARED_IPC=1`, to watch `ipcs` from outside) the suites share
 * the machine's namespace and run one after another.
 *
 * @module
 */
import { basename, dirname, join, relative } from "node:path";
import { createHash } from "node:crypto";
import { compileUsers, root } from "./_compile.ts";
import { librarySources, MODULES, PUBLIC_MODULES } from "./_modules.ts";

const SUITES = ["deno", "node22", "node24", "node26", "bun", "interop"] as const;
type Suite = typeof SUITES[number];
/** Names that stand for several suites. */
const ALIASES: Record<string, readonly Suite[]> = { node: ["node22", "node24", "node26"] };

const DENO_PERMS = ["--allow-ffi", "--allow-read", "--allow-write", "--allow-run", "--allow-env"];
/** The Node suite's project: the packed npm package installed, the tests compiled next to it. */
export const NODE_PROJECT = join(root, ".build/node");
/** The same without the package's optional koffi (`npm install --omit=optional`): node:ffi. */
export const NODE_FFI_PROJECT = join(root, ".build/node26");
/** The pinned Node binaries (tools/package.json) and the project each suite runs in. */
export const NODES = {
  node22: { bin: join(root, "tools/node_modules/node22/bin/node"), project: NODE_PROJECT },
  node24: { bin: join(root, "tools/node_modules/node24/bin/node"), project: NODE_PROJECT },
  node26: { bin: join(root, "tools/node_modules/node26/bin/node"), project: NODE_FFI_PROJECT },
} as const;
/** The tests' one import of the library (compiled): its imports of internals point into the package. */
const TEST_LIB = "tests/_support/lib.js";
/** The pinned Bun (tools/package.json). */
export const BUN = join(root, "tools/node_modules/.bin/bun");

async function listTests(dir: string): Promise<string[]> {
  const files: string[] = [];
  for await (const e of Deno.readDir(join(root, dir))) {
    if (e.isFile && e.name.endsWith("_test.ts")) files.push(`${dir}/${e.name}`);
  }
  return files.sort();
}

/** Runs a build step; its stderr is shown only if it fails (npm is chatty). */
async function output(cmd: string, args: string[], cwd = root): Promise<string> {
  const r = await new Deno.Command(cmd, { args, cwd }).output();
  if (!r.success) {
    console.error(new TextDecoder().decode(r.stderr));
    throw new Error(`${cmd} ${args.join(" ")} failed (exit code ${r.code})`);
  }
  return new TextDecoder().decode(r.stdout);
}

async function succeeds(cmd: string, args: string[]): Promise<boolean> {
  try {
    const r = await new Deno.Command(cmd, { args, stdout: "null", stderr: "null" }).output();
    return r.success;
  } catch {
    return false;
  }
}

/**
 * Gives the suite a `/dev/shm` of its own (a fresh tmpfs in the private
 * mount namespace, where POSIX shared memory and named semaphores live, so
 * the leak checks that list it see only the suite's objects and nothing can
 * outlive it; `SYSIPC_PRIVATE_SHM=1` says so), mounts the private IPC
 * namespace's POSIX message queue filesystem on a temporary directory (the
 * machine may have no `/dev/mqueue` at all), names it in `SYSIPC_MQUEUE_DIR`
 * for the leak checks, runs the suite, and unmounts and removes the directory.
 */
const MQUEUE_MOUNT =
  "if mount -t tmpfs -o mode=1777,nosuid,nodev sysipc_shm /dev/shm 2>/dev/null; then " +
  "export SYSIPC_PRIVATE_SHM=1; fi; " +
  'd=$(mktemp -d "${TMPDIR:-/tmp}/sysipc_mqueue_XXXXXX") || exit 1; ' +
  'if mount -t mqueue mqueue "$d"; then export SYSIPC_MQUEUE_DIR="$d"; fi; ' +
  '"$@"; rc=$?; umount "$d" 2>/dev/null; rmdir "$d"; exit $rc';

/**
 * `unshare --ipc` when we may (root), so each suite has its own `ipcs` and
 * POSIX queues — with `--mount` too where it works, to list those queues.
 */
async function isolation(): Promise<string[]> {
  if (Deno.uid() !== 0 || Deno.env.get("SYSIPC_TEST_SHARED_IPC")) return [];
  if (await succeeds("unshare", ["--ipc", "--mount", "true"])) {
    return ["unshare", "--ipc", "--mount", "--", "sh", "-c", MQUEUE_MOUNT, "sh"];
  }
  return await succeeds("unshare", ["--ipc", "true"]) ? ["unshare", "--ipc", "--"] : [];
}

/** What each failed suite printed about its failures, repeated at the very end. */
const digests: string[] = [];

/**
 * The lines of a test runner's output that name a failure: Deno's
 * `name => file:line` list and its `error:` lines, Node's `✖` lines, Bun's
 * `(fail)` lines. Repeated after every suite has run, so the last lines of
 * a long CI log say which test failed and why.
 */
export function failureLines(output: string, max = 12): string[] {
  const seen = new Set<string>();
  // deno-lint-ignore no-control-regex
  for (const raw of output.replace(/\x1b\[[0-9;]*m/g, "").split("\n")) {
    const line = raw.trim();
    if (/ => \S+:\d+:\d+$|^error: |^✖ |^\(fail\) |^\w*Error( \[\w+\])?: /.test(line)) {
      seen.add(line.slice(0, 300));
    }
  }
  const lines = [...seen];
  return lines.length > max ? [...lines.slice(0, max), `… and ${lines.length - max} more`] : lines;
}

/** Copies a child's stream to ours as it comes, keeping a copy. */
async function tee(from: ReadableStream<Uint8Array>, to: typeof Deno.stdout): Promise<string> {
  const decoder = new TextDecoder();
  let kept = "";
  for await (const chunk of from) {
    kept += decoder.decode(chunk, { stream: true });
    for (let done = 0; done < chunk.length;) done += await to.write(chunk.subarray(done));
  }
  return kept + decoder.decode();
}

async function run(
  name: string,
  cmd: string,
  args: string[],
  options: { cwd?: string; env?: Record<string, string> } = {},
): Promise<boolean> {
  const prefix = await isolation();
  const argv = [...prefix, cmd, ...args];
  console.error(`\n=== ${name}${prefix.length ? " (private IPC namespace)" : ""}`);
  console.error(`$ ${argv.join(" ")}`);
  const t0 = performance.now();
  const child = new Deno.Command(argv[0], {
    args: argv.slice(1),
    cwd: options.cwd ?? root,
    env: options.env,
    stdin: "null",
    stdout: "piped",
    stderr: "piped",
  }).spawn();
  const [out, err, r] = await Promise.all([
    tee(child.stdout, Deno.stdout),
    tee(child.stderr, Deno.stderr),
    child.status,
  ]);
  const took = ((performance.now() - t0) / 1000).toFixed(1);
  console.error(`=== ${name}: ${r.success ? "passed" : "FAILED"} in ${took} s`);
  if (!r.success) {
    const lines = failureLines(out + "\n" + err);
    digests.push(
      `${name} failed after ${took} s${r.signal ? ` (${r.signal})` : ` (exit ${r.code})`}:` +
        (lines.length ? `\n  ${lines.join("\n  ")}` : " (no failure lines recognised; see above)"),
    );
  }
  return r.success;
}

// ---------------------------------------------------------------------------
// The Node project: npm/ packed, installed, tests compiled against it
// ---------------------------------------------------------------------------

/** Everything the Node project is built from, hashed: rebuilt only when it changes. */
async function inputsHash(): Promise<string> {
  const h = createHash("sha256");
  const add = async (path: string) => {
    const info = await Deno.stat(join(root, path));
    if (info.isDirectory) {
      const names: string[] = [];
      for await (const e of Deno.readDir(join(root, path))) names.push(e.name);
      for (const n of names.sort()) await add(`${path}/${n}`);
    } else {
      h.update(`${path}\0`).update(await Deno.readFile(join(root, path))).update("\0");
    }
  };
  for (
    const p of [
      ...librarySources(),
      "tests",
      "examples",
      "bench/_report.ts", // tests/bench_report_test.ts imports it
      "scripts/_modules.ts",
      "scripts/_compile.ts",
      "scripts/build_npm.ts",
      "scripts/test.ts",
      "deno.json",
      "README.md",
      "LICENSE",
      "tools/package-lock.json",
    ]
  ) await add(p);
  return h.digest("hex");
}

/**
 * Builds `npm/`, packs it, installs the tarball into a fresh project in
 * `.build/node/` (as a user would: `npm install sysipc-x.y.z.tgz`, which
 * fetches koffi), and compiles `tests/` and `examples/` into it. The tests
 * import the installed package: `tests/_support/lib.ts` is the one file that names
 * the library, and its imports become `"sysipc"` and, for the few internals
 * the tests need, the files inside `node_modules/sysipc/esm/` — the ones the
 * package itself loads. The compiled library source is not copied: nothing
 * else can be imported. Then the same project again in `.build/node26/`,
 * installed with `--omit=optional`: no koffi, so Node 26 takes `node:ffi`.
 *
 * @returns The tarball's path.
 */
export async function prepareNodeProject(): Promise<string> {
  const hash = await inputsHash();
  const stamp = join(NODE_PROJECT, ".inputs");
  const tarballOf = async () => (await Deno.readTextFile(join(NODE_PROJECT, ".tarball"))).trim();
  try {
    if ((await Deno.readTextFile(stamp)) === hash) {
      console.error(`Node project ${relative(root, NODE_PROJECT)} is up to date.`);
      return await tarballOf();
    }
  } catch {
    // not built yet
  }
  console.error(
    `Building the npm package and the Node project in ${relative(root, NODE_PROJECT)}…`,
  );
  await output(Deno.execPath(), ["run", "-A", "scripts/build_npm.ts"]);
  await Deno.remove(NODE_PROJECT, { recursive: true }).catch(() => {});
  await Deno.mkdir(NODE_PROJECT, { recursive: true });
  const packed =
    (await output("npm", ["pack", "--pack-destination", NODE_PROJECT], join(root, "npm")))
      .trim().split("\n").at(-1)!;
  const tarball = join(NODE_PROJECT, basename(packed));
  await Deno.writeTextFile(
    join(NODE_PROJECT, "package.json"),
    JSON.stringify(
      {
        name: "sysipc-node-tests",
        private: true,
        type: "module",
        description:
          "Generated by scripts/test.ts: the test suite, compiled, against the packed package.",
      },
      null,
      2,
    ) + "\n",
  );
  await output(
    "npm",
    ["install", "--no-audit", "--no-fund", "--prefer-offline", tarball],
    NODE_PROJECT,
  );

  const files = [...await listSources("tests"), ...await listSources("examples")];
  const esm = join(NODE_PROJECT, "node_modules/sysipc/esm");
  await compileUsers({
    files,
    outDir: NODE_PROJECT,
    importLibrary(target, from) {
      if (from.startsWith("examples/")) return PUBLIC_MODULES[target];
      if (from !== TEST_LIB) return undefined;
      if (PUBLIC_MODULES[target]) return PUBLIC_MODULES[target];
      // An internal: the very file the installed package loads.
      const js = target.replace(/\.ts$/, ".js");
      try {
        Deno.statSync(join(esm, js));
      } catch {
        throw new Error(
          `The installed package has no esm/${js} (tests/_support/lib.ts imports it)`,
        );
      }
      return relative(join(NODE_PROJECT, dirname(TEST_LIB)), join(esm, js));
    },
  });
  await Deno.mkdir(join(NODE_PROJECT, "tests/interop"), { recursive: true });
  for await (const e of Deno.readDir(join(root, "tests/interop"))) {
    if (e.isFile) {
      await Deno.copyFile(
        join(root, "tests/interop", e.name),
        join(NODE_PROJECT, "tests/interop", e.name),
      );
    }
  }
  await Deno.writeTextFile(join(NODE_PROJECT, ".tarball"), tarball + "\n");
  await prepareFfiProject(tarball);
  await Deno.writeTextFile(stamp, hash);
  return tarball;
}

/** `.build/node26/`: the compiled tests of `.build/node/`, the package installed without koffi. */
async function prepareFfiProject(tarball: string): Promise<void> {
  await Deno.remove(NODE_FFI_PROJECT, { recursive: true }).catch(() => {});
  await Deno.mkdir(NODE_FFI_PROJECT, { recursive: true });
  for await (const e of Deno.readDir(NODE_PROJECT)) {
    if (["node_modules", "package-lock.json", ".inputs"].includes(e.name)) continue;
    await output("cp", ["-a", join(NODE_PROJECT, e.name), NODE_FFI_PROJECT]);
  }
  await Deno.writeTextFile(
    join(NODE_FFI_PROJECT, "package.json"),
    JSON.stringify(
      {
        name: "sysipc-node-ffi-tests",
        private: true,
        type: "module",
        description: "Generated by scripts/test.ts: the test suite against the packed package, " +
          "installed without its optional koffi (Node's own node:ffi).",
      },
      null,
      2,
    ) + "\n",
  );
  await output(
    "npm",
    ["install", "--omit=optional", "--no-audit", "--no-fund", "--prefer-offline", tarball],
    NODE_FFI_PROJECT,
  );
  const koffi = await Deno.stat(join(NODE_FFI_PROJECT, "node_modules/koffi")).then(
    () => true,
    () => false,
  );
  if (koffi) throw new Error(`${NODE_FFI_PROJECT} has koffi after npm install --omit=optional`);
}

async function listSources(dir: string): Promise<string[]> {
  const out: string[] = [];
  for await (const e of Deno.readDir(join(root, dir))) {
    if (e.isDirectory && e.name !== "interop") out.push(...await listSources(`${dir}/${e.name}`));
    else if (e.isFile && e.name.endsWith(".ts")) out.push(`${dir}/${e.name}`);
  }
  return out.sort();
}

/**
 * Where `deno test --doc` looks for examples: each public module's folder
 * (`pipe/`, every file in it), or the file itself for one at the root (`mod.ts`).
 */
function docFiles(): string[] {
  return [...new Set(MODULES.map((m) => m.path.includes("/") ? `${dirname(m.path)}/` : m.path))];
}

// ---------------------------------------------------------------------------

async function suite(name: Suite, picked: string[], extra: string[]): Promise<boolean> {
  switch (name) {
    case "deno": {
      const files = picked.length ? picked : await listTests("tests");
      const tests = await run("Deno suite", Deno.execPath(), [
        "test",
        ...DENO_PERMS,
        ...extra,
        ...files,
      ]);
      if (picked.length > 0) return tests;
      // Every @example in the modules' JSDoc and every TypeScript block of the README runs too.
      const docs = await run("Documentation examples (deno test --doc)", Deno.execPath(), [
        "test",
        "--doc",
        ...DENO_PERMS,
        ...extra,
        "README.md",
        ...docFiles(),
      ]);
      return tests && docs;
    }
    case "node22":
    case "node24":
    case "node26": {
      await prepareNodeProject();
      const { bin, project } = NODES[name];
      const files = (picked.length ? picked : await listTests("tests")).map((f) =>
        f.replace(/\.ts$/, ".js")
      );
      const ffi = project === NODE_PROJECT ? "koffi" : "node:ffi, no koffi installed";
      return await run(
        `Node suite (node ${
          (await output(bin, ["--version"])).trim()
        }, ${ffi}, the packed npm package)`,
        bin,
        ["--test", "--test-concurrency=1", "--test-reporter=spec", ...extra, ...files],
        { cwd: project },
      );
    }
    case "bun": {
      const files = (picked.length ? picked : await listTests("tests")).map((f) => `./${f}`);
      return await run(
        `Bun suite (bun ${(await output(BUN, ["--version"])).trim()})`,
        BUN,
        ["test", ...extra, ...files],
      );
    }
    case "interop": {
      const tarball = await prepareNodeProject();
      const files = picked.length ? picked : await listTests("tests/cross");
      return await run("Cross-runtime suite", Deno.execPath(), [
        "test",
        ...DENO_PERMS,
        ...extra,
        ...files,
      ], {
        env: {
          SYSIPC_NODE_PROJECT: NODE_PROJECT,
          SYSIPC_NODE_FFI_PROJECT: NODE_FFI_PROJECT,
          SYSIPC_NODE: NODES.node24.bin,
          SYSIPC_NODE22: NODES.node22.bin,
          SYSIPC_NODE26: NODES.node26.bin,
          SYSIPC_TARBALL: tarball,
          SYSIPC_BUN: BUN,
        },
      });
    }
  }
}

if (import.meta.main) {
  const dash = Deno.args.indexOf("--");
  const mine = dash < 0 ? Deno.args : Deno.args.slice(0, dash);
  const extra = dash < 0 ? [] : Deno.args.slice(dash + 1);
  const known = (a: string) => (SUITES as readonly string[]).includes(a) || a in ALIASES;
  const names = [
    ...new Set(mine.filter(known).flatMap((a) => ALIASES[a] ?? [a as Suite])),
  ];
  const picked = mine.filter((a) => a.endsWith(".ts"));
  const unknown = mine.filter((a) => !known(a) && !picked.includes(a));
  if (unknown.length) {
    console.error(
      `Unknown argument ${unknown.join(" ")}: give suites (${
        [...SUITES, ...Object.keys(ALIASES)].join(" ")
      }) or test files`,
    );
    Deno.exit(2);
  }
  const t0 = performance.now();
  const failed: string[] = [];
  for (const name of names.length ? names : SUITES) {
    if (!await suite(name, picked, extra)) failed.push(name);
  }
  const s = ((performance.now() - t0) / 1000).toFixed(1);
  if (failed.length) {
    console.error(`\n${digests.join("\n")}`);
    console.error(`\nFAILED: ${failed.join(", ")} (${s} s)`);
    Deno.exit(1);
  }
  console.error(`\nAll suites passed (${s} s).`);
}
