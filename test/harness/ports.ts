import net from 'node:net';

/** Asks the kernel for a free TCP port on loopback. The port is released before use, so a
 * tiny race exists; callers start their process at once and fail loudly if it lost. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = net.createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      const port = typeof address === 'object' && address ? address.port : 0;
      server.close(() => resolve(port));
    });
  });
}
