// Echoes a connection another isolate accepted (its handle is posted).
import { TcpStream } from "../../mod.ts";

self.onmessage = async (e: MessageEvent<number>) => {
  using conn = TcpStream.from(e.data);
  const buf = new Uint8Array(4096);
  for (;;) {
    const n = await conn.read(buf);
    if (n === null) break;
    await conn.writeAll(buf.subarray(0, n));
  }
  await conn.closeWrite();
  self.postMessage("done");
};
