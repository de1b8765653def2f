/**
 * A client of `msg_server.ts`: sends requests of type 1 with its pid in the
 * text, and waits for each reply on the same queue by asking for messages of
 * its own pid's type.
 *
 *     deno run --allow-ffi examples/msg_client.ts ID [COUNT=3]
 *     bun examples/msg_client.ts ID [COUNT=3]
 *     node node_modules/sysipc/examples/msg_client.js ID [COUNT=3]     (the npm package)
 *
 * @module
 */
import process from "node:process";
import { MessageQueue } from "../sysv/mod.ts";
import { args, isMain } from "./_run.ts";
import { REQUEST_TYPE } from "./msg_server.ts";

/**
 * Sends `count` requests to the queue with id `id`, printing each reply.
 *
 * @param id The server's queue id.
 * @param count How many requests.
 * @param log Where each reply goes.
 * @returns The replies.
 */
export async function msgClient(
  id: number,
  count: number,
  log: (line: string) => void = console.log,
): Promise<string[]> {
  using queue = MessageQueue.fromId(id);
  const decoder = new TextDecoder();
  const replies: string[] = [];
  for (let i = 1; i <= count; i++) {
    await queue.send(`${process.pid} hello number ${i}`, { type: REQUEST_TYPE });
    // Only a reply typed with our pid: other clients' replies stay for them.
    const reply = await queue.receive({ type: process.pid, timeout: 10_000 });
    const text = decoder.decode(reply.data);
    log(`reply: ${text}`);
    replies.push(text);
  }
  return replies;
}

if (isMain(import.meta)) {
  if (args[0] === undefined) {
    console.error("usage: msg_client.ts ID [COUNT=3]   (ID: what msg_server.ts prints)");
    process.exit(2);
  }
  await msgClient(Number(args[0]), Number(args[1] ?? 3));
}
