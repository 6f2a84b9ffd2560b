/// <reference lib="deno.worker" />
// The far side of tests/workers/handles_gc.ts: holds a posted handle without
// attaching ("hold"), attaches only when told ("attach"), uses the object,
// disposes what it attached and reports. Replies: { id, attached: true } or
// { id, error } once `from` ran, then { id, value } or { id, error }.
import {
  AtomicBox,
  AtomicCounter,
  AtomicFlag,
  BroadcastReceiver,
  BroadcastSender,
  Condvar,
  Mutex,
  OneshotReceiver,
  OneshotSender,
  Receiver,
  RwLock,
  Semaphore,
  Sender,
  TcpListener,
  TcpStream,
  UdpSocket,
} from "../../mod.ts";

const text = new TextEncoder();
const str = { codec: "string" } as const;

// Each attaches with `from`, does one thing that needs a live object, and
// disposes its wrapper. The returned promise is the work after attaching.
const attachers: Record<string, (handle: number, extra: Record<string, unknown>) => () => Promise<string> | string> = {
  Mutex: (h) => {
    const m = Mutex.from(h);
    return () => {
      const g = m.tryLock();
      if (g === null) throw new Error("the mutex was locked");
      g.unlock();
      m[Symbol.dispose]();
      return "unlocked";
    };
  },
  RwLock: (h) => {
    const l = RwLock.from(h);
    return () => {
      const g = l.tryWrite();
      if (g === null) throw new Error("the lock was held");
      g.unlock();
      l[Symbol.dispose]();
      return "written";
    };
  },
  Semaphore: (h) => {
    const s = Semaphore.from(h);
    return () => {
      const n = s.available;
      s[Symbol.dispose]();
      return String(n);
    };
  },
  Condvar: (h) => {
    const cv = Condvar.from(h);
    return () => {
      const n = cv.notifyAll();
      cv[Symbol.dispose]();
      return String(n);
    };
  },
  AtomicCounter: (h) => {
    const c = AtomicCounter.from(h);
    return () => {
      const n = c.add(1);
      c[Symbol.dispose]();
      return String(n);
    };
  },
  AtomicFlag: (h) => {
    const f = AtomicFlag.from(h);
    return () => {
      const v = f.load();
      f[Symbol.dispose]();
      return String(v);
    };
  },
  AtomicBox: (h) => {
    const b = AtomicBox.from<string>(h, str);
    return () => {
      const v = b.load();
      b[Symbol.dispose]();
      return v;
    };
  },
  Sender: (h) => {
    const tx = Sender.from<string>(h, str);
    return () => {
      tx.sendSync("hi");
      tx[Symbol.dispose]();
      return "sent";
    };
  },
  Receiver: (h) => {
    const rx = Receiver.from<string>(h, str);
    return async () => {
      const v = await rx.recv();
      rx[Symbol.dispose]();
      return String(v);
    };
  },
  BroadcastSender: (h) => {
    const tx = BroadcastSender.from<string>(h, str);
    return () => {
      tx.sendSync("hi");
      tx[Symbol.dispose]();
      return "sent";
    };
  },
  BroadcastReceiver: (h) => {
    const rx = BroadcastReceiver.from<string>(h, str);
    return async () => {
      const v = await rx.recv();
      rx[Symbol.dispose]();
      return String(v);
    };
  },
  OneshotSender: (h) => {
    const tx = OneshotSender.from<string>(h, str);
    return () => {
      tx.send("hi");
      tx[Symbol.dispose]();
      return "sent";
    };
  },
  OneshotReceiver: (h) => {
    const rx = OneshotReceiver.from<string>(h, str);
    return async () => {
      const v = await rx.recv();
      rx[Symbol.dispose]();
      return v;
    };
  },
  TcpListener: (h) => {
    const l = TcpListener.from(h);
    return async () => {
      const c = await l.accept();
      await c.writeAll(text.encode("hi"));
      c.close();
      l.close();
      return "accepted";
    };
  },
  TcpStream: (h) => {
    const s = TcpStream.from(h);
    return async () => {
      await s.writeAll(text.encode("hi"));
      s.close();
      return "written";
    };
  },
  UdpSocket: (h, extra) => {
    const s = UdpSocket.from(h);
    return async () => {
      await s.send(text.encode("hi"), { hostname: "127.0.0.1", port: extra.port as number });
      s.close();
      return "sent";
    };
  },
};

const held = new Map<number, { name: string; handle: number; extra: Record<string, unknown> }>();

self.onmessage = async (e: MessageEvent) => {
  const { op, id } = e.data;
  if (op === "hold") {
    held.set(id, { name: e.data.name, handle: e.data.handle, extra: e.data.extra ?? {} });
    return;
  }
  if (op !== "attach") return;
  const h = held.get(id)!;
  held.delete(id);
  let work: () => Promise<string> | string;
  try {
    work = attachers[h.name](h.handle, h.extra);
  } catch (err) {
    self.postMessage({ id, error: String(err) });
    return;
  }
  self.postMessage({ id, attached: true });
  try {
    self.postMessage({ id, value: await work() });
  } catch (err) {
    self.postMessage({ id, error: String(err) });
  }
};
self.postMessage({ ready: true });
