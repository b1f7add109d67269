import type { ServerResponse } from 'node:http';
import { bearerChallenge, type ErrorCode } from '@gatehouse/core';
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
export function challengeFor(outcome: AuthOutcome): string {
  return outcome.status === 'rejected'
    ? bearerChallenge({ error: 'invalid_token', description: outcome.description })
    : bearerChallenge();
}

/** RFC 6750 §3.1 insufficient_scope challenge naming the scope the route needs. */
export function scopeChallenge(scope: string): string {
  return bearerChallenge({
    error: 'insufficient_scope',
    description: 'the token lacks a required scope',
    scope,
  });
}
