// A TCP proxy that adds latency to every chunk either way (order kept), for a slow etcd
// between kube-apiserver and etcd.
import net from 'node:net';

export interface TcpLatencyProxy {
  readonly port: number;
  /** Delay added to each chunk, each way, from now on (0: none). */
  setLatency(ms: number): void;
  close(): Promise<void>;
}

export async function startTcpLatencyProxy(targetPort: number): Promise<TcpLatencyProxy> {
  let latencyMs = 0;
  const sockets = new Set<net.Socket>();
  // Chunks leave in order: each at least `latencyMs` after it arrived and after the one before.
  const pipe = (from: net.Socket, to: net.Socket) => {
    let lastDue = 0;
    from.on('data', (chunk) => {
      if (latencyMs <= 0 && lastDue <= Date.now()) {
        to.write(chunk);
        return;
      }
      const due = Math.max(Date.now() + latencyMs, lastDue);
      lastDue = due;
      setTimeout(() => to.writable && to.write(chunk), due - Date.now());
    });
    from.on('close', () => setTimeout(() => to.destroy(), Math.max(0, lastDue - Date.now())));
    from.on('error', () => to.destroy());
  };
  const server = net.createServer((client) => {
    const upstream = net.connect({ host: '127.0.0.1', port: targetPort });
    for (const s of [client, upstream]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
    }
    pipe(client, upstream);
    pipe(upstream, client);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return {
    port: (server.address() as net.AddressInfo).port,
    setLatency(ms) {
      latencyMs = ms;
    },
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}
