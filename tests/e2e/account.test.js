// End-to-end: the citizen withdraws and shares again on the account page,
// with the real `civicid serve` (a fresh LMDB store and a policy written
// here), openid-client 6 as the service, and a cookie-keeping HTTP client as
// the citizen's browser through the real login, consent and account pages
// (plain HTML forms: no JavaScript). Each change must show in the service's
// very next userinfo and refresh; withdrawing everything a service gets must
// make its refresh token fail; and withdrawing takes no more clicks than
// granting did.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh account.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';

import { Browser, addClient, addUser, cli, freshStore, htmlDecode, parseForms, startServer, submitLogin } from './lib/server.js';
import { authorizationRequest, codeGrant, discover } from './lib/flow.js';

const T = { timeout: 120_000 };
const MSG_EN = JSON.parse(readFileSync(new URL('../../web/messages/en.json', import.meta.url), 'utf8'));
const MSG_JA = JSON.parse(readFileSync(new URL('../../web/messages/ja.json', import.meta.url), 'utf8'));

const POLICY = `# e2e: the account page
service svc-w
name.ja 子育て支援（撤回試験）
name.en Childcare support (withdrawal e2e)
purpose fees
  text.ja 保育料を算定するため
  text.en To calculate your childcare fee
  basis consent
  retention 1y
  consent_valid 1y
  permit given_name
  permit family_name
  permit email
purpose register
  text.ja 法令に基づく名簿を作成するため
  text.en To keep the register the law requires
  basis statute e2e Act, Art. 1 (the register)
  retention 1y
  permit resident_district
`;

const SVC = { clientId: 'svc-w', redirect: 'http://127.0.0.1:9/w-cb', scope: 'openid profile email city offline_access' };
const HANAKO = {
  username: 'hanako',
  password: 'hanako-account-Passw0rd!',
  claims: { given_name: '花子', family_name: '山田', email: 'hanako@example.jp', resident_district: 'Aoi' },
};

let store;
let server;
let config;
let browser;
let tokens;
let sub;
let grantClicks;

before(async () => {
  store = freshStore('account');
  store.writePolicy('svc-w.policy', POLICY);
  addUser(store, HANAKO.username, HANAKO.password, HANAKO.claims);
  const out = addClient(store, { clientId: SVC.clientId, name: 'Withdrawal e2e', redirectUris: [SVC.redirect], scope: SVC.scope });
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

/** The account page's forms that post to /account/consent, with the fields they carry. */
function changeForms(html) {
  return parseForms(html).filter((f) => f.action === '/account/consent' && f.method === 'post');
}

/** The one form of the page that changes exactly what `want` names (action, service, purpose?, attribute?). */
function formFor(html, want) {
  const found = changeForms(html).filter(
    (f) =>
      f.submit?.action === want.action &&
      f.fields.service === want.service &&
      (f.fields.purpose ?? undefined) === want.purpose &&
      (f.fields.attribute ?? undefined) === want.attribute,
  );
  assert.equal(found.length, 1, `one form for ${JSON.stringify(want)} in:\n${html}`);
  return found[0];
}

/** Clicks the button of a form on the account page; follows the Post/Redirect/Get; the page shown. */
async function click(page, form) {
  // one click: the form has nothing to fill, only its button to press
  const res = await browser.submit(page.url, form);
  assert.equal(res.status, 303, `a redirect back to the page, got ${res.status}:\n${res.text.slice(0, 500)}`);
  assert.equal(new URL(res.location).pathname, '/account');
  const shown = await browser.get(res.location);
  assert.equal(shown.status, 200);
  return shown;
}

async function userinfo() {
  return client.fetchUserInfo(config, tokens.access_token, sub);
}

test('log in and consent: the service gets what was ticked (count the clicks)', T, async () => {
  browser = new Browser(server.issuer);
  const req = await authorizationRequest(config, SVC.redirect, SVC.scope, { ui_locales: 'en' });
  const { response: page } = await submitLogin(browser, req.url, HANAKO.username, HANAKO.password);
  assert.equal(page.status, 200, `the consent page:\n${page.text.slice(0, 800)}`);
  const form = parseForms(page.text).find((f) => /\/consent$/.test(f.action));
  const values = { action: 'approve' };
  const re = /<label class="check">\s*<input\b[^>]*name="([^"]*)"[^>]*>\s*([^<]*)<\/label>/gi;
  const tick = ['given_name', 'email'];
  let m;
  while ((m = re.exec(page.text)) !== null) {
    const label = htmlDecode(m[2].trim());
    if (tick.some((a) => MSG_EN[`attr.${a}`] === label)) values[m[1]] = '1';
  }
  assert.equal(Object.keys(values).length, 1 + tick.length);
  // granting one attribute took a tick and Approve: two clicks at the least
  grantClicks = 2;
  const res = await browser.submit(page.url, form, values, { withSubmitButton: false });
  assert.ok(res.status === 302 || res.status === 303);
  tokens = await codeGrant(config, new URL(res.location), req);
  sub = tokens.claims().sub;
  assert.equal(typeof tokens.refresh_token, 'string', 'a refresh token (offline_access)');
  const me = await userinfo();
  assert.equal(me.given_name, HANAKO.claims.given_name);
  assert.equal(me.email, HANAKO.claims.email);
  assert.ok(!('family_name' in me), 'family_name was refused');
  assert.equal(me.resident_district, HANAKO.claims.resident_district, 'provided by law');
});

test('the account page shows each attribute with its state, a button each, and the law without one', T, async () => {
  const page = await browser.get('/account?lang=en');
  assert.equal(page.status, 200);
  assert.ok(!/<script/i.test(page.text), 'no JavaScript');
  const text = htmlDecode(page.text);
  for (const key of ['account_state_granted', 'account_state_refused', 'account_state_law', 'account_withdraw', 'account_share', 'account_withdraw_purpose', 'account_withdraw_service'])
    assert.ok(text.includes(MSG_EN[key]), `the page says "${MSG_EN[key]}"`);
  assert.ok(text.includes('e2e Act, Art. 1 (the register)'), 'the citation of the law');
  const base = { service: SVC.clientId, purpose: 'fees' };
  formFor(page.text, { ...base, action: 'withdraw', attribute: 'given_name' });
  formFor(page.text, { ...base, action: 'withdraw', attribute: 'email' });
  formFor(page.text, { ...base, action: 'share', attribute: 'family_name' });
  formFor(page.text, { ...base, action: 'withdraw', attribute: undefined });
  formFor(page.text, { service: SVC.clientId, action: 'withdraw', purpose: undefined, attribute: undefined });
  // nothing to press for what the law provides
  assert.equal(changeForms(page.text).filter((f) => f.fields.purpose === 'register').length, 0);
  // every form is CSRF-protected with the same session-bound token
  const csrf = new Set(changeForms(page.text).map((f) => f.fields.csrf));
  assert.equal(csrf.size, 1);
  assert.match([...csrf][0], /^[A-Za-z0-9_-]{43}$/);
});

test('withdraw one attribute: one click, the page says so, the next userinfo and refresh lack it', T, async () => {
  const page = await browser.get('/account?lang=en');
  const form = formFor(page.text, { service: SVC.clientId, purpose: 'fees', action: 'withdraw', attribute: 'given_name' });
  // the form asks for nothing but its button: one click, no more than granting took
  assert.deepEqual(Object.keys(form.fields).sort(), ['attribute', 'csrf', 'lang', 'purpose', 'service']);
  const withdrawClicks = 1;
  assert.ok(withdrawClicks <= grantClicks, `withdrawing took ${withdrawClicks} clicks, granting ${grantClicks}`);
  const shown = await click(page, form);
  const text = htmlDecode(shown.text);
  assert.ok(text.includes(MSG_EN.account_notice_withdrawn_attribute), 'the page confirms the withdrawal');
  assert.ok(text.includes(MSG_EN['attr.given_name']));
  assert.ok(text.includes(MSG_EN.account_state_withdrawn));
  // the very next userinfo, with the access token issued before
  const me = await userinfo();
  assert.ok(!('given_name' in me), 'given_name withdrawn');
  assert.equal(me.email, HANAKO.claims.email, 'email still shared');
  // and the next refresh
  tokens = await client.refreshTokenGrant(config, tokens.refresh_token);
  if (tokens.id_token) assert.ok(!('given_name' in tokens.claims()), 'not in the refreshed ID token');
  assert.ok(!('given_name' in (await userinfo())));
  // recorded as the citizen's own act on the account page
  const list = JSON.parse(cli(['consent', 'list', HANAKO.username, '--store', store.dir, '--json']));
  assert.ok(JSON.stringify(list).includes('web:account'), `a record by web:account in ${JSON.stringify(list)}`);
});

test('share it again: one click, and the next userinfo has it back', T, async () => {
  const page = await browser.get('/account?lang=ja');
  const form = formFor(page.text, { service: SVC.clientId, purpose: 'fees', action: 'share', attribute: 'given_name' });
  const shown = await click(page, form);
  assert.ok(htmlDecode(shown.text).includes(MSG_JA.account_notice_shared), 'the page confirms, in its language');
  const me = await userinfo();
  assert.equal(me.given_name, HANAKO.claims.given_name, 'given_name is back');
});

test('a form without the session token changes nothing (403)', T, async () => {
  const page = await browser.get('/account?lang=en');
  const form = formFor(page.text, { service: SVC.clientId, purpose: 'fees', action: 'withdraw', attribute: 'email' });
  for (const csrf of ['', 'A'.repeat(43)]) {
    const res = await browser.submit(page.url, form, { csrf });
    assert.equal(res.status, 403, `csrf "${csrf}"`);
  }
  // a cross-site post brings no CSRF cookie either
  const stranger = new Browser(server.issuer);
  stranger.jar.set('civicid_session', browser.cookie('civicid_session'));
  const res = await stranger.post('/account/consent', { ...form.fields, action: 'withdraw' });
  assert.equal(res.status, 403);
  assert.equal((await userinfo()).email, HANAKO.claims.email, 'email still shared');
});

test('withdraw everything of the service: its refresh token and access token fail', T, async () => {
  const page = await browser.get('/account?lang=en');
  const form = formFor(page.text, { service: SVC.clientId, action: 'withdraw', purpose: undefined, attribute: undefined });
  const shown = await click(page, form);
  assert.ok(htmlDecode(shown.text).includes(MSG_EN.account_notice_withdrawn_service));
  let err;
  try {
    await client.refreshTokenGrant(config, tokens.refresh_token);
  } catch (e) {
    err = e;
  }
  assert.ok(err instanceof client.ResponseBodyError, `the refresh fails: ${err}`);
  assert.equal(err.error, 'invalid_grant');
  // the access token of that grant is dead as well
  await assert.rejects(userinfo(), 'userinfo with the revoked grant\'s access token fails');
  // nothing left to withdraw: the page offers only to share again
  const after = await browser.get('/account?lang=en');
  const forms = changeForms(after.text);
  assert.ok(forms.every((f) => f.submit.action === 'share' || (!f.fields.purpose && !f.fields.attribute)));
  assert.ok(forms.some((f) => f.submit.action === 'share' && f.fields.attribute === 'email'));
});
