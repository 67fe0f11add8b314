// End-to-end: an ID token longer than any other token civicid reads comes back
// as id_token_hint. A citizen whose released names come in several scripts,
// each near the 1024-byte limit of an attribute, gets an RS256 ID token of
// about 15 KB from the real `civicid serve`; the service sends it back to the
// end-session endpoint, as openid-client builds it (GET, the hint in the query
// string) and as a form (POST), and each ends the SSO session with a redirect
// to the registered address. A hint over the bound (CID_MAX_ID_TOKEN) gets a
// 413 answer, not a dropped connection.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh id_token_hint.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import * as client from 'openid-client';

import { Browser, addClient, addUser, freshStore, loginAndGetCallback, startServer, statutePolicy } from './lib/server.js';

const T = { timeout: 120_000 };
const MAX_TOKEN = 4096; // CID_MAX_TOKEN: a token of any other kind presented to civicid
const MAX_ID_TOKEN = 16384; // CID_MAX_ID_TOKEN

const SVC = {
  clientId: 'svc-long',
  redirect: 'http://127.0.0.1:9/long-cb',
  postLogout: 'http://127.0.0.1:9/long-bye',
};
// eleven names of 980 bytes: an ID token near, and under, CID_MAX_ID_TOKEN
const LONG = 'x'.repeat(980);
const NAMES = {};
for (const base of ['name', 'family_name', 'given_name'])
  for (const tag of ['', '#ja-Kana-JP', '#ja-Hani-JP', '#en']) NAMES[base + tag] = LONG;
delete NAMES['given_name#en'];
const CITIZEN = { username: 'jugemu', password: 'jugemu-long-Passw0rd!' };

let store;
let server;
let issuer;
let cfg;

before(async () => {
  store = freshStore('id-token-hint');
  store.writePolicy(`${SVC.clientId}.policy`, statutePolicy(SVC.clientId, ['name', 'family_name', 'given_name']));
  addUser(store, CITIZEN.username, CITIZEN.password, NAMES);
  const out = addClient(store, {
    clientId: SVC.clientId,
    name: SVC.clientId,
    redirectUris: [SVC.redirect],
    postLogoutRedirectUris: [SVC.postLogout],
    scope: 'openid profile',
    idTokenAlg: 'RS256',
  });
  server = await startServer(store);
  issuer = server.issuer;
  cfg = await client.discovery(new URL(issuer), SVC.clientId, out.client_secret,
    client.ClientSecretBasic(out.client_secret), { execute: [client.allowInsecureRequests] });
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    store?.remove();
  }
});

/** Signs the citizen in at the service through the login form: the tokens. */
async function login(browser) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(cfg, {
    redirect_uri: SVC.redirect,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ui_locales: 'en',
  });
  const callback = await loginAndGetCallback(browser, url, CITIZEN.username, CITIZEN.password);
  return client.authorizationCodeGrant(cfg, callback, {
    pkceCodeVerifier: verifier,
    expectedState: state,
    expectedNonce: nonce,
  });
}

/** True while the browser's SSO session lets the service in without a login page. */
async function signedIn(browser) {
  const url = client.buildAuthorizationUrl(cfg, {
    redirect_uri: SVC.redirect,
    scope: 'openid',
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
    state: client.randomState(),
    prompt: 'none',
  });
  const res = await browser.get(url);
  assert.equal(res.status, 302);
  return new URL(res.location).searchParams.has('code');
}

function assertLoggedOut(res, state, what) {
  assert.equal(res.status, 302, `${what}: a redirect (${res.status})`);
  const to = new URL(res.location);
  assert.equal(`${to.origin}${to.pathname}`, SVC.postLogout, `${what}: to the registered address`);
  assert.equal(to.searchParams.get('state'), state, `${what}: with the state`);
}

test('a long RS256 ID token sent back as id_token_hint by GET ends the session', T, async () => {
  const browser = new Browser(issuer);
  const tokens = await login(browser);
  const idToken = tokens.id_token;
  assert.equal(JSON.parse(Buffer.from(idToken.split('.')[0], 'base64url')).alg, 'RS256');
  assert.ok(idToken.length > MAX_TOKEN && idToken.length <= MAX_ID_TOKEN,
    `an ID token between the bounds (${idToken.length} bytes)`);
  assert.equal(tokens.claims()['name#ja-Kana-JP'], LONG, 'the long names are in the ID token');
  assert.ok(await signedIn(browser));

  const state = client.randomState();
  const url = client.buildEndSessionUrl(cfg, {
    id_token_hint: idToken,
    post_logout_redirect_uri: SVC.postLogout,
    state,
  });
  assertLoggedOut(await browser.get(url), state, 'GET');
  assert.equal(await signedIn(browser), false, 'the SSO session has ended');
});

test('a long ID token sent back as id_token_hint in a POSTed form ends the session', T, async () => {
  const browser = new Browser(issuer);
  const tokens = await login(browser);
  assert.ok(tokens.id_token.length > MAX_TOKEN);
  const state = client.randomState();
  const res = await browser.post(`${issuer}/logout`, {
    id_token_hint: tokens.id_token,
    post_logout_redirect_uri: SVC.postLogout,
    state,
  });
  assertLoggedOut(res, state, 'POST');
  assert.equal(await signedIn(browser), false, 'the SSO session has ended');
});

test('an id_token_hint over the bound is refused for its size, by GET and by POST', T, async () => {
  const browser = new Browser(issuer);
  const tokens = await login(browser);
  const [h, p, s] = tokens.id_token.split('.');
  // a payload padded past the bound: refused for its length, before any signature check
  const big = `${h}.${p}${'A'.repeat(MAX_ID_TOKEN + 1 - tokens.id_token.length)}.${s}`;
  assert.equal(big.length, MAX_ID_TOKEN + 1);
  const get = await browser.get(`${issuer}/logout?${new URLSearchParams({ id_token_hint: big })}`);
  assert.equal(get.status, 413, 'GET: refused for its size');
  assert.equal(get.location, null, 'GET: no redirect');
  const post = await browser.post(`${issuer}/logout`, { id_token_hint: big });
  assert.equal(post.status, 413, 'POST: refused for its size');
  assert.equal(post.location, null, 'POST: no redirect');
  // at the bound, a header nested past jansson's depth limit: refused as no token of ours
  const deep = `${Buffer.from('['.repeat(12_000)).toString('base64url')}.e30.AAAA`;
  assert.ok(deep.length <= MAX_ID_TOKEN);
  const nested = await browser.get(`${issuer}/logout?${new URLSearchParams({ id_token_hint: deep })}`);
  assert.equal(nested.status, 400, 'a deeply nested header: invalid_request');
  assert.ok(await signedIn(browser), 'the session is still there');
});
