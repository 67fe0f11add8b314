// End-to-end: logging in through an upstream identity provider (issue 15).
// node-oidc-provider (upstream/nodeop.mjs) stands in for the national card
// service; the real civicid is its relying party in the middle of a
// service's own authorization request, seen by openid-client.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import { readFileSync } from 'node:fs';
import net from 'node:net';

import { Browser, addClient, addUser, cli, freshStore, htmlDecode, parseForms, startServer } from './lib/server.js';
import { authorizationRequest, codeGrant, discover, totp } from './lib/flow.js';
import { decodeJwt } from './lib/jwt.js';
import { PASSWORD, startUpstream } from './upstream/nodeop.mjs';

const T = { timeout: 120_000 };
const MSG = JSON.parse(readFileSync(new URL('../../web/messages/en.json', import.meta.url), 'utf8'));
const RP = { redirect: 'http://127.0.0.1:9/cb' };
const HANAKO = { username: 'hanako', password: 'hanako-up-Passw0rd!' };
const JIRO = { username: 'jiro', password: 'jiro-up-Passw0rd!' };
let store, server, up, rp, config;

// a service's request, the civicid login page, and its "Log in with NAME" form
async function startAtCivicid(browser, name) {
  const req = await authorizationRequest(config, RP.redirect, 'openid profile');
  const page = await browser.get(req.url);
  assert.equal(page.status, 200);
  const form = parseForms(page.text).find((f) => /\/upstream\/start$/.test(f.action) && f.fields.idp === name);
  assert.ok(form, `a "Log in with ${name}" form on the login page`);
  return { req, page, form };
}

// from civicid's start to the upstream's redirect back: the callback URL
async function throughUpstream(browser, name, login, acr = '') {
  const { req, page, form } = await startAtCivicid(browser, name);
  return { req, callback: await upstreamRoundTrip(browser, page, form, login, acr) };
}

// from a civicid login page's "Log in with" form to the upstream's redirect back: the callback
// URL; prompt: what the upstream is asked (login: a new login, as the request at civicid asked)
// upstream: the provider behind form (the card by default); civicid: the server it logs in to
async function upstreamRoundTrip(browser, page, form, login, acr = '', prompt = null, maxAge = null, upstream = up, civicid = server) {
  const start = await browser.submit(page.url, form);
  assert.equal(start.status, 303);
  const at = new URL(start.location);
  assert.equal(at.origin, upstream.issuer);
  assert.equal(at.searchParams.get('code_challenge_method'), 'S256');
  assert.equal(at.searchParams.get('prompt'), prompt);
  // every login asked of the upstream asks for its auth_time by a max_age (OIDC Core §2),
  // which civicid checks: 0 for a new login, the service's own max_age, else the
  // session lifetime (session_ttl, 8 h by default)
  assert.equal(at.searchParams.get('max_age'), prompt === 'login' ? '0' : (maxAge ?? '28800'));
  assert.equal(at.searchParams.get('redirect_uri'), `${civicid.issuer}/upstream/callback`);
  assert.ok(at.searchParams.get('nonce') && at.searchParams.get('state'));
  const ub = new Browser(upstream.issuer);
  const loginPage = await ub.follow(start.location);
  const uform = parseForms(loginPage.text)[0];
  const back = await ub.follow(new URL(uform.action, loginPage.url).href, { method: 'POST', form: { login, password: PASSWORD, acr } });
  assert.ok(back.left && back.left.startsWith(`${civicid.issuer}/upstream/callback`), `back to civicid: ${back.status} ${back.text.slice(0, 200)}`);
  return back.left;
}

// the browser signed in at civicid through the upstream as login (a service's request completed)
async function signedInThroughUpstream(login) {
  const browser = new Browser(server.issuer);
  const { callback } = await throughUpstream(browser, 'card', login);
  const done = await browser.get(callback);
  assert.equal(done.status, 303, done.text.slice(0, 300));
  assert.ok(done.location.startsWith(RP.redirect));
  return browser;
}

// the unlink forms of the security page
const unlinkForms = (html) => parseForms(html).filter((f) => f.action === '/account/security' && f.submit?.action === 'unlink');

// posts an unlink form of the security page (values override); the notice and the page after
async function unlink(browser, page, form, values = {}) {
  const res = await browser.submit(page.url, form, values);
  assert.equal(res.status, 303, res.text.slice(0, 300));
  const shown = await browser.get(res.location);
  return { notice: new URL(res.location).searchParams.get('notice'), shown, text: htmlDecode(shown.text) };
}

before(async () => {
  store = freshStore('upstream');
  addUser(store, HANAKO.username, HANAKO.password, { given_name: 'Hanako' });
  rp = addClient(store, { clientId: 'rp-up', name: 'Library (e2e)', redirectUris: [RP.redirect], scope: 'openid profile' });
  server = await startServer(store);
  up = await startUpstream({ clientId: 'civicid', secret: 'civicid-upstream-secret', redirectUri: `${server.issuer}/upstream/callback` });
  // two registrations of one upstream are refused (one issuer, one name), so
  // the card and the linking-only upstream are the same provider under a path-free issuer
  cli(['idp', 'add', 'card', '--store', store.dir, '--issuer', up.issuer, '--client-id', 'civicid',
    '--client-secret-stdin', '--scope', 'openid profile', '--acr-map', 'urn:card:high=2',
    '--claim-map', 'given_name=given_name', '--allow-create'], { input: 'civicid-upstream-secret' });
  config = await discover(server.issuer, rp.client_id, rp.client_secret);
});

after(async () => {
  await up?.close();
  await server?.stop();
  store?.cleanup?.();
});

test('an upstream login with no link creates a citizen (claims mapped) and the acr map raises the level', T, async () => {
  const browser = new Browser(server.issuer);
  const { req, callback } = await throughUpstream(browser, 'card', 'card-user-1', 'urn:card:high');
  const done = await browser.get(callback);
  assert.equal(done.status, 303, done.text.slice(0, 300));
  assert.ok(done.location.startsWith(RP.redirect));
  const tokens = await codeGrant(config, new URL(done.location), req);
  const id = decodeJwt(tokens.id_token).payload;
  assert.equal(id.acr, "urn:civicid:acr:mfa", JSON.stringify(id));
  assert.deepEqual(id.amr, ['fed']);
  // the same upstream identity logs in to the same citizen next time, at level 1 without the acr
  const b2 = new Browser(server.issuer);
  const again = await throughUpstream(b2, 'card', 'card-user-1');
  const d2 = await b2.get(again.callback);
  const t2 = await codeGrant(config, new URL(d2.location), again.req);
  assert.equal(decodeJwt(t2.id_token).payload.sub, id.sub);
  assert.equal(decodeJwt(t2.id_token).payload.acr, 'urn:civicid:acr:password');
});

test('a replayed callback and a callback with a wrong state are refused', T, async () => {
  const browser = new Browser(server.issuer);
  const { callback } = await throughUpstream(browser, 'card', 'card-user-2');
  const wrong = new URL(callback);
  wrong.searchParams.set('state', 'A'.repeat(43));
  const w = await browser.get(wrong.href);
  assert.equal(w.status, 400);
  assert.equal((await browser.get(callback)).status, 303);
  const replay = await browser.get(callback);
  assert.equal(replay.status, 400);
  assert.doesNotMatch(replay.location ?? '', /code=/);
});

// what a login through the upstream that failed after the citizen came back shows: the
// login form of the same request again, with the generic message and none of the reason
// (which the server's log has); the state spent
async function loginFormAgain(browser, r, callback) {
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.equal(r.location, null);
  const text = htmlDecode(r.text);
  assert.match(text, /did not go through|完了しませんでした/);
  assert.doesNotMatch(text, /invalid_grant|token endpoint|ID token|does not verify|not the one sent|client id|expired|auth_time|JWKS/);
  assert.equal((await browser.get(callback)).status, 400, 'the state is spent');
  const login = parseForms(r.text).find((f) => /\/login$/.test(f.action));
  assert.ok(login, 'the login form');
  return login;
}

// the server's log from offset on, once it says what matches (its lines come as the pipe brings them)
async function logged(from, what) {
  for (let i = 0; i < 40 && !what.test(server.output().stderr.slice(from)); i++)
    await new Promise((resolve) => setTimeout(resolve, 50));
  return server.output().stderr.slice(from);
}

// each failure after the citizen came back from the upstream: its token endpoint refusing
// the code, or an ID token refused, as a man in the middle at that endpoint hands it back
// (nodeop.mjs TAMPER). The login form of the same request again, where the password
// completes the service's request; the same login unaltered works
for (const [mode, what, reason] of [
  ['token-error', 'a token endpoint answering 400 invalid_grant', /token endpoint answered 400 .*invalid_grant/],
  ['wrong-nonce', 'an ID token with a wrong nonce', /nonce is not the one sent/],
  ['wrong-signature', 'an ID token with a wrong signature (same kid, another key)', /signature does not verify/],
  ['alg-none', 'an ID token with alg none', /signature does not verify/],
  ['wrong-iss', 'an ID token with a wrong iss', /iss is not the upstream's issuer/],
  ['wrong-aud', 'an ID token for another client (aud)', /not for civicid's client id/],
  ['expired', 'an expired ID token', /has expired/],
]) {
  test(`${what}: the login form of the same request again, and the password still logs in`, T, async () => {
    const login = `card-user-${mode}`;
    const browser = new Browser(server.issuer);
    const { req, callback } = await throughUpstream(browser, 'card', login);
    const from = server.output().stderr.length;
    up.setMode(mode);
    let r;
    try {
      r = await browser.get(callback);
    } finally {
      up.setMode('normal');
    }
    const form = await loginFormAgain(browser, r, callback);
    assert.match(await logged(from, reason), reason, 'the reason is in the log');
    const done = await browser.submit(r.url, form, HANAKO);
    assert.equal(done.status, 303, done.text.slice(0, 300));
    assert.ok(done.location.startsWith(RP.redirect));
    const tokens = await codeGrant(config, new URL(done.location), req);
    assert.equal(decodeJwt(tokens.id_token).payload.acr, 'urn:civicid:acr:password');
    // nothing was linked or created: the same identity untampered is a first login
    const b2 = new Browser(server.issuer);
    const again = await throughUpstream(b2, 'card', login);
    const d2 = await b2.get(again.callback);
    assert.equal(d2.status, 303, d2.text.slice(0, 300));
    assert.ok(d2.location.startsWith(RP.redirect));
  });
}

test('the callback without the iss the upstream says it sends is refused (RFC 9207)', T, async () => {
  const browser = new Browser(server.issuer);
  const { callback } = await throughUpstream(browser, 'card', 'card-user-no-iss');
  const url = new URL(callback);
  assert.equal(url.searchParams.get('iss'), up.issuer, 'node-oidc-provider sends it');
  url.searchParams.delete('iss');
  const r = await browser.get(url.href);
  assert.equal(r.status, 502, r.text.slice(0, 300));
});

test('an ID token larger than a token of ours (6 KB, as identity assurance makes them) logs in', T, async () => {
  const browser = new Browser(server.issuer);
  const { callback } = await throughUpstream(browser, 'card', 'card-user-large');
  up.setMode('large');
  try {
    const r = await browser.get(callback);
    assert.equal(r.status, 303, r.text.slice(0, 300));
  } finally {
    up.setMode('normal');
  }
});

test("a service's max_age is asked of the upstream, and a login there older than that is refused", T, async () => {
  for (const mode of ['normal', 'old-login']) {
    const browser = new Browser(server.issuer);
    const req = await authorizationRequest(config, RP.redirect, 'openid profile', { max_age: '600' });
    const page = await browser.get(req.url);
    assert.equal(page.status, 200);
    const form = parseForms(page.text).find((f) => /\/upstream\/start$/.test(f.action) && f.fields.idp === 'card');
    const callback = await upstreamRoundTrip(browser, page, form, 'card-user-age', '', null, '600');
    up.setMode(mode);
    try {
      const r = await browser.get(callback);
      // an hour-old login would otherwise become a session civicid says is new
      if (mode === 'normal') assert.equal(r.status, 303, r.text.slice(0, 300));
      else await loginFormAgain(browser, r, callback);
    } finally {
      up.setMode('normal');
    }
  }
});

test("a session from an upstream's hour-old login carries that login's time: it is not a fresh login", T, async () => {
  for (const mode of ['normal', 'old-login']) {
    const browser = new Browser(server.issuer);
    const { req, callback } = await throughUpstream(browser, 'card', 'card-user-stamp');
    up.setMode(mode);
    let done;
    try {
      done = await browser.get(callback);
    } finally {
      up.setMode('normal');
    }
    // an hour is within the session lifetime asked of the upstream: it logs in
    assert.equal(done.status, 303, `${mode}: ${done.text.slice(0, 300)}`);
    const tokens = await codeGrant(config, new URL(done.location), req);
    const age = Math.floor(Date.now() / 1000) - decodeJwt(tokens.id_token).payload.auth_time;
    assert.ok(mode === 'normal' ? age < 60 : age >= 3600 && age < 3660, `${mode}: the ID token's auth_time is ${age} s old`);
    // deleting the account asks a login of the last 5 minutes: the hour-old one is not,
    // though civicid's session started just now
    const page = await browser.get('/account/security?lang=en');
    assert.equal(page.status, 200);
    assert.equal(htmlDecode(page.text).includes(MSG.security_delete_reauth), mode === 'old-login', mode);
  }
});

test('discovery and JWKS are kept between logins; a key rotated in is fetched once on its unknown kid', T, async () => {
  const DISCOVERY = '/.well-known/openid-configuration';
  await signedInThroughUpstream('card-user-7'); // kept, if no earlier test did
  const seen = { discovery: up.hits(DISCOVERY), jwks: up.hits('/jwks') };
  await signedInThroughUpstream('card-user-7');
  assert.equal(up.hits(DISCOVERY), seen.discovery, 'discovery not fetched again');
  assert.equal(up.hits('/jwks'), seen.jwks, 'JWKS not fetched again');
  up.setMode('rotated');
  try {
    await signedInThroughUpstream('card-user-7');
    assert.equal(up.hits('/jwks'), seen.jwks + 1, 'the JWKS fetched once more, for the new kid');
    await signedInThroughUpstream('card-user-7');
    assert.equal(up.hits('/jwks'), seen.jwks + 1, 'and kept again');
  } finally {
    up.setMode('normal');
  }
});

test('a JWKS kept unusable (one key, no kid, max-age a day) is fetched anew at the next login, not kept for a day', T, async () => {
  await signedInThroughUpstream('card-user-8'); // the good JWKS kept
  up.setMode('rotated-unusable');
  try {
    // an unknown kid: the JWKS fetched anew, and what comes is unusable, kept for a day
    const browser = new Browser(server.issuer);
    const { callback } = await throughUpstream(browser, 'card', 'card-user-8');
    const before = up.hits('/jwks');
    await loginFormAgain(browser, await browser.get(callback), callback);
    // once per token, whether its kid was unknown or the set unusable
    assert.equal(up.hits('/jwks'), before + 1, 'the JWKS fetched anew once for the token');
  } finally {
    up.setMode('normal');
  }
  const seen = up.hits('/jwks');
  // the unusable set kept is fetched anew once, and the login goes through
  await signedInThroughUpstream('card-user-8');
  assert.equal(up.hits('/jwks'), seen + 1, 'the unusable JWKS fetched anew once');
  await signedInThroughUpstream('card-user-8');
  assert.equal(up.hits('/jwks'), seen + 1, 'and the good one kept');
});

test('the security page lists the linked upstream and keeps the last way in of a citizen with no password', T, async () => {
  const browser = await signedInThroughUpstream('card-user-5');
  const page = await browser.get('/account/security?lang=en');
  assert.equal(page.status, 200);
  const text = htmlDecode(page.text);
  assert.ok(text.includes(MSG.security_linked), 'the linked section');
  assert.match(text, /<strong>card<\/strong> <span>linked since <time datetime="\d{4}-\d\d-\d\dT[^"]+">[^<]+<\/time>/);
  // with labels, the upstream is named as the login page names it, in the page's language
  cli(['idp', 'set', 'card', '--store', store.dir, '--label-ja', 'マイナンバーカード', '--label-en', 'My Number Card']);
  try {
    const ja = htmlDecode((await browser.get('/account/security?lang=ja')).text);
    assert.match(ja, /<strong>マイナンバーカード<\/strong> <span>/);
    assert.doesNotMatch(ja, /<strong>card<\/strong>/);
    const en = htmlDecode((await browser.get('/account/security?lang=en')).text);
    assert.match(en, /<strong>My Number Card<\/strong> <span>linked since /);
  } finally {
    cli(['idp', 'set', 'card', '--store', store.dir, '--label-ja', '', '--label-en', '']);
  }
  const forms = unlinkForms(page.text);
  assert.equal(forms.length, 1);
  assert.equal(forms[0].fields.issuer, up.issuer);
  assert.equal(forms[0].fields.sub, 'card-user-5');
  // created through the upstream, no password: its only link stays
  const last = await unlink(browser, page, forms[0]);
  assert.equal(last.notice, 'link_last');
  assert.ok(last.text.includes(MSG.security_notice_link_last));
  assert.equal(unlinkForms(last.shown.text).length, 1, 'still linked');
  // another identity (not this citizen's) is unknown; a wrong csrf changes nothing
  const other = await unlink(browser, page, forms[0], { sub: 'card-user-1' });
  assert.equal(other.notice, 'link_unknown');
  const stale = await browser.submit(page.url, forms[0], { csrf: 'A'.repeat(43) });
  assert.equal(stale.status, 403);
  // the link still logs the same citizen in
  const again = await signedInThroughUpstream('card-user-5');
  assert.equal(unlinkForms((await again.get('/account/security?lang=en')).text).length, 1);
});

test('a citizen with no password signs in again through the upstream to delete the account', T, async () => {
  const browser = await signedInThroughUpstream('card-user-9');
  // the re-authentication the deletion asks for: the login page although the session lives,
  // and the upstream is asked for a new login too
  const login = await browser.follow('/account/login?reauth=1&lang=en');
  assert.equal(login.status, 200);
  assert.equal(new URL(login.url).searchParams.get('prompt'), 'login');
  const form = parseForms(login.text).find((f) => /\/upstream\/start$/.test(f.action) && f.fields.idp === 'card');
  assert.ok(form, 'the "Log in with card" form');
  const back = await browser.follow(await upstreamRoundTrip(browser, login, form, 'card-user-9', '', 'login'));
  assert.equal(new URL(back.url).pathname, '/account/security');
  assert.equal(new URL(back.url).searchParams.get('notice'), 'signed_in_again');
  const username = /<strong id="delete-username">([^<]+)<\/strong>/.exec(back.text)?.[1];
  assert.ok(username, 'the username to type is shown');
  const del = parseForms(back.text).find((f) => f.action === '/account/security' && f.submit?.action === 'delete_account');
  const res = await browser.submit(back.url, del, { confirm: htmlDecode(username) });
  assert.equal(res.status, 200);
  assert.ok(htmlDecode(res.text).includes(MSG.deleted_title));
  assert.throws(() => cli(['user', 'show', htmlDecode(username), '--store', store.dir]), /exit 1/);
  const [entry] = cli(['audit', 'query', '--store', store.dir, '--type', 'account.', '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.equal(entry.actor, 'citizen');
});

test('linking: without --allow-create the citizen proves an existing account with the password', T, async () => {
  cli(['idp', 'remove', 'card', '--store', store.dir]);
  cli(['idp', 'add', 'card', '--store', store.dir, '--issuer', up.issuer, '--client-id', 'civicid',
    '--client-secret-stdin', '--scope', 'openid profile'], { input: 'civicid-upstream-secret' });
  const browser = new Browser(server.issuer);
  const { req, callback } = await throughUpstream(browser, 'card', 'card-user-4');
  const page = await browser.get(callback);
  assert.equal(page.status, 200);
  const form = parseForms(page.text).find((f) => /\/upstream\/link$/.test(f.action));
  assert.ok(form, 'the link page');
  const wrongPw = await browser.submit(page.url, form, { username: HANAKO.username, password: 'not-it-at-all' });
  assert.equal(wrongPw.status, 200, wrongPw.text.slice(0, 1500));
  const form2 = parseForms(wrongPw.text).find((f) => /\/upstream\/link$/.test(f.action));
  const done = await browser.submit(page.url, form2, { username: HANAKO.username, password: HANAKO.password });
  assert.equal(done.status, 303, done.text.slice(0, 300));
  const tokens = await codeGrant(config, new URL(done.location), req);
  const sub = decodeJwt(tokens.id_token).payload.sub;
  // next time the upstream alone logs in to hanako
  const b2 = new Browser(server.issuer);
  const again = await throughUpstream(b2, 'card', 'card-user-4');
  const d2 = await b2.get(again.callback);
  assert.equal(d2.status, 303);
  const t2 = await codeGrant(config, new URL(d2.location), again.req);
  assert.equal(decodeJwt(t2.id_token).payload.sub, sub);
});

test('linking a citizen with two-step login takes the one-time code as well as the password', T, async () => {
  // the registration the test above left: no --allow-create
  addUser(store, JIRO.username, JIRO.password);
  const secret = JSON.parse(cli(['user', 'totp', JIRO.username, '--store', store.dir, '--json'])).secret;
  const browser = new Browser(server.issuer);
  const { req, callback } = await throughUpstream(browser, 'card', 'card-user-jiro');
  const page = await browser.get(callback);
  const form = parseForms(page.text).find((f) => /\/upstream\/link$/.test(f.action));
  assert.ok(form, 'the link page');
  // a phished password alone neither links nor signs in
  const noCode = await browser.submit(page.url, form, { username: JIRO.username, password: JIRO.password });
  assert.equal(noCode.status, 200, noCode.text.slice(0, 300));
  const ja = JSON.parse(readFileSync(new URL('../../web/messages/ja.json', import.meta.url), 'utf8'));
  assert.ok([MSG.link_failed, ja.link_failed].some((t) => htmlDecode(noCode.text).includes(t)), 'the failure message');
  const form2 = parseForms(noCode.text).find((f) => /\/upstream\/link$/.test(f.action));
  assert.ok(form2, 'the link page again');
  const done = await browser.submit(page.url, form2, { username: JIRO.username, password: JIRO.password, code: totp(secret) });
  assert.equal(done.status, 303, done.text.slice(0, 300));
  const id = decodeJwt((await codeGrant(config, new URL(done.location), req)).id_token).payload;
  assert.equal(id.acr, 'urn:civicid:acr:mfa');
  assert.deepEqual(id.amr.slice(0, 3), ['pwd', 'otp', 'fed']);
});

test("the link page's language switch is a form of the flow: the link page again, whose form still links", T, async () => {
  // the registration the tests above left: no --allow-create
  const SABURO = { username: 'saburo', password: 'saburo-up-Passw0rd!' };
  addUser(store, SABURO.username, SABURO.password);
  const browser = new Browser(server.issuer);
  const { req, callback } = await throughUpstream(browser, 'card', 'card-user-lang');
  const page = await browser.get(callback);
  assert.equal(page.status, 200);
  assert.match(page.text, /<html lang="ja"/);
  // a link to the callback's URL would repeat the upstream's code and state, and fail
  assert.doesNotMatch(page.text, /href="[^"]*code=/, 'no link repeats the upstream code');
  const langForm = (html) => parseForms(html).find((f) => f.method === 'post' && /\/lang$/.test(f.action));
  const sw = langForm(page.text);
  assert.ok(sw, 'a language form on the link page');
  const en = await browser.post(new URL(sw.action, page.url).href, { req: sw.fields.req, csrf: sw.fields.csrf, lang: 'en' });
  assert.equal(en.status, 200, en.text.slice(0, 500));
  assert.match(en.text, /<html lang="en"/);
  assert.ok(htmlDecode(en.text).includes(MSG.link_title), 'the link page in English');
  const form = parseForms(en.text).find((f) => /\/upstream\/link$/.test(f.action));
  assert.ok(form, 'the link page again');
  // a wrong password shows it again, still in English, its switch still a form of the flow
  const wrongPw = await browser.submit(en.url, form, { username: SABURO.username, password: 'not-it-at-all' });
  assert.equal(wrongPw.status, 200, wrongPw.text.slice(0, 500));
  assert.match(wrongPw.text, /<html lang="en"/);
  assert.ok(langForm(wrongPw.text), 'a language form after a wrong password');
  assert.doesNotMatch(wrongPw.text, /<a href="[^"]*lang=/, 'no switch that leaves the flow');
  const form2 = parseForms(wrongPw.text).find((f) => /\/upstream\/link$/.test(f.action));
  const done = await browser.submit(en.url, form2, SABURO);
  assert.equal(done.status, 303, done.text.slice(0, 300));
  const tokens = await codeGrant(config, new URL(done.location), req);
  assert.ok(decodeJwt(tokens.id_token).payload.sub);
});

test('a citizen with a password unlinks the upstream: it no longer logs in to them', T, async () => {
  // card-user-4 was linked to hanako above (registration without --allow-create)
  const browser = await signedInThroughUpstream('card-user-4');
  const page = await browser.get('/account/security?lang=en');
  const forms = unlinkForms(page.text);
  assert.equal(forms.length, 1);
  assert.equal(forms[0].fields.sub, 'card-user-4');
  const done = await unlink(browser, page, forms[0]);
  assert.equal(done.notice, 'unlinked');
  assert.ok(done.text.includes(MSG.security_notice_unlinked));
  assert.ok(done.text.includes(MSG.security_linked_none));
  assert.equal(unlinkForms(done.shown.text).length, 0);
  // the upstream identity is a stranger again: the link page, not hanako
  const b2 = new Browser(server.issuer);
  const { callback } = await throughUpstream(b2, 'card', 'card-user-4');
  const r = await b2.get(callback);
  assert.equal(r.status, 200);
  assert.ok(parseForms(r.text).some((f) => /\/upstream\/link$/.test(f.action)), 'the link page');
});

test('an upstream that is down: the login form again with a message, and the password still logs in', T, async () => {
  cli(['idp', 'add', 'down', '--store', store.dir, '--issuer', 'http://127.0.0.1:9', '--client-id', 'x',
    '--client-secret-stdin', '--scope', 'openid'], { input: 'whatever-secret' });
  const browser = new Browser(server.issuer);
  const { req, page, form } = await startAtCivicid(browser, 'down');
  const r = await browser.submit(page.url, form);
  assert.equal(r.status, 200);
  assert.match(r.text, /cannot be reached|接続できません/);
  const login = parseForms(r.text).find((f) => /\/login$/.test(f.action));
  const done = await browser.submit(r.url, login, { username: HANAKO.username, password: HANAKO.password });
  assert.equal(done.status, 303, done.text.slice(0, 300));
  const tokens = await codeGrant(config, new URL(done.location), req);
  assert.equal(decodeJwt(tokens.id_token).payload.acr, 'urn:civicid:acr:password');
});

test('a citizen who cancels at the upstream gets the login form again, and the password still logs in', T, async () => {
  const browser = new Browser(server.issuer);
  const { req, page, form } = await startAtCivicid(browser, 'card');
  const start = await browser.submit(page.url, form);
  assert.equal(start.status, 303);
  const state = new URL(start.location).searchParams.get('state');
  // the upstream's error response (RFC 6749 §4.1.2.1), as it sends it back when the citizen cancels
  const back = new URL(`${server.issuer}/upstream/callback`);
  back.search = new URLSearchParams({ error: 'access_denied', state, iss: up.issuer }).toString();
  const r = await browser.get(back.href);
  assert.equal(r.status, 200, r.text.slice(0, 300));
  assert.match(htmlDecode(r.text), /did not go through|完了しませんでした/);
  // the state is spent: the same answer again finds nothing
  assert.equal((await browser.get(back.href)).status, 400);
  const login = parseForms(r.text).find((f) => /\/login$/.test(f.action));
  const done = await browser.submit(r.url, login, { username: HANAKO.username, password: HANAKO.password });
  assert.equal(done.status, 303, done.text.slice(0, 300));
  const tokens = await codeGrant(config, new URL(done.location), req);
  assert.equal(decodeJwt(tokens.id_token).payload.acr, 'urn:civicid:acr:password');
});

test('a disabled citizen logging in through the upstream gets the login form, and nothing is written', T, async () => {
  // an upstream whose ID token carries the mapped claim: its logins write an entry
  const up2 = await startUpstream({ clientId: 'civicid', secret: 'civicid-city-secret', redirectUri: `${server.issuer}/upstream/callback`, idTokenClaims: true });
  try {
    cli(['idp', 'add', 'city', '--store', store.dir, '--issuer', up2.issuer, '--client-id', 'civicid',
      '--client-secret-stdin', '--scope', 'openid profile', '--claim-map', 'given_name=given_name',
      '--allow-create'], { input: 'civicid-city-secret' });
    const login = async () => {
      const browser = new Browser(server.issuer);
      const { page, form } = await startAtCivicid(browser, 'city');
      return { browser, callback: await upstreamRoundTrip(browser, page, form, 'city-user-1', '', null, null, up2) };
    };
    const names = () => JSON.parse(cli(['user', 'list', '--store', store.dir, '--json'])).map((u) => u.username);
    const before = new Set(names());
    const first = await login();
    assert.equal((await first.browser.get(first.callback)).status, 303);
    const [username] = names().filter((n) => !before.has(n));
    assert.ok(username, 'the citizen the upstream login created');
    const shown = () => JSON.parse(cli(['user', 'show', username, '--store', store.dir, '--json']));
    const record = shown();
    assert.equal(record.verified?.given_name?.value, 'Given-city-user-1', JSON.stringify(record));
    cli(['user', 'disable', username, '--store', store.dir]);
    const disabled = shown();
    // a later login would stamp its entry with a later imported_at
    await new Promise((resolve) => setTimeout(resolve, 1100));
    const { browser, callback } = await login();
    const r = await browser.get(callback);
    assert.equal(r.status, 200, r.text.slice(0, 300));
    assert.match(htmlDecode(r.text), /did not go through|完了しませんでした/);
    assert.ok(parseForms(r.text).some((f) => /\/login$/.test(f.action)), 'the login form');
    assert.deepEqual(shown(), disabled);
  } finally {
    cli(['idp', 'remove', 'city', '--store', store.dir]);
    await up2.close();
  }
});

// an upstream that accepts and never answers, with two login threads: a
// start form posted again and again calls it once (the request is claimed
// first), other starts meanwhile and after get the login form at once (the
// place for upstream calls is taken, then the failure is remembered), and a
// password login is never queued behind them
test('an upstream that hangs holds no password login up, however often its form is posted', T, async () => {
  const held = [];
  const hang = net.createServer((sock) => held.push(sock));
  await new Promise((resolve) => hang.listen(0, '127.0.0.1', resolve));
  const s2 = freshStore('upstream-hang');
  let srv;
  try {
    addUser(s2, HANAKO.username, HANAKO.password);
    const rp2 = addClient(s2, { clientId: 'rp-hang', name: 'Library (e2e)', redirectUris: [RP.redirect], scope: 'openid profile' });
    srv = await startServer(s2, { configFile: s2.writeConfig('login_threads = 2\n') });
    cli(['idp', 'add', 'hang', '--store', s2.dir, '--issuer', `http://127.0.0.1:${hang.address().port}`,
      '--client-id', 'x', '--client-secret-stdin', '--scope', 'openid'], { input: 'whatever-secret' });
    const cfg2 = await discover(srv.issuer, rp2.client_id, rp2.client_secret);
    const loginPage = async (browser) => {
      const req = await authorizationRequest(cfg2, RP.redirect, 'openid');
      const page = await browser.get(req.url);
      assert.equal(page.status, 200);
      return { req, page, forms: parseForms(page.text) };
    };
    const browser = new Browser(srv.issuer);
    const { page, forms } = await loginPage(browser);
    const start = forms.find((f) => /\/upstream\/start$/.test(f.action) && f.fields.idp === 'hang');
    const posts = Array.from({ length: 4 }, () => browser.submit(page.url, start));
    await new Promise((resolve) => setTimeout(resolve, 300));
    // another request's start meanwhile: the login form again at once
    const other = new Browser(srv.issuer);
    const o = await loginPage(other);
    let t0 = Date.now();
    const busy = await other.submit(o.page.url, o.forms.find((f) => /\/upstream\/start$/.test(f.action)));
    assert.equal(busy.status, 200);
    assert.match(busy.text, /cannot be reached|接続できません/);
    assert.ok(Date.now() - t0 < 3000, `the other start took ${Date.now() - t0} ms`);
    // a password login meanwhile, through the form shown again
    const pw = parseForms(busy.text).find((f) => /\/login$/.test(f.action));
    t0 = Date.now();
    const done = await other.submit(busy.url, pw, { username: HANAKO.username, password: HANAKO.password });
    const took = Date.now() - t0;
    assert.equal(done.status, 303, done.text.slice(0, 300));
    assert.ok(took < 3000, `a password login took ${took} ms behind the hanging upstream`);
    // one post of the form called the upstream (and shows the form again once it gave up), the
    // others found the request claimed
    const answers = await Promise.all(posts);
    assert.deepEqual(answers.map((a) => a.status).sort(), [200, 400, 400, 400]);
    assert.equal(held.length, 1, 'the upstream was called once');
    // its failure is remembered: a new start right after answers at once, without a call
    const b3 = new Browser(srv.issuer);
    const l3 = await loginPage(b3);
    t0 = Date.now();
    const again = await b3.submit(l3.page.url, l3.forms.find((f) => /\/upstream\/start$/.test(f.action)));
    assert.equal(again.status, 200);
    assert.match(again.text, /cannot be reached|接続できません/);
    assert.ok(Date.now() - t0 < 3000, `a start after the failure took ${Date.now() - t0} ms`);
    assert.equal(held.length, 1, 'the upstream was not called again');
  } finally {
    for (const sock of held) sock.destroy();
    hang.close();
    await srv?.stop();
    s2.cleanup?.();
  }
});

// the callback needs a place for upstream calls too (the code exchange, the
// JWKS): with two login threads (one place) taken by a start waiting on an
// upstream that hangs, a callback from another upstream gets the login form
// with the message at once, without calling that upstream's token endpoint;
// once the place is given back, the same citizen logs in through it
test('a callback while every place for upstream calls is taken: the login form at once, no exchange', T, async () => {
  const held = [];
  const hang = net.createServer((sock) => held.push(sock));
  await new Promise((resolve) => hang.listen(0, '127.0.0.1', resolve));
  const s3 = freshStore('upstream-busy');
  let srv;
  let up3;
  try {
    const rp3 = addClient(s3, { clientId: 'rp-busy', name: 'Library (e2e)', redirectUris: [RP.redirect], scope: 'openid profile' });
    srv = await startServer(s3, { configFile: s3.writeConfig('login_threads = 2\n') });
    up3 = await startUpstream({ clientId: 'civicid', secret: 'civicid-busy-secret', redirectUri: `${srv.issuer}/upstream/callback` });
    cli(['idp', 'add', 'card', '--store', s3.dir, '--issuer', up3.issuer, '--client-id', 'civicid',
      '--client-secret-stdin', '--scope', 'openid profile', '--allow-create'], { input: 'civicid-busy-secret' });
    cli(['idp', 'add', 'hang', '--store', s3.dir, '--issuer', `http://127.0.0.1:${hang.address().port}`,
      '--client-id', 'x', '--client-secret-stdin', '--scope', 'openid'], { input: 'whatever-secret' });
    const cfg3 = await discover(srv.issuer, rp3.client_id, rp3.client_secret);
    const loginPage = async (browser) => {
      const req = await authorizationRequest(cfg3, RP.redirect, 'openid');
      const page = await browser.get(req.url);
      assert.equal(page.status, 200);
      return { req, page, forms: parseForms(page.text) };
    };
    const startForm = (forms, name) => forms.find((f) => /\/upstream\/start$/.test(f.action) && f.fields.idp === name);
    // a citizen back from the card with a code, not yet at the callback
    const a = new Browser(srv.issuer);
    const la = await loginPage(a);
    const callback = await upstreamRoundTrip(a, la.page, startForm(la.forms, 'card'), 'busy-user', '', null, null, up3, srv);
    // another login takes the one place, waiting on the upstream that hangs
    const b = new Browser(srv.issuer);
    const lb = await loginPage(b);
    const waiting = b.submit(lb.page.url, startForm(lb.forms, 'hang'));
    for (let i = 0; i < 50 && held.length === 0; i++) await new Promise((resolve) => setTimeout(resolve, 100));
    assert.equal(held.length, 1, 'the hanging upstream was called');
    const t0 = Date.now();
    const busy = await a.get(callback);
    assert.ok(Date.now() - t0 < 3000, `the callback took ${Date.now() - t0} ms`);
    assert.equal(busy.status, 200, busy.text.slice(0, 300));
    assert.match(busy.text, /cannot be reached|接続できません/);
    assert.ok(parseForms(busy.text).some((f) => /\/login$/.test(f.action)), 'the login form');
    assert.equal(up3.hits('/token'), 0, 'no code exchange while no place is free');
    // the place given back (the hanging fetch fails), the same citizen logs in through the card
    for (const sock of held) sock.destroy();
    assert.equal((await waiting).status, 200);
    const again = await upstreamRoundTrip(a, busy, startForm(parseForms(busy.text), 'card'), 'busy-user', '', null, null, up3, srv);
    const done = await a.get(again);
    assert.equal(done.status, 303, done.text.slice(0, 300));
    assert.ok(done.location.startsWith(RP.redirect));
    assert.equal(up3.hits('/token'), 1);
  } finally {
    for (const sock of held) sock.destroy();
    hang.close();
    await up3?.close();
    await srv?.stop();
    s3.cleanup?.();
  }
});
