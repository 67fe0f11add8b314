// The service's side of a sign-in, shared by the end-to-end tests: discovery
// against the test server, a PKCE authorization request and its code grant
// (openid-client 6), a whole sign-in through the real login form, and the
// RFC 6238 codes a test types into one-time-code forms.
import { createHmac } from 'node:crypto';
import * as client from 'openid-client';

import { Browser, loginAndGetCallback } from './server.js';

/** The RFC 6238 code (SHA-1, 6 digits, 30 s) of a base32 secret at time t (ms). */
export function totp(secretB32, t = Date.now()) {
  const alphabet = 'ABCDEFGHIJKLMNOPQRSTUVWXYZ234567';
  let bits = '';
  for (const ch of secretB32.replace(/=+$/, '')) bits += alphabet.indexOf(ch).toString(2).padStart(5, '0');
  const bytes = [];
  for (let i = 0; i + 8 <= bits.length; i += 8) bytes.push(parseInt(bits.slice(i, i + 8), 2));
  const counter = Buffer.alloc(8);
  counter.writeBigUInt64BE(BigInt(Math.floor(t / 1000 / 30)));
  const h = createHmac('sha1', Buffer.from(bytes)).update(counter).digest();
  const o = h[h.length - 1] & 0x0f;
  return String((h.readUInt32BE(o) & 0x7fffffff) % 1_000_000).padStart(6, '0');
}

/**
 * openid-client's configuration of a confidential client (client_secret_basic)
 * of the test server at issuer (plain HTTP); with {fetch} (hostFetch) every
 * request of it goes through that.
 */
export function discover(issuer, clientId, secret, { fetch: fetchFn } = {}) {
  return client.discovery(new URL(issuer), clientId, secret, client.ClientSecretBasic(secret), {
    execute: [client.allowInsecureRequests],
    ...(fetchFn ? { [client.customFetch]: fetchFn } : {}),
  });
}

/**
 * A PKCE (S256) authorization request of config to redirectUri with a fresh
 * state; params adds or overrides parameters (e.g. ui_locales). { url, verifier, state }.
 */
export async function authorizationRequest(config, redirectUri, scope, params = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: redirectUri,
    scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ...params,
  });
  return { url, verifier, state };
}

/** The tokens for the code in callback (a URL), answering the request req of authorizationRequest. */
export function codeGrant(config, callback, req) {
  return client.authorizationCodeGrant(config, callback, { pkceCodeVerifier: req.verifier, expectedState: req.state });
}

/**
 * Signs a citizen in for the service clientId (scope "openid profile email")
 * through the real login form, where no consent screen comes between: { config, tokens }.
 * With {fetch} (hostFetch) the service and the browser make their requests with it.
 */
export async function signIn(issuer, { clientId, secret, redirectUri, username, password, fetch: fetchFn }) {
  const config = await discover(issuer, clientId, secret, { fetch: fetchFn });
  const req = await authorizationRequest(config, redirectUri, 'openid profile email');
  const callback = await loginAndGetCallback(new Browser(issuer, { fetch: fetchFn }), req.url, username, password);
  return { config, tokens: await codeGrant(config, callback, req) };
}
