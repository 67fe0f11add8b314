// End-to-end: single logout. The real `civicid serve` (a fresh store, short
// retry settings from a config file) and services signed in through one SSO
// session with openid-client 6. Each service's back-channel receiver is a
// small node HTTP server on 127.0.0.1 that checks the logout token as a
// service would, with `jose` against /jwks (signature, typ logout+jwt, iss,
// aud, iat, events, no nonce) and answers 200, or 400 when it is not valid.
// Also: a receiver that hangs (the logout still answers at once; the failure
// reaches the audit log after the retries), `civicid user disable`,
// `civicid user delete` (the services are told as for a disable, and the
// deleted citizen's access and refresh tokens stop working), and the
// front-channel frames of the logged-out page.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh logout.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';
import { createRemoteJWKSet } from 'jose';

import { EVENT, startReceiver, stopReceiver, tokensFor, waitFor } from './lib/backchannel.js';
import { Browser, addClient, addUser, cli, freshStore, htmlDecode, loginAndGetCallback, startServer, statutePolicy } from './lib/server.js';

const T = { timeout: 120_000 };
const CONFIG = `backchannel_logout_attempts = 2
backchannel_logout_backoff = 1
backchannel_logout_timeout = 1
backchannel_logout_connect_timeout = 1
`;

const HANAKO = { username: 'hanako', password: 'hanako-logout-Passw0rd!', claims: { name: '山田 花子' } };
const KENJI = { username: 'kenji', password: 'kenji-logout-Passw0rd!', claims: { name: '佐藤 健二' } };
const TOMOKO = { username: 'tomoko', password: 'tomoko-delete-Passw0rd!', claims: { name: '鈴木 智子' } };

let store;
let server;
let issuer;
let jwks;
const receivers = {}; // clientId -> receiver
const cfg = {}; // clientId -> openid-client Configuration
const op = { get issuer() { return issuer; }, get jwks() { return jwks; } }; // what the receivers trust

// The services. Redirect URIs point where nothing listens: the test reads the
// Location header. FRONT registers a front-channel URI on the hanging
// receiver's port (never loaded here: the page is read, not rendered).
const SERVICES = {
  a: { clientId: 'svc-a', redirect: 'http://127.0.0.1:9/a-cb', postLogout: 'http://127.0.0.1:9/a-bye' },
  b: { clientId: 'svc-b', redirect: 'http://localhost:9/b-cb', postLogout: 'http://localhost:9/b-bye' },
  hang: { clientId: 'svc-hang', redirect: 'http://127.0.0.1:9/h-cb' },
  front: { clientId: 'svc-front', redirect: 'http://127.0.0.1:9/f-cb', postLogout: 'http://127.0.0.1:9/f-bye' },
  front2: { clientId: 'svc-front2', redirect: 'http://[::1]:9/f2-cb' },
};

before(async () => {
  store = freshStore('logout');
  const configFile = store.writeConfig(CONFIG);
  for (const s of Object.values(SERVICES)) store.writePolicy(`${s.clientId}.policy`, statutePolicy(s.clientId, ['name']));
  addUser(store, HANAKO.username, HANAKO.password, HANAKO.claims);
  addUser(store, KENJI.username, KENJI.password, KENJI.claims);
  addUser(store, TOMOKO.username, TOMOKO.password, TOMOKO.claims);
  receivers.a = await startReceiver(SERVICES.a.clientId, op);
  receivers.b = await startReceiver(SERVICES.b.clientId, op);
  receivers.hang = await startReceiver(SERVICES.hang.clientId, op, { hang: true });
  const hangPort = new URL(receivers.hang.url).port;
  SERVICES.front.frontchannel = `http://127.0.0.1:${hangPort}/front-logout?from=civicid`;
  SERVICES.front2.frontchannel = `http://localhost:${hangPort}/front2-logout`;
  const secrets = {};
  for (const [key, s] of Object.entries(SERVICES)) {
    const out = addClient(store, {
      clientId: s.clientId,
      name: s.clientId,
      redirectUris: [s.redirect],
      postLogoutRedirectUris: s.postLogout ? [s.postLogout] : [],
      scope: 'openid profile',
      backchannelLogoutUri: receivers[key]?.url,
      backchannelLogoutSessionRequired: key === 'a',
      frontchannelLogoutUri: s.frontchannel,
      frontchannelLogoutSessionRequired: key === 'front',
    });
    secrets[s.clientId] = out.client_secret;
  }
  // a registration the rules refuse: plain http off loopback
  assert.throws(
    () => addClient(store, { clientId: 'svc-bad', redirectUris: ['http://127.0.0.1:9/x'], backchannelLogoutUri: 'http://rp.example/bc' }),
    /back-channel logout URI must be/,
  );

  server = await startServer(store, { configFile });
  issuer = server.issuer;
  jwks = createRemoteJWKSet(new URL('/jwks', issuer));
  for (const s of Object.values(SERVICES)) {
    cfg[s.clientId] = await client.discovery(new URL(issuer), s.clientId, secrets[s.clientId],
      client.ClientSecretBasic(secrets[s.clientId]), { execute: [client.allowInsecureRequests] });
  }
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    for (const r of Object.values(receivers)) await stopReceiver(r);
    store?.remove();
  }
});

/** An authorization request of service s with PKCE, state and nonce. */
async function authRequest(s) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(cfg[s.clientId], {
    redirect_uri: s.redirect,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ui_locales: 'en',
  });
  return { url, verifier, state, nonce };
}

function redeem(s, callback, auth) {
  return client.authorizationCodeGrant(cfg[s.clientId], callback, {
    pkceCodeVerifier: auth.verifier,
    expectedState: auth.state,
    expectedNonce: auth.nonce,
  });
}

/** Signs user in at s through the login form (browser keeps the SSO session): the tokens. */
async function login(s, user, browser) {
  const auth = await authRequest(s);
  const callback = await loginAndGetCallback(browser, auth.url, user.username, user.password);
  return redeem(s, callback, auth);
}

/** Signs in at s with the browser's SSO session, without a password: the tokens. */
async function sso(s, browser) {
  const auth = await authRequest(s);
  const res = await browser.get(auth.url);
  assert.equal(res.status, 302, `SSO at ${s.clientId} without a login page (${res.status})`);
  return redeem(s, new URL(res.location), auth);
}

/** The logout.* entries of the audit log (read with the CLI while the server runs). */
function logoutEntries() {
  return cli(['audit', 'query', '--store', store.dir, '--type', 'logout.', '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
}

function assertVerifiedToken(entry, idClaims, what) {
  assert.equal(entry.error, undefined, `${what}: the receiver verified the token (${entry.error})`);
  assert.equal(entry.method, 'POST', `${what}: POST`);
  assert.match(entry.contentType ?? '', /^application\/x-www-form-urlencoded/, `${what}: a form`);
  assert.equal(entry.header.typ, 'logout+jwt', `${what}: typ`);
  assert.ok(entry.header.kid, `${what}: kid`);
  const p = entry.payload;
  assert.equal(p.iss, issuer, `${what}: iss`);
  assert.equal(p.aud, idClaims.aud, `${what}: aud is the service`);
  assert.equal(p.sid, idClaims.sid, `${what}: the ID token's sid`);
  assert.equal(p.sub, idClaims.sub, `${what}: the service's own sub`);
  assert.deepEqual(p.events, { [EVENT]: {} }, `${what}: events`);
  assert.ok(!('nonce' in p), `${what}: no nonce`);
  assert.ok(Math.abs(p.iat - Date.now() / 1000) < 60, `${what}: iat is now`);
  assert.ok(p.exp > p.iat && p.exp - p.iat <= 300, `${what}: exp is short`);
  assert.equal(typeof p.jti, 'string');
}

/** Logs out at s with its ID token as hint and its return address; the answer and how long it took. */
async function rpLogout(s, browser, idToken, { postLogout = s.postLogout } = {}) {
  const state = client.randomState();
  const params = { id_token_hint: idToken, state };
  if (postLogout) params.post_logout_redirect_uri = postLogout;
  const url = client.buildEndSessionUrl(cfg[s.clientId], params);
  const t0 = performance.now();
  const res = await browser.get(url);
  return { res, ms: performance.now() - t0, state };
}

// ---------------------------------------------------------------------------

test('discovery announces back- and front-channel logout, with sessions', T, async () => {
  const m = cfg[SERVICES.a.clientId].serverMetadata();
  assert.equal(m.backchannel_logout_supported, true);
  assert.equal(m.backchannel_logout_session_supported, true);
  assert.equal(m.frontchannel_logout_supported, true);
  assert.equal(m.frontchannel_logout_session_supported, true);
  assert.equal(m.end_session_endpoint, `${issuer}/logout`);
});

test('RP-initiated logout at one service: every service of the SSO session gets a verified logout token', T, async () => {
  const browser = new Browser(issuer);
  const a = await login(SERVICES.a, HANAKO, browser);
  const b = await sso(SERVICES.b, browser);
  const ca = a.claims();
  const cb = b.claims();
  assert.equal(typeof ca.sid, 'string', 'the ID token carries sid');
  assert.equal(cb.sid, ca.sid, 'one SSO session');
  assert.notEqual(cb.sub, ca.sub, 'pairwise subjects differ per service');

  const { res, ms, state } = await rpLogout(SERVICES.b, browser, b.id_token);
  assert.equal(res.status, 302, `back to the service at once (${res.status} ${res.text.slice(0, 200)})`);
  const back = new URL(res.location);
  assert.equal(`${back.origin}${back.pathname}`, SERVICES.b.postLogout);
  assert.equal(back.searchParams.get('state'), state);
  assert.ok(ms < 1000, `/logout answered in ${ms.toFixed(0)} ms`);

  const [ta] = await tokensFor(receivers.a, ca.sid);
  const [tb] = await tokensFor(receivers.b, cb.sid);
  assertVerifiedToken(ta, ca, 'service A');
  assertVerifiedToken(tb, cb, 'service B (where the citizen logged out)');
  assert.notEqual(ta.payload.jti, tb.payload.jti);

  // each delivery is on the record, naming the service and a hash of the sid, never the citizen
  const delivered = await waitFor('two logout.delivered entries', () => {
    const d = logoutEntries().filter((e) => e.type === 'logout.delivered' && ['svc-a', 'svc-b'].includes(e.service));
    return d.length >= 2 ? d : null;
  });
  for (const e of delivered) {
    assert.equal(e.actor, 'system');
    assert.equal(e.ext.status, '200');
    assert.equal(e.ext.attempts, '1');
    assert.equal(e.ext.cause, 'rp-logout');
    assert.match(e.ext.sid_hash, /^[0-9a-f]{64}$/);
    assert.equal(e.citizen, undefined, 'no citizen in a logout entry');
    assert.ok(!JSON.stringify(e).includes(ca.sid), 'the sid itself is not logged');
  }
  // the session is over: A's next request shows the login form
  const again = await browser.get((await authRequest(SERVICES.a)).url);
  assert.equal(again.status, 200, 'the login form, not a code');
  // and the refresh tokens issued in it (no offline_access) ended with it (BCL 1.0 §2.7):
  // none mints an ID token naming the ended sid
  for (const [s, t] of [[SERVICES.a, a], [SERVICES.b, b]]) {
    assert.ok(t.refresh_token, `${s.clientId} got a refresh token`);
    await assert.rejects(client.refreshTokenGrant(cfg[s.clientId], t.refresh_token),
      (e) => e.error === 'invalid_grant', `${s.clientId}'s refresh token after the logout`);
  }
});

test('a receiver that hangs: /logout answers at once; the failure is logged after the retries', T, async () => {
  const browser = new Browser(issuer);
  const h = await login(SERVICES.hang, HANAKO, browser);
  const a = await sso(SERVICES.a, browser);
  const sid = h.claims().sid;
  const before = receivers.hang.requests;

  const { res, ms } = await rpLogout(SERVICES.hang, browser, h.id_token, { postLogout: null });
  assert.equal(res.status, 200, 'the logged-out page');
  assert.ok(ms < 1000, `/logout answered in ${ms.toFixed(0)} ms with a receiver that hangs`);
  // the other service is told all the same
  const [ta] = await tokensFor(receivers.a, sid);
  assertVerifiedToken(ta, a.claims(), 'service A beside the hanging one');

  // two tries of one second each, a second apart: then logout.failed
  const failed = await waitFor('logout.failed for the hanging service', () =>
    logoutEntries().find((e) => e.type === 'logout.failed' && e.service === SERVICES.hang.clientId), 20_000);
  assert.equal(failed.ext.attempts, '2');
  assert.equal(failed.ext.status, 'none');
  assert.match(failed.ext.error, /timed out/i);
  assert.equal(failed.ext.cause, 'rp-logout');
  // logoutEntries runs the CLI synchronously: under valgrind for seconds, in
  // which this process's receiver accepts nothing; the second try may still
  // wait in its listen queue, to be counted once the event loop runs again
  await waitFor('the second try at the hanging receiver', () => receivers.hang.requests - before >= 2, 5_000);
  assert.equal(receivers.hang.requests - before, 2, 'tried twice (backchannel_logout_attempts = 2)');
});

test('civicid user disable sends the logout tokens of every session of the citizen', T, async () => {
  const first = new Browser(issuer);
  const second = new Browser(issuer);
  const a1 = await login(SERVICES.a, KENJI, first);
  const b1 = await sso(SERVICES.b, first);
  const a2 = await login(SERVICES.a, KENJI, second);
  assert.notEqual(a2.claims().sid, a1.claims().sid, 'two sessions');

  cli(['user', 'disable', KENJI.username, '--store', store.dir]);
  // the running server's worker picks up what the CLI queued
  const [ta1] = await tokensFor(receivers.a, a1.claims().sid);
  const [tb1] = await tokensFor(receivers.b, b1.claims().sid);
  const [ta2] = await tokensFor(receivers.a, a2.claims().sid);
  assertVerifiedToken(ta1, a1.claims(), 'first session, A');
  assertVerifiedToken(tb1, b1.claims(), 'first session, B');
  assertVerifiedToken(ta2, a2.claims(), 'second session, A');
  const causes = await waitFor('three logout.delivered entries caused by the disable', () => {
    const d = logoutEntries().filter((e) => e.type === 'logout.delivered' && e.ext.cause === 'disabled');
    return d.length >= 3 ? d : null;
  });
  assert.equal(causes.length, 3);
  cli(['user', 'enable', KENJI.username, '--store', store.dir]);
});

test('civicid user delete tells the services and stops the citizen\'s tokens; the name is free again', T, async () => {
  const browser = new Browser(issuer);
  const a = await login(SERVICES.a, TOMOKO, browser);
  const sub = a.claims().sub;
  const info = await client.fetchUserInfo(cfg[SERVICES.a.clientId], a.access_token, sub);
  assert.equal(info.name, TOMOKO.claims.name, 'the access token releases the name before');
  assert.ok(a.refresh_token, 'a refresh token to try afterwards');

  // refused without --yes (exit 2), and nothing is deleted
  assert.throws(() => cli(['user', 'delete', TOMOKO.username, '--store', store.dir]), /exit 2[\s\S]*--yes/);
  assert.equal(JSON.parse(cli(['user', 'show', TOMOKO.username, '--json', '--store', store.dir])).username, TOMOKO.username);

  const done = JSON.parse(cli(['user', 'delete', TOMOKO.username, '--yes', '--json', '--store', store.dir]));
  assert.equal(done.sessions, 1);
  assert.equal(done.grants, 1);
  // the running server's worker sends what the CLI queued, as for a disable
  const [t] = await tokensFor(receivers.a, a.claims().sid);
  assertVerifiedToken(t, a.claims(), 'the deleted citizen\'s session');
  await waitFor('logout.delivered caused by the deletion', () =>
    logoutEntries().find((e) => e.type === 'logout.delivered' && e.ext.cause === 'deleted'));

  await assert.rejects(client.fetchUserInfo(cfg[SERVICES.a.clientId], a.access_token, sub),
    (e) => e.status === 401 || e.cause?.status === 401, 'userinfo refuses the access token');
  await assert.rejects(client.refreshTokenGrant(cfg[SERVICES.a.clientId], a.refresh_token),
    (e) => e.error === 'invalid_grant', 'the refresh token is dead');
  // the SSO session is gone: the browser is asked to log in again
  const res = await browser.get((await authRequest(SERVICES.a)).url);
  assert.equal(res.status, 200, 'a login page, not a redirect with a code');
  assert.throws(() => cli(['user', 'show', TOMOKO.username, '--store', store.dir]), /exit 1/);
  assert.throws(() => cli(['user', 'delete', TOMOKO.username, '--yes', '--store', store.dir]), /exit 1/);

  const [entry] = cli(['audit', 'query', '--store', store.dir, '--type', 'account.', '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(entry.type, 'account.deleted');
  assert.equal(entry.actor, 'operator');
  assert.match(entry.citizen, /^ps_[0-9a-f]{32}$/, 'the log names a pseudonym');

  // the name may be registered again: a new citizen, whom the service sees under a new sub
  const again = { ...TOMOKO, password: 'tomoko-again-Passw0rd!' };
  addUser(store, again.username, again.password, {});
  const b = await login(SERVICES.a, again, new Browser(issuer));
  assert.notEqual(b.claims().sub, sub, 'a new subject');
  const fresh = await client.fetchUserInfo(cfg[SERVICES.a.clientId], b.access_token, b.claims().sub);
  assert.equal(fresh.name, undefined, 'nothing of the deleted citizen is released');
});

test('front-channel: the logged-out page frames each service with iss and sid, and its CSP allows exactly those origins', T, async () => {
  const browser = new Browser(issuer);
  const f = await login(SERVICES.front, HANAKO, browser);
  await sso(SERVICES.front2, browser);
  const sid = f.claims().sid;

  const { res, ms, state } = await rpLogout(SERVICES.front, browser, f.id_token);
  assert.ok(ms < 1000);
  assert.equal(res.status, 200, 'a page (the frames need it), not a redirect');
  assert.equal(res.location, null);
  const frames = [...res.text.matchAll(/<iframe\b[^>]*\bsrc="([^"]*)"[^>]*>/g)].map((m) => htmlDecode(m[1]));
  assert.equal(frames.length, 2, `two frames: ${frames.join(' ')}`);
  const withSession = new URL(frames.find((u) => u.includes('/front-logout')));
  assert.equal(`${withSession.origin}${withSession.pathname}`, SERVICES.front.frontchannel.split('?')[0]);
  assert.equal(withSession.searchParams.get('from'), 'civicid', 'its own query kept');
  assert.equal(withSession.searchParams.get('iss'), issuer);
  assert.equal(withSession.searchParams.get('sid'), sid);
  assert.equal(frames.find((u) => u.includes('/front2-logout')), SERVICES.front2.frontchannel, 'no iss or sid where not asked');
  assert.match(res.text, /<iframe\b[^>]*\bhidden\b/, 'the frames are hidden');
  assert.match(res.text, /<iframe\b[^>]*\btitle="[^"]+"/, 'each frame has a title');
  // the link back replaces the redirect
  // in the page's own content: the frame's header has its own links before it
  const link = res.text.slice(res.text.indexOf('<main')).match(/<a href="([^"]*)"/);
  assert.ok(link, 'a link back to the service');
  const back = new URL(htmlDecode(link[1]));
  assert.equal(`${back.origin}${back.pathname}`, SERVICES.front.postLogout);
  assert.equal(back.searchParams.get('state'), state);

  const csp = new Map(res.headers.get('content-security-policy').split(';').map((d) => d.trim()).filter(Boolean)
    .map((d) => { const [name, ...values] = d.split(/\s+/); return [name, values]; }));
  const port = new URL(receivers.hang.url).port;
  assert.deepEqual(new Set(csp.get('frame-src')), new Set([`http://127.0.0.1:${port}`, `http://localhost:${port}`]));
  assert.deepEqual(csp.get('default-src'), ["'none'"], 'the rest of the policy as strict as ever');
  assert.deepEqual(csp.get('frame-ancestors'), ["'none'"]);
  assert.ok(!csp.has('script-src'));

  // any other page still frames nothing
  const other = await new Browser(issuer).get((await authRequest(SERVICES.a)).url);
  assert.ok(!/frame-src/.test(other.headers.get('content-security-policy')), 'no frame-src elsewhere');
});
