import type { ServerResponse } from 'node:http';
import type { ErrorCode } from '@gatehouse/core';
import type { AuthOutcome } from './pipeline/identity.js';

const TITLES: Record<number, string> = {
  400: 'Bad Request',
  401: 'Unauthorized',
  403: 'Forbidden',
  404: 'Not Found',
  413: 'Content Too Large',
  429: 'Too Many Requests',
  502: 'Bad Gateway',
  503: 'Service Unavailable',
  504: 'Gateway Timeout',
};

/** Sends an RFC 9457 problem document from the gateway (nothing about the upstream leaks). */
export function sendProblem(
  response: ServerResponse,
  status: number,
  code: ErrorCode,
  detail: string,
  headers: Record<string, string> = {},
): void {
  if (response.headersSent) {
    response.destroy();
    return;
  }
  const body = JSON.stringify({
    type: `urn:gatehouse:error:${code}`,
    title: TITLES[status] ?? 'Error',
    status,
    code,
    detail,
  });
  response.writeHead(status, {
    ...headers,
    'content-type': 'application/problem+json',
    'content-length': Buffer.byteLength(body),
    'cache-control': 'no-store',
  });
  response.end(body);
}

/** RFC 6750 §3: the challenge for a missing (no error code) or refused credential. */
export function bearerChallenge(outcome: AuthOutcome, realm = 'gatehouse'): string {
  if (outcome.status !== 'rejected') return `Bearer realm="${realm}"`;
  // error_description is limited to %x20-21 / %x23-5B / %x5D-7E.
  const description = outcome.description.replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
  return `Bearer realm="${realm}", error="invalid_token", error_description="${description}"`;
}

/** RFC 6750 §3.1 insufficient_scope challenge naming the scope the route needs. */
export function scopeChallenge(scope: string, realm = 'gatehouse'): string {
  return `Bearer realm="${realm}", error="insufficient_scope", error_description="the token lacks a required scope", scope="${scope}"`;
}
