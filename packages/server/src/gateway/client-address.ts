import type { IncomingMessage } from 'node:http';
import { BlockList, isIPv6 } from 'node:net';

/**
 * The client's address: the socket peer, or — only when the peer is a trusted proxy — the
 * rightmost X-Forwarded-For entry that is not itself a trusted proxy. Anyone else's
 * X-Forwarded-For is ignored, so inventing addresses never escapes a per-address limit.
 */
export class ClientAddress {
  readonly #trusted = new BlockList();
  readonly #any: boolean;

  constructor(trustedProxies: readonly string[]) {
    for (const entry of trustedProxies) {
      const [address = '', bits] = entry.split('/');
      const family = isIPv6(address) ? 'ipv6' : 'ipv4';
      if (bits === undefined) this.#trusted.addAddress(address, family);
      else this.#trusted.addSubnet(address, Number(bits), family);
    }
    this.#any = trustedProxies.length > 0;
  }

  of(request: IncomingMessage): string {
    const peer = normalize(request.socket.remoteAddress ?? '');
    if (!this.#any || !this.#isTrusted(peer)) return peer;
    const forwarded = request.headers['x-forwarded-for'];
    const hops = (Array.isArray(forwarded) ? forwarded.join(',') : (forwarded ?? ''))
      .split(',')
      .map((h) => normalize(h.trim()))
      .filter((h) => h !== '');
    for (let i = hops.length - 1; i >= 0; i--) {
      const hop = hops[i] as string;
      if (!this.#isTrusted(hop)) return hop;
    }
    return peer;
  }

  #isTrusted(address: string): boolean {
    try {
      return this.#trusted.check(address, isIPv6(address) ? 'ipv6' : 'ipv4');
    } catch {
      return false;
    }
  }
}

/** `::ffff:127.0.0.1` → `127.0.0.1`. */
function normalize(address: string): string {
  return address.startsWith('::ffff:') ? address.slice(7) : address;
}
