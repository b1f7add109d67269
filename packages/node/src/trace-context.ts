import { randomBytes, randomUUID } from 'node:crypto';

const TRACEPARENT = /^00-([0-9a-f]{32})-([0-9a-f]{16})-([0-9a-f]{2})$/;

/** W3C traceparent for a downstream call: the same trace with a new span, or a new trace. */
export function childTraceparent(incoming: string | undefined): string {
  const span = randomBytes(8).toString('hex');
  const match = incoming === undefined ? null : TRACEPARENT.exec(incoming);
  if (match && !/^0+$/.test(match[1] as string)) return `00-${match[1]}-${span}-${match[3]}`;
  return `00-${randomBytes(16).toString('hex')}-${span}-01`;
}

const REQUEST_ID = /^[A-Za-z0-9._:-]{1,128}$/;

/** The caller's request id when it is a sane one, else a new one. */
export function requestIdFor(incoming: string | undefined): string {
  return incoming !== undefined && REQUEST_ID.test(incoming) ? incoming : randomUUID();
}
