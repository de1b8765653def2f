/**
 * Compiles TypeScript that *uses* the library — the examples, the tests — to
 * JavaScript for Node.js, importing the library the way a user of the npm
 * package does: `../mod.ts` becomes `"sysipc"`, `../pipe/mod.ts` becomes
 * `"sysipc/pipe"`, and so on (the modules are `deno.json`'s `exports`, read
 * by `_modules.ts`). Used by `build_npm.ts` (the examples the
 * package ships) and `test.ts` (the Node suite).
 *
 * The pinned TypeScript compiler only transpiles here (`noCheck`): `deno
 * task check` type-checks these files, with Node's and Deno's types, which
 * the npm build does not have. It also lowers `using` declarations, which
 * Node 20 cannot parse.
 *
 * @module
 */
import { dirname, join, relative, resolve } from "node:path";
import { isLibrary, MODULES, PUBLIC_MODULES, RELATIVE_IMPORT, root } from "./_modules.ts";

export { root };

/** The pinned TypeScript compiler (`npm ci --prefix tools`). */
export const tsc: string = join(root, "tools/node_modules/.bin/tsc");

/** The compiler settings every build here shares (Node 20 and Bun run the output). */
const COMMON = {
  target: "es2022",
  module: "esnext",
  moduleResolution: "bundler",
  types: [],
  rewriteRelativeImportExtensions: true,
  rootDir: root,
} as const;

/** Runs the pinned `tsc` on a generated tsconfig; throws with its output on failure. */
async function runTsc(compilerOptions: Record<string, unknown>, files: string[]): Promise<void> {
  const tmp = await Deno.makeTempDir({ prefix: "sysipc_tsc_" });
  try {
    const config = join(tmp, "tsconfig.json");
    await Deno.writeTextFile(
      config,
      JSON.stringify({ compilerOptions: { ...COMMON, ...compilerOptions }, files }),
    );
    const r = await new Deno.Command(tsc, { args: ["-p", config] }).output();
    if (!r.success) {
      const text = (b: Uint8Array) => new TextDecoder().decode(b);
      throw new Error(`tsc failed (exit code ${r.code}):\n${text(r.stdout)}${text(r.stderr)}`);
    }
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/**
 * Compiles the library's public modules (and what they import) to ES modules
 * in `outDir/esm/`. With `declarations`, type-checks and writes `.d.ts`
 * files too (the npm package); without, only transpiles (a benchmark's copy).
 */
export async function compileLibrary(outDir: string, declarations: boolean): Promise<void> {
  // The Deno backend names the `Deno` namespace; these builds have no Deno
  // types, so it gets a stand-in (that backend only ever runs on Deno). The
  // few `node:` built-ins the library uses (the command line's arguments and
  // output, exit hooks) get stand-ins too: no @types/node to pin, and none of
  // their types reach the package's .d.ts files.
  const tmp = await Deno.makeTempDir({ prefix: "sysipc_shim_" });
  try {
    const shim = join(tmp, "deno_shim.d.ts");
    await Deno.writeTextFile(
      shim,
      "declare namespace Deno { type ForeignLibraryInterface = any; }\ndeclare const Deno: any;\n" +
        'declare module "node:process" { const process: any; export default process; }\n' +
        'declare module "node:util" { export const parseArgs: any; }\n',
    );
    await runTsc(
      {
        lib: ["es2024", "esnext.disposable", "dom"],
        outDir: join(outDir, "esm"),
        ...(declarations
          ? { strict: true, skipLibCheck: true, declaration: true }
          : { noCheck: true }),
      },
      [...MODULES.map((m) => join(root, m.path)), shim],
    );
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Options for {@linkcode compileUsers}. */
export interface CompileOptions {
  /** Repository-relative `.ts` files to compile (their relative imports come along). */
  files: string[];
  /** Where the `.js` files go, mirroring their place in the repository. */
  outDir: string;
  /**
   * The specifier through which compiled file `from` (repository-relative,
   * `.js`) imports library file `target` (`.ts`), or `undefined` to refuse
   * the import. Default: the public modules as the package names them
   * (`PUBLIC_MODULES` of `_modules.ts`), nothing else.
   */
  importLibrary?: (target: string, from: string) => string | undefined;
}

/**
 * Compiles `files` and everything they import relatively, except the library
 * itself, into `outDir`, rewriting imports of the library to the package.
 *
 * @returns The repository-relative paths of the `.js` files written.
 */
export async function compileUsers(options: CompileOptions): Promise<string[]> {
  const tmp = await Deno.makeTempDir({ prefix: "sysipc_compile_" });
  try {
    await runTsc(
      { noCheck: true, outDir: join(tmp, "out") },
      options.files.map((f) => join(root, f)),
    );
    const written: string[] = [];
    for await (const path of walk(join(tmp, "out"))) {
      const rel = relative(join(tmp, "out"), path);
      if (!rel.endsWith(".js") || isLibrary(rel.replace(/\.js$/, ".ts"))) continue;
      const text = rewrite(await Deno.readTextFile(path), rel, options);
      await Deno.mkdir(dirname(join(options.outDir, rel)), { recursive: true });
      await Deno.writeTextFile(join(options.outDir, rel), text);
      written.push(rel);
    }
    return written.sort();
  } finally {
    await Deno.remove(tmp, { recursive: true });
  }
}

/** Rewrites the relative imports of the library in one compiled file. */
function rewrite(text: string, file: string, options: CompileOptions): string {
  return text.replace(RELATIVE_IMPORT, (all, lead: string, quote: string, spec: string) => {
    const target = relative(root, resolve(root, dirname(file), spec)).replace(/\.js$/, ".ts");
    if (!isLibrary(target)) return all;
    const to = (options.importLibrary ?? ((t: string) => PUBLIC_MODULES[t]))(target, file);
    if (to === undefined) {
      throw new Error(
        `${file.replace(/\.js$/, ".ts")} imports the library's ${target}, which is not allowed ` +
          "there (examples: public modules only; tests: only through tests/_support/lib.ts)",
      );
    }
    return `${lead}${quote}${to}${quote}`;
  });
}

async function* walk(dir: string): AsyncGenerator<string> {
  for await (const e of Deno.readDir(dir)) {
    const p = join(dir, e.name);
    if (e.isDirectory) yield* walk(p);
    else if (e.isFile) yield p;
  }
}
