import { BlockList, isIP } from 'node:net';
import type { Context } from './cedar.js';

/** What a caller may say about the circumstances of a request (AuthZEN `context`). */
export interface ContextInput {
  /** ISO 8601 instant of the request; default now. */
  time?: string | undefined;
  /** The end user's IP address; its zone is looked up in the configured networks. */
  ip?: string | undefined;
  /** Risk score 0–100 from a risk engine. */
  risk?: number | undefined;
  /** 0 none, 1 one factor, 2 two factors, 3 phishing-resistant. */
  mfa?: number | undefined;
  device?: { id?: string | undefined; managed: boolean; platform?: string | undefined } | undefined;
}

/**
 * Network zones by name, each a list of CIDRs; the first zone that contains an address is its
 * zone, and an address in none is `external`. Built once from configuration.
 */
export class NetworkZones {
  readonly #zones: { name: string; list: BlockList }[];

  constructor(zones: Readonly<Record<string, readonly string[]>>) {
    this.#zones = Object.entries(zones).map(([name, cidrs]) => {
      const list = new BlockList();
      for (const cidr of cidrs) {
        const [address = '', bits] = cidr.split('/');
        const family = isIP(address) === 6 ? 'ipv6' : 'ipv4';
        if (bits === undefined) list.addAddress(address, family);
        else list.addSubnet(address, Number(bits), family);
      }
      return { name, list };
    });
  }

  /** The zone of an address (`external` when no zone contains it). */
  zoneOf(ip: string): string {
    const family = isIP(ip) === 6 ? 'ipv6' : 'ipv4';
    for (const zone of this.#zones) if (zone.list.check(ip, family)) return zone.name;
    return 'external';
  }
}

/**
 * The Cedar context of a request: time (UTC, to the minute so decisions stay cacheable within
 * it), network with its zone, risk, MFA level and device. Unknown risk or network stays absent
 * so that policies can say what an unknown means (`context has risk`).
 */
export function cedarContext(input: ContextInput, nowMs: number, zones: NetworkZones): Context {
  const at = new Date(input.time === undefined ? nowMs : Date.parse(input.time));
  const context: Context = {
    time: { hour: at.getUTCHours(), minute: at.getUTCMinutes(), weekday: at.getUTCDay() },
    mfa: input.mfa ?? 0,
  };
  if (input.ip !== undefined) {
    context.network = { ip: { __extn: { fn: 'ip', arg: input.ip } }, zone: zones.zoneOf(input.ip) };
  }
  if (input.risk !== undefined) context.risk = input.risk;
  if (input.device !== undefined) {
    const device: Record<string, string | boolean> = { managed: input.device.managed };
    if (input.device.id !== undefined) device.id = input.device.id;
    if (input.device.platform !== undefined) device.platform = input.device.platform;
    context.device = device;
  }
  return context;
}
