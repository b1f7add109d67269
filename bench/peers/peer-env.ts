import type { Server } from 'node:http';

/** A required setting from the environment; exits 2 without it. */
export function requiredEnv(name: string): string {
  const value = process.env[name];
  if (!value) {
    console.error(`${name} is required`);
    process.exit(2);
  }
  return value;
}

/** BENCH_PORT, the port every peer server listens on; exits 2 without it. */
export function peerPort(): number {
  const port = Number(requiredEnv('BENCH_PORT'));
  if (!Number.isInteger(port) || port <= 0) {
    console.error('BENCH_PORT must be a port number');
    process.exit(2);
  }
  return port;
}

/** The two settings the token endpoint peers take from their environment; exits 2 without them. */
export function peerEnv(): { port: number; secret: string } {
  return { port: peerPort(), secret: requiredEnv('BENCH_SECRET') };
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
