/// <reference lib="deno.worker" />
// Benchmark worker for postMessage: the same roles over a MessagePort.
self.onmessage = (e: MessageEvent) => {
  const { role, n, size } = e.data;
  const port: MessagePort | undefined = e.data.port;
  if (role === "produce") {
    const msg = new Uint8Array(size);
    const target = port ?? self;
    self.postMessage("ready");
    self.onmessage = () => {
      for (let i = 0; i < n; i++) target.postMessage(msg);
    };
  } else if (role === "produceMany") {
    const batch = Array.from({ length: e.data.batch }, () => new Uint8Array(size));
    self.postMessage("ready");
    self.onmessage = () => {
      for (let i = 0; i < n; i += batch.length) port!.postMessage(batch);
    };
  } else if (role === "consumeMany") {
    let got = 0;
    let bytes = 0;
    port!.onmessage = (m) => {
      for (const b of m.data as Uint8Array[]) bytes += b.length;
      got += (m.data as Uint8Array[]).length;
      if (got >= n) self.postMessage({ bytes });
    };
    self.postMessage("ready");
  } else if (role === "consume") {
    let got = 0;
    let bytes = 0;
    port!.onmessage = (m) => {
      bytes += (m.data as Uint8Array).length;
      if (++got === n) self.postMessage({ bytes });
    };
    self.postMessage("ready");
  } else if (role === "pong") {
    port!.onmessage = (m) => port!.postMessage(m.data);
    self.postMessage("ready");
  } else if (role === "ping") {
    const msg = new Uint8Array(size);
    let left = 0;
    let t = 0;
    port!.onmessage = () => {
      if (--left > 0) port!.postMessage(msg);
      else self.postMessage({ ms: performance.now() - t });
    };
    self.postMessage("ready");
    self.onmessage = () => {
      left = n;
      t = performance.now();
      port!.postMessage(msg);
    };
  }
};
