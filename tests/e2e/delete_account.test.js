// End-to-end: a citizen deletes their own account from /account/security
// with the real `civicid serve`, cookie-keeping HTTP clients as browsers and
// the real login form. The server runs under libfaketime, its clock moved by
// a file the test writes, so a login can be made older than the five minutes
// a deletion allows without waiting. A login that is too old is sent to sign
// in again (prompt=login) and comes back to the page; a wrong username
// deletes nothing; then the deletion: the cookie is cleared, the page says
// what is gone and what stays, the citizen's other browser is signed out and
// its service told through back-channel logout (cause "deleted"), the
// service's refresh token and the old password are refused, and the audit
// log says the citizen asked. A citizen with two-step login is not let
// delete, nor change the password, on a fresh password login alone: the
// new login asks the one-time code too (acr_values mfa), then he deletes.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh delete_account.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as client from 'openid-client';
import { createRemoteJWKSet } from 'jose';

import { EVENT, startReceiver, stopReceiver, tokensFor, waitFor } from './lib/backchannel.js';
import { Browser, addClient, addUser, cli, freshStore, htmlDecode, loginAndGetCallback, loginForm, parseForms, preloadEnv, startServer, statutePolicy } from './lib/server.js';
import { totp } from './lib/flow.js';

const T = { timeout: 120_000 };
const MSG = {
  en: JSON.parse(readFileSync(new URL('../../web/messages/en.json', import.meta.url), 'utf8')),
  ja: JSON.parse(readFileSync(new URL('../../web/messages/ja.json', import.meta.url), 'utf8')),
};
// The receiver fetches /jwks from the server before it answers its first
// token: under valgrind, beside another suite, that took over a second, the
// delivery timed out and the test waited in vain. Ten seconds for an answer,
// three attempts one second apart.
const CONFIG = `backchannel_logout_attempts = 3
backchannel_logout_backoff = 1
backchannel_logout_timeout = 10
backchannel_logout_connect_timeout = 1
`;
const SVC = { clientId: 'svc-del', redirect: 'http://127.0.0.1:9/del-cb' };
const AIKO = { username: 'aiko', password: 'aiko-delete-Passw0rd!', claims: { name: '高橋 愛子' } };
// a citizen with two-step login: a fresh password alone does not delete
const KEN = { username: 'ken', password: 'ken-delete-Passw0rd!', claims: { name: '佐藤 健' } };
// seconds the server's clock moves on to make the login stale: over CID_REAUTH_MAX_AGE (300)
const LATER = 400;

let store;
let server;
let issuer;
let jwks;
let clockFile;
let offset = 0; // seconds the server's clock is ahead of ours
let receiver;
let cfg;
let a; // the browser the citizen deletes from
let phone; // another browser of hers, signed in at the service
let tokens; // the service's tokens from the phone's session
let kenSecret; // KEN's TOTP secret (base32)

/** libfaketime's multi-threaded preload library; the test fails without it (it never skips). */
function faketimeLibrary() {
  const lib = execFileSync('dpkg', ['-L', 'libfaketime'], { encoding: 'utf8' })
    .split('\n').find((l) => /\/libfaketimeMT\.so/.test(l));
  if (!lib) throw new Error("libfaketime's libfaketimeMT.so is required (package faketime)");
  return lib;
}

/** Moves the server's clock to seconds after ours. */
function setClock(seconds) {
  offset = seconds;
  writeFileSync(clockFile, `+${seconds}\n`);
}

before(async () => {
  store = freshStore('delete');
  const configFile = store.writeConfig(CONFIG);
  store.writePolicy(`${SVC.clientId}.policy`, statutePolicy(SVC.clientId, ['name']));
  addUser(store, AIKO.username, AIKO.password, AIKO.claims);
  addUser(store, KEN.username, KEN.password, KEN.claims);
  kenSecret = JSON.parse(cli(['user', 'totp', KEN.username, '--store', store.dir, '--json'])).secret;
  receiver = await startReceiver(SVC.clientId, {
    get issuer() { return issuer; },
    get jwks() { return jwks; },
    now: () => new Date(Date.now() + offset * 1000),
  });
  const out = addClient(store, {
    clientId: SVC.clientId,
    name: 'Deletion e2e',
    redirectUris: [SVC.redirect],
    scope: 'openid profile',
    backchannelLogoutUri: receiver.url,
  });
  clockFile = join(store.root, 'faketime');
  setClock(0);
  server = await startServer(store, {
    configFile,
    env: preloadEnv(faketimeLibrary(), {
      FAKETIME_TIMESTAMP_FILE: clockFile,
      FAKETIME_NO_CACHE: '1',
      FAKETIME_DONT_FAKE_MONOTONIC: '1',
    }),
  });
  issuer = server.issuer;
  jwks = createRemoteJWKSet(new URL('/jwks', issuer));
  cfg = await client.discovery(new URL(issuer), SVC.clientId, out.client_secret,
    client.ClientSecretBasic(out.client_secret), { execute: [client.allowInsecureRequests] });
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    if (receiver) await stopReceiver(receiver);
    store?.remove();
  }
});

/** Signs browser in at the service through the login form: the tokens. */
async function login(browser) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const url = client.buildAuthorizationUrl(cfg, {
    redirect_uri: SVC.redirect,
    scope: 'openid profile',
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    ui_locales: 'en',
  });
  const callback = await loginAndGetCallback(browser, url, AIKO.username, AIKO.password);
  return client.authorizationCodeGrant(cfg, callback, { pkceCodeVerifier: verifier, expectedState: state });
}

/** The security page's delete form. */
function deleteForm(html) {
  const found = parseForms(html).filter((f) => f.action === '/account/security' && f.submit?.action === 'delete_account');
  assert.equal(found.length, 1, `one delete form in:\n${html}`);
  return found[0];
}

function exists(username = AIKO.username) {
  try {
    cli(['user', 'show', username, '--store', store.dir]);
    return true;
  } catch {
    return false;
  }
}

test('the page explains in ja and en what is deleted and what stays, and asks for the username', T, async () => {
  a = new Browser(issuer);
  phone = new Browser(issuer);
  await login(a);
  tokens = await login(phone);
  for (const lang of ['en', 'ja']) {
    const page = await a.get(`/account/security?lang=${lang}`);
    assert.equal(page.status, 200);
    const text = htmlDecode(page.text);
    for (const key of ['security_delete', 'security_delete_text', 'security_delete_kept', 'security_delete_confirm']) {
      assert.ok(text.includes(MSG[lang][key]), `${lang}: ${key}`);
    }
    assert.match(page.text, /<strong id="delete-username">aiko<\/strong>/);
    assert.ok(!text.includes(MSG[lang].security_delete_reauth), 'just signed in: no word of signing in again');
    assert.ok('confirm' in deleteForm(page.text).fields);
  }
});

test('a login older than five minutes is sent to sign in again, and comes back; nothing is deleted', T, async () => {
  setClock(LATER);
  const page = await a.get('/account/security?lang=en');
  assert.ok(htmlDecode(page.text).includes(MSG.en.security_delete_reauth), 'the page says a new login comes first');
  // nor is a second factor set up on a stale login: a browser left open
  // would lock its citizen out, and its own code would pass for a login
  const begin = parseForms(page.text).find((f) => f.action === '/account/security' && f.submit?.action === 'totp_begin');
  assert.ok(begin, 'the set-up form');
  const setUp = await a.submit(page.url, begin);
  assert.equal(setUp.status, 303);
  assert.equal(setUp.location, `${issuer}/account/login?reauth=1&lang=en`);
  assert.ok(!(await a.get('/account/security?lang=en')).text.includes('id="totp-secret"'), 'no key pending');
  const res = await a.submit(page.url, deleteForm(page.text), { confirm: AIKO.username });
  assert.equal(res.status, 303);
  assert.equal(res.location, `${issuer}/account/login?reauth=1&lang=en`);
  assert.ok(exists(), 'nothing deleted');
  // /account/login sends the browser to the login form although its session lives
  const form = await a.follow(res.location);
  assert.equal(form.status, 200);
  assert.ok(new URL(form.url).searchParams.get('prompt') === 'login', `prompt=login: ${form.url}`);
  const login = loginForm(form.text);
  assert.ok(login, 'the login form');
  const back = await a.follow((await a.submit(form.url, login, { username: AIKO.username, password: AIKO.password })).location);
  assert.equal(new URL(back.url).pathname, '/account/security');
  assert.equal(new URL(back.url).searchParams.get('notice'), 'signed_in_again');
  assert.ok(htmlDecode(back.text).includes(MSG.en.security_notice_signed_in_again));
  assert.ok(!htmlDecode(back.text).includes(MSG.en.security_delete_reauth), 'fresh now');
});

test('a wrong username or a form without the session token deletes nothing', T, async () => {
  const page = await a.get('/account/security?lang=en');
  const wrong = await a.submit(page.url, deleteForm(page.text), { confirm: 'Aiko' });
  assert.equal(wrong.status, 303);
  assert.equal(new URL(wrong.location).searchParams.get('notice'), 'delete_confirm_wrong');
  assert.ok(htmlDecode((await a.get(wrong.location)).text).includes(MSG.en.security_notice_delete_confirm_wrong));
  const forged = await a.submit(page.url, deleteForm(page.text), { confirm: AIKO.username, csrf: 'A'.repeat(43) });
  assert.equal(forged.status, 403);
  assert.ok(exists(), 'nothing deleted');
});

test('a fresh login deletes: cookie cleared, services told, tokens and password refused, logged as the citizen\'s', T, async () => {
  const page = await a.get('/account/security?lang=en');
  const res = await a.submit(page.url, deleteForm(page.text), { confirm: AIKO.username });
  assert.equal(res.status, 200);
  const text = htmlDecode(res.text);
  assert.ok(text.includes(MSG.en.deleted_title) && text.includes(MSG.en.deleted_text));
  assert.ok(text.includes(MSG.en.security_delete_kept), 'what stays');
  assert.ok(res.setCookies.some((c) => /civicid_session=;.*Max-Age=0/.test(c)), `the session cookie cleared: ${res.setCookies}`);
  assert.equal((await a.get('/account')).status, 401);
  assert.ok(!exists(), 'the citizen is gone');

  // the phone's session ended too, and its service was told why
  assert.equal((await phone.get('/account')).status, 401);
  const [t] = await tokensFor(receiver, tokens.claims().sid);
  assert.equal(t.payload.sub, tokens.claims().sub);
  assert.deepEqual(t.payload.events, { [EVENT]: {} });
  const entries = (type) => cli(['audit', 'query', '--store', store.dir, '--type', type, '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  await waitFor('logout.delivered caused by the deletion', () => {
    const logged = entries('logout.');
    const failed = logged.find((e) => e.type === 'logout.failed' && e.ext.cause === 'deleted');
    if (failed) throw new Error(`the notice failed: ${JSON.stringify(failed)}`);
    return logged.find((e) => e.type === 'logout.delivered' && e.ext.cause === 'deleted');
  }, 60_000);

  // the service's refresh token and the old password are refused
  await assert.rejects(client.refreshTokenGrant(cfg, tokens.refresh_token),
    (e) => e.error === 'invalid_grant', 'the refresh token is dead');
  const again = new Browser(issuer);
  const relogin = await again.get(client.buildAuthorizationUrl(cfg, {
    redirect_uri: SVC.redirect, scope: 'openid', state: client.randomState(),
    code_challenge: await client.calculatePKCECodeChallenge(client.randomPKCECodeVerifier()),
    code_challenge_method: 'S256',
  }));
  const refused = await again.submit(relogin.url, loginForm(relogin.text), { username: AIKO.username, password: AIKO.password });
  assert.equal(refused.status, 200, 'the old password is refused (the form again)');

  // the log: the citizen asked, on the account page
  const [deleted] = entries('account.');
  assert.equal(deleted.type, 'account.deleted');
  assert.equal(deleted.actor, 'citizen');
  assert.equal(deleted.endpoint, 'account');
  assert.match(deleted.citizen, /^ps_[0-9a-f]{32}$/, 'named by a pseudonym');
});

test('with two-step login, a fresh password login is sent to sign in again with the code, then deletes', T, async () => {
  const k = new Browser(issuer);
  // signed in to the account pages with the password alone, just now
  const form = await k.follow(`${issuer}/account/login?lang=en`);
  const signedIn = await k.follow((await k.submit(form.url, loginForm(form.text), { username: KEN.username, password: KEN.password })).location);
  assert.equal(new URL(signedIn.url).pathname, '/account');
  const page = await k.get('/account/security?lang=en');
  // nor does it change the password (which would sign the owner out everywhere)
  const pw = parseForms(page.text).find((f) => f.action === '/account/security' && f.submit?.action === 'password');
  const changed = await k.submit(page.url, pw, { old: KEN.password, new: 'ken-other-Passw0rd!', confirm: 'ken-other-Passw0rd!' });
  assert.equal(changed.status, 303, 'a fresh password login does not change the password');
  assert.equal(changed.location, `${issuer}/account/login?reauth=1&lang=en`);
  const res = await k.submit(page.url, deleteForm(page.text), { confirm: KEN.username });
  assert.equal(res.status, 303, 'a fresh password login does not delete');
  assert.equal(res.location, `${issuer}/account/login?reauth=1&lang=en`);
  assert.ok(exists(KEN.username), 'nothing deleted');
  assert.ok(htmlDecode(page.text).includes(MSG.en.security_reauth_code), 'the page says the code is asked');
  // the new login asks the password, then the one-time code
  const relogin = await k.follow(res.location);
  const asked = new URL(relogin.url).searchParams;
  assert.equal(asked.get('prompt'), 'login');
  assert.equal(asked.get('acr_values'), 'urn:civicid:acr:mfa');
  const posted = await k.submit(relogin.url, loginForm(relogin.text), { username: KEN.username, password: KEN.password });
  const step = posted.location ? await k.follow(posted.location) : posted;
  const codeForm = parseForms(step.text).find((f) => f.method === 'post' && new URL(f.action, issuer).pathname === '/totp');
  assert.ok(codeForm, `the one-time code form:\n${step.text}`);
  const done = await k.submit(step.url, codeForm, { action: 'confirm', code: totp(kenSecret, Date.now() + offset * 1000) }, { withSubmitButton: false });
  const back = await k.follow(done.location);
  assert.equal(new URL(back.url).pathname, '/account/security');
  assert.equal(new URL(back.url).searchParams.get('notice'), 'signed_in_again');
  assert.ok(!htmlDecode(back.text).includes(MSG.en.security_reauth_code), 'fresh at the two-step level now');
  const gone = await k.submit(back.url, deleteForm(back.text), { confirm: KEN.username });
  assert.equal(gone.status, 200);
  assert.ok(htmlDecode(gone.text).includes(MSG.en.deleted_title));
  assert.ok(!exists(KEN.username), 'deleted');
});
