/** How a service reaches Gatehouse and proves who it is (its OAuth client). */
export interface GatehouseEndpoint {
  /** Where Gatehouse answers, e.g. `http://127.0.0.1:8080`. */
  url: string;
  /** The `iss` of its tokens; defaults to `url`. */
  issuer?: string;
  /** This service's OAuth client (client_credentials, token exchange, the revocation feed). */
  clientId?: string;
  clientSecret?: string;
  /** Injected for tests; the global fetch (undici) by default. */
  fetch?: typeof fetch;
}

/** `Authorization: Basic` for the endpoint's client (RFC 6749 §2.3.1: form-encoded parts). */
export function clientBasic(endpoint: GatehouseEndpoint): string {
  if (endpoint.clientId === undefined || endpoint.clientSecret === undefined) {
    throw new Error("this needs the service's clientId and clientSecret");
  }
  const id = encodeURIComponent(endpoint.clientId);
  const secret = encodeURIComponent(endpoint.clientSecret);
  return `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
}

/** POSTs a form to Gatehouse as the service's client; the JSON answer and the status. */
export async function postForm(
  endpoint: GatehouseEndpoint,
  path: string,
  form: Record<string, string>,
  timeoutMs = 5000,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await (endpoint.fetch ?? fetch)(`${endpoint.url.replace(/\/$/, '')}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: clientBasic(endpoint) },
    body: new URLSearchParams(form).toString(),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let body: Record<string, unknown> = {};
  try {
    body = text === '' ? {} : (JSON.parse(text) as Record<string, unknown>);
  } catch {
    body = { error: 'invalid_response', error_description: 'Gatehouse answered something other than JSON' };
  }
  return { status: res.status, body };
}
