/**
 * Builds the npm package into `npm/`: ES modules and `.d.ts` files compiled
 * by the TypeScript compiler pinned in `tools/` (relative `.ts` imports are
 * rewritten to `.js` by `rewriteRelativeImportExtensions`), a `package.json`
 * whose exports are `deno.json`'s, README and LICENSE, and the examples in
 * `examples/`, importing the library by the package's own name (`node
 * node_modules/sysipc/examples/tour.js` runs the demo tour).
 *
 *     npm ci --prefix tools            # once: brings tools/node_modules/.bin/tsc
 *     deno run -A scripts/build_npm.ts
 *     (cd npm && npm pack)             # the tarball a Node or Bun user installs
 *
 * Not dnt: it lives on JSR, which these machines cannot reach, and its Deno
 * shim has no `dlopen` anyway; the runtime differences live in `_ffi/`.
 *
 * @module
 */
import { join } from "node:path";
import { compileLibrary, compileUsers, root, tsc } from "./_compile.ts";
import { MODULES, PACKAGE } from "./_modules.ts";

const out = join(root, "npm");

const exists = (p: string) => Deno.stat(p).then(() => true, () => false);

if (!(await exists(tsc))) {
  throw new Error(`No TypeScript compiler at ${tsc}: run \`npm ci --prefix tools\` first.`);
}
const deno = JSON.parse(await Deno.readTextFile(join(root, "deno.json")));

await Deno.remove(out, { recursive: true }).catch(() => {});
await Deno.mkdir(out, { recursive: true });
await compileLibrary(out, true);

const entry = (MODULES.find((m) => m.key === ".") ?? MODULES[0]).path.replace(/\.ts$/, "");
const pkg = {
  name: PACKAGE,
  version: deno.version,
  description: "Linux IPC for TypeScript: pipes, FIFOs, System V and POSIX shared memory, " +
    "semaphores and message queues, and the sysipc command to list, inspect and reap them; " +
    "bound to libc through the runtime's FFI (Node.js via koffi or node:ffi, Bun, Deno).",
  license: deno.license ?? "MIT",
  type: "module",
  // deno.json's exports, one for one: "./pipe": "./pipe/mod.ts" → ./esm/pipe/mod.{js,d.ts}.
  exports: Object.fromEntries(MODULES.map(({ key, path }) => {
    const m = path.replace(/\.ts$/, "");
    return [key, { types: `./esm/${m}.d.ts`, default: `./esm/${m}.js` }];
  })),
  main: `./esm/${entry}.js`,
  types: `./esm/${entry}.d.ts`,
  // `npx sysipc …` and `bunx sysipc …`: the command line (cli/main.ts).
  bin: { sysipc: "./bin/sysipc.js" },
  files: ["esm/", "bin/", "examples/", "README.md", "LICENSE"],
  os: ["linux"],
  engines: { node: ">=22", bun: ">=1.1", deno: ">=2.0" },
  // Node.js 22 and 24 call libc through koffi; Node.js 26 does through its
  // own node:ffi where koffi is absent (`npm install --omit=optional`).
  optionalDependencies: { koffi: "^3.3.4" },
  keywords: [
    "ipc",
    "pipe",
    "fifo",
    "shared-memory",
    "semaphore",
    "message-queue",
    "sysv",
    "posix",
    "ffi",
    "linux",
    "cli",
  ],
};
await Deno.writeTextFile(join(out, "package.json"), JSON.stringify(pkg, null, 2) + "\n");

// The examples, as a Node.js user runs them: `import … from "sysipc"` (the
// package's own name resolves inside the package, through its `exports`).
const examples: string[] = [];
for await (const e of Deno.readDir(join(root, "examples"))) {
  if (e.isFile && e.name.endsWith(".ts")) examples.push(`examples/${e.name}`);
}
await compileUsers({ files: examples.sort(), outDir: out });

// The command's entry: cli/main.ts runs itself only as a main module, which
// Node 20 cannot tell (no import.meta.main), so the bin calls main().
await Deno.mkdir(join(out, "bin"));
await Deno.writeTextFile(
  join(out, "bin/sysipc.js"),
  `#!/usr/bin/env node
// sysipc: list, inspect, remove and reap IPC objects (sysipc --help).
import process from "node:process";
import { main } from "../esm/cli/main.js";
process.exitCode = await main(process.argv.slice(2));
`,
  { mode: 0o755 },
);

await Deno.copyFile(join(root, "LICENSE"), join(out, "LICENSE"));
await Deno.copyFile(join(root, "README.md"), join(out, "README.md"));
console.log(`Built ${out} (${MODULES.map((m) => m.key).join(" ")}), version ${pkg.version}.`);
