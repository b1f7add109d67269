/** Upstream node:http servers for black-box tests: they record what reached them and echo it. */
import { createServer, type IncomingHttpHeaders, type Server } from 'node:http';
import { freePort } from './gatehouse-process.js';

export interface Seen {
  method: string;
  url: string;
  headers: IncomingHttpHeaders;
}

/** An upstream that records every request and answers with what it saw. */
export async function echoServer(name: string, behaviour: 'echo' | 'hang' = 'echo') {
  const seen: Seen[] = [];
  const server: Server = createServer((req, res) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    if (behaviour === 'hang') return; // never answers
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      // A slow upstream on request: the answer waits this long (the hang-up attack test).
      const delay = Number(req.headers['x-echo-delay-ms'] ?? 0);
      if (delay > 0) setTimeout(answer, delay);
      else answer();
    });
    const answer = () => {
      const body = JSON.stringify({
        upstream: name,
        method: req.method,
        url: req.url,
        headers: req.headers,
        body: Buffer.concat(chunks).toString(),
      });
      res.writeHead(200, {
        'content-type': 'application/json',
        connection: 'keep-alive',
        'x-upstream': name,
      });
      res.end(body);
    };
  });
  // An upgrade to a toy protocol: 101, then every byte echoed back (what a WebSocket needs of a proxy).
  server.on('upgrade', (req, socket) => {
    seen.push({ method: req.method ?? '', url: req.url ?? '', headers: req.headers });
    socket.write(
      'HTTP/1.1 101 Switching Protocols\r\nUpgrade: gatehouse-echo\r\nConnection: Upgrade\r\n\r\n',
    );
    socket.pipe(socket);
  });
  const port = await freePort();
  await new Promise<void>((resolve) => server.listen(port, '127.0.0.1', resolve));
  return {
    url: `http://127.0.0.1:${port}`,
    seen,
    close: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

export type Echo = Awaited<ReturnType<typeof echoServer>>;
