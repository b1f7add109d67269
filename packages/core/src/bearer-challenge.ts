/** What an RFC 6750 §3 `WWW-Authenticate: Bearer` challenge says. */
export interface BearerChallenge {
  realm?: string;
  /** None for a request that sent no credential (§3.1: then no error code). */
  error?: 'invalid_request' | 'invalid_token' | 'insufficient_scope';
  description?: string;
  /** The scope needed (for `insufficient_scope`). */
  scope?: string;
}

/**
 * The `WWW-Authenticate` value of a refused bearer request; `error_description` keeps to the
 * characters RFC 6750 allows (%x20-21 / %x23-5B / %x5D-7E). Used by the gateway, the admin and
 * policy APIs, and @gatehouse/node alike.
 *
 * @example
 * ```ts
 * bearerChallenge({ error: 'insufficient_scope', description: 'scope required', scope: 'read' });
 * ```
 */
export function bearerChallenge(challenge: BearerChallenge = {}): string {
  const head = `Bearer realm="${challenge.realm ?? 'gatehouse'}"`;
  if (challenge.error === undefined) return head;
  const description = (challenge.description ?? '').replace(/[^\x20\x21\x23-\x5b\x5d-\x7e]/g, '');
  const scope = challenge.scope ? `, scope="${challenge.scope}"` : '';
  return `${head}, error="${challenge.error}", error_description="${description}"${scope}`;
}
