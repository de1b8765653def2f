/**
 * The classic typed-queue server: every client sends its requests with type
 * 1 and its pid in the text; the server answers each with a reply typed with
 * that pid, so every client receives only its own replies from the one
 * queue, however many clients talk at once. Start it, then one or more
 * `msg_client.ts` processes with the id it prints.
 *
 *     deno run --allow-ffi examples/msg_server.ts [REQUESTS=6]
 *     bun examples/msg_server.ts [REQUESTS=6]
 *     node node_modules/sysipc/examples/msg_server.js [REQUESTS=6]     (the npm package)
 *
 * It serves that many requests, then removes the queue once the clients
 * have taken their replies (`ipcs -q` shows it meanwhile).
 *
 * @module
 */
import process from "node:process";
import { MessageQueue } from "../sysv/mod.ts";
import { args, isMain } from "./_run.ts";

/** The type every request is sent with; replies carry the client's pid. */
export const REQUEST_TYPE = 1;

/**
 * Serves `requests` requests from `queue`: each is `"<pid> <text>"`, each
 * reply (type `pid`) is the text in upper case, signed with the server's pid.
 *
 * @param queue The queue clients send to.
 * @param requests How many requests to serve before returning.
 * @param log Where each request is reported.
 * @returns The pids served, one per request, in order.
 */
export async function msgServer(
  queue: MessageQueue,
  requests: number,
  log: (line: string) => void = console.log,
): Promise<number[]> {
  const decoder = new TextDecoder();
  const served: number[] = [];
  for (let i = 0; i < requests; i++) {
    // Waits without blocking the event loop; type 1 skips the replies in the queue.
    const request = await queue.receive({ type: REQUEST_TYPE });
    const text = decoder.decode(request.data);
    const space = text.indexOf(" ");
    const pid = Number(text.slice(0, space));
    log(`request from pid ${pid}: ${text.slice(space + 1)}`);
    await queue.send(`${text.slice(space + 1).toUpperCase()} (from server ${process.pid})`, {
      type: pid,
    });
    served.push(pid);
  }
  return served;
}

if (isMain(import.meta)) {
  const requests = Number(args[0] ?? 6);
  using queue = MessageQueue.create();
  try {
    console.log(`queue id ${queue.id}: run msg_client.ts ${queue.id} (serving ${requests})`);
    await msgServer(queue, requests);
    // Removing the queue would take the last replies with it: give the
    // clients up to 5 s to receive them.
    for (let i = 0; i < 500 && queue.stat().messageCount > 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
    }
  } finally {
    queue.remove();
  }
}
