import { createHash } from 'node:crypto';
import { Redis } from 'ioredis';
import { translateFailure, unavailableError } from './errors.js';

/**
 * Opens an ioredis connection tuned for Gatehouse: a command fails after one reconnect attempt
 * instead of waiting ~20 (rate limits and revocation checks decide fail-open or fail-closed
 * per route, which needs a prompt answer), and connection errors are handled here rather than
 * printed by ioredis as "Unhandled error event".
 */
export function openRedis(url: string, connectionName: string): Redis {
  const client = new Redis(url, { connectionName, maxRetriesPerRequest: 1, connectTimeout: 5000 });
  // The failing command rejects with the error; the event itself needs no handling.
  client.on('error', () => {});
  return client;
}

/** Closes gracefully when connected (pending replies arrive), abruptly otherwise. */
export async function closeRedis(client: Redis): Promise<void> {
  if (client.status === 'end') return;
  if (client.status !== 'ready') {
    client.disconnect();
    return;
  }
  try {
    await client.quit();
  } catch {
    client.disconnect();
  }
}

// Replies that mean "this server cannot serve now" rather than "your command is wrong".
const UNAVAILABLE_REPLY = /^(LOADING|READONLY|MASTERDOWN|CLUSTERDOWN|TRYAGAIN|BUSY)\b/;

/**
 * Translates an ioredis failure: a reply error (WRONGTYPE, not an integer…) is a bug and is
 * rethrown as is; anything else means Redis cannot be reached and becomes ERR_STORE_UNAVAILABLE.
 */
function redisFailure(error: unknown, what: string): unknown {
  const isReply = error instanceof Error && error.name === 'ReplyError';
  if (isReply && !UNAVAILABLE_REPLY.test(error.message)) return error;
  return unavailableError(what, error);
}

/** Returns a runner that applies {@link redisFailure} to whatever its operation throws. */
export function redisCaller(what: string): <T>(op: () => Promise<T>) => Promise<T> {
  return (op) => translateFailure(op, (error) => redisFailure(error, what));
}

/** A Lua script run by EVALSHA, loaded on first use and again after a server restart. */
export class RedisScript {
  private readonly sha: string;

  constructor(private readonly source: string) {
    this.sha = createHash('sha1').update(source).digest('hex');
  }

  async run(client: Redis, keys: string[], args: (string | number)[]): Promise<unknown> {
    try {
      return await client.evalsha(this.sha, keys.length, ...keys, ...args);
    } catch (error) {
      if (!(error instanceof Error && error.message.startsWith('NOSCRIPT'))) throw error;
      return client.eval(this.source, keys.length, ...keys, ...args);
    }
  }
}
