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
