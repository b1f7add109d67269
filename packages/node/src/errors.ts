import { type ErrorCode, GatehouseError } from '@gatehouse/core';

/**
 * A request this service must refuse: 401 (no or bad token), 403 (scope, policy) or 503 (the
 * service cannot currently check). `challenge` is the RFC 6750 `WWW-Authenticate` value.
 */
export class AccessError extends GatehouseError {
  readonly challenge: string | undefined;

  constructor(
    code: ErrorCode,
    status: 401 | 403 | 503,
    message: string,
    challenge?: string,
    cause?: unknown,
  ) {
    super(code, message, { status, expose: true, cause });
    this.name = 'AccessError';
    this.challenge = challenge;
  }

  /** RFC 9457 problem document, as Gatehouse itself answers. */
  toProblem(): { type: string; title: string; status: number; code: ErrorCode; detail: string } {
    const titles: Record<number, string> = {
      401: 'Unauthorized',
      403: 'Forbidden',
      503: 'Service Unavailable',
    };
    return {
      type: `urn:gatehouse:error:${this.code}`,
      title: titles[this.status] ?? 'Error',
      status: this.status,
      code: this.code,
      detail: this.message,
    };
  }
}
