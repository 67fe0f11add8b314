// End-to-end: release policies, the consent screen and the step-up, with the
// real `civicid serve` (a fresh LMDB store, a policies directory written here)
// driven by openid-client 6 (the service) and a cookie-keeping HTTP client (the
// citizen's browser, through the real login, consent and one-time-code pages).
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh consent.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import * as client from 'openid-client';

import {
  Browser,
  addClient,
  addUser,
  cli,
  freshStore,
  htmlDecode,
  loginForm,
  parseForms,
  startServer,
  submitLogin,
} from './lib/server.js';
import { discover, totp } from './lib/flow.js';

const T = { timeout: 120_000 };
const MSG_EN = JSON.parse(readFileSync(new URL('../../web/messages/en.json', import.meta.url), 'utf8'));
const MSG_JA = JSON.parse(readFileSync(new URL('../../web/messages/ja.json', import.meta.url), 'utf8'));

// Service A: four consent-based attributes for one purpose, the birth date at
// level 2 (password and TOTP), and the district on a statute basis.
const POLICY_A = `# e2e: service A
service svc-a
name.ja 子育て支援（試験）
name.en Childcare support (e2e)
subject pairwise

purpose fees
  text.ja 保育料を世帯の状況に応じて算定するため
  text.en To calculate your childcare fee from your household's situation
  basis consent
  retention 1y
  consent_valid 1y
  permit given_name
  permit family_name
  permit email
  permit phone_number
  permit birthdate level=2

purpose register
  text.ja 法令に基づく名簿を作成するため
  text.en To keep the register the law requires
  basis statute 試験法 第1条 / e2e Act, Art. 1 (the register)
  retention 1y
  permit resident_district
`;

const SVC_A = {
  clientId: 'svc-a',
  name: 'Service A (registration name)',
  redirect: 'http://127.0.0.1:9/a-cb',
  scope: 'openid profile email phone city',
};

const HANAKO = {
  username: 'hanako',
  password: 'hanako-consent-Passw0rd!',
  claims: {
    given_name: '花子',
    family_name: '山田',
    email: 'hanako@example.jp',
    phone_number: '+81-242-00-0000',
    birthdate: '1988-04-12',
    resident_district: 'Aoi',
    household_size: '3',
    nickname: 'はな',
  },
};
const TARO = { username: 'taro', password: 'taro-consent-Passw0rd!', claims: { given_name: '太郎', email: 'taro@example.jp', resident_district: 'Kita' } };
const KENJI = {
  username: 'kenji',
  password: 'kenji-consent-Passw0rd!',
  claims: { given_name: '健二', family_name: '高橋', birthdate: '1975-11-03', resident_district: 'Kita' },
};

let store;
let server;
let issuer;
let config;
let kenjiSecret;

before(async () => {
  store = freshStore('consent');
  store.writePolicy('svc-a.policy', POLICY_A);
  store.writePolicy('svc-b.policy', POLICY_A.replace('service svc-a', 'service svc-b'));
  for (const u of [HANAKO, TARO, KENJI]) addUser(store, u.username, u.password, u.claims);
  const out = addClient(store, {
    clientId: SVC_A.clientId,
    name: SVC_A.name,
    redirectUris: [SVC_A.redirect],
    scope: SVC_A.scope,
  });
  // kenji has a second factor; hanako and taro do not
  kenjiSecret = JSON.parse(cli(['user', 'totp', KENJI.username, '--store', store.dir, '--json'])).secret;
  assert.match(kenjiSecret, /^[A-Z2-7]+$/);
  server = await startServer(store);
  issuer = server.issuer;
  config = await discover(issuer, SVC_A.clientId, out.client_secret);
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

async function authRequest(params = {}) {
  const verifier = client.randomPKCECodeVerifier();
  const state = client.randomState();
  const nonce = client.randomNonce();
  const url = client.buildAuthorizationUrl(config, {
    redirect_uri: SVC_A.redirect,
    scope: SVC_A.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state,
    nonce,
    ui_locales: 'en',
    ...params,
  });
  return { url, verifier, state, nonce };
}

function redeem(callback, auth) {
  return client.authorizationCodeGrant(config, new URL(callback), {
    pkceCodeVerifier: auth.verifier,
    expectedState: auth.state,
    expectedNonce: auth.nonce,
  });
}

/** The consent form of a page, or null. */
function consentForm(html) {
  return parseForms(html).find((f) => f.method === 'post' && /\/consent$/.test(f.action) && 'req' in f.fields && 'csrf' in f.fields) ?? null;
}

/** The one-time-code form of a page, or null. */
function totpForm(html) {
  return parseForms(html).find((f) => f.method === 'post' && /\/totp$/.test(f.action) && 'req' in f.fields && 'csrf' in f.fields) ?? null;
}

/** The checkboxes of a consent page: [{name, label, checked}]. */
function checkboxes(html) {
  const out = [];
  const re = /<label class="check">\s*(<input\b[^>]*>)\s*([^<]*)<\/label>/gi;
  let m;
  while ((m = re.exec(html)) !== null) {
    const tag = m[1];
    assert.match(tag, /type="checkbox"/);
    out.push({
      name: tag.match(/name="([^"]*)"/)[1],
      label: htmlDecode(m[2].trim()),
      checked: /\bchecked\b/i.test(tag),
    });
  }
  return out;
}

/** The name of the checkbox labelled with attribute's English label. */
function boxFor(boxes, attribute) {
  const label = MSG_EN[`attr.${attribute}`];
  const b = boxes.find((x) => x.label === label);
  assert.ok(b, `a checkbox for ${attribute} (${label}) among ${boxes.map((x) => x.label).join(', ')}`);
  return b.name;
}

/** Submits the consent page: action 'approve' or 'deny', ticking the attributes named. */
async function decide(browser, page, action, tick = []) {
  const form = consentForm(page.text);
  assert.ok(form, `a consent form in:\n${page.text.slice(0, 1500)}`);
  const boxes = checkboxes(page.text);
  const values = { action };
  for (const a of tick) values[boxFor(boxes, a)] = '1';
  return browser.submit(page.url, form, values, { withSubmitButton: false });
}

/** Logs in through the form; returns the answer to the POST (consent page, TOTP page or redirect). */
async function loginTo(browser, auth, user) {
  const { response } = await submitLogin(browser, auth.url, user.username, user.password);
  return response;
}

/** The code redirect of a response (303/302 to the service). */
function callbackOf(res, what) {
  assert.ok(res.status === 302 || res.status === 303, `${what}: a redirect, got ${res.status}\n${res.text.slice(0, 1500)}`);
  const u = new URL(res.location);
  assert.equal(`${u.origin}${u.pathname}`, SVC_A.redirect, `${what}: back to the service`);
  return u;
}

function userinfo(tokens) {
  return client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
}

const CONSENT_FOUR = ['given_name', 'family_name', 'email', 'phone_number'];

// ---------------------------------------------------------------------------
// the tests (in order: later ones build on the records of earlier ones)
// ---------------------------------------------------------------------------

let hanakoBrowser;
let hanakoTokens;

test('four consent attributes asked, two ticked: the ID token and userinfo carry exactly those two, plus the statute-based one', T, async () => {
  hanakoBrowser = new Browser(issuer);
  const auth = await authRequest();
  const page = await loginTo(hanakoBrowser, auth, HANAKO);
  assert.equal(page.status, 200, `the consent page after the login:\n${page.text.slice(0, 1000)}`);
  assert.ok(consentForm(page.text), 'the consent form');
  assert.ok(!/<script/i.test(page.text), 'no JavaScript');
  assert.ok(page.text.includes('Childcare support (e2e)'), "the service's name from its policy");
  assert.ok(page.text.includes("To calculate your childcare fee from your household&#39;s situation") ||
    htmlDecode(page.text).includes("To calculate your childcare fee from your household's situation"), 'the purpose text in English');
  // one checkbox per consent attribute, none ticked in advance
  const boxes = checkboxes(page.text);
  assert.deepEqual(boxes.map((b) => b.label).sort(), CONSENT_FOUR.map((a) => MSG_EN[`attr.${a}`]).sort());
  assert.ok(boxes.every((b) => !b.checked), 'nothing is pre-ticked');
  // the statute-based attribute is information with its citation, not a checkbox
  const text = htmlDecode(page.text);
  assert.ok(text.includes('e2e Act, Art. 1 (the register)'), 'the citation');
  assert.ok(text.includes(MSG_EN['attr.resident_district']), 'the statute attribute is named');
  assert.ok(text.includes(MSG_EN.consent_statute), 'as provided without consent');
  // birthdate needs level 2 and hanako has no second factor: not offered, not asked
  assert.ok(!text.includes(MSG_EN['attr.birthdate']), 'no birthdate (level 2, no TOTP)');
  assert.ok(!text.includes(MSG_EN['attr.nickname']), 'no attribute outside the policy');

  const res = await decide(hanakoBrowser, page, 'approve', ['given_name', 'email']);
  const tokens = await redeem(callbackOf(res, 'approve'), auth);
  const idt = tokens.claims();
  assert.equal(idt.given_name, HANAKO.claims.given_name);
  assert.equal(idt.email, HANAKO.claims.email);
  assert.equal(idt.resident_district, HANAKO.claims.resident_district, 'statute: no checkbox needed');
  for (const a of ['family_name', 'phone_number', 'birthdate', 'household_size', 'nickname'])
    assert.ok(!(a in idt), `no ${a} in the ID token`);
  assert.equal(idt.acr, 'urn:civicid:acr:password');
  const info = await userinfo(tokens);
  assert.deepEqual(
    Object.keys(info).sort(),
    ['email', 'given_name', 'resident_district', 'sub'].sort(),
    `userinfo carries exactly the two ticked and the statute one: ${JSON.stringify(info)}`,
  );
  hanakoTokens = tokens;

  // the decisions are on record: two grants, two refusals, by the consent screen
  const records = JSON.parse(cli(['consent', 'list', HANAKO.username, '--service', 'svc-a', '--store', store.dir, '--json']));
  const list = Array.isArray(records) ? records : records.records;
  const state = Object.fromEntries(list.map((r) => [r.attribute, r.state]));
  assert.deepEqual(state, { given_name: 'granted', email: 'granted', family_name: 'refused', phone_number: 'refused' });
  assert.ok(list.every((r) => r.how?.method === 'web:consent-screen' && r.purpose === 'fees'), 'method and purpose recorded');
  assert.ok(list.every((r) => typeof r.how?.request_id === 'string' && r.how.request_id.length > 0), 'the request is named');
  const granted = list.find((r) => r.attribute === 'email');
  assert.ok(granted.expires_at > Date.now() / 1000 + 364 * 86400, 'a grant lasts consent_valid (1y)');
});

test('already decided attributes are not asked again: the next authorization gets a code at once', T, async () => {
  const auth = await authRequest();
  const res = await hanakoBrowser.get(auth.url);
  const tokens = await redeem(callbackOf(res, 'SSO, all decided'), auth);
  assert.equal(tokens.claims().email, HANAKO.claims.email);
  assert.ok(!('family_name' in tokens.claims()), 'a refusal stays a refusal');
});

test('after `civicid consent withdraw` the next userinfo lacks the withdrawn attributes', T, async () => {
  cli(['consent', 'withdraw', HANAKO.username, '--service', 'svc-a', '--purpose', 'fees',
    '--attribute', 'given_name', '--attribute', 'email', '--store', store.dir]);
  const info = await userinfo(hanakoTokens);
  assert.ok(!('given_name' in info), 'given_name withdrawn');
  assert.ok(!('email' in info), 'email withdrawn');
  assert.equal(info.resident_district, HANAKO.claims.resident_district, 'the statute-based one stays');
});

test('prompt=consent asks again, even what was decided; Deny refuses all shown', T, async () => {
  const auth = await authRequest({ prompt: 'consent' });
  const page = await hanakoBrowser.get(auth.url);
  assert.equal(page.status, 200, 'the consent page, not a code');
  const boxes = checkboxes(page.text);
  assert.deepEqual(boxes.map((b) => b.label).sort(), CONSENT_FOUR.map((a) => MSG_EN[`attr.${a}`]).sort());
  // a grant to re-establish, to see Deny then refuse it
  const res = await decide(hanakoBrowser, page, 'deny', ['email']);
  const tokens = await redeem(callbackOf(res, 'deny'), auth);
  const idt = tokens.claims();
  for (const a of CONSENT_FOUR) assert.ok(!(a in idt), `no ${a} after Deny (ticks ignored)`);
  assert.equal(idt.resident_district, HANAKO.claims.resident_district);
  // without prompt=consent: decided, so no screen
  const again = await authRequest();
  callbackOf(await hanakoBrowser.get(again.url), 'decided after deny');
});

test('prompt=none with a missing decision redirects with consent_required', T, async () => {
  const browser = new Browser(issuer);
  const auth = await authRequest();
  const page = await loginTo(browser, auth, TARO); // the session starts; the screen is left unanswered
  assert.ok(consentForm(page.text), 'taro is asked');
  const none = await authRequest({ prompt: 'none' });
  const res = await browser.get(none.url);
  assert.equal(res.status, 302);
  const u = new URL(res.location);
  assert.equal(`${u.origin}${u.pathname}`, SVC_A.redirect);
  assert.equal(u.searchParams.get('error'), 'consent_required');
  assert.equal(u.searchParams.get('state'), none.state);
  assert.equal(u.searchParams.get('iss'), issuer);
});

test('the consent form is CSRF-protected and single-use', T, async () => {
  const browser = new Browser(issuer);
  const auth = await authRequest();
  const page = await loginTo(browser, auth, TARO);
  const form = consentForm(page.text);
  assert.ok(form);
  // a wrong CSRF token
  const forged = await browser.post(new URL('/consent', issuer), { ...form.fields, csrf: 'A'.repeat(43), action: 'approve' });
  assert.equal(forged.status, 403);
  // another browser (no cookies) posting the form
  const other = await new Browser(issuer).post(new URL('/consent', issuer), { ...form.fields, action: 'approve' });
  assert.ok(other.status >= 400, `another browser is refused: ${other.status}`);
  // neither recorded anything: the real form still works, once
  const res = await decide(browser, page, 'approve', ['given_name']);
  await redeem(callbackOf(res, 'taro approves'), auth);
  const replay = await decide(browser, page, 'approve', ['given_name']);
  assert.equal(replay.status, 400, 'the form cannot be posted twice');
});

test('a consent form sent twice at once acts once: one code, one set of records', T, async () => {
  const browser = new Browser(issuer);
  const auth = await authRequest({ prompt: 'consent' });
  const page = await loginTo(browser, auth, TARO);
  const form = consentForm(page.text);
  assert.ok(form, 'the consent page');
  const before = JSON.parse(cli(['consent', 'list', TARO.username, '--store', store.dir, '--json']));
  // a double click, or a replay racing the real post
  const results = await Promise.all([0, 1, 2, 3].map(() => decide(browser, page, 'approve', ['email'])));
  const redirects = results.filter((r) => r.status === 303 || r.status === 302);
  assert.equal(redirects.length, 1, `exactly one post is honoured: ${results.map((r) => r.status)}`);
  for (const r of results) if (!redirects.includes(r)) assert.equal(r.status, 400);
  const after = JSON.parse(cli(['consent', 'list', TARO.username, '--store', store.dir, '--json']));
  const shown = checkboxes(page.text).length;
  assert.equal(after.length - before.length, shown, 'one record per attribute shown, written once');
});

test('a level-2 attribute triggers the TOTP step and is released after it; acr and amr say so', T, async () => {
  const browser = new Browser(issuer);
  const auth = await authRequest({ scope: 'openid profile' });
  const page = await loginTo(browser, auth, KENJI);
  assert.equal(page.status, 200);
  const form = totpForm(page.text);
  assert.ok(form, `the one-time-code page after the login:\n${page.text.slice(0, 1000)}`);
  assert.ok(!/<script/i.test(page.text), 'no JavaScript');
  assert.equal(consentForm(page.text), null, 'no consent before the step-up');
  // a wrong code: the page again, with the failure message
  const valid = new Set([-1, 0, 1].map((d) => totp(kenjiSecret, Date.now() + d * 30_000)));
  const wrongCode = ['000000', '111111', '222222'].find((c) => !valid.has(c));
  const wrong = await browser.submit(page.url, form, { code: wrongCode });
  assert.equal(wrong.status, 200);
  assert.ok(wrong.text.includes(htmlDecode(MSG_EN.totp_failed)) || htmlDecode(wrong.text).includes(MSG_EN.totp_failed), 'the failure message');
  // the right code: on to the consent screen, which now offers the birth date
  const consent = await browser.submit(page.url, totpForm(wrong.text), { code: totp(kenjiSecret) });
  assert.equal(consent.status, 200, `the consent page after the code:\n${consent.text.slice(0, 1000)}`);
  const labels = checkboxes(consent.text).map((b) => b.label);
  assert.ok(labels.includes(MSG_EN['attr.birthdate']), `birthdate is offered at level 2: ${labels}`);
  const res = await decide(browser, consent, 'approve', ['birthdate']);
  const tokens = await redeem(callbackOf(res, 'after TOTP and consent'), auth);
  const idt = tokens.claims();
  assert.equal(idt.birthdate, KENJI.claims.birthdate, 'released after the step-up');
  assert.equal(idt.acr, 'urn:civicid:acr:mfa');
  assert.deepEqual([...idt.amr].sort(), ['otp', 'pwd']);
  assert.ok(!('given_name' in idt), 'not ticked, not released');
  const info = await userinfo(tokens);
  assert.equal(info.birthdate, KENJI.claims.birthdate);
  // the session is at level 2 now: SSO needs no second code
  const again = await authRequest({ scope: 'openid profile' });
  const t2 = await redeem(callbackOf(await browser.get(again.url), 'SSO at level 2'), again);
  assert.equal(t2.claims().birthdate, KENJI.claims.birthdate);
  assert.equal(t2.claims().acr, 'urn:civicid:acr:mfa');
});

test('acr_values=urn:civicid:acr:mfa forces the TOTP step; with prompt=none it is interaction_required', T, async () => {
  const browser = new Browser(issuer);
  // nothing asked needs level 2 (openid only), but the service asks for mfa
  const first = await authRequest({ scope: 'openid' });
  callbackOf(await loginTo(browser, first, KENJI), 'level 1 is enough for openid');
  const none = await authRequest({ scope: 'openid', acr_values: 'urn:civicid:acr:mfa', prompt: 'none' });
  const r = await browser.get(none.url);
  assert.equal(r.status, 302);
  assert.equal(new URL(r.location).searchParams.get('error'), 'interaction_required');
  const auth = await authRequest({ scope: 'openid', acr_values: 'urn:civicid:acr:mfa' });
  const page = await browser.get(auth.url);
  const form = totpForm(page.text);
  assert.ok(form, 'the one-time-code page');
  const before = browser.cookie('civicid_session');
  // the code of the next time step (one step of drift is accepted): the previous
  // test's code, and any earlier one, may not be used again
  const res = await browser.submit(page.url, form, { code: totp(kenjiSecret, Date.now() + 30_000) });
  const tokens = await redeem(callbackOf(res, 'acr_values mfa'), auth);
  assert.equal(tokens.claims().acr, 'urn:civicid:acr:mfa');

  // the step-up renewed the session cookie (ASVS V3.2.1): the old one opens nothing
  const after = browser.cookie('civicid_session');
  assert.ok(after && after !== before, 'a new session cookie after the step-up');
  const stale = new Browser(issuer);
  stale.jar.set('civicid_session', before);
  const old = await stale.get((await authRequest({ scope: 'openid', prompt: 'none' })).url);
  assert.equal(new URL(old.location).searchParams.get('error'), 'login_required', 'the old cookie is dead');
  const again = await authRequest({ scope: 'openid', prompt: 'none' });
  const renewed = await redeem(callbackOf(await browser.get(again.url), 'the new cookie'), again);
  assert.equal(renewed.claims().acr, 'urn:civicid:acr:mfa', 'the new cookie carries the step-up');
});

test('the consent screen in Japanese', T, async () => {
  const browser = new Browser(issuer);
  const auth = await authRequest({ ui_locales: 'ja' });
  // a new citizen for a fresh screen
  addUser(store, 'yui', 'yui-consent-Passw0rd!', { given_name: '結衣', email: 'yui@example.jp' });
  const page = await loginTo(browser, auth, { username: 'yui', password: 'yui-consent-Passw0rd!' });
  const text = htmlDecode(page.text);
  assert.ok(text.includes('子育て支援（試験）'), 'the service name in Japanese');
  assert.ok(text.includes('保育料を世帯の状況に応じて算定するため'), 'the purpose text in Japanese');
  assert.ok(text.includes(MSG_JA['attr.email']) && text.includes(MSG_JA.consent_approve), 'Japanese labels and buttons');
  assert.ok(text.includes('lang="ja"'));
});

test('a bad policy file and `civicid policy reload` leave the old policy in force; a good change takes effect', T, async () => {
  const before = await userinfo(hanakoTokens);
  assert.equal(before.resident_district, HANAKO.claims.resident_district);
  assert.ok(!('household_size' in before), 'household_size is not in the policy yet');
  // a broken file beside the good one
  store.writePolicy('broken.policy', 'service broken\nname.ja x\npermit email\n');
  cli(['policy', 'reload', '--store', store.dir]);
  let refused = false;
  for (let i = 0; i < 40 && !refused; i++) {
    await sleep(250);
    refused = /were not reloaded/.test(server.output().stderr);
  }
  assert.ok(refused, `the server says it kept the old policies:\n${server.output().stderr}`);
  assert.match(server.output().stderr, /broken\.policy:3: /, 'with file:line');
  const during = await userinfo(hanakoTokens);
  assert.deepEqual(during, before, 'the old policy still decides; the server keeps answering');

  // fix it, and release the household size for the register
  store.writePolicy('broken.policy', 'service broken\nname.ja x\nname.en x\npurpose p\n text.ja t\n text.en t\n basis statute Act 2\n retention 1d\n permit email\n');
  store.writePolicy('svc-a.policy', POLICY_A.replace('  permit resident_district\n', '  permit resident_district\n  permit household_size\n'));
  cli(['policy', 'reload', '--store', store.dir]);
  let after;
  for (let i = 0; i < 40; i++) {
    await sleep(250);
    after = await userinfo(hanakoTokens);
    if ('household_size' in after) break;
  }
  assert.equal(after.household_size, 3, `the new policy releases household_size: ${JSON.stringify(after)}`);
  assert.match(server.output().stderr, /policies reloaded/);
});

test('introspection releases no personal attribute beyond sub', T, async () => {
  const res = await client.tokenIntrospection(config, hanakoTokens.access_token);
  assert.equal(res.active, true);
  for (const a of Object.keys(HANAKO.claims)) assert.ok(!(a in res), `no ${a} in introspection`);
  assert.equal(res.sub, hanakoTokens.claims().sub);
});

test('the login form still comes first without a session', T, async () => {
  const auth = await authRequest();
  const page = await new Browser(issuer).get(auth.url);
  assert.ok(loginForm(page.text));
});

test('the audit log holds every consent event and release of these flows; provisions list them; it verifies', T, async () => {
  // a release gives the service an opaque id of its entries: no seq, nothing of other releases
  const res = await fetch(new URL('/userinfo', issuer), { headers: { authorization: `Bearer ${hanakoTokens.access_token}` } });
  assert.equal(res.status, 200);
  const body = await res.json();
  const releaseId = res.headers.get('x-civicid-release') ?? '';
  assert.match(releaseId, /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/,
    `X-Civicid-Release: ${releaseId}`);

  const hanakoId = JSON.parse(cli(['user', 'show', HANAKO.username, '--store', store.dir, '--json'])).id;
  const lines = cli(['audit', 'query', '--store', store.dir, '--citizen', HANAKO.username, '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  // entries name the citizen by a pseudonym per purpose, never the account id (nor the pairwise sub)
  assert.ok(lines.every((e) => /^ps_[0-9a-f]{32}$/.test(e.citizen)), 'a pseudonym');
  assert.ok(lines.every((e) => !JSON.stringify(e).includes(hanakoId)), 'never the account id');
  const types = new Set(lines.map((e) => e.type));
  for (const t of ['consent.granted', 'consent.refused', 'consent.withdrawn', 'release.permit', 'release.deny'])
    assert.ok(types.has(t), `${t} is in the log (${[...types].join(', ')})`);
  const granted = lines.find((e) => e.type === 'consent.granted' && e.endpoint === 'consent-screen');
  assert.deepEqual([...granted.attributes].sort(), ['email', 'given_name']);
  assert.equal(granted.actor, 'citizen');
  assert.equal(granted.purpose, 'fees');
  assert.equal(granted.consent_records.length, 2);
  const withdrawn = lines.find((e) => e.type === 'consent.withdrawn');
  assert.equal(withdrawn.actor, 'operator');
  assert.equal(withdrawn.endpoint, 'cli');
  // the first release: the ID token of the first flow, permitted by the consents
  // just given (one entry per decision: both attributes, both rules' lines)
  const first = lines.find((e) => e.type === 'release.permit' && e.endpoint === 'id_token' && e.basis === 'consent');
  const firstRelease = lines.filter((e) => e.request_id === first.request_id && e.type === 'release.permit' && e.basis === 'consent');
  assert.deepEqual(firstRelease.flatMap((e) => e.attributes).sort(), ['email', 'given_name']);
  assert.ok(first.seq > granted.seq, 'released after it was granted');
  assert.deepEqual(firstRelease.flatMap((e) => e.consent_records).sort(), [...granted.consent_records].sort());
  assert.equal(firstRelease.length, 1, 'one entry for the decision, not one per policy line');
  assert.match(firstRelease[0].rule, /^svc-a\.policy:\d+,\d+$/, 'the deciding rules, file:line,line');
  const statute = lines.find((e) => e.type === 'release.permit' && e.basis?.startsWith('statute:'));
  assert.ok(statute.attributes.includes('resident_district'));
  assert.match(statute.basis, /e2e Act, Art\. 1/);
  const refused = lines.find((e) => e.type === 'release.deny' && e.reason === 'refused');
  assert.ok(refused.attributes.includes('family_name'), 'a refusal is logged as a deny with its reason');

  // the entries of the last answer, found by its release id, carry every claim it held
  const named = cli(['audit', 'query', '--store', store.dir, '--release', releaseId, '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  assert.ok(named.length > 0, `entries of release ${releaseId}`);
  assert.ok(named.every((e) => e.request_id === releaseId && e.endpoint === 'userinfo'));
  const released = new Set(named.filter((e) => e.type === 'release.permit').flatMap((e) => e.attributes));
  for (const k of Object.keys(body)) if (k !== 'sub') assert.ok(released.has(k), `${k} has its entry`);

  // the provisions record of today lists the service, the citizen and the items
  const day = new Date().toISOString().slice(0, 10);
  const next = new Date(Date.now() + 86_400_000).toISOString().slice(0, 10);
  const prov = JSON.parse(cli(['audit', 'provisions', '--store', store.dir, '--from', day, '--to', next, '--json']));
  // the record names the person (APPI Art. 29): one row for hanako at svc-a, her purposes together
  const rows = prov.provisions.filter((r) => r.service === 'svc-a' && r.citizen === hanakoId);
  assert.equal(rows.length, 1, JSON.stringify(prov));
  assert.ok(rows.length > 0, `svc-a / hanako in ${JSON.stringify(prov)}`);
  const provided = new Set(rows.flatMap((r) => r.attributes));
  for (const a of ['given_name', 'email', 'resident_district']) assert.ok(provided.has(a), `${a} provided`);
  assert.ok(rows.reduce((n, r) => n + r.count, 0) >= 3);
  assert.ok(rows.flatMap((r) => r.consent_records).length >= 2, 'the consents behind them');
  // who a pseudonym is: a look-up on the record
  const pseudonym = lines.find((e) => e.service === 'svc-a').citizen;
  const scope = JSON.parse(cli(['audit', 'resolve', pseudonym, '--store', store.dir, '--json']));
  assert.equal(scope.citizen, hanakoId);
  assert.equal(scope.service, 'svc-a');
  const bases = rows.flatMap((r) => r.bases);
  assert.ok(bases.some((b) => b === 'consent') && bases.some((b) => b.startsWith('statute:')));

  // and the chain is intact
  const rep = JSON.parse(cli(['audit', 'verify', '--store', store.dir, '--json']));
  assert.equal(rep.ok, true, JSON.stringify(rep));
  assert.ok(rep.entries >= lines.length);
});

test('the purpose a service states (OIDC4IDA `purpose`) is shown escaped, kept in the records and the log; outside 3-300 characters it is invalid_request', T, async () => {
  // too short, and too long (301 characters of 3 bytes each): the service hears invalid_request
  for (const purpose of ['ab', 'あ'.repeat(301)]) {
    const bad = await authRequest({ purpose });
    const res = await new Browser(issuer).get(bad.url);
    assert.equal(res.status, 302, `purpose of ${purpose.length} characters: a redirect`);
    const u = new URL(res.location);
    assert.equal(`${u.origin}${u.pathname}`, SVC_A.redirect);
    assert.equal(u.searchParams.get('error'), 'invalid_request');
    assert.match(u.searchParams.get('error_description'), /purpose/);
    assert.equal(u.searchParams.get('state'), bad.state);
  }

  // a new citizen, so that the screen asks; the service's words carry markup
  addUser(store, 'mei', 'mei-consent-Passw0rd!', { given_name: '芽衣', email: 'mei@example.jp' });
  const stated = '<script>alert(1)</script> 保育料を計算する & 通知を送る';
  const auth = await authRequest({ purpose: stated });
  const browser = new Browser(issuer);
  const page = await loginTo(browser, auth, { username: 'mei', password: 'mei-consent-Passw0rd!' });
  assert.ok(consentForm(page.text), 'mei is asked');
  assert.ok(!/<script/i.test(page.text), 'the markup is not markup');
  assert.ok(page.text.includes('&lt;script&gt;alert(1)&lt;/script&gt; 保育料を計算する &amp; 通知を送る'),
    `the stated purpose, escaped:\n${page.text.slice(0, 2000)}`);
  assert.ok(htmlDecode(page.text).includes(MSG_EN.consent_request_purpose), 'introduced as the service\'s words');
  const tokens = await redeem(callbackOf(await decide(browser, page, 'approve', ['email']), 'approve'), auth);
  assert.equal(tokens.claims().email, 'mei@example.jp');

  // every record of that screen keeps it, and so do its log entries
  const records = JSON.parse(cli(['consent', 'list', 'mei', '--service', 'svc-a', '--store', store.dir, '--json']));
  const list = Array.isArray(records) ? records : records.records;
  assert.ok(list.length >= 2, `mei's records: ${JSON.stringify(list)}`);
  assert.ok(list.every((r) => r.how?.request_purpose === stated), `request_purpose in ${JSON.stringify(list)}`);
  const lines = cli(['audit', 'query', '--store', store.dir, '--citizen', 'mei', '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const consentEntries = lines.filter((e) => e.type.startsWith('consent.'));
  assert.ok(consentEntries.length >= 1);
  assert.ok(consentEntries.every((e) => e.request_purpose === stated), 'the log keeps what the citizen was told');

  // without a stated purpose the screen says nothing of it
  const plain = await authRequest({ prompt: 'consent' });
  const again = await browser.get(plain.url);
  assert.ok(consentForm(again.text));
  assert.ok(!htmlDecode(again.text).includes(MSG_EN.consent_request_purpose));
});

test('the claims parameter asks nothing outside the scopes a client is registered for (Core §5.5: ignored)', T, async () => {
  // svc-b has svc-a's policy but may ask only for profile: email and phone_number are out of reach
  const redirect = 'http://127.0.0.1:9/b-cb';
  const b = addClient(store, { clientId: 'svc-b', name: 'Service B', redirectUris: [redirect], scope: 'openid profile' });
  const configB = await discover(issuer, 'svc-b', b.client_secret);
  const claims = JSON.stringify({ userinfo: { email: null, phone_number: null, given_name: null }, id_token: { email: null } });
  addUser(store, 'nao', 'nao-consent-Passw0rd!', { given_name: '奈緒', email: 'nao@example.jp', phone_number: '+81-242-11-1111' });
  const browser = new Browser(issuer);
  const flow = async (cfg, redirectUri, scope, tick) => {
    const verifier = client.randomPKCECodeVerifier();
    const state = client.randomState();
    const url = client.buildAuthorizationUrl(cfg, {
      redirect_uri: redirectUri, scope, claims, state, ui_locales: 'en',
      code_challenge: await client.calculatePKCECodeChallenge(verifier), code_challenge_method: 'S256',
    });
    let page = await browser.get(url);
    if (loginForm(page.text)) page = (await browser.submit(page.url, loginForm(page.text), { username: 'nao', password: 'nao-consent-Passw0rd!' }));
    const offered = checkboxes(page.text).map((x) => x.label);
    const res = await decide(browser, page, 'approve', tick);
    assert.ok(res.status === 302 || res.status === 303, `a redirect, got ${res.status}`);
    const tokens = await client.authorizationCodeGrant(cfg, new URL(res.location), { pkceCodeVerifier: verifier, expectedState: state });
    return { offered, tokens, info: await client.fetchUserInfo(cfg, tokens.access_token, tokens.claims().sub) };
  };

  const got = await flow(configB, redirect, 'openid profile', ['given_name']);
  assert.deepEqual(got.offered, [MSG_EN['attr.given_name']], 'the screen offers only what the client may ask for');
  assert.equal(got.info.given_name, '奈緒');
  for (const a of ['email', 'phone_number']) assert.ok(!(a in got.info), `no ${a} in userinfo: ${JSON.stringify(got.info)}`);
  assert.ok(!('email' in got.tokens.claims()), 'no email in the ID token');
  const lines = cli(['audit', 'query', '--store', store.dir, '--citizen', 'nao', '--json'])
    .split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const decided = lines.filter((e) => e.service === 'svc-b' && e.type.startsWith('release.')).flatMap((e) => e.attributes);
  assert.ok(decided.includes('given_name'), `given_name decided: ${decided}`);
  for (const a of ['email', 'phone_number']) assert.ok(!decided.includes(a), `${a} not even decided: ${decided}`);

  // svc-a is registered for email and phone: the same claims request asks them, as before
  const a = await flow(config, SVC_A.redirect, 'openid profile', ['given_name', 'email']);
  assert.deepEqual(a.offered.sort(), [MSG_EN['attr.given_name'], MSG_EN['attr.email'], MSG_EN['attr.phone_number']].sort());
  assert.equal(a.info.email, 'nao@example.jp');
  assert.equal(a.tokens.claims().email, 'nao@example.jp');
});
