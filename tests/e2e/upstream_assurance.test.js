// End-to-end: assurance level 3 and verified attributes through an upstream
// (issue 15). node-oidc-provider (upstream/nodeop.mjs) stands in for the
// national card service: its ID token carries an acr, an amr and OIDC for
// Identity Assurance verified_claims. The service behind civicid is
// openid-client; its policy asks level 3 for the birth date and a verified
// address. A second service asks consent for a verified address, and
// headless Chromium reads the consent screen's "verified by" mark.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import { Browser, addClient, addUser, cli, freshStore, loginAndGetCallback, parseForms, startServer, submitLogin } from './lib/server.js';
import { authorizationRequest, codeGrant, discover } from './lib/flow.js';
import { decodeJwt } from './lib/jwt.js';
import { PASSWORD, startUpstream } from './upstream/nodeop.mjs';

const T = { timeout: 120_000 };
const CHROMIUM = process.env.CIVICID_CHROMIUM || '/usr/bin/chromium';
const RP = { clientId: 'rp-ida', redirect: 'http://127.0.0.1:9/cb' };
const RP_CONSENT = { clientId: 'rp-ida-consent', redirect: 'http://127.0.0.1:9/cb2' };
const HANAKO = { username: 'hanako', password: 'hanako-ida-Passw0rd!' };
const FRAMEWORK = 'jp_my_number_card';
// what the card service says it checked, for each of its citizens
const verified = (id) => ({
  verification: {
    trust_framework: FRAMEWORK,
    time: '2026-04-01T09:00:00Z',
    evidence: [
      {
        type: 'electronic_record',
        check_details: [{ check_method: 'kbv', organization: 'jpki', txn: `txn-${id}`, time: '2026-04-01T08:59:00Z' }],
        time: '2026-04-01T08:59:30Z',
        record: { type: 'my_number_card', personal_number: 'never-kept' },
      },
      { type: 'id_document', method: 'pipp' }, // a draft's type: no RP of the final spec reads it
    ],
  },
  claims: { address: { locality: `Aizuwakamatsu-${id}`, country: 'JP' } },
});
const POLICY = [
  `service ${RP.clientId}`,
  'name.ja 図書館',
  'name.en Library',
  'purpose lending',
  '  text.ja 貸出のため',
  '  text.en For lending',
  '  basis statute e2e library act, art. 1',
  '  retention 1y',
  '  permit given_name',
  '  permit birthdate level=3',
  '  permit address verified',
  '',
].join('\n');
// the second service: the citizen's consent, for a verified address and a plain given name
const CONSENT_POLICY = [
  `service ${RP_CONSENT.clientId}`,
  'name.ja 証明書の郵送',
  'name.en Certificates by post',
  'purpose post',
  '  text.ja 証明書を郵送するため',
  '  text.en To post your certificate',
  '  basis consent',
  '  retention 1y',
  '  consent_valid 1y',
  '  permit given_name',
  '  permit address verified',
  '',
].join('\n');
let store, server, up, upBasic, config, configConsent;

// the service's request through civicid's "Log in with card" and the upstream's form, back to the service
async function viaCard(login, { acr = '', amr = '', params = {}, scope = 'openid profile address', idp = 'card', upstream = up, browser = new Browser(server.issuer) } = {}) {
  const req = await authorizationRequest(config, RP.redirect, scope, params);
  const page = await browser.get(req.url);
  assert.equal(page.status, 200, page.text.slice(0, 300));
  const form = parseForms(page.text).find((f) => /\/upstream\/start$/.test(f.action) && f.fields.idp === idp);
  const start = await browser.submit(page.url, form);
  assert.equal(start.status, 303, start.text.slice(0, 300));
  const ub = new Browser(upstream.issuer);
  const loginPage = await ub.follow(start.location);
  const uform = parseForms(loginPage.text)[0];
  const back = await ub.follow(new URL(uform.action, loginPage.url).href, { method: 'POST', form: { login, password: PASSWORD, acr, amr } });
  assert.ok(back.left?.startsWith(`${server.issuer}/upstream/callback`), `back to civicid: ${back.status} ${back.text.slice(0, 300)}`);
  const done = await browser.get(back.left);
  assert.equal(done.status, 303, done.text.slice(0, 300));
  const callback = new URL(done.location);
  return { req, callback };
}

// the card provider's registration: level 3, its claims imported under the card's framework
function addCard() {
  cli(['idp', 'add', 'card', '--store', store.dir, '--issuer', up.issuer, '--client-id', 'civicid',
    '--client-secret-stdin', '--scope', 'openid profile verified', '--acr-map', 'urn:card:high=3',
    '--amr-map', 'hwk=3', '--amr-pass', '--claim-map', 'given_name=given_name',
    '--claim-map', 'birthdate=birthdate', '--claim-map', 'address=address', '--allow-create',
    '--trust-framework', FRAMEWORK], { input: 'civicid-upstream-secret' });
}

before(async () => {
  store = freshStore('upstream-ida');
  // a password citizen who typed an address and a birth date of their own
  addUser(store, HANAKO.username, HANAKO.password, { given_name: 'Hanako', birthdate: '1988-04-12', address: '{"locality":"typed"}' });
  const rp = addClient(store, { clientId: RP.clientId, name: 'Library (e2e)', redirectUris: [RP.redirect], scope: 'openid profile address' });
  store.writePolicy('library.policy', POLICY);
  const rpConsent = addClient(store, { clientId: RP_CONSENT.clientId, name: 'Certificates (e2e)', redirectUris: [RP_CONSENT.redirect], scope: 'openid profile address' });
  store.writePolicy('certificates.policy', CONSENT_POLICY);
  server = await startServer(store);
  up = await startUpstream({ clientId: 'civicid', secret: 'civicid-upstream-secret', redirectUri: `${server.issuer}/upstream/callback`, idTokenClaims: true, verified });
  addCard();
  // a neighbour whose token endpoint takes client_secret_basic only, with a
  // secret that RFC 6749 §2.3.1's form-encoding changes
  upBasic = await startUpstream({ clientId: 'civicid:b', secret: 'basic-secret/+:%&', redirectUri: `${server.issuer}/upstream/callback`, tokenAuth: 'client_secret_basic' });
  cli(['idp', 'add', 'neighbour', '--store', store.dir, '--issuer', upBasic.issuer, '--client-id', 'civicid:b',
    '--client-secret-stdin', '--scope', 'openid', '--allow-create'], { input: 'basic-secret/+:%&' });
  config = await discover(server.issuer, rp.client_id, rp.client_secret);
  configConsent = await discover(server.issuer, rpConsent.client_id, rpConsent.client_secret);
});

after(async () => {
  await up?.close();
  await upBasic?.close();
  await server?.stop();
  store?.remove?.();
});

test('a password session: no level-3 birth date, and a typed address does not pass for a verified one', T, async () => {
  const req = await authorizationRequest(config, RP.redirect, 'openid profile address');
  const callback = await loginAndGetCallback(new Browser(server.issuer), req.url, HANAKO.username, HANAKO.password);
  const tokens = await codeGrant(config, callback, req);
  const id = decodeJwt(tokens.id_token).payload;
  assert.equal(id.acr, 'urn:civicid:acr:password');
  const info = await client.fetchUserInfo(config, tokens.access_token, id.sub);
  assert.equal(info.given_name, 'Hanako');
  assert.equal(info.birthdate, undefined, 'level 3 needed');
  assert.equal(info.address, undefined, 'typed, not verified');
  assert.equal(info.verified_claims, undefined);
  // asked for level 3 outright: refused, never a code of a lower level
  const high = await authorizationRequest(config, RP.redirect, 'openid', { acr_values: 'urn:civicid:acr:high' });
  const refused = await loginAndGetCallback(new Browser(server.issuer), high.url, HANAKO.username, HANAKO.password);
  assert.equal(refused.searchParams.get('error'), 'unmet_authentication_requirements');
  assert.equal(refused.searchParams.get('code'), null);
});

test('a password session asked for level 3: the login page with the card, not an error', T, async () => {
  const browser = new Browser(server.issuer);
  const req = await authorizationRequest(config, RP.redirect, 'openid');
  const first = await loginAndGetCallback(browser, req.url, HANAKO.username, HANAKO.password);
  assert.ok(first.searchParams.get('code'), first.href);
  // silently: the citizen must log in through the card, which needs her
  const silent = await authorizationRequest(config, RP.redirect, 'openid', { acr_values: 'urn:civicid:acr:high', prompt: 'none' });
  const none = await browser.get(silent.url);
  assert.equal(none.status, 302, none.text?.slice(0, 300));
  assert.equal(new URL(none.location).searchParams.get('error'), 'login_required');
  // interactively: the login page, whose card button leads to level 3
  const { req: high, callback } = await viaCard('card-step-up-1', { acr: 'urn:card:high', amr: 'hwk pin', scope: 'openid', params: { acr_values: 'urn:civicid:acr:high' }, browser });
  const tokens = await codeGrant(config, callback, high);
  assert.equal(decodeJwt(tokens.id_token).payload.acr, 'urn:civicid:acr:high');
});

test('the card login is level 3: acr high, amr passed on, the birth date and the verified address released', T, async () => {
  const { req, callback } = await viaCard('card-ida-1', { acr: 'urn:card:high', amr: 'hwk pin' });
  const tokens = await codeGrant(config, callback, req);
  const id = decodeJwt(tokens.id_token).payload;
  assert.equal(id.acr, 'urn:civicid:acr:high', JSON.stringify(id));
  assert.deepEqual(id.amr, ['fed', 'hwk', 'pin']);
  const info = await client.fetchUserInfo(config, tokens.access_token, id.sub);
  assert.equal(info.birthdate, '1990-04-01');
  assert.equal(info.address, undefined, 'the verified address goes out in verified_claims only');
  assert.equal(info.verified_claims?.verification?.trust_framework, FRAMEWORK, JSON.stringify(info));
  assert.equal(info.verified_claims.verification.time, '2026-04-01T09:00:00Z');
  // OIDC4IDA 1.0's evidence element, reduced to what civicid keeps
  assert.deepEqual(info.verified_claims.verification.evidence, [{
    type: 'electronic_record',
    check_details: [{ check_method: 'kbv', organization: 'jpki', txn: 'txn-card-ida-1', time: '2026-04-01T08:59:00Z' }],
    time: '2026-04-01T08:59:30Z',
    record: { type: 'my_number_card' },
  }]);
  assert.deepEqual(info.verified_claims.claims, { address: { locality: 'Aizuwakamatsu-card-ida-1', country: 'JP' } });
  // the audit log says a verified attribute left, and whose word it was
  const entries = cli(['audit', 'query', '--store', store.dir, '--type', 'release.permit', '--json']);
  const list = entries.split('\n').filter(Boolean).map((l) => JSON.parse(l));
  const withSource = list.filter((e) => e.verified && e.attributes.includes('address'));
  assert.ok(withSource.length > 0, entries.slice(0, 2000));
  assert.equal(withSource[0].verified.issuer, up.issuer);
  assert.equal(withSource[0].verified.trust_framework, FRAMEWORK);
  assert.equal(withSource[0].level, 3);
});

test('the amr map alone raises the level; without either map the login is level 1', T, async () => {
  const byAmr = await viaCard('card-ida-2', { acr: 'urn:card:low', amr: 'hwk' });
  const t1 = await codeGrant(config, byAmr.callback, byAmr.req);
  assert.equal(decodeJwt(t1.id_token).payload.acr, 'urn:civicid:acr:high');
  const plain = await viaCard('card-ida-2', { acr: 'urn:card:low', amr: 'pwd' });
  const t2 = await codeGrant(config, plain.callback, plain.req);
  const id = decodeJwt(t2.id_token).payload;
  assert.equal(id.acr, 'urn:civicid:acr:password');
  assert.deepEqual(id.amr, ['fed', 'pwd']);
  const info = await client.fetchUserInfo(config, t2.access_token, id.sub);
  assert.equal(info.birthdate, undefined, 'level 3 needed');
  // the address is verified whatever the level of this login
  assert.equal(info.verified_claims?.verification?.trust_framework, FRAMEWORK);
});

test('the claims parameter asks for verified_claims in the ID token', T, async () => {
  const claims = JSON.stringify({ id_token: { verified_claims: { verification: { trust_framework: null }, claims: { address: null } } } });
  const { req, callback } = await viaCard('card-ida-3', { acr: 'urn:card:high', scope: 'openid', params: { claims } });
  const tokens = await codeGrant(config, callback, req);
  const id = decodeJwt(tokens.id_token).payload;
  assert.equal(id.verified_claims?.verification?.trust_framework, FRAMEWORK, JSON.stringify(id));
  assert.deepEqual(id.verified_claims.claims, { address: { locality: 'Aizuwakamatsu-card-ida-3', country: 'JP' } });
  assert.equal(id.birthdate, undefined, 'not asked');
});

test('discovery announces verified_claims while a registration names a trust framework, without a restart', T, async () => {
  const ida = ['verified_claims_supported', 'trust_frameworks_supported', 'claims_in_verified_claims_supported', 'evidence_supported'];
  // card is registered under the card's framework (neighbour under none)
  const before = (await discover(server.issuer, 'rp-ida', 'x')).serverMetadata();
  assert.deepEqual(before.trust_frameworks_supported, [FRAMEWORK]);
  // without it no registration names one: nothing announced
  cli(['idp', 'remove', 'card', '--store', store.dir]);
  try {
    const none = (await discover(server.issuer, 'rp-ida', 'x')).serverMetadata();
    for (const m of ida) assert.equal(none[m], undefined, m);
  } finally {
    addCard();
  }
  cli(['idp', 'add', 'register', '--store', store.dir, '--issuer', 'http://127.0.0.1:9', '--client-id', 'civicid',
    '--client-secret-stdin', '--scope', 'openid', '--trust-framework', 'jp_resident_register',
    '--claim-map', 'address=address', '--claim-map', 'name_kana=family_name'], { input: 'register-secret' });
  try {
    const meta = (await discover(server.issuer, 'rp-ida', 'x')).serverMetadata();
    assert.equal(meta.verified_claims_supported, true);
    assert.deepEqual(meta.trust_frameworks_supported, [FRAMEWORK, 'jp_resident_register'].sort());
    assert.deepEqual(meta.claims_in_verified_claims_supported, ['address', 'birthdate', 'family_name', 'given_name']);
    // the evidence's types are each upstream's choice, not known in advance: not announced
    assert.equal(meta.evidence_supported, undefined);
    assert.equal(meta.issuer, server.issuer);
    assert.equal(meta.claims_parameter_supported, true);
  } finally {
    cli(['idp', 'remove', 'register', '--store', store.dir]);
  }
  const after = await (await fetch(`${server.issuer}/.well-known/openid-configuration`)).json();
  assert.deepEqual(after.trust_frameworks_supported, [FRAMEWORK]);
});

test('the consent screen asks no consent for an attribute that needs a verified value the citizen lacks', T, async () => {
  // Hanako typed her address; the service's rule takes only a verified one
  const req = await authorizationRequest(configConsent, RP_CONSENT.redirect, 'openid profile address', { ui_locales: 'en' });
  const browser = new Browser(server.issuer);
  const { response } = await submitLogin(browser, req.url.href, HANAKO.username, HANAKO.password);
  const screen = response.status === 200 ? response : await browser.get(new URL(response.location, server.issuer).href);
  assert.equal(screen.status, 200, screen.text.slice(0, 300));
  assert.match(screen.text, /<input type="checkbox" name="a0" value="given_name">/);
  assert.doesNotMatch(screen.text, /value="address"/, 'no checkbox: the release would deny it');
  assert.match(screen.text, /<ul class="unavailable">\n<li>[^<]+ <span class="not-verified">not available: no verified value/);
});

test('in a browser: the consent screen marks the verified address with its upstream and trust framework, not the plain given name', T, async () => {
  cli(['idp', 'set', 'card', '--store', store.dir, '--label-ja', 'マイナンバーカード', '--label-en', 'My Number Card']);
  const chrome = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    const page = await chrome.newPage();
    const req = await authorizationRequest(configConsent, RP_CONSENT.redirect, 'openid profile address', { ui_locales: 'en' });
    await page.goto(req.url.href);
    await Promise.all([page.waitForURL((u) => u.origin === new URL(up.issuer).origin),
      page.click('form[action="/upstream/start"]:has(input[name="idp"][value="card"]) button[type="submit"]')]);
    await page.fill('input[name="login"]', 'card-ida-consent');
    await page.fill('input[name="password"]', PASSWORD);
    await page.fill('input[name="acr"]', 'urn:card:high');
    // civicid's callback answers with its consent screen
    await Promise.all([page.waitForURL((u) => u.origin === new URL(server.issuer).origin),
      page.evaluate(() => document.forms[0].submit())]);
    // the address is asked, and marked; the given name is asked, unmarked
    const address = page.locator('label.check:has(input[value="address"])');
    const given = page.locator('label.check:has(input[value="given_name"])');
    await address.waitFor();
    assert.ok(await address.locator('.verified').isVisible(), await page.content());
    assert.equal((await address.locator('.verified').textContent()).trim(), `verified by My Number Card (${FRAMEWORK})`);
    assert.equal(await given.count(), 1);
    assert.equal(await given.locator('.verified').count(), 0);
    // in Japanese, the same mark in the page's language
    await Promise.all([page.waitForNavigation(), page.click('form.lang button[value="ja"]')]);
    const addressJa = page.locator('label.check:has(input[value="address"]) .verified');
    await addressJa.waitFor();
    assert.equal((await addressJa.textContent()).trim(), `マイナンバーカードによる確認済み (${FRAMEWORK})`);
    assert.equal(await page.locator('label.check:has(input[value="given_name"]) .verified').count(), 0);
  } finally {
    await chrome.close();
  }
});

test('an upstream whose discovery offers only client_secret_basic gets the secret that way', T, async () => {
  const { req, callback } = await viaCard('neighbour-1', { idp: 'neighbour', upstream: upBasic, scope: 'openid' });
  const tokens = await codeGrant(config, callback, req);
  const id = decodeJwt(tokens.id_token).payload;
  assert.equal(id.acr, 'urn:civicid:acr:password');
  assert.deepEqual(id.amr, ['fed']);
});

test('the login page shows the upstream buttons with their ja/en labels, in their order', T, async () => {
  cli(['idp', 'add', 'aaa-city', '--store', store.dir, '--issuer', 'http://127.0.0.1:9', '--client-id', 'x',
    '--client-secret-stdin', '--scope', 'openid', '--label-en', 'Neighbouring city', '--order', '50'], { input: 'whatever-secret' });
  // by name alone aaa-city comes first; the order puts the card before it
  cli(['idp', 'set', 'card', '--store', store.dir, '--label-ja', 'マイナンバーカード', '--label-en', 'My Number Card', '--order', '10']);
  const buttons = async (lang) => {
    const req = await authorizationRequest(config, RP.redirect, 'openid', { ui_locales: lang });
    const page = await new Browser(server.issuer).get(req.url);
    assert.equal(page.status, 200);
    const forms = parseForms(page.text).filter((f) => /\/upstream\/start$/.test(f.action));
    const labels = [...page.text.matchAll(/<form method="post" action="\/upstream\/start"[\s\S]*?<button type="submit">([^<]*)<\/button>/g)].map((m) => m[1]);
    return { idps: forms.map((f) => f.fields.idp), labels };
  };
  const en = await buttons('en');
  assert.deepEqual(en.idps, ['card', 'aaa-city', 'neighbour']);
  assert.deepEqual(en.labels, ['Log in with My Number Card', 'Log in with Neighbouring city', 'Log in with neighbour']);
  const ja = await buttons('ja');
  assert.deepEqual(ja.idps, ['card', 'aaa-city', 'neighbour']);
  // no Japanese label for the city: its English one rather than its name
  assert.deepEqual(ja.labels, ['マイナンバーカードでログイン', 'Neighbouring cityでログイン', 'neighbourでログイン']);
  // a bad label or order is refused, and changes nothing
  assert.throws(() => cli(['idp', 'set', 'card', '--store', store.dir, '--order', '0']), /999/);
  assert.throws(() => cli(['idp', 'set', 'card', '--store', store.dir, '--label-en', 'x'.repeat(65)]), /exit 1/);
  assert.throws(() => cli(['idp', 'set', 'nobody', '--store', store.dir, '--order', '3']), /exit/);
  assert.deepEqual((await buttons('en')).labels, en.labels);
});
