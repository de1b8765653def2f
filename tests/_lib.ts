/**
 * The one place the tests and their fixtures import the library from.
 *
 * On Deno and Bun this is the TypeScript source. For the Node suite,
 * `scripts/node_tests.ts` compiles the tests and rewrites these imports to
 * the installed npm package, as a user's code would import it: the public
 * modules as `"sysipc"`, and the few internals below (the libc binding the
 * leak checks use, the shm constants and test hook) as the very files inside
 * `node_modules/sysipc/esm/` that the package itself loads — the same module
 * instances, so a test hook set here is the package's.
 *
 * @module
 */
export * from "../mod.ts";
export { libc } from "../_ffi/mod.ts";
export { IPC, MMAP, SC_PAGESIZE, SHM_MODE, SHM_RDONLY, SHMID_DS, testHooks } from "../shm/_sys.ts";
