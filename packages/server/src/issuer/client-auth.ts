import type { ClientRecord } from '@gatehouse/core';
import type { ClientRegistry } from '../clients/client-registry.js';
import { secretMatches } from '../clients/client-secrets.js';
import type { FormBody } from '../http/form-body.js';
import { OAuthError } from '../http/oauth-error.js';

/** The client authentication methods Gatehouse supports (and advertises in metadata). */
export const CLIENT_AUTH_METHODS = ['client_secret_basic', 'client_secret_post'] as const;

export type ClientAuthMethod = (typeof CLIENT_AUTH_METHODS)[number];

export interface AuthenticatedClient {
  client: ClientRecord;
  method: ClientAuthMethod;
}

const CLIENT_ID = /^[A-Za-z0-9._~-]{1,128}$/;
const BASIC_CHALLENGE = 'Basic realm="gatehouse", charset="UTF-8"';

/**
 * Authenticates the calling client from `Authorization: Basic` (RFC 6749 §2.3.1: id and secret
 * are form-urlencoded inside) or from `client_id`/`client_secret` in the body. Exactly one method
 * may be used. Every failure is the same `invalid_client`, with a Basic challenge when Basic was
 * tried, and the unknown-client path does the same hashing as the wrong-secret path.
 */
export async function authenticateClient(
  authorization: string | undefined,
  body: FormBody,
  clients: ClientRegistry,
): Promise<AuthenticatedClient> {
  const basic = authorization !== undefined && /^basic /i.test(authorization);
  const postSecret = body.get('client_secret');
  if (authorization !== undefined && !basic) {
    throw new OAuthError('invalid_client', 'unsupported client authentication scheme', {
      wwwAuthenticate: BASIC_CHALLENGE,
    });
  }
  if (basic && postSecret !== undefined) {
    throw new OAuthError('invalid_request', 'use exactly one client authentication method');
  }
  let id: string;
  let secret: string;
  let method: ClientAuthMethod;
  if (basic) {
    const decoded = decodeBasic(authorization.slice(6).trim());
    if (!decoded) {
      throw new OAuthError('invalid_client', 'malformed Basic credentials', {
        wwwAuthenticate: BASIC_CHALLENGE,
      });
    }
    [id, secret] = decoded;
    const bodyId = body.get('client_id');
    if (bodyId !== undefined && bodyId !== id) {
      throw new OAuthError('invalid_request', 'client_id in the body does not match the Basic credentials');
    }
    method = 'client_secret_basic';
  } else {
    const bodyId = body.get('client_id');
    if (bodyId === undefined || postSecret === undefined) {
      throw new OAuthError('invalid_client', 'client authentication is required', {
        wwwAuthenticate: BASIC_CHALLENGE,
      });
    }
    id = bodyId;
    secret = postSecret;
    method = 'client_secret_post';
  }
  // Only a well-formed id is looked up (every registered id is one); others are simply unknown.
  const client = CLIENT_ID.test(id) ? await clients.get(id) : undefined;
  if (!secretMatches(secret, client?.secretDigest) || !client) {
    // Every 401 carries a challenge (RFC 9110 §15.5.2), whichever method was tried.
    throw new OAuthError('invalid_client', 'client authentication failed', {
      wwwAuthenticate: BASIC_CHALLENGE,
    });
  }
  return { client, method };
}

function decodeBasic(encoded: string): [string, string] | undefined {
  if (!/^[A-Za-z0-9+/]+={0,2}$/.test(encoded)) return undefined;
  const text = Buffer.from(encoded, 'base64').toString('utf8');
  const colon = text.indexOf(':');
  if (colon <= 0) return undefined;
  try {
    const id = decodeURIComponent(text.slice(0, colon).replace(/\+/g, ' '));
    const secret = decodeURIComponent(text.slice(colon + 1).replace(/\+/g, ' '));
    return secret === '' ? undefined : [id, secret];
  } catch {
    return undefined;
  }
}
