import type { FastifyInstance } from 'fastify';
import { request } from 'undici';

/** The client_credentials form body and Basic header for a client. */
function tokenRequest(client: string, secret: string, scope: string) {
  return {
    headers: {
      'content-type': 'application/x-www-form-urlencoded',
      authorization: `Basic ${Buffer.from(`${client}:${secret}`).toString('base64')}`,
    },
    body: new URLSearchParams({ grant_type: 'client_credentials', scope }).toString(),
  };
}

/** An access token from a Gatehouse listening at `baseUrl` (client_credentials grant). */
export async function fetchClientToken(
  baseUrl: string,
  client: string,
  secret: string,
  scope: string,
): Promise<string> {
  const { headers, body } = tokenRequest(client, secret, scope);
  const res = await request(`${baseUrl}/oauth2/token`, { method: 'POST', headers, body });
  return ((await res.body.json()) as { access_token: string }).access_token;
}

/** An access token from an in-process app (client_credentials grant over inject()). */
export async function injectClientToken(
  app: FastifyInstance,
  client: string,
  secret: string,
  scope: string,
): Promise<string> {
  const { headers, body } = tokenRequest(client, secret, scope);
  const res = await app.inject({ method: 'POST', url: '/oauth2/token', headers, payload: body });
  return (res.json() as { access_token: string }).access_token;
}
