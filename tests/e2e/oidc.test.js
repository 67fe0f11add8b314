// End-to-end: the real `civicid serve` on a loopback port with a fresh LMDB
// store, driven by openid-client 6 (the relying party) and a cookie-keeping
// HTTP client (the citizen's browser, through the real login form).
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { spawn } from 'node:child_process';
import { setTimeout as sleep } from 'node:timers/promises';
import * as client from 'openid-client';

import {
  Browser,
  addClient,
  addUser,
  cli,
  freshStore,
  htmlDecode,
  loginAndGetCallback,
  loginForm,
  parseForms,
  startServer,
  statutePolicy,
  submitLogin,
} from './lib/server.js';
import { decodeJwt, tamperPayload, tamperSignature, verifyWithJwks } from './lib/jwt.js';

const T = { timeout: 120_000 };
const MSG_EN = JSON.parse(readFileSync(new URL('../../web/messages/en.json', import.meta.url), 'utf8'));
const MSG_JA = JSON.parse(readFileSync(new URL('../../web/messages/ja.json', import.meta.url), 'utf8'));

const HANAKO = {
  username: 'hanako',
  password: 'hanako-e2e-Passw0rd!',
  claims: {
    name: '山田 花子',
    family_name: '山田',
    given_name: '花子',
    'family_name#ja-Kana-JP': 'ヤマダ',
    'given_name#ja-Kana-JP': 'ハナコ',
    'family_name#en': 'Yamada',
    email: 'hanako@example.jp',
    email_verified: 'true',
    resident_district: 'Aoi',
    household_size: '3',
  },
};
const TARO = {
  username: 'taro',
  password: 'taro-e2e-Passw0rd!',
  claims: { name: '鈴木 太郎', email: 'taro@example.jp' },
};

// The services. Redirect URIs point where nothing listens: the browser never
// follows them, the test reads the Location header instead.
const RP = {
  clientId: 'rp-basic',
  name: 'Childcare support (e2e)',
  redirect: 'http://127.0.0.1:9/cb',
  postLogout: 'http://127.0.0.1:9/bye',
  scope: 'openid profile email city offline_access',
};
const SPA = {
  clientId: 'spa-public',
  name: 'City library (e2e)',
  redirect: 'http://localhost:9/cb',
  postLogout: 'http://localhost:9/bye',
  scope: 'openid profile email city offline_access',
  public: true,
};
const POST_RP = {
  clientId: 'rp-post',
  name: 'Waste collection (e2e)',
  redirect: 'http://127.0.0.1:9/post-cb',
  scope: 'openid profile email',
  idTokenAlg: 'RS256',
};
const MACHINE = {
  clientId: 'machine',
  name: 'Bus timetable sync (e2e)',
  scope: 'city',
  grantTypes: 'client_credentials',
};

let store;
let server;
let issuer;
let jwks;
const cfg = {}; // clientId -> openid-client Configuration
const secrets = {}; // clientId -> client_secret

function register(st, c) {
  const out = addClient(st, {
    clientId: c.clientId,
    name: c.name,
    public: c.public,
    redirectUris: c.redirect ? [c.redirect] : [],
    postLogoutRedirectUris: c.postLogout ? [c.postLogout] : [],
    scope: c.scope,
    grantTypes: c.grantTypes,
    idTokenAlg: c.idTokenAlg,
    sectorIdentifierUri: c.sectorIdentifierUri,
  });
  assert.equal(out.client_id, c.clientId);
  return out.client_secret;
}

/** openid-client's discovery for one client, on plain http (loopback only). */
function discover(iss, clientId, metadata, auth, extra = []) {
  return client.discovery(new URL(iss), clientId, metadata, auth, {
    execute: [client.allowInsecureRequests, ...extra],
  });
}

before(async () => {
  store = freshStore('main');
  // These tests are about the protocol, not consent (consent.test.js is): each
  // service may receive what the tests ask for without the consent screen.
  const attributes = ['name', 'family_name', 'given_name', 'email', 'email_verified',
    'resident_district', 'household_size'];
  for (const c of [RP, SPA, POST_RP]) store.writePolicy(`${c.clientId}.policy`, statutePolicy(c.clientId, attributes));
  addUser(store, HANAKO.username, HANAKO.password, HANAKO.claims);
  addUser(store, TARO.username, TARO.password, TARO.claims);
  for (const c of [RP, SPA, POST_RP, MACHINE]) secrets[c.clientId] = register(store, c);
  assert.equal(secrets[SPA.clientId], undefined, 'a public client has no secret');

  server = await startServer(store);
  issuer = server.issuer;

  cfg[RP.clientId] = await discover(
    issuer,
    RP.clientId,
    { client_secret: secrets[RP.clientId], id_token_signed_response_alg: 'ES256' },
    client.ClientSecretBasic(secrets[RP.clientId]),
    [client.enableNonRepudiationChecks],
  );
  cfg[SPA.clientId] = await discover(
    issuer,
    SPA.clientId,
    { id_token_signed_response_alg: 'ES256' },
    client.None(),
    [client.enableNonRepudiationChecks],
  );
  cfg[POST_RP.clientId] = await discover(
    issuer,
    POST_RP.clientId,
    { client_secret: secrets[POST_RP.clientId], id_token_signed_response_alg: 'RS256' },
    client.ClientSecretPost(secrets[POST_RP.clientId]),
    [client.enableNonRepudiationChecks],
  );
  cfg[MACHINE.clientId] = await discover(
    issuer,
    MACHINE.clientId,
    secrets[MACHINE.clientId],
    client.ClientSecretBasic(secrets[MACHINE.clientId]),
  );
  const res = await fetch(cfg[RP.clientId].serverMetadata().jwks_uri);
  assert.equal(res.status, 200);
  jwks = await res.json();
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    store?.remove();
  }
});

// ---------------------------------------------------------------------------
// helpers
// ---------------------------------------------------------------------------

/** Builds an authorization request with PKCE, state and nonce. */
async function authRequest(config, c, params = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: c.redirect,
    scope: 'openid profile email',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ui_locales: 'en',
    ...params,
  });
  return { url, verifier, state, nonce };
}

/** Redeems the code of callback with openid-client, checking PKCE, state and nonce. */
function redeem(config, callback, auth, overrides = {}) {
  return client.authorizationCodeGrant(config, callback, {
    pkceCodeVerifier: auth.verifier,
    expectedState: auth.state,
    expectedNonce: auth.nonce,
    ...overrides,
  });
}

/** A full login through the form for client c; returns {browser, auth, callback, tokens}. */
async function login(c, { user = HANAKO, browser = new Browser(issuer), params = {} } = {}) {
  const config = cfg[c.clientId];
  const auth = await authRequest(config, c, params);
  const callback = await loginAndGetCallback(browser, auth.url, user.username, user.password);
  assert.equal(`${callback.origin}${callback.pathname}`, c.redirect);
  const tokens = await redeem(config, callback, auth);
  return { browser, auth, callback, tokens };
}

/** Resolves the error an OAuth call failed with: {status, error, challenge}. */
async function oauthError(promise) {
  let err;
  try {
    await promise;
  } catch (e) {
    err = e;
  }
  assert.ok(err, 'expected the call to fail');
  if (err instanceof client.ResponseBodyError) return { status: err.status, error: err.error, err };
  if (err instanceof client.WWWAuthenticateChallengeError) {
    let body = {};
    try {
      body = await err.response.json();
    } catch {
      /* the body may have been read already */
    }
    const params = err.cause?.[0]?.parameters ?? {};
    return { status: err.status, error: body.error ?? params.error, challenge: err.cause, err };
  }
  if (err instanceof client.AuthorizationResponseError) return { error: err.error, err };
  throw err;
}

/** A form POST to the issuer, optionally with HTTP Basic client credentials. */
async function rawPost(path, form, { basic } = {}) {
  const headers = { 'content-type': 'application/x-www-form-urlencoded' };
  if (basic) {
    const enc = (s) => encodeURIComponent(s);
    headers.authorization = `Basic ${Buffer.from(`${enc(basic[0])}:${enc(basic[1])}`).toString('base64')}`;
  }
  const res = await fetch(new URL(path, issuer), {
    method: 'POST',
    headers,
    body: new URLSearchParams(form).toString(),
    redirect: 'manual',
  });
  const text = await res.text();
  let json;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, headers: res.headers, text, json };
}

async function introspect(c, token) {
  return client.tokenIntrospection(cfg[c.clientId], token);
}

async function userinfoRaw(token, method = 'GET') {
  const res = await fetch(new URL('/userinfo', issuer), {
    method,
    headers: { authorization: `Bearer ${token}` },
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, text };
}

function assertErrorPage(res, what) {
  assert.equal(res.status, 400, `${what}: status`);
  assert.equal(res.location, null, `${what}: must not redirect (Location: ${res.location})`);
  assert.match(res.headers.get('content-type') ?? '', /^text\/html/, `${what}: an HTML page`);
  assert.equal(loginForm(res.text), null, `${what}: no login form`);
}

function assertAccessTokenShape(at, { clientId, sub, scope }) {
  const { header, payload } = decodeJwt(at);
  assert.match(String(header.typ), /^(application\/)?at\+jwt$/i, 'access token typ is at+jwt (RFC 9068)');
  assert.ok(header.kid, 'access token header has kid');
  assert.equal(payload.iss, issuer);
  assert.equal(payload.client_id, clientId);
  assert.equal(payload.sub, sub);
  assert.ok(payload.aud, 'aud is present (RFC 9068 §2.2)');
  assert.equal(typeof payload.jti, 'string');
  assert.equal(typeof payload.iat, 'number');
  assert.ok(payload.exp > payload.iat, 'exp after iat');
  if (scope !== undefined) assert.equal(payload.scope, scope);
  return payload;
}

// ---------------------------------------------------------------------------
// discovery
// ---------------------------------------------------------------------------

test('discovery: the metadata and JWKS let openid-client configure itself', T, async () => {
  const m = cfg[RP.clientId].serverMetadata();
  assert.equal(m.issuer, issuer);
  assert.equal(m.authorization_endpoint, `${issuer}/authorize`);
  assert.equal(m.token_endpoint, `${issuer}/token`);
  assert.equal(m.userinfo_endpoint, `${issuer}/userinfo`);
  assert.equal(m.jwks_uri, `${issuer}/jwks`);
  assert.equal(m.introspection_endpoint, `${issuer}/introspect`);
  assert.equal(m.revocation_endpoint, `${issuer}/revoke`);
  assert.equal(m.end_session_endpoint, `${issuer}/logout`);
  assert.deepEqual(m.response_types_supported, ['code']);
  assert.ok(m.code_challenge_methods_supported.includes('S256'));
  assert.ok(!m.code_challenge_methods_supported.includes('plain'), 'plain PKCE is not offered');
  assert.ok(m.id_token_signing_alg_values_supported.includes('ES256'));
  assert.ok(m.id_token_signing_alg_values_supported.includes('RS256'));
  for (const g of ['authorization_code', 'refresh_token', 'client_credentials'])
    assert.ok(m.grant_types_supported.includes(g), `grant_types_supported has ${g}`);
  for (const a of ['client_secret_basic', 'client_secret_post'])
    assert.ok(m.token_endpoint_auth_methods_supported.includes(a), `token auth ${a}`);
  assert.ok(m.subject_types_supported.includes('pairwise'));
  assert.ok(m.scopes_supported.includes('openid'));

  const res = await fetch(`${issuer}/.well-known/openid-configuration`);
  assert.equal(res.status, 200);
  assert.match(res.headers.get('content-type'), /^application\/json/);

  assert.ok(Array.isArray(jwks.keys) && jwks.keys.length >= 2, 'an ES256 and an RS256 key');
  const kids = jwks.keys.map((k) => k.kid);
  assert.ok(kids.every((k) => typeof k === 'string' && k.length > 0), 'every key has a kid');
  assert.equal(new Set(kids).size, kids.length, 'kids are unique');
  assert.ok(jwks.keys.some((k) => k.kty === 'EC' && k.crv === 'P-256'), 'an EC P-256 key');
  assert.ok(jwks.keys.some((k) => k.kty === 'RSA'), 'an RSA key');
  for (const k of jwks.keys)
    for (const priv of ['d', 'p', 'q', 'dp', 'dq', 'qi'])
      assert.ok(!(priv in k), `JWKS key ${k.kid} must not carry private member ${priv}`);
});

// ---------------------------------------------------------------------------
// the code flow
// ---------------------------------------------------------------------------

test('code flow with PKCE through the login form: client_secret_basic, ID token validated by openid-client', T, async () => {
  const browser = new Browser(issuer);
  const config = cfg[RP.clientId];
  const auth = await authRequest(config, RP);
  assert.equal(auth.url.origin, issuer);

  const { page, response } = await submitLogin(browser, auth.url, HANAKO.username, HANAKO.password);
  assert.match(page.headers.get('content-type') ?? '', /^text\/html/);
  assert.ok(page.text.includes(RP.name), 'the login page names the service');
  assert.ok([302, 303].includes(response.status), `POST /login redirects (got ${response.status})`);

  // the SSO session cookie: HttpOnly, SameSite=Lax, not Secure on an http issuer
  const session = response.setCookies.find((l) => l.startsWith('civicid_session='));
  assert.ok(session, `a session cookie is set: ${response.setCookies.join(' | ')}`);
  assert.match(session, /;\s*HttpOnly/i);
  assert.match(session, /;\s*SameSite=Lax/i);
  assert.doesNotMatch(session, /;\s*Secure/i);

  const callback = new URL(response.location);
  assert.equal(`${callback.origin}${callback.pathname}`, RP.redirect);
  assert.ok(callback.searchParams.get('code'), 'a code');
  assert.equal(callback.searchParams.get('state'), auth.state);
  assert.equal(callback.searchParams.get('iss'), issuer, 'RFC 9207 iss');

  // openid-client checks state, iss, PKCE, the ID token's iss/aud/exp/nonce,
  // at_hash and (non-repudiation) its signature against the JWKS
  const tokens = await redeem(config, callback, auth);
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.ok(tokens.expires_in > 0);
  assert.equal(typeof tokens.refresh_token, 'string');

  const claims = tokens.claims();
  assert.equal(claims.iss, issuer);
  assert.equal(claims.aud, RP.clientId);
  assert.equal(typeof claims.sub, 'string');
  assert.equal(claims.nonce, auth.nonce);
  assert.equal(typeof claims.acr, 'string');
  assert.ok(Array.isArray(claims.amr) && claims.amr.includes('pwd'), `amr includes pwd: ${claims.amr}`);
  assert.equal(typeof claims.sid, 'string');
  assert.equal(typeof claims.at_hash, 'string');
  assert.equal(typeof claims.auth_time, 'number');
  assert.ok(claims.exp > claims.iat);

  const id = await verifyWithJwks(tokens.id_token, jwks);
  assert.equal(id.header.alg, 'ES256');

  const at = assertAccessTokenShape(tokens.access_token, {
    clientId: RP.clientId,
    sub: claims.sub,
    scope: 'openid profile email',
  });
  assert.equal(at.acr, claims.acr);
  // a service can verify the access token offline against the JWKS
  await verifyWithJwks(tokens.access_token, jwks);
});

test('userinfo returns the claims of the granted scopes, with the ID token sub', T, async () => {
  const { browser, tokens } = await login(RP, { params: { scope: 'openid profile email' } });
  const sub = tokens.claims().sub;

  const info = await client.fetchUserInfo(cfg[RP.clientId], tokens.access_token, sub);
  assert.equal(info.sub, sub);
  assert.equal(info.name, HANAKO.claims.name);
  assert.equal(info.family_name, HANAKO.claims.family_name);
  assert.equal(info.given_name, HANAKO.claims.given_name);
  assert.equal(info['family_name#ja-Kana-JP'], HANAKO.claims['family_name#ja-Kana-JP']);
  assert.equal(info.email, HANAKO.claims.email);
  assert.equal(info.email_verified, true);
  assert.ok(!('resident_district' in info), 'city attributes need the city scope');
  assert.ok(!('household_size' in info), 'city attributes need the city scope');
  // the ID token releases the same scopes' claims
  assert.equal(tokens.claims().email, HANAKO.claims.email);

  // POST works too (OIDC Core §5.3.1)
  const post = await userinfoRaw(tokens.access_token, 'POST');
  assert.equal(post.status, 200, post.text);
  assert.equal(JSON.parse(post.text).sub, sub);

  // no token: 401 with a bare Bearer challenge
  const none = await fetch(new URL('/userinfo', issuer));
  assert.equal(none.status, 401);
  assert.match(none.headers.get('www-authenticate') ?? '', /^Bearer/i);

  // a second grant (SSO) with only the city scope releases the city attributes, not email
  const auth = await authRequest(cfg[RP.clientId], RP, { scope: 'openid city' });
  const res = await browser.get(auth.url);
  assert.equal(res.status, 302, 'SSO: straight back with a code');
  const cityTokens = await redeem(cfg[RP.clientId], new URL(res.location), auth);
  const city = await client.fetchUserInfo(cfg[RP.clientId], cityTokens.access_token, sub);
  assert.equal(city.resident_district, 'Aoi');
  assert.equal(city.household_size, 3);
  assert.ok(!('email' in city), 'email needs the email scope');
  assert.ok(!('name' in city), 'name needs the profile scope');
});

test('pairwise sub: two services on different hosts see different subjects for one citizen', T, async () => {
  const first = await login(RP); // redirect host 127.0.0.1
  const rpSub = first.tokens.claims().sub;

  // the same browser (SSO) for the service on localhost
  const auth = await authRequest(cfg[SPA.clientId], SPA);
  const res = await first.browser.get(auth.url);
  assert.equal(res.status, 302, `SSO redirect expected, got ${res.status}`);
  const spaTokens = await redeem(cfg[SPA.clientId], new URL(res.location), auth);
  const spaSub = spaTokens.claims().sub;

  assert.notEqual(rpSub, spaSub, 'the two sectors must not share a subject');
  const info = await client.fetchUserInfo(cfg[SPA.clientId], spaTokens.access_token, spaSub);
  assert.equal(info.sub, spaSub);

  // stable: another login to the same service gives the same sub
  const again = await login(RP);
  assert.equal(again.tokens.claims().sub, rpSub);
  // and another citizen gets another sub
  const taro = await login(RP, { user: TARO });
  assert.notEqual(taro.tokens.claims().sub, rpSub);
});

/**
 * Serves doc at /sector.json on a loopback port, from another process (the CLI
 * that fetches it runs synchronously in this one): {url, stop()}; stop() ends
 * it and resolves to the number of requests it answered.
 */
async function serveSectorDocument(doc) {
  const script = `
    const http = require('node:http');
    const s = http.createServer((req, res) => {
      console.log('hit');
      res.writeHead(req.url === '/sector.json' ? 200 : 404, { 'content-type': 'application/json' });
      res.end(req.url === '/sector.json' ? ${JSON.stringify(doc)} : '');
    });
    s.listen(0, '127.0.0.1', () => console.log('port ' + s.address().port));`;
  const child = spawn(process.execPath, ['-e', script], { stdio: ['ignore', 'pipe', 'inherit'] });
  let out = '';
  child.stdout.setEncoding('utf8');
  const port = await new Promise((resolve, reject) => {
    child.on('exit', (code) => reject(new Error(`the sector document server exited (${code})`)));
    child.stdout.on('data', (d) => {
      out += d;
      const m = out.match(/^port (\d+)$/m);
      if (m) resolve(Number(m[1]));
    });
  });
  return {
    url: `http://127.0.0.1:${port}/sector.json`,
    async stop() {
      const exited = new Promise((resolve) => child.on('exit', resolve));
      child.kill('SIGTERM');
      await exited;
      return out.split('\n').filter((l) => l === 'hit').length;
    },
  };
}

/** A browser already signed in (SSO) gets a code for c and redeems it: the tokens. */
async function ssoLogin(c, browser) {
  const auth = await authRequest(cfg[c.clientId], c);
  const res = await browser.get(auth.url);
  assert.equal(res.status, 302, `${c.clientId}: SSO redirect expected, got ${res.status}`);
  return redeem(cfg[c.clientId], new URL(res.location), auth);
}

test('pairwise sub: the port is part of the sector; a sector identifier URI joins hosts (OIDC Core 8.1)', T, async () => {
  // two services of one organisation on two host:ports, joined by their
  // sector identifier document, and a third service on another port of RP's host
  const A = { clientId: 'sector-a', redirect: 'http://127.0.0.1:10/cb', scope: 'openid profile email' };
  const B = { clientId: 'sector-b', redirect: 'http://localhost:11/cb', scope: 'openid profile email' };
  const OTHER_PORT = { clientId: 'port-12', redirect: 'http://127.0.0.1:12/cb', scope: 'openid profile email' };
  const docServer = await serveSectorDocument(JSON.stringify([A.redirect, B.redirect]));
  const sectorUri = docServer.url;
  try {
    for (const c of [A, B]) secrets[c.clientId] = register(store, { ...c, sectorIdentifierUri: sectorUri });
    // a document that does not list the redirect URI: refused, nothing stored
    assert.throws(
      () => register(store, { clientId: 'sector-c', redirect: 'http://127.0.0.1:13/cb', scope: 'openid',
        sectorIdentifierUri: sectorUri }),
      /does not list http:\/\/127\.0\.0\.1:13\/cb/,
    );
  } finally {
    assert.equal(await docServer.stop(), 3, 'the document is fetched at each registration');
  }
  secrets[OTHER_PORT.clientId] = register(store, OTHER_PORT);
  const shown = JSON.parse(cli(['client', 'show', A.clientId, '--store', store.dir, '--json']));
  assert.equal(shown.sector_identifier, '127.0.0.1', 'the sector is the document URL\'s host');
  assert.equal(shown.sector_identifier_uri, sectorUri);
  for (const c of [A, B, OTHER_PORT])
    cfg[c.clientId] = await discover(issuer, c.clientId, { client_secret: secrets[c.clientId] },
      client.ClientSecretBasic(secrets[c.clientId]));

  // one citizen, one SSO session, four services (the document is no longer served:
  // it counts at registration only)
  const first = await login(RP); // http://127.0.0.1:9
  const rpSub = first.tokens.claims().sub;
  const otherPortSub = (await ssoLogin(OTHER_PORT, first.browser)).claims().sub;
  const aSub = (await ssoLogin(A, first.browser)).claims().sub;
  const bSub = (await ssoLogin(B, first.browser)).claims().sub;

  assert.notEqual(otherPortSub, rpSub, 'two services on one host but different ports are different sectors');
  assert.equal(aSub, bSub, 'one sector identifier document: one subject across its hosts');
  assert.notEqual(aSub, rpSub);
  assert.notEqual(aSub, otherPortSub);
  // stable across logins
  assert.equal((await ssoLogin(B, first.browser)).claims().sub, bSub);
});

test('SSO: after one login a second service gets a code without a password prompt', T, async () => {
  const first = await login(RP);

  const auth = await authRequest(cfg[SPA.clientId], SPA);
  const res = await first.browser.get(auth.url);
  assert.equal(res.status, 302, `no login page: ${res.status} ${res.text.slice(0, 300)}`);
  assert.equal(loginForm(res.text), null);
  const callback = new URL(res.location);
  assert.equal(`${callback.origin}${callback.pathname}`, SPA.redirect);
  assert.equal(callback.searchParams.get('state'), auth.state);

  // a public client: no secret, PKCE (client.None())
  const tokens = await redeem(cfg[SPA.clientId], callback, auth);
  const a = first.tokens.claims();
  const b = tokens.claims();
  assert.equal(b.aud, SPA.clientId);
  assert.equal(b.nonce, auth.nonce);
  assert.equal(b.auth_time, a.auth_time, 'same authentication event');
  assert.equal(b.sid, a.sid, 'same SSO session');

  // without the session cookie the same request shows the login form
  const fresh = await new Browser(issuer).get((await authRequest(cfg[SPA.clientId], SPA)).url);
  assert.equal(fresh.status, 200);
  assert.ok(loginForm(fresh.text), 'a browser without the session sees the login form');
});

test('refresh rotates the refresh token; the used one then fails and revokes the family', T, async () => {
  const config = cfg[RP.clientId];
  const { tokens } = await login(RP, { params: { scope: 'openid profile offline_access' } });
  const sub = tokens.claims().sub;
  const r1 = tokens.refresh_token;
  assert.equal(typeof r1, 'string');

  const t2 = await client.refreshTokenGrant(config, r1);
  const r2 = t2.refresh_token;
  assert.equal(typeof r2, 'string', 'a new refresh token');
  assert.notEqual(r2, r1, 'the refresh token is rotated');
  assert.notEqual(t2.access_token, tokens.access_token);
  if (t2.id_token) assert.equal(t2.claims().sub, sub);
  assertAccessTokenShape(t2.access_token, { clientId: RP.clientId, sub });
  assert.equal((await introspect(RP, t2.access_token)).active, true);

  // the old refresh token is spent
  const reuse = await oauthError(client.refreshTokenGrant(config, r1));
  assert.equal(reuse.status, 400);
  assert.equal(reuse.error, 'invalid_grant');

  // presenting it revoked the whole family: the new one fails too
  const next = await oauthError(client.refreshTokenGrant(config, r2));
  assert.equal(next.error, 'invalid_grant');
  assert.equal((await introspect(RP, r2)).active, false, 'the rotated refresh token is revoked');
  assert.equal((await introspect(RP, t2.access_token)).active, false, 'the family grant is revoked');
});

test('a refresh refused for a too-wide scope leaves the refresh token and its grant intact', T, async () => {
  const config = cfg[RP.clientId];
  const { tokens } = await login(RP, { params: { scope: 'openid profile offline_access' } });

  const wide = await oauthError(client.refreshTokenGrant(config, tokens.refresh_token, { scope: 'openid profile email' }));
  assert.equal(wide.status, 400);
  assert.equal(wide.error, 'invalid_scope');
  assert.equal((await introspect(RP, tokens.refresh_token)).active, true, 'the refresh token is not spent');
  assert.equal((await introspect(RP, tokens.access_token)).active, true, 'the grant is not revoked');

  const good = await client.refreshTokenGrant(config, tokens.refresh_token);
  assert.equal(typeof good.refresh_token, 'string');
  assert.equal((await introspect(RP, good.access_token)).active, true);
  assert.equal((await introspect(RP, tokens.access_token)).active, true, 'a good refresh revokes nothing');
});

test('introspection: active for a live token, inactive after revocation', T, async () => {
  const { tokens } = await login(RP, { params: { scope: 'openid profile offline_access' } });
  const sub = tokens.claims().sub;

  const live = await introspect(RP, tokens.access_token);
  assert.equal(live.active, true);
  assert.equal(live.client_id, RP.clientId);
  assert.equal(live.sub, sub);
  assert.equal(live.iss, issuer);
  assert.ok(live.scope.split(' ').includes('openid'));
  assert.equal(typeof live.exp, 'number');
  assert.equal((await introspect(RP, tokens.refresh_token)).active, true);

  // another service may not learn about this token (or the pairwise sub in it)
  const foreign = await introspect(POST_RP, tokens.access_token);
  assert.deepEqual(foreign, { active: false });

  // revoke the access token (RFC 7009)
  await client.tokenRevocation(cfg[RP.clientId], tokens.access_token);
  assert.deepEqual(await introspect(RP, tokens.access_token), { active: false });
  const ui = await userinfoRaw(tokens.access_token);
  assert.equal(ui.status, 401);
  assert.match(ui.headers.get('www-authenticate') ?? '', /error="invalid_token"/);

  // revoke the refresh token
  await client.tokenRevocation(cfg[RP.clientId], tokens.refresh_token);
  assert.deepEqual(await introspect(RP, tokens.refresh_token), { active: false });
  const refresh = await oauthError(client.refreshTokenGrant(cfg[RP.clientId], tokens.refresh_token));
  assert.equal(refresh.error, 'invalid_grant');

  // revoking garbage is not an error (RFC 7009 §2.2)
  await client.tokenRevocation(cfg[RP.clientId], 'not-a-token-we-issued');
});

test('disabling a citizen revokes their tokens and SSO session; enabling them revives none', T, async () => {
  const kenji = { username: 'kenji', password: 'kenji-e2e-Passw0rd!', claims: { name: '佐藤 健二' } };
  addUser(store, kenji.username, kenji.password, kenji.claims);
  const { browser, tokens } = await login(RP, { user: kenji, params: { scope: 'openid profile offline_access' } });
  assert.equal((await introspect(RP, tokens.access_token)).active, true);
  assert.equal((await introspect(RP, tokens.refresh_token)).active, true);

  const dead = async (when) => {
    assert.deepEqual(await introspect(RP, tokens.access_token), { active: false }, `${when}: access token`);
    assert.deepEqual(await introspect(RP, tokens.refresh_token), { active: false }, `${when}: refresh token`);
    const refresh = await oauthError(client.refreshTokenGrant(cfg[RP.clientId], tokens.refresh_token));
    assert.equal(refresh.error, 'invalid_grant', `${when}: refresh`);
    assert.equal((await userinfoRaw(tokens.access_token)).status, 401, `${when}: userinfo`);
    const sso = await browser.get((await authRequest(cfg[RP.clientId], RP)).url);
    assert.equal(sso.status, 200, `${when}: no code without a login`);
    assert.ok(loginForm(sso.text), `${when}: the SSO session has ended`);
  };
  cli(['user', 'disable', kenji.username, '--store', store.dir]);
  await dead('disabled');
  cli(['user', 'enable', kenji.username, '--store', store.dir]);
  await dead('enabled again');

  // a new login gets new, live tokens
  const fresh = await login(RP, { user: kenji });
  assert.equal((await introspect(RP, fresh.tokens.access_token)).active, true);
});

// ---------------------------------------------------------------------------
// logout
// ---------------------------------------------------------------------------

/**
 * Drives an end-session URL like a browser: follows the server; if it asks
 * for confirmation, submits its form. Returns the URL it left the OP for, or
 * the final response.
 */
async function driveLogout(browser, url) {
  let res = await browser.follow(url);
  if (res.left) return res;
  if (res.status === 200) {
    const form = parseForms(res.text).find((f) => /\/logout$/.test(f.action));
    if (form) {
      res = await browser.submit(res.url, form);
      if (res.status >= 300 && res.status < 400 && res.location && new URL(res.location).origin !== issuer)
        return { ...res, left: res.location };
    }
  }
  return res;
}

test('RP-initiated logout with id_token_hint and a registered post_logout_redirect_uri ends the SSO session', T, async () => {
  const { browser, tokens } = await login(RP);
  const oldSession = browser.cookie('civicid_session');
  assert.ok(oldSession, 'logged in');

  const state = client.randomState();
  const url = client.buildEndSessionUrl(cfg[RP.clientId], {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: RP.postLogout,
    state,
  });
  assert.equal(`${url.origin}${url.pathname}`, `${issuer}/logout`);
  const res = await driveLogout(browser, url);
  assert.ok(res.left, `redirected back to the service (got ${res.status} ${res.text?.slice(0, 300)})`);
  const back = new URL(res.left);
  assert.equal(`${back.origin}${back.pathname}`, RP.postLogout);
  assert.equal(back.searchParams.get('state'), state);
  assert.equal(browser.cookie('civicid_session'), undefined, 'the session cookie is cleared');

  // the SSO session is over: /authorize shows the login form again
  const auth = await authRequest(cfg[RP.clientId], RP);
  const page = await browser.get(auth.url);
  assert.equal(page.status, 200);
  assert.ok(loginForm(page.text), 'the login form again');

  // and it ended on the server, not only in the browser: the old cookie is dead
  const replay = new Browser(issuer);
  replay.jar.set('civicid_session', oldSession);
  const none = await replay.get((await authRequest(cfg[RP.clientId], RP, { prompt: 'none' })).url);
  assert.equal(none.status, 302);
  assert.equal(new URL(none.location).searchParams.get('error'), 'login_required');
});

test('logout without id_token_hint is confirmed by the citizen first; unregistered return addresses are refused', T, async () => {
  const { browser } = await login(RP);

  const bad = await browser.get(
    `${issuer}/logout?client_id=${RP.clientId}&post_logout_redirect_uri=${encodeURIComponent('http://127.0.0.1:9/evil')}`,
  );
  assertErrorPage(bad, 'unregistered post_logout_redirect_uri');
  assert.ok(browser.cookie('civicid_session'), 'still logged in after a refused logout');

  const url = `${issuer}/logout?client_id=${RP.clientId}&post_logout_redirect_uri=${encodeURIComponent(RP.postLogout)}`;
  const page = await browser.get(url);
  assert.equal(page.status, 200, 'a confirmation page, not an immediate logout');
  const form = parseForms(page.text).find((f) => /\/logout$/.test(f.action));
  assert.ok(form, 'the confirmation page has a form');
  assert.ok(form.fields.csrf, 'the form is CSRF-protected');

  // a cross-site POST carries the session cookie (in the worst case) but not
  // the SameSite=Lax CSRF cookie: it must not log the citizen out
  const victim = new Browser(issuer);
  victim.jar.set('civicid_session', browser.cookie('civicid_session'));
  const forged = await victim.submit(page.url, form);
  assert.ok(!(forged.status >= 300 && forged.status < 400), `no logout redirect for a forged post (${forged.status})`);
  // nor a post with a CSRF cookie the attacker planted (a sibling host can, on
  // http) and its value as the token: the form's token is bound to the session
  const planted = new Browser(issuer);
  planted.jar.set('civicid_session', browser.cookie('civicid_session'));
  planted.jar.set('civicid_csrf', 'A'.repeat(43));
  const tossed = await planted.submit(page.url, form, { csrf: 'A'.repeat(43) });
  assert.ok(!(tossed.status >= 300 && tossed.status < 400), `no logout redirect with a planted CSRF cookie (${tossed.status})`);
  const still = await browser.get((await authRequest(cfg[RP.clientId], RP, { prompt: 'none' })).url);
  assert.equal(still.status, 302);
  assert.ok(new URL(still.location).searchParams.get('code'), 'the session survived the forged post');

  const done = await browser.submit(page.url, form);
  assert.equal(done.status, 302);
  const back = new URL(done.location);
  assert.equal(`${back.origin}${back.pathname}`, RP.postLogout);
  const again = await browser.get((await authRequest(cfg[RP.clientId], RP)).url);
  assert.ok(loginForm(again.text), 'logged out');
});

// ---------------------------------------------------------------------------
// other client authentications and grants
// ---------------------------------------------------------------------------

test('client_secret_post works, and an RS256 ID token is verified', T, async () => {
  const { tokens } = await login(POST_RP);
  const claims = tokens.claims();
  assert.equal(claims.aud, POST_RP.clientId);
  const id = await verifyWithJwks(tokens.id_token, jwks);
  assert.equal(id.header.alg, 'RS256');
  assertAccessTokenShape(tokens.access_token, { clientId: POST_RP.clientId, sub: claims.sub });
  const info = await client.fetchUserInfo(cfg[POST_RP.clientId], tokens.access_token, claims.sub);
  assert.equal(info.email, HANAKO.claims.email);
  assert.equal((await introspect(POST_RP, tokens.access_token)).active, true);
});

test('client_credentials issues a service access token', T, async () => {
  const config = cfg[MACHINE.clientId];
  const tokens = await client.clientCredentialsGrant(config, { scope: 'city' });
  assert.equal(tokens.token_type.toLowerCase(), 'bearer');
  assert.equal(tokens.refresh_token, undefined, 'no refresh token for a service');
  assert.equal(tokens.id_token, undefined, 'no ID token: there is no citizen');
  const at = assertAccessTokenShape(tokens.access_token, {
    clientId: MACHINE.clientId,
    sub: MACHINE.clientId,
    scope: 'city',
  });
  assert.equal(at.grant_id, undefined);
  await verifyWithJwks(tokens.access_token, jwks);
  const intro = await introspect(MACHINE, tokens.access_token);
  assert.equal(intro.active, true);
  assert.equal(intro.client_id, MACHINE.clientId);

  // identity scopes make no sense without a citizen
  const openid = await oauthError(client.clientCredentialsGrant(config, { scope: 'openid' }));
  assert.equal(openid.error, 'invalid_scope');
  // a scope the service is not registered for
  const email = await oauthError(client.clientCredentialsGrant(config, { scope: 'email' }));
  assert.equal(email.error, 'invalid_scope');
  // a client not registered for the grant
  const rp = await oauthError(client.clientCredentialsGrant(cfg[RP.clientId], { scope: 'city' }));
  assert.equal(rp.error, 'unauthorized_client');
});

// ---------------------------------------------------------------------------
// negative cases
// ---------------------------------------------------------------------------

test('unregistered redirect URI: an error page, never a redirect', T, async () => {
  const browser = new Browser(issuer);
  for (const evil of [
    'http://127.0.0.1:9/evil',
    `${RP.redirect}/`,
    `${RP.redirect}?next=http://evil.example`,
    'https://evil.example/cb',
  ]) {
    const auth = await authRequest(cfg[RP.clientId], { redirect: evil });
    const res = await browser.get(auth.url);
    assertErrorPage(res, `redirect_uri ${evil}`);
  }
  const missing = new URL(`${issuer}/authorize`);
  missing.search = new URLSearchParams({ client_id: RP.clientId, response_type: 'code', scope: 'openid' });
  assertErrorPage(await browser.get(missing), 'no redirect_uri');
});

test('unknown client_id: an error page, never a redirect', T, async () => {
  const browser = new Browser(issuer);
  const url = new URL(`${issuer}/authorize`);
  url.search = new URLSearchParams({
    client_id: 'no-such-service',
    redirect_uri: RP.redirect,
    response_type: 'code',
    scope: 'openid',
    state: 'x',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  });
  assertErrorPage(await browser.get(url), 'unknown client_id');
  const noId = new URL(`${issuer}/authorize?response_type=code&scope=openid&redirect_uri=${encodeURIComponent(RP.redirect)}`);
  assertErrorPage(await browser.get(noId), 'missing client_id');
});

test('errors after the redirect URI is verified go back to the service', T, async () => {
  const browser = new Browser(issuer);
  // an implicit-flow request: unsupported_response_type, with state and iss
  const implicit = await authRequest(cfg[RP.clientId], RP, { response_type: 'token' });
  const r1 = await browser.get(implicit.url);
  assert.equal(r1.status, 302);
  const cb1 = new URL(r1.location);
  assert.equal(`${cb1.origin}${cb1.pathname}`, RP.redirect);
  assert.equal(cb1.searchParams.get('error'), 'unsupported_response_type');
  assert.equal(cb1.searchParams.get('state'), implicit.state);
  assert.equal(cb1.searchParams.get('iss'), issuer);

  // a public client without PKCE
  const url = client.buildAuthorizationUrl(cfg[SPA.clientId], {
    redirect_uri: SPA.redirect,
    scope: 'openid',
    state: 'no-pkce',
  });
  const r2 = await browser.get(url);
  assert.equal(r2.status, 302);
  const cb2 = new URL(r2.location);
  assert.equal(`${cb2.origin}${cb2.pathname}`, SPA.redirect);
  assert.equal(cb2.searchParams.get('error'), 'invalid_request');
  assert.equal(cb2.searchParams.get('state'), 'no-pkce');

  // plain PKCE is refused
  const plain = await authRequest(cfg[RP.clientId], RP, { code_challenge_method: 'plain' });
  const r3 = await browser.get(plain.url);
  assert.equal(r3.status, 302);
  assert.equal(new URL(r3.location).searchParams.get('error'), 'invalid_request');
});

test('an acr the citizen cannot reach gets unmet_authentication_requirements, never a code', T, async () => {
  const config = cfg[RP.clientId];
  // hanako has no second factor enrolled: level 2 (urn:civicid:acr:mfa) cannot be reached
  const essential = JSON.stringify({ id_token: { acr: { essential: true, values: ['urn:civicid:acr:mfa'] } } });
  for (const [what, params] of [
    ['essential acr claim', { claims: essential }],
    ['acr_values', { acr_values: 'urn:civicid:acr:mfa' }],
  ]) {
    const auth = await authRequest(config, RP, params);
    const callback = await loginAndGetCallback(new Browser(issuer), auth.url, HANAKO.username, HANAKO.password);
    assert.equal(`${callback.origin}${callback.pathname}`, RP.redirect, `${what}: back to the service`);
    assert.equal(callback.searchParams.get('error'), 'unmet_authentication_requirements', what);
    assert.equal(callback.searchParams.get('code'), null, `${what}: no code`);
    assert.equal(callback.searchParams.get('state'), auth.state, `${what}: state`);
    assert.equal(callback.searchParams.get('iss'), issuer, `${what}: iss`);
    const err = await oauthError(redeem(config, callback, auth));
    assert.equal(err.error, 'unmet_authentication_requirements', `${what}: openid-client sees the error`);
  }

  // an acr we do not offer at all is refused before any login
  const unknown = await authRequest(config, RP, { acr_values: 'urn:example:loa:4' });
  const res = await new Browser(issuer).get(unknown.url);
  assert.equal(res.status, 302);
  assert.equal(new URL(res.location).searchParams.get('error'), 'unmet_authentication_requirements');

  // a voluntary acr claim, and acr_values that accept a password, get a code as before
  const voluntary = JSON.stringify({ id_token: { acr: { values: ['urn:civicid:acr:mfa'] } } });
  const a = await login(RP, { params: { claims: voluntary } });
  assert.equal(a.tokens.claims().acr, 'urn:civicid:acr:password');
  const b = await login(RP, { params: { acr_values: 'urn:civicid:acr:mfa urn:civicid:acr:password' } });
  assert.equal(b.tokens.claims().acr, 'urn:civicid:acr:password');
});

test('prompt=none without a session redirects with login_required', T, async () => {
  const auth = await authRequest(cfg[RP.clientId], RP, { prompt: 'none' });
  const res = await new Browser(issuer).get(auth.url);
  assert.equal(res.status, 302);
  const cb = new URL(res.location);
  assert.equal(`${cb.origin}${cb.pathname}`, RP.redirect);
  assert.equal(cb.searchParams.get('error'), 'login_required');
  assert.equal(cb.searchParams.get('state'), auth.state);
  // openid-client sees the error response for what it is
  const e = await oauthError(redeem(cfg[RP.clientId], cb, auth));
  assert.equal(e.error, 'login_required');
});

test('a wrong password shows the failure message and does not redirect', T, async () => {
  const browser = new Browser(issuer);
  const auth = await authRequest(cfg[RP.clientId], RP);

  const wrong = await submitLogin(browser, auth.url, TARO.username, 'not-the-password');
  assert.equal(wrong.response.status, 200, 'the form again, not a redirect');
  assert.equal(wrong.response.location, null);
  assert.ok(wrong.response.text.includes(MSG_EN.login_failed), 'the failure message is shown');
  assert.equal(browser.cookie('civicid_session'), undefined, 'no session');
  const again = loginForm(wrong.response.text);
  assert.ok(again, 'the form is shown again');

  // an unknown account gets the very same message (no account enumeration)
  const unknown = await browser.submit(wrong.response.url, again, { username: 'no-such-citizen', password: 'whatever' });
  assert.equal(unknown.status, 200);
  assert.equal(unknown.location, null);
  assert.ok(unknown.text.includes(MSG_EN.login_failed));

  // the right password on the same pending request then succeeds
  const ok = await browser.submit(unknown.url, loginForm(unknown.text), {
    username: TARO.username,
    password: TARO.password,
  });
  assert.ok([302, 303].includes(ok.status), `logged in: ${ok.status}`);
  const tokens = await redeem(cfg[RP.clientId], new URL(ok.location), auth);
  assert.equal(tokens.claims().name, TARO.claims.name);
});

test('the login form is CSRF-protected', T, async () => {
  const browser = new Browser(issuer);
  const auth = await authRequest(cfg[RP.clientId], RP);
  const page = await browser.get(auth.url);
  const form = loginForm(page.text);
  assert.ok(form);
  // another browser (no CSRF cookie) posting the same form
  const forged = await new Browser(issuer).submit(page.url, form, {
    username: HANAKO.username,
    password: HANAKO.password,
  });
  assert.ok(forged.status >= 400, `refused: ${forged.status}`);
  assert.equal(forged.location, null);
  // the right cookie with a wrong token
  const wrongToken = await browser.submit(page.url, form, {
    csrf: 'A'.repeat(43),
    username: HANAKO.username,
    password: HANAKO.password,
  });
  assert.ok(wrongToken.status >= 400, `refused: ${wrongToken.status}`);
  assert.equal(wrongToken.location, null);
});

test('code replay: invalid_grant, and the tokens of the first redemption are revoked', T, async () => {
  const config = cfg[RP.clientId];
  const { tokens, callback, auth } = await login(RP, { params: { scope: 'openid profile offline_access' } });
  assert.equal((await introspect(RP, tokens.access_token)).active, true);

  const replay = await oauthError(redeem(config, callback, auth));
  assert.equal(replay.status, 400);
  assert.equal(replay.error, 'invalid_grant');

  assert.deepEqual(await introspect(RP, tokens.access_token), { active: false });
  assert.deepEqual(await introspect(RP, tokens.refresh_token), { active: false });
  const ui = await userinfoRaw(tokens.access_token);
  assert.equal(ui.status, 401);
});

test('wrong PKCE verifier: invalid_grant', T, async () => {
  const browser = new Browser(issuer);
  const auth = await authRequest(cfg[RP.clientId], RP);
  const callback = await loginAndGetCallback(browser, auth.url, HANAKO.username, HANAKO.password);
  const wrong = await oauthError(
    redeem(cfg[RP.clientId], callback, auth, { pkceCodeVerifier: client.randomPKCECodeVerifier() }),
  );
  assert.equal(wrong.status, 400);
  assert.equal(wrong.error, 'invalid_grant');

  // and a code whose request had a challenge cannot be redeemed without a verifier
  const auth2 = await authRequest(cfg[RP.clientId], RP);
  const res = await browser.get(auth2.url);
  assert.equal(res.status, 302);
  const none = await rawPost(
    '/token',
    { grant_type: 'authorization_code', code: new URL(res.location).searchParams.get('code'), redirect_uri: RP.redirect },
    { basic: [RP.clientId, secrets[RP.clientId]] },
  );
  assert.equal(none.status, 400);
  assert.equal(none.json?.error, 'invalid_grant');
});

test('wrong client secret: invalid_client with 401', T, async () => {
  const browser = new Browser(issuer);
  const auth = await authRequest(cfg[RP.clientId], RP);
  const callback = await loginAndGetCallback(browser, auth.url, HANAKO.username, HANAKO.password);

  const bad = await discover(issuer, RP.clientId, 'wrong-secret', client.ClientSecretBasic('wrong-secret'));
  const e = await oauthError(redeem(bad, callback, auth));
  assert.equal(e.status, 401);
  assert.equal(e.error, 'invalid_client');

  // the failed client authentication did not burn the code
  const tokens = await redeem(cfg[RP.clientId], callback, auth);
  assert.ok(tokens.access_token);

  // client_secret_post with a wrong secret, and an unknown client over Basic
  const post = await rawPost('/token', {
    grant_type: 'refresh_token',
    refresh_token: tokens.refresh_token,
    client_id: RP.clientId,
    client_secret: 'wrong-secret',
  });
  assert.equal(post.status, 401);
  assert.equal(post.json?.error, 'invalid_client');
  const unknown = await rawPost(
    '/token',
    { grant_type: 'refresh_token', refresh_token: tokens.refresh_token },
    { basic: ['no-such-client', 'whatever'] },
  );
  assert.equal(unknown.status, 401);
  assert.equal(unknown.json?.error, 'invalid_client');
  assert.match(unknown.headers.get('www-authenticate') ?? '', /^Basic/i);
  // introspection and revocation authenticate the client too
  const intro = await rawPost('/introspect', { token: tokens.access_token }, { basic: [RP.clientId, 'wrong-secret'] });
  assert.equal(intro.status, 401);
  // the refresh token is still good: the failed attempts did not touch it
  assert.equal((await introspect(RP, tokens.refresh_token)).active, true);
});

test('tampered access token: userinfo answers 401 invalid_token, introspection inactive', T, async () => {
  const { tokens } = await login(RP);
  const sub = tokens.claims().sub;
  const good = await userinfoRaw(tokens.access_token);
  assert.equal(good.status, 200, 'the untouched token works');

  const forged = {
    signature: tamperSignature(tokens.access_token),
    payload: tamperPayload(tokens.access_token, (p) => {
      p.scope = 'openid profile email city';
    }),
    subject: tamperPayload(tokens.access_token, (p) => {
      p.sub = `${p.sub}x`;
    }),
    expiry: tamperPayload(tokens.access_token, (p) => {
      p.exp += 86400;
    }),
    algNone: (() => {
      const [, p] = tokens.access_token.split('.');
      const h = Buffer.from(JSON.stringify({ alg: 'none', typ: 'at+jwt' })).toString('base64url');
      return `${h}.${p}.`;
    })(),
  };
  for (const [how, token] of Object.entries(forged)) {
    const ui = await userinfoRaw(token);
    assert.equal(ui.status, 401, `${how}: userinfo refuses it`);
    assert.match(ui.headers.get('www-authenticate') ?? '', /error="invalid_token"/, `${how}: invalid_token`);
    assert.deepEqual(await introspect(RP, token), { active: false }, `${how}: introspection says inactive`);
    await assert.rejects(verifyWithJwks(token, jwks), `${how}: offline verification fails too`);
  }

  // openid-client sees the challenge
  const e = await oauthError(client.fetchUserInfo(cfg[RP.clientId], forged.signature, sub));
  assert.equal(e.status, 401);
  assert.equal(e.challenge?.[0]?.scheme?.toLowerCase(), 'bearer');
  assert.equal(e.challenge?.[0]?.parameters?.error, 'invalid_token');

  // a tampered id_token_hint is refused at logout (an error page, no redirect)
  const url = client.buildEndSessionUrl(cfg[RP.clientId], {
    id_token_hint: tamperPayload(tokens.id_token, (p) => {
      p.sid = 'someone-else';
    }),
    post_logout_redirect_uri: RP.postLogout,
  });
  const res = await new Browser(issuer).get(url);
  assertErrorPage(res, 'tampered id_token_hint');
});

test('tampered ID token: openid-client rejects a token response whose ID token was altered', T, async () => {
  // a relying party whose transport alters the ID token's payload in flight
  const config = await discover(
    issuer,
    RP.clientId,
    { client_secret: secrets[RP.clientId], id_token_signed_response_alg: 'ES256' },
    client.ClientSecretBasic(secrets[RP.clientId]),
    [client.enableNonRepudiationChecks],
  );
  let altered = false;
  config[client.customFetch] = async (url, options) => {
    const res = await fetch(url, options);
    if (new URL(url).pathname !== '/token' || res.status !== 200) return res;
    const body = await res.json();
    body.id_token = tamperPayload(body.id_token, (p) => {
      p.name = 'Mallory';
    });
    altered = true;
    return new Response(JSON.stringify(body), {
      status: res.status,
      headers: { 'content-type': 'application/json', 'cache-control': 'no-store' },
    });
  };
  const browser = new Browser(issuer);
  const auth = await authRequest(config, RP);
  const callback = await loginAndGetCallback(browser, auth.url, HANAKO.username, HANAKO.password);
  await assert.rejects(redeem(config, callback, auth), (err) => {
    // openid-client wraps the check that failed: look down the cause chain
    const chain = [];
    for (let e = err; e instanceof Error; e = e.cause) chain.push(e.message);
    assert.ok(chain.some((m) => /signature verification failed/i.test(m)), `a signature failure: ${chain.join(' <- ')}`);
    return true;
  });
  assert.ok(altered, 'the token response went through the tampering transport');
});

test('expired code: invalid_grant after code_ttl', { timeout: 180_000 }, async () => {
  const st = freshStore('expiry');
  let srv;
  try {
    addUser(st, HANAKO.username, HANAKO.password, HANAKO.claims);
    const secret = register(st, RP);
    st.writePolicy('rp.policy', statutePolicy(RP.clientId, ['name']));
    srv = await startServer(st, { configFile: st.writeConfig('# e2e: shortest code lifetime\ncode_ttl = 10\n') });
    const config = await discover(srv.issuer, RP.clientId, secret, client.ClientSecretBasic(secret));
    const browser = new Browser(srv.issuer);

    const auth = await authRequest(config, RP);
    const callback = await loginAndGetCallback(browser, auth.url, HANAKO.username, HANAKO.password);
    // a fresh code from the same server is fine (so the failure below is the expiry)
    const auth2 = await authRequest(config, RP);
    const res2 = await browser.get(auth2.url);
    assert.equal(res2.status, 302);
    assert.ok((await redeem(config, new URL(res2.location), auth2)).access_token);

    await sleep(12_000);
    const e = await oauthError(redeem(config, callback, auth));
    assert.equal(e.status, 400);
    assert.equal(e.error, 'invalid_grant');
  } finally {
    try {
      if (srv) await srv.stop();
    } finally {
      st.remove();
    }
  }
});

test('malformed requests get 4xx answers and the server keeps serving', T, async () => {
  const form = { 'content-type': 'application/x-www-form-urlencoded' };
  const basic = `Basic ${Buffer.from(`${RP.clientId}:${secrets[RP.clientId]}`).toString('base64')}`;
  const cases = [
    ['GET /token', `${issuer}/token`, { method: 'GET' }],
    ['unknown path', `${issuer}/no-such-endpoint`, {}],
    ['token as JSON', `${issuer}/token`, { method: 'POST', headers: { 'content-type': 'application/json', authorization: basic }, body: '{"grant_type":"client_credentials"}' }],
    ['unknown grant_type', `${issuer}/token`, { method: 'POST', headers: { ...form, authorization: basic }, body: 'grant_type=password&username=a&password=b' }],
    ['body over the limit', `${issuer}/token`, { method: 'POST', headers: { ...form, authorization: basic }, body: `grant_type=client_credentials&x=${'a'.repeat(200_000)}` }],
    ['bad percent-encoding', `${issuer}/token`, { method: 'POST', headers: { ...form, authorization: basic }, body: 'grant_type=%zz&code=%' }],
    ['invalid UTF-8', `${issuer}/token`, { method: 'POST', headers: { ...form, authorization: basic }, body: 'grant_type=authorization_code&code=%ff%fe&redirect_uri=%c0%af' }],
    ['garbage Basic header', `${issuer}/token`, { method: 'POST', headers: { ...form, authorization: 'Basic !!!!' }, body: 'grant_type=client_credentials' }],
    ['huge header', `${issuer}/userinfo`, { headers: { authorization: `Bearer ${'a'.repeat(20_000)}` } }],
    ['huge state', `${issuer}/authorize?client_id=${RP.clientId}&redirect_uri=${encodeURIComponent(RP.redirect)}&response_type=code&scope=openid&state=${'s'.repeat(5000)}`, {}],
    ['duplicate parameters', `${issuer}/authorize?client_id=${RP.clientId}&client_id=other&redirect_uri=${encodeURIComponent(RP.redirect)}&response_type=code&scope=openid`, {}],
    ['too many parameters', `${issuer}/authorize?${Array.from({ length: 100 }, (_, i) => `p${i}=${i}`).join('&')}`, {}],
    ['bad claims JSON', `${issuer}/authorize?client_id=${RP.clientId}&redirect_uri=${encodeURIComponent(RP.redirect)}&response_type=code&scope=openid&code_challenge=${'A'.repeat(43)}&code_challenge_method=S256&claims=%7B`, {}],
    ['login without a form', `${issuer}/login`, { method: 'POST', headers: form, body: '' }],
  ];
  for (const [what, url, init] of cases) {
    const res = await fetch(url, { redirect: 'manual', ...init });
    await res.arrayBuffer();
    if (res.status >= 300 && res.status < 400) {
      // an error sent back to a verified redirect_uri is fine; anything else is not
      const loc = new URL(res.headers.get('location'));
      assert.equal(`${loc.origin}${loc.pathname}`, RP.redirect, `${what}: redirects only to the registered URI`);
      assert.ok(loc.searchParams.get('error'), `${what}: with an error`);
    } else {
      assert.ok(res.status >= 400 && res.status < 500, `${what}: a 4xx answer (got ${res.status})`);
    }
  }
  const alive = await fetch(`${issuer}/.well-known/openid-configuration`);
  assert.equal(alive.status, 200, 'still serving');
});

// ---------------------------------------------------------------------------
// the authorization endpoint: prompt, max_age, login_hint, ui_locales
// ---------------------------------------------------------------------------

const MSG = { en: MSG_EN, ja: MSG_JA };

/** Resolves just after the wall clock enters a new second (the server counts whole seconds). */
async function secondStart() {
  await sleep(1000 - (Date.now() % 1000) + 20);
}

/** Asserts that res is the login form, not a silent redirect; returns the form. */
function assertLoginPage(res, what) {
  assert.equal(res.status, 200, `${what}: the login form, not a redirect (got ${res.status} location=${res.location})`);
  assert.equal(res.location, null, `${what}: no Location`);
  const form = loginForm(res.text);
  assert.ok(form, `${what}: a login form in the page`);
  return form;
}

/** Asserts that res is a redirect to c.redirect carrying a code; returns the callback URL. */
function assertCodeRedirect(res, c, auth, what) {
  assert.ok([302, 303].includes(res.status), `${what}: a redirect with a code (got ${res.status})\n${res.text.slice(0, 300)}`);
  const cb = new URL(res.location);
  assert.equal(`${cb.origin}${cb.pathname}`, c.redirect, `${what}: to the registered redirect_uri`);
  assert.ok(cb.searchParams.get('code'), `${what}: a code (error=${cb.searchParams.get('error')})`);
  assert.equal(cb.searchParams.get('state'), auth.state, `${what}: state`);
  assert.equal(cb.searchParams.get('iss'), issuer, `${what}: iss`);
  return cb;
}

/** Asserts that res sends error back to c.redirect with state and iss. */
function assertErrorRedirect(res, c, auth, error, what) {
  assert.equal(res.status, 302, `${what}: a redirect (got ${res.status})`);
  const cb = new URL(res.location);
  assert.equal(`${cb.origin}${cb.pathname}`, c.redirect, `${what}: to the registered redirect_uri`);
  assert.equal(cb.searchParams.get('error'), error, `${what}: error`);
  assert.equal(cb.searchParams.get('code'), null, `${what}: no code`);
  assert.equal(cb.searchParams.get('state'), auth.state, `${what}: state`);
  assert.equal(cb.searchParams.get('iss'), issuer, `${what}: iss`);
}

test('a login renews the session cookie: the one the browser had before no longer works', T, async () => {
  const { browser } = await login(RP);
  const before = browser.cookie('civicid_session');
  assert.ok(before, 'logged in');

  // the same browser logs in again (prompt=login)
  const auth = await authRequest(cfg[RP.clientId], RP, { prompt: 'login' });
  await loginAndGetCallback(browser, auth.url, HANAKO.username, HANAKO.password);
  const after = browser.cookie('civicid_session');
  assert.ok(after && after !== before, 'a new session cookie');

  // the old cookie, whoever holds it, opens no session: the login form, no code
  const stale = new Browser(issuer);
  stale.jar.set('civicid_session', before);
  const res = await stale.get((await authRequest(cfg[RP.clientId], RP, { prompt: 'none' })).url);
  assert.equal(res.status, 302);
  assert.equal(new URL(res.location).searchParams.get('error'), 'login_required');
  // the new one does
  const ok = await browser.get((await authRequest(cfg[RP.clientId], RP, { prompt: 'none' })).url);
  assert.equal(ok.status, 302);
  assert.ok(new URL(ok.location).searchParams.get('code'), 'the new session gets a code');
});

test('prompt=login: a live SSO session gets the login form again; the new auth_time is later', T, async () => {
  const config = cfg[RP.clientId];
  const first = await login(RP);
  const before = first.tokens.claims();
  // without prompt the session answers silently (the baseline prompt=login must override)
  const silentAuth = await authRequest(config, RP);
  assertCodeRedirect(await first.browser.get(silentAuth.url), RP, silentAuth, 'no prompt, with a session');

  await sleep(1100); // auth_time counts whole seconds
  const auth = await authRequest(config, RP, { prompt: 'login' });
  const page = await first.browser.get(auth.url);
  const form = assertLoginPage(page, 'prompt=login with a live session');
  const res = await first.browser.submit(page.url, form, { username: HANAKO.username, password: HANAKO.password });
  const tokens = await redeem(config, assertCodeRedirect(res, RP, auth, 'after the new login'), auth);
  const after = tokens.claims();
  assert.equal(after.sub, before.sub, 'the same citizen');
  // the same session, re-authenticated: the sid the service knows stays, so a
  // later logout still names the session it signed the citizen in with
  assert.equal(after.sid, before.sid, 'the same SSO session (sid)');
  assert.equal(typeof after.auth_time, 'number');
  assert.ok(after.auth_time > before.auth_time, `auth_time moved on: ${before.auth_time} -> ${after.auth_time}`);
  assert.ok(after.auth_time <= Math.ceil(Date.now() / 1000), 'auth_time is not in the future');

  // the next request without prompt is silent again and reports the new authentication
  const next = await authRequest(config, RP);
  const nextTokens = await redeem(config, assertCodeRedirect(await first.browser.get(next.url), RP, next, 'no prompt after'), next);
  assert.equal(nextTokens.claims().auth_time, after.auth_time);
});

test('max_age: an older login forces the form, a recent one gets a code silently; the ID token carries auth_time', T, async () => {
  const config = cfg[RP.clientId];
  const browser = new Browser(issuer);
  const creds = { username: HANAKO.username, password: HANAKO.password };

  // log in at the start of a second, so that the max_age=0 request below comes
  // in the very second of the login (elapsed time 0 in whole seconds)
  await secondStart();
  const auth0 = await authRequest(config, RP);
  const cb0 = await loginAndGetCallback(browser, auth0.url, creds.username, creds.password);
  /*= OIDC Core §3.1.2.1 (errata set 2): "Note that max_age=0 is equivalent to prompt=login." */
  const zero = await authRequest(config, RP, { max_age: '0' });
  const zeroPage = await browser.get(zero.url);
  assertLoginPage(zeroPage, 'max_age=0 right after the login');
  const t0 = (await redeem(config, cb0, auth0)).claims().auth_time;
  assert.equal(typeof t0, 'number');

  // within max_age: a code without a form, and auth_time in the ID token
  // (openid-client's maxAge check fails if auth_time is missing)
  const recent = await authRequest(config, RP, { max_age: '3600' });
  const r = await browser.get(recent.url);
  const recentTokens = await redeem(config, assertCodeRedirect(r, RP, recent, 'max_age=3600'), recent, { maxAge: 3600 });
  assert.equal(recentTokens.claims().auth_time, t0, 'the auth_time of the login, not of this request');

  // max_age=1 once more than a second has passed: the form again
  await sleep(2000);
  const old = await authRequest(config, RP, { max_age: '1' });
  const page = await browser.get(old.url);
  const form = assertLoginPage(page, 'max_age=1, 2 s after the login');
  // prompt=none cannot re-authenticate: login_required
  const none = await authRequest(config, RP, { max_age: '1', prompt: 'none' });
  assertErrorRedirect(await browser.get(none.url), RP, none, 'login_required', 'max_age=1 prompt=none');
  // logging in again satisfies it, with a later auth_time
  const res = await browser.submit(page.url, form, creds);
  const oldTokens = await redeem(config, assertCodeRedirect(res, RP, old, 'max_age=1 after the login'), old, { maxAge: 1 });
  assert.equal(typeof oldTokens.claims().auth_time, 'number', 'auth_time is in the ID token');
  assert.ok(oldTokens.claims().auth_time > t0, 'a new authentication');

  // max_age=0 through the form also gives auth_time
  const zeroForm = loginForm(zeroPage.text);
  const zeroRes = await browser.submit(zeroPage.url, zeroForm, creds);
  const zeroTokens = await redeem(config, assertCodeRedirect(zeroRes, RP, zero, 'max_age=0 after the login'), zero);
  assert.equal(typeof zeroTokens.claims().auth_time, 'number');

  // a max_age that is not a non-negative integer goes back as invalid_request
  for (const bad of ['-1', 'abc', '1.5', '99999999999']) {
    const a = await authRequest(config, RP, { max_age: bad });
    assertErrorRedirect(await browser.get(a.url), RP, a, 'invalid_request', `max_age=${JSON.stringify(bad)}`);
  }
  // an empty max_age is an omitted one (RFC 6749 §3.1): the session answers
  const empty = await authRequest(config, RP, { max_age: '' });
  assertCodeRedirect(await browser.get(empty.url), RP, empty, 'max_age=""');
});

/** The raw <input> tag of the login form's username field. */
function usernameInput(html) {
  const tag = (html.match(/<input\b[^>]*>/gi) ?? []).find((t) => /\bname\s*=\s*"username"/i.test(t));
  assert.ok(tag, 'a username input');
  return tag;
}

test('login_hint prefills the username field, HTML-escaped', T, async () => {
  const config = cfg[RP.clientId];
  const browser = new Browser(issuer);

  const none = await browser.get((await authRequest(config, RP)).url);
  assert.equal(assertLoginPage(none, 'no hint').fields.username, '', 'no hint: an empty field');

  const auth = await authRequest(config, RP, { login_hint: TARO.username });
  const page = await browser.get(auth.url);
  const form = assertLoginPage(page, 'login_hint=taro');
  assert.match(usernameInput(page.text), /\bvalue="taro"/);
  assert.equal(form.fields.username, TARO.username);

  // a quote cannot end the attribute; markup cannot open an element
  for (const hint of ['a"b', "a'b", 'x"><script>alert(1)</script><input name="password" value="', 'a&amp;b<>']) {
    const a = await authRequest(config, RP, { login_hint: hint });
    const p = await browser.get(a.url);
    const f = assertLoginPage(p, `login_hint=${hint}`);
    const tag = usernameInput(p.text);
    const value = tag.match(/\bvalue="([^"]*)"/);
    assert.ok(value, `the value attribute is one double-quoted string: ${tag}`);
    assert.ok(!/[<>"]/.test(value[1]), `no raw < > " in the attribute: ${value[1]}`);
    assert.equal(htmlDecode(value[1]), hint, 'it decodes to the hint');
    assert.equal(f.fields.username, hint);
    if (hint.includes('"')) assert.ok(value[1].includes('&quot;') || /&#0*34;|&#x0*22;/i.test(value[1]), `the quote is escaped: ${value[1]}`);
    assert.ok(!p.text.includes('<script'), 'no injected element');
    assert.equal((p.text.match(/<input\b[^>]*\bname="password"/gi) ?? []).length, 1, 'one password field');
  }

  // the prefilled form logs in with the hinted account
  const res = await browser.submit(page.url, form, { password: TARO.password });
  const tokens = await redeem(config, assertCodeRedirect(res, RP, auth, 'prefilled login'), auth);
  assert.equal(tokens.claims().name, TARO.claims.name);

  // over the username limit (128): invalid_request back to the service
  const long = await authRequest(config, RP, { login_hint: 'x'.repeat(129) });
  assertErrorRedirect(await new Browser(issuer).get(long.url), RP, long, 'invalid_request', 'a 129-character login_hint');
});

/** Asserts that html is the login page in lang (en or ja). */
function assertLanguage(html, lang, what) {
  const other = lang === 'ja' ? 'en' : 'ja';
  assert.match(html, new RegExp(`<html\\b[^>]*\\blang="${lang}"`), `${what}: <html lang="${lang}">`);
  for (const key of ['site', 'login_title', 'username', 'password', 'login_button', 'login_note'])
    assert.ok(html.includes(htmlEscape(MSG[lang][key])), `${what}: ${key} in ${lang} (${MSG[lang][key]})`);
  for (const key of ['site', 'login_for', 'login_note'])
    assert.ok(!html.includes(htmlEscape(MSG[other][key])), `${what}: no ${other} ${key}`);
}

function htmlEscape(s) {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;').replace(/'/g, '&#39;');
}

test('ui_locales picks the login page language (Japanese by default); so does the failure message', T, async () => {
  const config = cfg[RP.clientId];
  // the wrong passwords below count against this client address, not 127.0.0.1
  const browser = new Browser(issuer, { localAddress: '127.0.0.3' });
  const authFor = async (uiLocales) => {
    const auth = await authRequest(config, RP, uiLocales === undefined ? {} : { ui_locales: uiLocales });
    if (uiLocales === undefined) auth.url.searchParams.delete('ui_locales');
    return auth;
  };
  const cases = [
    [undefined, 'ja'],
    ['ja', 'ja'],
    ['en', 'en'],
    ['fr en', 'en'],
    ['fr', 'ja'],
    ['en-US', 'en'],
    ['ja-JP en', 'ja'],
    ['de fr-CA ja en', 'ja'],
  ];
  for (const [uiLocales, lang] of cases) {
    const auth = await authFor(uiLocales);
    assert.equal(auth.url.searchParams.get('ui_locales'), uiLocales ?? null);
    const page = await browser.get(auth.url);
    assertLoginPage(page, `ui_locales=${uiLocales}`);
    assertLanguage(page.text, lang, `ui_locales=${uiLocales}`);
  }

  // the form posted back keeps the language of the request
  for (const [uiLocales, lang] of [[undefined, 'ja'], ['en', 'en'], ['fr en', 'en']]) {
    const auth = await authFor(uiLocales);
    // an unknown name: the same message, and no citizen's failure counter moves
    const { response } = await submitLogin(browser, auth.url, 'no-such-citizen', 'not-the-password');
    assert.equal(response.status, 200, `ui_locales=${uiLocales}: the form again`);
    assert.equal(response.location, null);
    assertLanguage(response.text, lang, `wrong password, ui_locales=${uiLocales}`);
    assert.ok(response.text.includes(MSG[lang].login_failed), `the failure message in ${lang}`);
    assert.ok(!response.text.includes(MSG[lang === 'ja' ? 'en' : 'ja'].login_failed), 'not in the other language');
  }
});

test('prompt=consent: with nothing to consent to (a statute-only policy) it is answered like a request without it', T, async () => {
  // RP's policy here releases everything on a statute basis: there is no
  // consent-basis attribute to ask, so prompt=consent shows no screen. With an
  // SSO session a code comes back at once (no re-authentication), and without
  // one the login form is shown as for any request. consent.test.js shows the
  // screen coming back with prompt=consent when there is something to ask.
  const config = cfg[RP.clientId];
  const first = await login(RP);
  const before = first.tokens.claims();

  const auth = await authRequest(config, RP, { prompt: 'consent' });
  const res = await first.browser.get(auth.url);
  assert.equal(loginForm(res.text), null, 'no login form');
  const tokens = await redeem(config, assertCodeRedirect(res, RP, auth, 'prompt=consent with a session'), auth);
  assert.equal(tokens.claims().sub, before.sub);
  assert.equal(tokens.claims().sid, before.sid, 'the same SSO session');
  assert.equal(tokens.claims().auth_time, before.auth_time, 'no re-authentication');

  // without a session: the login form, then a code
  const fresh = new Browser(issuer);
  const auth2 = await authRequest(config, RP, { prompt: 'consent' });
  const cb = await loginAndGetCallback(fresh, auth2.url, HANAKO.username, HANAKO.password);
  assert.equal((await redeem(config, cb, auth2)).claims().sub, before.sub);

  // prompt=consent login: re-authentication (the login part applies)
  const auth3 = await authRequest(config, RP, { prompt: 'consent login' });
  assertLoginPage(await first.browser.get(auth3.url), 'prompt="consent login"');

  // select_account is accepted and ignored too (one account per browser)
  const auth4 = await authRequest(config, RP, { prompt: 'select_account' });
  assertCodeRedirect(await first.browser.get(auth4.url), RP, auth4, 'prompt=select_account');

  /*= OIDC Core §3.1.2.1: none with any other value is an error */
  for (const prompt of ['none consent', 'consent none', 'none login']) {
    const a = await authRequest(config, RP, { prompt });
    assertErrorRedirect(await first.browser.get(a.url), RP, a, 'invalid_request', `prompt="${prompt}"`);
  }
  // an unknown prompt value is an error too
  const unknown = await authRequest(config, RP, { prompt: 'consent bogus' });
  assertErrorRedirect(await first.browser.get(unknown.url), RP, unknown, 'invalid_request', 'prompt="consent bogus"');
});

// ---------------------------------------------------------------------------
// login throttling and page headers
// ---------------------------------------------------------------------------

test('login throttling through the form: per name and client address, never locking the citizen out', { timeout: 180_000 }, async () => {
  // libauth/identity/throttle.h: a failure (wrong password, unknown or disabled
  // account) counts for the name typed from the client address, and for the
  // address; after CID_THROTTLE_FREE = 5 failures of a name from an address
  // within CID_THROTTLE_WINDOW = 900 s each further attempt from there must
  // come at least 2^(n-5) s after the last failure, or it is refused before any
  // password check (and not counted). The address alone waits only after 100
  // failures across names. No count spans an account (NIST SP 800-63B
  // §5.2.2): the citizen logs in from elsewhere at once. A success clears its
  // own count. This test uses citizens of its own and the client address
  // 127.0.0.2, so the counters of the other tests stay as they are.
  const config = cfg[RP.clientId];
  const A = { username: 'throttle-a', password: 'throttle-a-Passw0rd!', claims: { name: 'Throttle A' } };
  const C = { username: 'throttle-c', password: 'throttle-c-Passw0rd!', claims: { name: 'Throttle C' } };
  for (const u of [A, C]) addUser(store, u.username, u.password, u.claims);

  const browser = new Browser(issuer, { localAddress: '127.0.0.2' });
  const auth = await authRequest(config, RP);
  const page = await browser.get(auth.url);
  const form = assertLoginPage(page, 'the login page');
  const attempt = (username, password) => browser.submit(page.url, form, { username, password });
  const failed = (res, what) => {
    assert.equal(res.status, 200, `${what}: the form again (got ${res.status})`);
    assert.equal(res.location, null, `${what}: no redirect`);
    assert.ok(res.text.includes(MSG_EN.login_failed), `${what}: the failure message`);
    assert.ok(!res.text.includes(MSG_EN.login_throttled), `${what}: not throttled yet`);
  };
  const throttled = (res, what) => {
    assert.equal(res.status, 200, `${what}: the form again (got ${res.status} location=${res.location})`);
    assert.equal(res.location, null, `${what}: no redirect`);
    assert.ok(res.text.includes(MSG_EN.login_throttled), `${what}: the throttled message`);
    assert.ok(!res.text.includes(MSG_EN.login_failed), `${what}: not the failure message`);
    assert.ok(loginForm(res.text), `${what}: the form is shown again`);
    assert.ok(!res.setCookies.some((l) => l.startsWith('civicid_session=')), `${what}: no session cookie`);
  };
  // a whole login in a browser of its own; the ID token's name
  const loginFrom = async (localAddress, user, what) => {
    const b = new Browser(issuer, localAddress ? { localAddress } : {});
    const a = await authRequest(config, RP);
    const { response } = await submitLogin(b, a.url, user.username, user.password);
    const tokens = await redeem(config, assertCodeRedirect(response, RP, a, what), a);
    return tokens.claims().name;
  };

  // Count failures until the delay (2^(n-5) s) is 8 s: longer than any one
  // attempt takes even under valgrind, so what follows is inside the window
  // whatever the machine's speed. An attempt refused while a shorter delay
  // runs is not counted: wait the delay out and try again.
  const FAILURES = 8;
  for (let n = 1; n <= FAILURES; ) {
    const res = await attempt(A.username, `wrong-${n}`);
    if (n > 5 && res.text.includes(MSG_EN.login_throttled)) {
      throttled(res, `an attempt inside the delay after failure ${n - 1}`);
      await sleep(1000);
      continue;
    }
    failed(res, `failure ${n}`);
    n++;
  }
  throttled(await attempt(A.username, A.password), 'the right password from there inside the delay');
  assert.equal(browser.cookie('civicid_session'), undefined, 'no session');
  // the case of the name is no way around it
  throttled(await attempt(A.username.toUpperCase(), A.password), 'the name in upper case');

  // nobody else is slowed: the citizen from another address, another citizen
  // from this one (the address allows far more failures across names)
  assert.equal(await loginFrom(null, A, 'the same citizen from 127.0.0.1, at once'), A.claims.name);
  assert.equal(await loginFrom('127.0.0.2', C, 'another citizen from 127.0.0.2'), C.claims.name);

  // a delay, not a lockout: once 2^(8-5) = 8 s have passed the right password
  // works from 127.0.0.2
  await sleep(9000);
  const ok = await attempt(A.username, A.password);
  const tokens = await redeem(config, assertCodeRedirect(ok, RP, auth, 'after the delay'), auth);
  assert.equal(tokens.claims().name, A.claims.name);
  assert.ok(browser.cookie('civicid_session'), 'logged in');
});

/** Asserts the headers every HTML page of the server carries (server/http/response.c). */
function assertPageHeaders(res, what) {
  assert.match(res.headers.get('content-type') ?? '', /^text\/html;\s*charset=utf-8$/i, `${what}: content-type`);
  const csp = res.headers.get('content-security-policy');
  assert.ok(csp, `${what}: a Content-Security-Policy`);
  const directives = new Map(
    csp.split(';').map((d) => d.trim()).filter(Boolean).map((d) => {
      const [name, ...values] = d.split(/\s+/);
      return [name.toLowerCase(), values];
    }),
  );
  assert.deepEqual(directives.get('default-src'), ["'none'"], `${what}: default-src 'none' (so no script at all): ${csp}`);
  assert.ok(!directives.has('script-src'), `${what}: no script-src to widen default-src: ${csp}`);
  assert.deepEqual(directives.get('frame-ancestors'), ["'none'"], `${what}: frame-ancestors 'none': ${csp}`);
  assert.deepEqual(directives.get('base-uri'), ["'none'"], `${what}: base-uri 'none': ${csp}`);
  assert.deepEqual(directives.get('style-src'), ["'self'"], `${what}: style-src 'self': ${csp}`);
  assert.ok(!/unsafe-inline|unsafe-eval|\*/.test(csp), `${what}: nothing unsafe: ${csp}`);
  assert.equal(res.headers.get('x-frame-options'), 'DENY', `${what}: X-Frame-Options`);
  assert.match(res.headers.get('cache-control') ?? '', /\bno-store\b/, `${what}: Cache-Control no-store`);
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', `${what}: Referrer-Policy`);
  assert.equal(res.headers.get('x-content-type-options'), 'nosniff', `${what}: X-Content-Type-Options`);
  // the page keeps to its own policy: no script, no inline style, the stylesheet from 'self'
  assert.ok(!/<script\b/i.test(res.text), `${what}: no script element`);
  assert.ok(!/<style\b|\sstyle\s*=/i.test(res.text), `${what}: no inline style`);
  for (const href of res.text.match(/<link\b[^>]*\bhref="[^"]*"/gi) ?? [])
    assert.equal(new URL(href.match(/href="([^"]*)"/)[1], issuer).origin, issuer, `${what}: ${href} from self`);
}

test('security headers on the login page and the other HTML answers', T, async () => {
  const config = cfg[RP.clientId];
  const browser = new Browser(issuer);
  const auth = await authRequest(config, RP);
  const page = await browser.get(auth.url);
  const form = assertLoginPage(page, 'the login page');
  assertPageHeaders(page, 'the login page');

  // the form again after a POST (an empty password: no attempt is counted)
  const missing = await browser.submit(page.url, form, { username: HANAKO.username, password: '' });
  assert.equal(missing.status, 200);
  assert.ok(missing.text.includes(MSG_EN.login_missing), 'the missing-fields message');
  assertPageHeaders(missing, 'the login page after a POST');

  // an error page
  const error = await browser.get(`${issuer}/authorize?client_id=no-such-service`);
  assertErrorPage(error, 'unknown client');
  assertPageHeaders(error, 'an error page');

  // the stylesheet the pages allow
  const css = await browser.get('/static/civicid.css');
  assert.equal(css.status, 200);
  assert.match(css.headers.get('content-type') ?? '', /^text\/css/);
  assert.equal(css.headers.get('x-content-type-options'), 'nosniff');

  // the redirects that carry a code: never cached, no referrer
  const res = await browser.submit(page.url, form, { username: HANAKO.username, password: HANAKO.password });
  assertCodeRedirect(res, RP, auth, 'the login POST');
  assert.match(res.headers.get('cache-control') ?? '', /\bno-store\b/, 'the code redirect: no-store');
  assert.equal(res.headers.get('referrer-policy'), 'no-referrer', 'the code redirect: no referrer');
  const auth2 = await authRequest(config, RP);
  const sso = await browser.get(auth2.url);
  assertCodeRedirect(sso, RP, auth2, 'the SSO redirect');
  assert.match(sso.headers.get('cache-control') ?? '', /\bno-store\b/, 'the SSO redirect: no-store');
  assert.equal(sso.headers.get('referrer-policy'), 'no-referrer', 'the SSO redirect: no referrer');
});

// Last, because it changes the signing keys of the shared server.
test('key rotation by the CLI: the running server publishes both keys; old tokens still verify', T, async () => {
  const before = await login(RP);
  const oldKid = decodeJwt(before.tokens.access_token).header.kid;

  const out = JSON.parse(cli(['keys', 'rotate', '--alg', 'ES256', '--store', store.dir, '--json']));
  const newKid = out[0].kid;
  assert.notEqual(newKid, oldKid);

  // the server polls the store's keys_version every few seconds
  let keys = [];
  for (let i = 0; i < 40 && !keys.includes(newKid); i++) {
    await sleep(250);
    keys = (await (await fetch(`${issuer}/jwks`)).json()).keys.map((k) => k.kid);
  }
  assert.ok(keys.includes(newKid), `the JWKS publishes the new key ${newKid}: ${keys}`);
  assert.ok(keys.includes(oldKid), 'the retired key stays in the JWKS for its overlap');

  // a token signed before the rotation still works; new tokens carry the new kid
  const info = await userinfoRaw(before.tokens.access_token);
  assert.equal(info.status, 200);
  // openid-client keeps a fetched JWKS for 60 s before it refetches on an
  // unknown kid; a relying party configured now (empty cache) verifies at once
  cfg[RP.clientId] = await discover(
    issuer,
    RP.clientId,
    { client_secret: secrets[RP.clientId], id_token_signed_response_alg: 'ES256' },
    client.ClientSecretBasic(secrets[RP.clientId]),
    [client.enableNonRepudiationChecks],
  );
  const after = await login(RP);
  assert.equal(decodeJwt(after.tokens.access_token).header.kid, newKid);
  assert.equal(decodeJwt(after.tokens.id_token).header.kid, newKid);
  // openid-client verified the new ID token's signature against the refreshed JWKS
});

/** The kids of the running server's /jwks. */
async function publishedKids() {
  return (await (await fetch(`${issuer}/jwks`)).json()).keys.map((k) => k.kid);
}

/** The listed state of kid (`civicid keys list --json`). */
function keyState(kid) {
  const keys = JSON.parse(cli(['keys', 'list', '--store', store.dir, '--json']));
  return keys.find((k) => k.kid === kid)?.state;
}

/** RP's openid-client configuration holding jwks as the JWKS it cached at uat (seconds). */
async function rpWithCachedJwks(jwks, uat) {
  const config = await discover(
    issuer,
    RP.clientId,
    { client_secret: secrets[RP.clientId], id_token_signed_response_alg: 'ES256' },
    client.ClientSecretBasic(secrets[RP.clientId]),
    [client.enableNonRepudiationChecks],
  );
  client.setJwksCache(config, { jwks, uat });
  return config;
}

// Last too: it rotates the ES256 key of the shared server once more.
test('staged key rotation: a relying party that refetched the JWKS after --publish-only verifies the first token of the new key', T, async () => {
  const epoch = () => Math.floor(Date.now() / 1000);
  const oldKid = decodeJwt((await login(RP)).tokens.id_token).header.kid;
  // what a relying party cached before the publish
  const jwksBefore = await (await fetch(`${issuer}/jwks`)).json();
  const uatBefore = epoch();

  const conf = store.writeConfig(`store = ${store.dir}\nkey_publish_delay = 10\n`, 'keys.conf');
  // the time before the command, which may be slow (under valgrind)
  const rotatedFrom = epoch();
  const published = JSON.parse(cli(['keys', 'rotate', '--publish-only', '--alg', 'ES256', '--config', conf, '--json']));
  const nextKid = published[0].kid;
  assert.notEqual(nextKid, oldKid);
  assert.ok(published[0].activate_at >= rotatedFrom + 10, 'it may sign only after key_publish_delay');
  assert.throws(() => cli(['keys', 'rotate', '--activate', '--alg', 'ES256', '--config', conf]),
    /may sign from .*--force/s, 'an early --activate is refused');

  // the server publishes the next key within its poll interval ...
  let kids = [];
  for (let i = 0; i < 40 && !kids.includes(nextKid); i++) {
    await sleep(250);
    kids = await publishedKids();
  }
  assert.ok(kids.includes(nextKid), `the JWKS publishes the next key ${nextKid}: ${kids}`);
  assert.ok(kids.includes(oldKid));
  // ... and keeps signing with the active key: nothing is signed with a key
  // that relying parties could not have seen yet
  const during = await login(RP);
  assert.equal(decodeJwt(during.tokens.id_token).header.kid, oldKid);
  assert.equal(decodeJwt(during.tokens.access_token).header.kid, oldKid);
  assert.equal(keyState(nextKid), 'next');

  // a relying party refreshes its JWKS cache within the window
  const jwksWindow = await (await fetch(`${issuer}/jwks`)).json();
  const uatWindow = epoch();
  const refreshed = await rpWithCachedJwks(jwksWindow, uatWindow);
  const stale = await rpWithCachedJwks(jwksBefore, uatBefore);

  // the running server activates the key by itself once key_publish_delay has passed
  for (let i = 0; i < 120 && keyState(nextKid) !== 'active'; i++) await sleep(250);
  assert.equal(keyState(nextKid), 'active', 'the server activated the published key');
  assert.equal(keyState(oldKid), 'retired');

  // the first tokens of the new key: openid-client verifies the ID token's
  // signature from the JWKS it cached in the window, without refetching (a
  // JWKS younger than 60 s is not refetched for an unknown kid: it fails)
  cfg[RP.clientId] = refreshed;
  const after = await login(RP);
  assert.equal(decodeJwt(after.tokens.id_token).header.kid, nextKid);
  assert.equal(decodeJwt(after.tokens.access_token).header.kid, nextKid);
  assert.equal(client.getJwksCache(refreshed).uat, uatWindow, 'verified from the cached JWKS, not a refetch');
  await verifyWithJwks(after.tokens.id_token, jwksWindow);
  // what an immediate switch does to every caching relying party: one whose
  // JWKS predates the publish cannot verify the new key's tokens yet
  cfg[RP.clientId] = stale;
  await assert.rejects(login(RP), (e) => /no applicable keys found/.test(e.message), 'a JWKS from before the publish lacks the key');
  cfg[RP.clientId] = refreshed;
  // tokens of the retired key still verify
  assert.equal((await userinfoRaw(during.tokens.access_token)).status, 200);
});

// Last too: it withdraws the ES256 key of the shared server.
test('keys rotate --revoke: within seconds the running server refuses what the old key signed and drops it from the JWKS', T, async () => {
  const before = await login(RP);
  const token = before.tokens.access_token;
  const oldKid = decodeJwt(token).header.kid;
  assert.equal((await userinfoRaw(token)).status, 200);
  assert.equal((await introspect(RP, token)).active, true);

  const out = JSON.parse(cli(['keys', 'rotate', '--revoke', '--alg', 'ES256', '--store', store.dir, '--json']));
  const newKid = out[0].kid;
  assert.notEqual(newKid, oldKid);
  const revokedAt = Date.now();
  // the server polls the store's keys_version every few seconds
  let status = 200;
  for (let i = 0; i < 40 && status === 200; i++) {
    await sleep(250);
    status = (await userinfoRaw(token)).status;
  }
  assert.equal(status, 401, 'a token of the withdrawn key is refused at /userinfo');
  assert.ok(Date.now() - revokedAt < 10_000, 'within a few seconds, not after key_keep');
  assert.equal((await introspect(RP, token)).active, false, 'and /introspect calls it inactive');
  const kids = await publishedKids();
  assert.ok(!kids.includes(oldKid), `the withdrawn key ${oldKid} is out of the JWKS: ${kids}`);
  assert.ok(kids.includes(newKid), 'the new key is published');
  assert.equal(keyState(oldKid), 'retired');
});
