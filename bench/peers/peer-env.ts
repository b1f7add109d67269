import type { Server } from 'node:http';

/** The two settings every peer server takes from its environment; exits 2 without them. */
export function peerEnv(): { port: number; secret: string } {
  const port = Number(process.env.BENCH_PORT);
  const secret = process.env.BENCH_SECRET;
  if (!Number.isInteger(port) || port <= 0 || !secret) {
    console.error('BENCH_PORT and BENCH_SECRET are required');
    process.exit(2);
  }
  return { port, secret };
}

/** Listens on loopback, announces itself on stdout, and exits cleanly on SIGTERM/SIGINT. */
export function serveUntilSignal(server: Server, port: number, announcement: string): void {
  server.listen(port, '127.0.0.1', () => {
    process.stdout.write(`${announcement}\n`);
  });
  const shutdown = () => {
    server.close(() => process.exit(0));
    server.closeAllConnections();
    setTimeout(() => process.exit(0), 2000).unref();
  };
  process.once('SIGTERM', shutdown);
  process.once('SIGINT', shutdown);
}
