/**
 * `ls -l | grep PATTERN`, the seed's pipe-command demo: two children joined
 * by our pipe. The parent creates the pipe and hands the ends over; it copies
 * no byte itself.
 *
 *     deno run --allow-ffi --allow-run examples/ls_grep.ts [DIR] [PATTERN]
 *     bun examples/ls_grep.ts [DIR] [PATTERN]
 *     node node_modules/sysipc/examples/ls_grep.js [DIR] [PATTERN]     (the npm package)
 *
 * @module
 */
import process from "node:process";
import { pipe, spawn } from "../pipe/mod.ts";
import { args, isMain } from "./_run.ts";

/**
 * Runs `ls -l dir | grep pattern` with its output on our stdout.
 *
 * @param dir The directory to list.
 * @param pattern What grep looks for.
 * @returns grep's exit code (1 when nothing matched, like the shell).
 */
export async function lsGrep(dir: string, pattern: string): Promise<number> {
  const p = pipe();
  const ls = spawn("ls", { args: ["-l", dir], stdout: p.writeEnd });
  const grep = spawn("grep", { args: [pattern], stdin: p.readEnd });
  p.close(); // the children hold both ends now; grep sees EOF when ls exits
  const [lsStatus, grepStatus] = await Promise.all([ls.status, grep.status]);
  if (!lsStatus.success) console.error(`ls failed: ${JSON.stringify(lsStatus)}`);
  return grepStatus.code;
}

if (isMain(import.meta)) {
  const [dir = ".", pattern = ".ts"] = args;
  process.exit(await lsGrep(dir, pattern));
}
