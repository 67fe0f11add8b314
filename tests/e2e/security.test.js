// End-to-end: the citizen's security page (/account/security) with the real
// `civicid serve`, cookie-keeping HTTP clients as browsers (plain HTML forms,
// no JavaScript) and the real login form: two sessions listed and one ended
// from the other (its cookie stops working), a password change (refusals,
// then the new password logs in and the old one does not), two-step login
// enrolled from the page's own key with a code computed here (RFC 6238),
// the key neither shown to nor confirmable from a second browser of the
// same citizen, then asked at login, then removed with a fresh code, and the recent logins
// with their failures.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh security.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';

import { Browser, addClient, addUser, freshStore, htmlDecode, parseForms, startServer, submitLogin } from './lib/server.js';
import { authorizationRequest, discover, totp } from './lib/flow.js';

const T = { timeout: 120_000 };
const MSG = JSON.parse(readFileSync(new URL('../../web/messages/en.json', import.meta.url), 'utf8'));
const SVC = { clientId: 'svc-sec', redirect: 'http://127.0.0.1:9/sec-cb', scope: 'openid' };
const USER = { username: 'jiro', password: 'jiro-first-Passw0rd', next: 'jiro-second-Passw0rd' };

let store;
let server;
let config;
let a; // the browser the citizen works in
let b; // a second browser, signed in too

before(async () => {
  store = freshStore('security');
  addUser(store, USER.username, USER.password);
  const out = addClient(store, { clientId: SVC.clientId, name: 'Security e2e', redirectUris: [SVC.redirect], scope: SVC.scope });
  server = await startServer(store);
  config = await discover(server.issuer, SVC.clientId, out.client_secret);
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    store?.remove();
  }
});

/** Logs browser in at the service with password; the answer to the login POST. */
async function login(browser, password, params = {}) {
  const req = await authorizationRequest(config, SVC.redirect, SVC.scope, { ui_locales: 'en', ...params });
  const { response } = await submitLogin(browser, req.url, USER.username, password);
  return response;
}

/** The security page's form whose button has action (and whose fields match extra). */
function formFor(html, action, extra = {}) {
  const found = parseForms(html).filter(
    (f) => f.action === '/account/security' && f.method === 'post' && f.submit?.action === action &&
      Object.entries(extra).every(([k, v]) => f.fields[k] === v),
  );
  assert.equal(found.length, 1, `one form for ${action} ${JSON.stringify(extra)} in:\n${html}`);
  return found[0];
}

/** Posts a form of the page with values; expects the Post/Redirect/Get and returns the page shown after. */
async function act(browser, page, form, values = {}) {
  const res = await browser.submit(page.url, form, values);
  assert.equal(res.status, 303, `a redirect back, got ${res.status}:\n${res.text.slice(0, 500)}`);
  assert.equal(new URL(res.location).pathname, '/account/security');
  const shown = await browser.get(res.location);
  assert.equal(shown.status, 200);
  return { shown, text: htmlDecode(shown.text), notice: new URL(res.location).searchParams.get('notice') };
}

test('two sessions are listed, with their service; ending the other one ends its cookie', T, async () => {
  a = new Browser(server.issuer);
  b = new Browser(server.issuer);
  for (const br of [a, b]) {
    const res = await login(br, USER.password);
    assert.ok(res.status === 302 || res.status === 303, `signed in: ${res.status}`);
  }
  assert.equal((await b.get('/account?lang=en')).status, 200, 'b is signed in');
  const account = await a.get('/account?lang=en');
  assert.ok(account.text.includes('href="/account/security?lang=en"'), 'the account page links the security page');
  const page = await a.get('/account/security?lang=en');
  assert.equal(page.status, 200);
  assert.ok(!/<script/i.test(page.text), 'no JavaScript');
  const text = htmlDecode(page.text);
  const sessions = parseForms(page.text).filter((f) => f.submit?.action === 'end_session');
  assert.equal(sessions.length, 2, 'two sessions listed');
  assert.ok(text.includes(MSG.security_this_browser), 'this browser is marked');
  assert.ok(text.includes('Security e2e'), 'the service that took part is named');
  assert.ok(text.includes('Node.js'), 'the coarse browser of the session');
  // the other session is the one not marked as this browser's: the list
  // names this browser's in the item holding "this browser"
  const items = page.text.split('<li class="session').slice(1);
  const other = items.find((li) => !li.startsWith(' current'));
  const sid = /name="sid" value="([^"]+)"/.exec(other)[1];
  const { text: after, notice } = await act(a, page, formFor(page.text, 'end_session', { sid }));
  assert.equal(notice, 'session_ended');
  assert.ok(after.includes(MSG.security_notice_session_ended), 'the page confirms');
  assert.equal(parseForms(after).filter((f) => f.submit?.action === 'end_session').length, 1);
  assert.equal((await b.get('/account?lang=en')).status, 401, "b's cookie no longer works");
  assert.equal((await a.get('/account?lang=en')).status, 200, 'a is still signed in');
});

test('change password: refusals change nothing, then the new one logs in and the old one does not', T, async () => {
  const page = await a.get('/account/security?lang=en');
  const form = formFor(page.text, 'password');
  const cases = [
    [{ old: 'not-the-password', new: USER.next, confirm: USER.next }, 'password_wrong'],
    [{ old: USER.password, new: USER.next, confirm: `${USER.next}x` }, 'password_mismatch'],
    [{ old: USER.password, new: 'short', confirm: 'short' }, 'password_weak'],
  ];
  for (const [values, want] of cases) {
    const { notice, text } = await act(a, page, form, values);
    assert.equal(notice, want);
    assert.ok(text.includes(MSG[`security_notice_${want}`]));
  }
  // a browser signed in before the change is signed out by it
  const c = new Browser(server.issuer);
  await login(c, USER.password);
  assert.equal((await c.get('/account')).status, 200);
  const { notice } = await act(a, page, form, { old: USER.password, new: USER.next, confirm: USER.next });
  assert.equal(notice, 'password_changed');
  assert.equal((await c.get('/account')).status, 401, 'the other session ended with the change');
  assert.equal((await a.get('/account')).status, 200, 'this one stays');
  const old = await login(new Browser(server.issuer), USER.password);
  assert.equal(old.status, 200, 'the old password is refused (the form again)');
  const fresh = await login(new Browser(server.issuer), USER.next);
  assert.ok(fresh.status === 302 || fresh.status === 303, `the new password logs in: ${fresh.status}`);
});

test('two-step login: enrol from the page with a code made here, login asks for it, remove with a fresh code', T, async () => {
  // enrolment needs a login of the last five minutes (a stale one signs in
  // again first: delete_account.test.js); a slow run may be past that
  const again = await login(a, USER.next, { prompt: 'login' });
  assert.ok(again.status === 302 || again.status === 303, `signed in again: ${again.status}`);
  let page = await a.get('/account/security?lang=en');
  let r = await act(a, page, formFor(page.text, 'totp_begin'));
  assert.equal(r.notice, 'totp_pending');
  page = r.shown;
  const secret = /id="totp-secret">([A-Z2-7]+)</.exec(page.text)?.[1];
  assert.ok(secret, `the key in text on the page:\n${page.text}`);
  assert.match(page.text, /<svg class="qr"[^>]*>(<rect [^>]*\/>){20,}<\/svg>/, 'a QR code as inline SVG');
  // another browser of the same citizen, freshly signed in too, is not shown
  // the key and cannot confirm it even with a right code: it is the
  // session's that began it, not the account's
  const other = new Browser(server.issuer);
  const signed = await login(other, USER.next);
  assert.ok(signed.status === 302 || signed.status === 303, `the other browser signed in: ${signed.status}`);
  const seen = await other.get('/account/security?lang=en');
  assert.equal(seen.status, 200);
  assert.ok(!seen.text.includes('id="totp-secret"'), 'no key in the other browser');
  assert.ok(!seen.text.includes(secret), "not the first browser's key");
  const tried = await act(other, seen, formFor(seen.text, 'totp_begin'), { action: 'totp_confirm', code: totp(secret) });
  assert.equal(tried.notice, 'totp_expired');
  assert.ok(tried.text.includes(MSG.security_totp_off), 'the other browser enrolled nothing');
  const wrong = String((Number(totp(secret)) + 1) % 1_000_000).padStart(6, '0');
  r = await act(a, page, formFor(page.text, 'totp_confirm'), { code: wrong });
  assert.equal(r.notice, 'code_wrong');
  assert.ok(r.text.includes(MSG.security_notice_code_wrong));
  r = await act(a, r.shown, formFor(r.shown.text, 'totp_confirm'), { code: totp(secret) });
  assert.equal(r.notice, 'totp_enrolled');
  assert.ok(r.text.includes(MSG.security_totp_on));
  // a login that asks for the second factor now gets the code form
  const asked = await login(new Browser(server.issuer), USER.next, { acr_values: 'urn:civicid:acr:mfa' });
  assert.equal(asked.status, 200);
  assert.ok(parseForms(asked.text).some((f) => /\/totp$/.test(f.action)), `the one-time code form:\n${asked.text.slice(0, 800)}`);
  // removing takes a fresh code: a wrong one changes nothing
  page = r.shown;
  r = await act(a, page, formFor(page.text, 'totp_remove'), { code: wrong });
  assert.equal(r.notice, 'code_wrong');
  assert.ok(r.text.includes(MSG.security_totp_on), 'still on');
  r = await act(a, r.shown, formFor(r.shown.text, 'totp_remove'), { code: totp(secret, Date.now() + 30_000) });
  assert.equal(r.notice, 'totp_removed');
  assert.ok(r.text.includes(MSG.security_totp_off));
});

test('recent logins: newest first, with the failed ones, and no User-Agent string', T, async () => {
  const page = await a.get('/account/security?lang=en');
  const rows = page.text.split('<tr class="login">').slice(1);
  assert.ok(rows.length >= 5, `the logins of this test file, got ${rows.length}`);
  assert.ok(rows.length <= 20, 'bounded');
  assert.ok(rows.some((row) => row.includes('class="failed"')), 'the refused old password is listed');
  assert.ok(rows[0].includes('class="ok"'), 'the newest (the mfa login above) succeeded');
  const times = rows.map((row) => Date.parse(/datetime="([^"]+)"/.exec(row)[1]));
  assert.deepEqual(times, [...times].sort((x, y) => y - x), 'newest first');
  assert.ok(!page.text.includes('undici') && !/Mozilla\//.test(page.text), 'only the coarse label');
});

test('a form without the session token changes nothing (403), and signed out the page is 401', T, async () => {
  const page = await a.get('/account/security?lang=en');
  const res = await a.submit(page.url, formFor(page.text, 'end_others'), { csrf: 'A'.repeat(43) });
  assert.equal(res.status, 403);
  assert.equal((await new Browser(server.issuer).get('/account/security')).status, 401);
});

test('sign out everywhere: the logged-out page, and the cookie is gone', T, async () => {
  const page = await a.get('/account/security?lang=en');
  const res = await a.submit(page.url, formFor(page.text, 'end_all'));
  assert.equal(res.status, 200);
  assert.ok(htmlDecode(res.text).includes(MSG.logged_out_title));
  assert.equal((await a.get('/account')).status, 401);
});
