/**
 * The library's modules, from the one list of them: `deno.json` `exports`.
 * Everything that needs the list — `deno task doc:lint`, the npm build
 * (`build_npm.ts`), the compilation of tests and examples (`_compile.ts`),
 * the test runner (`test.ts`) and the benchmarks' Node build — takes it from
 * here, so adding a module is a folder plus one line in `exports`.
 *
 * - {@linkcode MODULES}: each export, its source file and its npm specifier
 *   (`"./pipe": "./pipe/mod.ts"` → `pipe/mod.ts`, `sysipc/pipe`).
 * - {@linkcode librarySources}: the library's source files — the exports and
 *   every file they import, transitively (what the npm package compiles and
 *   what JSR resolves). Checked against `publish.exclude`: a library file
 *   that would not be published is an error.
 *
 * Run as a script, it prints the exports' files, one per line, for shell
 * command substitution (`deno task doc:lint`):
 *
 *     deno run --allow-read scripts/_modules.ts            # mod.ts pipe/mod.ts …
 *     deno run --allow-read scripts/_modules.ts --sources  # every library file
 *
 * @module
 */
import deno from "../deno.json" with { type: "json" };
import { dirname, join, normalize } from "node:path";
import { fileURLToPath } from "node:url";

/** The repository root. */
export const root: string = fileURLToPath(new URL("..", import.meta.url));

/** The npm package's name: `deno.json`'s name without its JSR scope (`@sysipc/sysipc` → `sysipc`). */
export const PACKAGE: string = deno.name.replace(/^@[^/]+\//, "");

/** One public module. */
export interface PublicModule {
  /** The `exports` key: `"."`, `"./pipe"`, … */
  key: string;
  /** The source file, repository-relative: `mod.ts`, `pipe/mod.ts`, … */
  path: string;
  /** The npm package's specifier for it: `sysipc`, `sysipc/pipe`, … */
  specifier: string;
}

/** The public modules, in `exports` order. */
export const MODULES: readonly PublicModule[] = Object.entries(
  deno.exports as Record<string, string>,
).map(([key, file]) => ({
  key,
  path: normalize(file),
  specifier: key === "." ? PACKAGE : `${PACKAGE}/${key.replace(/^\.\//, "")}`,
}));

/** Source path → package specifier, for rewriting imports of the library. */
export const PUBLIC_MODULES: Readonly<Record<string, string>> = Object.fromEntries(
  MODULES.map((m) => [m.path, m.specifier]),
);

/** The folders `deno publish` leaves out (`publish.exclude`), e.g. `tests/`. */
export const UNPUBLISHED: readonly string[] = deno.publish.exclude.filter((p) => p.endsWith("/"));

/** Relative imports in TypeScript source: `from "./x.ts"`, `import "./x.ts"`, `import("./x.ts")`. */
export const RELATIVE_IMPORT = /(\bfrom\s*|\bimport\s*\(?\s*)(["'])(\.{1,2}\/[^"']*)\2/g;

let sources: string[] | undefined;

/**
 * The library's source files, repository-relative and sorted: the exports'
 * files and everything they import relatively, transitively.
 */
export function librarySources(): readonly string[] {
  if (sources) return sources;
  const seen = new Set<string>();
  const visit = (path: string, from: string) => {
    if (seen.has(path)) return;
    let text: string;
    try {
      text = Deno.readTextFileSync(join(root, path));
    } catch {
      throw new Error(`${from} imports ${path}, which cannot be read`);
    }
    if (UNPUBLISHED.some((d) => path.startsWith(d))) {
      throw new Error(
        `${path} is library source (${from} imports it) but deno.json publish.exclude leaves it out`,
      );
    }
    seen.add(path);
    for (const [, , , spec] of text.matchAll(RELATIVE_IMPORT)) {
      visit(normalize(join(dirname(path), spec)), path);
    }
  };
  for (const m of MODULES) visit(m.path, `deno.json exports["${m.key}"]`);
  return sources = [...seen].sort();
}

/** Whether a repository-relative path is one of the library's source files. */
export function isLibrary(path: string): boolean {
  return librarySources().includes(normalize(path));
}

if (import.meta.main) {
  const list = Deno.args.includes("--sources") ? librarySources() : MODULES.map((m) => m.path);
  console.log(list.join("\n"));
}
