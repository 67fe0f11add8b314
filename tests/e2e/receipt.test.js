// End-to-end: the citizen's account page and signed consent receipts, with the
// real `civicid serve` (a fresh LMDB store, a policy and a config written here)
// driven by openid-client 6 (the service) and a cookie-keeping HTTP client (the
// citizen's browser through the real login and consent pages). Receipts are
// verified as anyone would: with the `jose` package against the server's /jwks.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh receipt.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';
import { createLocalJWKSet, createRemoteJWKSet, decodeProtectedHeader, jwtVerify } from 'jose';

import { Browser, addClient, addUser, cli, freshStore, htmlDecode, parseForms, startServer, submitLogin } from './lib/server.js';
import { authorizationRequest, codeGrant, discover } from './lib/flow.js';
import { verifyReceiptAudit } from './lib/tlog.js';

const T = { timeout: 120_000 };
const MSG_EN = JSON.parse(readFileSync(new URL('../../web/messages/en.json', import.meta.url), 'utf8'));
const MSG_JA = JSON.parse(readFileSync(new URL('../../web/messages/ja.json', import.meta.url), 'utf8'));
const TYP = 'consent-receipt+jwt';

const POLICY = `# e2e: receipts
service svc-r
name.ja 子育て支援（レシート試験）
name.en Childcare support (receipt e2e)
purpose fees
  text.ja 保育料を算定するため
  text.en To calculate your childcare fee
  basis consent
  retention 1y
  consent_valid 1y
  category 1
  permit given_name
  permit family_name
  permit email
`;

const CONFIG = `controller_name = Demo City of Aoi
controller_contact = Privacy Office, Aoi City Hall
controller_address = 1-1 Aoi, Demo City, Fukushima 965-0000
controller_email = privacy@city.example.jp
policy_url = https://city.example.jp/privacy
`;

const SVC = { clientId: 'svc-r', redirect: 'http://127.0.0.1:9/r-cb', scope: 'openid profile email' };
const HANAKO = { username: 'hanako', password: 'hanako-receipt-Passw0rd!', claims: { given_name: '花子', family_name: '山田', email: 'hanako@example.jp' } };
const TARO = { username: 'taro', password: 'taro-receipt-Passw0rd!', claims: { given_name: '太郎', email: 'taro@example.jp' } };

let store;
let server;
let config;
let configFile;
let hanako;
let receiptIds = [];
let hanakoSub;

before(async () => {
  store = freshStore('receipt');
  store.writePolicy('svc-r.policy', POLICY);
  configFile = store.writeConfig(CONFIG);
  for (const u of [HANAKO, TARO]) addUser(store, u.username, u.password, u.claims);
  const out = addClient(store, { clientId: SVC.clientId, name: 'Receipt e2e (registration)', redirectUris: [SVC.redirect], scope: SVC.scope });
  server = await startServer(store, { configFile });
  config = await discover(server.issuer, SVC.clientId, out.client_secret);
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    store?.remove();
  }
});

/** Logs user in for the service through the real pages and decides the consent screen. */
async function signInAndDecide(browser, user, action, tick) {
  const req = await authorizationRequest(config, SVC.redirect, SVC.scope, { ui_locales: 'en' });
  const { response: page } = await submitLogin(browser, req.url, user.username, user.password);
  assert.equal(page.status, 200, `the consent page:\n${page.text.slice(0, 800)}`);
  const form = parseForms(page.text).find((f) => /\/consent$/.test(f.action));
  assert.ok(form, 'a consent form');
  const values = { action };
  const re = /<label class="check">\s*<input\b[^>]*name="([^"]*)"[^>]*>\s*([^<]*)<\/label>/gi;
  let m;
  while ((m = re.exec(page.text)) !== null) {
    const label = htmlDecode(m[2].trim());
    if (tick.some((a) => MSG_EN[`attr.${a}`] === label)) values[m[1]] = '1';
  }
  assert.equal(Object.keys(values).length, 1 + tick.length, 'a checkbox for each attribute to tick');
  const res = await browser.submit(page.url, form, values, { withSubmitButton: false });
  assert.ok(res.status === 302 || res.status === 303, `a redirect to the service, got ${res.status}`);
  return codeGrant(config, new URL(res.location), req);
}

/** The receipt links of an account page: record ids. */
function receiptLinks(html) {
  return [...html.matchAll(/href="\/account\/receipt\?id=([0-9a-f-]{36})&amp;lang=(?:en|ja)"/g)].map((m) => m[1]);
}

test('without a session the account page asks to sign in through a service (401, no redirect)', T, async () => {
  const anon = new Browser(server.issuer);
  for (const path of ['/account', '/account/receipt?id=00000000-0000-4000-8000-000000000000']) {
    const res = await anon.get(path);
    assert.equal(res.status, 401, path);
    assert.equal(res.location, null, `${path}: no redirect`);
    assert.match(res.headers.get('content-type'), /^text\/html/);
  }
});

test('after a consent flow the account page lists the consents, with a receipt link for each grant', T, async () => {
  hanako = new Browser(server.issuer);
  const tokens = await signInAndDecide(hanako, HANAKO, 'approve', ['given_name', 'email']);
  hanakoSub = tokens.claims().sub;
  const me = await client.fetchUserInfo(config, tokens.access_token, hanakoSub);
  assert.equal(me.email, HANAKO.claims.email);
  const res = await hanako.get('/account?lang=en');
  assert.equal(res.status, 200, res.text.slice(0, 800));
  assert.equal(res.headers.get('cache-control'), 'no-store');
  assert.ok(!/<script/i.test(res.text), 'no JavaScript');
  const text = htmlDecode(res.text);
  assert.ok(text.includes('Childcare support (receipt e2e)'), "the service's name");
  assert.ok(text.includes('To calculate your childcare fee'), 'the purpose text');
  for (const key of ['account_state_granted', 'account_state_refused', 'account_receipt', 'account_ev_release'])
    assert.ok(text.includes(MSG_EN[key]), `the page says "${MSG_EN[key]}"`);
  // two grants (given_name, email) and one refusal (family_name): two links
  receiptIds = receiptLinks(res.text);
  assert.equal(receiptIds.length, 2, `two receipt links in:\n${res.text}`);
  // the trail names the attributes released to the service
  assert.ok(text.includes(MSG_EN['attr.email']));
});

test('each receipt is a page saying its Kantara fields in plain words, in local time, with the JWT beside it', T, async () => {
  for (const [lang, msgs] of [['en', MSG_EN], ['ja', MSG_JA]]) {
    const res = await hanako.get(`/account/receipt?id=${receiptIds[0]}&lang=${lang}`);
    assert.equal(res.status, 200, res.text.slice(0, 500));
    assert.match(res.headers.get('content-type'), /^text\/html/);
    assert.equal(res.headers.get('cache-control'), 'no-store');
    assert.equal(res.headers.get('content-disposition'), null, 'a page, not a download');
    assert.ok(!/<script/i.test(res.text), 'no JavaScript');
    const facts = res.text.match(/<dl class="facts receipt">[\s\S]*?<\/dl>/)?.[0] ?? '';
    const plain = (html) => htmlDecode(html.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ');
    const text = plain(facts);
    // each fact: its term (a message of the page's language) and what it says, in words
    const shown = new Map([...facts.matchAll(/<dt>([\s\S]*?)<\/dt><dd[^>]*>([\s\S]*?)<\/dd>/g)].map((m) => [plain(m[1]).trim(), ` ${plain(m[2]).trim()} `]));
    const dd = (key) => {
      const found = key === 'receipt_policy_version' ? shown.get(msgs.receipt_policy) : shown.get(msgs[key]);
      assert.ok(found, `the receipt names "${msgs[key]}" in:\n${text}`);
      return key === 'receipt_policy_version' ? found.slice(found.indexOf(msgs[key]) + msgs[key].length) : found;
    };
    // who received it, for what, which attributes, on which basis
    assert.ok(dd('receipt_service').startsWith(` ${lang === 'en' ? 'Childcare support (receipt e2e)' : '子育て支援（レシート試験）'} (svc-r)`));
    assert.ok(dd('receipt_purpose').startsWith(` ${lang === 'en' ? 'To calculate your childcare fee' : '保育料を算定するため'}`));
    assert.ok(dd('receipt_attributes').startsWith(` ${msgs['attr.email']} ${msgs['attr.given_name']} `));
    assert.ok(dd('receipt_basis').startsWith(` ${msgs.receipt_basis_consent}`));
    // when (the city's zone, Asia/Tokyo, in the page's language) and how long
    const localTime = lang === 'en' ? /^ \d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d /u : /^ \d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d /u;
    assert.match(dd('receipt_given'), localTime);
    assert.ok(dd('receipt_given').includes(msgs.receipt_method_screen));
    assert.match(dd('receipt_lasts'), new RegExp(`^ ${msgs.receipt_until}${localTime.source.slice(1)}`, 'u'));
    assert.match(dd('receipt_retention'), /^ \D+ 365 /u);
    // the controller and its contact, the policy and its version, the receipt's id
    for (const v of ['Demo City of Aoi', 'Privacy Office, Aoi City Hall', '1-1 Aoi, Demo City, Fukushima 965-0000', 'privacy@city.example.jp'])
      assert.ok(dd('receipt_controller').includes(v), v);
    assert.ok(dd('receipt_policy').startsWith(' https://city.example.jp/privacy'));
    assert.match(dd('receipt_policy_version'), /^ [0-9a-f]{64} /);
    assert.ok(dd('receipt_you').startsWith(` ${hanakoSub} `), 'the subject the service knows');
    assert.match(dd('receipt_id'), /^ [0-9a-f-]{36} KI-CR-v1\.1\.0/);
    assert.ok(!/\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ/.test(text.replace(/datetime="[^"]*"/g, '')), 'no UTC ISO time shown');
    // the JWT download beside it
    assert.ok(res.text.includes(`href="/account/receipt?id=${receiptIds[0]}&amp;format=jwt&amp;lang=${lang}"`), 'the JWT link');
  }
});

test('the receipt downloads as a JWT that verifies against /jwks and names the service, purpose and attributes', T, async () => {
  const res = await hanako.get(`/account/receipt?id=${receiptIds[0]}&lang=en&format=jwt`);
  assert.equal(res.status, 200, res.text.slice(0, 500));
  assert.equal(res.headers.get('content-type'), 'application/jwt');
  assert.match(res.headers.get('content-disposition'), /^attachment; filename="[^"]+\.jwt"$/);
  assert.equal(res.headers.get('cache-control'), 'no-store');
  const jws = res.text.trim();
  assert.equal(decodeProtectedHeader(jws).typ, TYP);
  assert.equal(decodeProtectedHeader(jws).alg, 'ES256');
  const jwks = createRemoteJWKSet(new URL('/jwks', server.issuer));
  const { payload: c } = await jwtVerify(jws, jwks, { issuer: server.issuer, typ: TYP, algorithms: ['ES256'] });
  assert.equal(c.version, 'KI-CR-v1.1.0');
  assert.equal(c.jurisdiction, 'JP');
  assert.equal(c.collectionMethod, 'web:consent-screen');
  assert.equal(typeof c.consentTimestamp, 'number');
  assert.match(c.consentReceiptID, /^[0-9a-f-]{36}$/);
  assert.equal(c.jti, c.consentReceiptID);
  assert.equal(c.language, 'en');
  // the citizen as the service knows them: the ID token's (pairwise) sub
  assert.equal(c.piiPrincipalId, hanakoSub);
  assert.equal(c.piiControllers[0].piiController, 'Demo City of Aoi');
  assert.equal(c.piiControllers[0].email, 'privacy@city.example.jp');
  assert.equal(c.policyUrl, 'https://city.example.jp/privacy');
  assert.equal(c.services.length, 1);
  assert.equal(c.services[0].client_id, SVC.clientId);
  assert.equal(c.services[0].service, 'Childcare support (receipt e2e) (svc-r)');
  const p = c.services[0].purposes[0];
  assert.equal(p.purpose, 'To calculate your childcare fee');
  assert.equal(p.consentType, 'EXPLICIT');
  assert.deepEqual(p.purposeCategory, ['1 - Core Function'], "the policy's category");
  // the ticked attributes, not the refused one
  assert.deepEqual(p.piiCategory, ['email', 'given_name']);
  assert.equal(p.thirdPartyDisclosure, true);
  assert.equal(c.sensitive, false);
  assert.deepEqual(c.spiCat, []);
  assert.equal(c.purpose_id, 'fees');
  assert.equal(c.purpose_text_current, true);
  assert.match(c.expires_at, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
  // both links name one decision, hence one receipt
  const other = await hanako.get(`/account/receipt?id=${receiptIds[1]}&format=jwt`);
  const { payload: c2 } = await jwtVerify(other.text.trim(), jwks, { issuer: server.issuer, typ: TYP });
  assert.equal(c2.consentReceiptID, c.consentReceiptID);
  assert.deepEqual(c.consent_records.slice().sort(), receiptIds.slice().sort());
  // the log entry of the decision, proved offline with the audit vkeys alone
  const vk = await (await fetch(new URL('/.well-known/civicid-audit', server.issuer))).json();
  const entry = verifyReceiptAudit(c.audit, vk.vkeys);
  assert.equal(entry.type, 'consent.granted');
  assert.ok(entry.consent_records.includes(c.consentReceiptID));
  assert.equal(typeof entry.citizen, 'string');
  const forged = structuredClone(c.audit);
  forged.entry = forged.entry.replace('consent.granted', 'consent.refused');
  assert.throws(() => verifyReceiptAudit(forged, vk.vkeys), /leaf_hash/);
  const wrongPath = { ...c.audit, proof: c.audit.proof.map(() => '00'.repeat(32)) };
  if (wrongPath.proof.length > 0) assert.throws(() => verifyReceiptAudit(wrongPath, vk.vkeys), /inclusion path/);
  assert.throws(() => verifyReceiptAudit(c.audit, []), /vkeys/);
  // the page says the entry's seq
  const page = await hanako.get(`/account/receipt?id=${receiptIds[0]}&lang=en`);
  assert.ok(page.text.includes(`<code class="audit-seq">${c.audit.seq}</code>`), 'the seq on the page');
});

test("another citizen's session cannot fetch the receipt; malformed ids are refused", T, async () => {
  const taro = new Browser(server.issuer, { localAddress: '127.0.0.3' });
  await signInAndDecide(taro, TARO, 'deny', []);
  const own = await taro.get('/account?lang=en');
  assert.equal(own.status, 200);
  // the page shows labels, never attribute names: hanako's grants would show as "granted"
  assert.ok(!htmlDecode(own.text).includes(MSG_EN.account_state_granted), 'none of hanako');
  assert.deepEqual(receiptLinks(own.text), [], 'taro refused everything: no receipt link');
  for (const format of ['', '&format=jwt']) {
    const res = await taro.get(`/account/receipt?id=${receiptIds[0]}${format}`);
    assert.equal(res.status, 404);
    assert.notEqual(res.headers.get('content-type'), 'application/jwt');
  }
  for (const id of ['x', '..%2F..%2Fetc%2Fpasswd', `${receiptIds[0]}0`, receiptIds[0].toUpperCase()]) {
    const bad = await hanako.get(`/account/receipt?id=${id}`);
    assert.equal(bad.status, 404, id);
  }
});

test('`civicid consent receipt ID` prints a JWT that verifies against /jwks', T, async () => {
  const out = cli(['consent', 'receipt', receiptIds[0], '--store', store.dir, '--config', configFile,
    '--policies', store.policies, '--issuer', server.issuer]);
  const jws = out.trim();
  assert.match(jws, /^[\w-]+\.[\w-]+\.[\w-]+$/);
  const res = await fetch(new URL('/jwks', server.issuer));
  const jwks = createLocalJWKSet(await res.json());
  const { payload: c } = await jwtVerify(jws, jwks, { issuer: server.issuer, typ: TYP });
  assert.ok(receiptIds.includes(c.consentReceiptID));
  assert.equal(c.services[0].client_id, SVC.clientId);
  assert.deepEqual(c.services[0].purposes[0].piiCategory, ['email', 'given_name']);
  // the receipt names the citizen: the operator's read is on the record
  const reads = cli(['audit', 'query', '--store', store.dir, '--citizen', HANAKO.username,
    '--type', 'operator.viewed', '--json']).trim().split('\n').map((l) => JSON.parse(l));
  assert.equal(reads.at(-1).ext.command, 'consent receipt');
  assert.equal(reads.at(-1).ext.rows, '1');
});

test('`civicid consent receipt` refuses a refusal, a malformed id and a config without the controller', T, async () => {
  const records = JSON.parse(cli(['consent', 'list', HANAKO.username, '--store', store.dir, '--json']));
  const refused = records.find((r) => r.state === 'refused');
  assert.ok(refused, `hanako refused family_name: ${JSON.stringify(records)}`);
  const common = ['--store', store.dir, '--policies', store.policies, '--issuer', server.issuer];
  assert.throws(() => cli(['consent', 'receipt', refused.id, '--config', configFile, ...common]),
    /exit 1[\s\S]*only a consent given or withdrawn has a receipt/);
  assert.throws(() => cli(['consent', 'receipt', 'not-a-record', '--config', configFile, ...common]),
    /exit 2[\s\S]*is not a record id/);
  assert.throws(() => cli(['consent', 'receipt', receiptIds[0], ...common]),
    /exit 1[\s\S]*set controller_name/);
});

test('a withdrawal on the account page yields its receipt: linked, a page, a JWT proving the log entry', T, async () => {
  const page = await hanako.get('/account?lang=en');
  const form = parseForms(page.text).find(
    (f) => f.action === '/account/consent' && f.submit?.action === 'withdraw' &&
      f.fields.service === SVC.clientId && f.fields.attribute === 'email',
  );
  assert.ok(form, `a withdraw form for email in:\n${page.text}`);
  const res = await hanako.submit(page.url, form);
  assert.equal(res.status, 303, res.text.slice(0, 500));
  const shown = await hanako.get(res.location);
  assert.equal(shown.status, 200);
  const link = /<a class="withdrawal-receipt" href="([^"]+)">([^<]+)<\/a>/.exec(shown.text);
  assert.ok(link, `a link to the withdrawal's receipt in:\n${shown.text}`);
  assert.equal(htmlDecode(link[2]), MSG_EN.account_notice_receipt);
  const href = htmlDecode(link[1]);
  const id = new URL(href, server.issuer).searchParams.get('id');
  const receipt = await hanako.get(href);
  assert.equal(receipt.status, 200, receipt.text.slice(0, 500));
  const text = htmlDecode(receipt.text);
  assert.ok(text.includes(MSG_EN.receipt_withdrawn_title), 'the page says it is a withdrawal');
  assert.ok(text.includes(MSG_EN.receipt_withdrawn_at));
  assert.ok(!text.includes(MSG_EN.receipt_lasts), 'a withdrawal lasts nothing');
  assert.ok(text.includes(MSG_EN['attr.email']));
  const jwt = await hanako.get(`/account/receipt?id=${id}&format=jwt`);
  const jwks = createRemoteJWKSet(new URL('/jwks', server.issuer));
  const { payload: c } = await jwtVerify(jwt.text.trim(), jwks, { issuer: server.issuer, typ: TYP });
  assert.equal(c.consent_state, 'withdrawn');
  assert.equal(c.consentReceiptID, id);
  assert.equal(c.collectionMethod, 'web:account');
  assert.equal(c.expires_at, null);
  assert.deepEqual(c.services[0].purposes[0].piiCategory, ['email']);
  const vk = await (await fetch(new URL('/.well-known/civicid-audit', server.issuer))).json();
  const entry = verifyReceiptAudit(c.audit, vk.vkeys);
  assert.equal(entry.type, 'consent.withdrawn');
  assert.deepEqual(entry.consent_records, [id]);
  assert.ok(text.includes(`${c.audit.seq}`));
  // the grant's receipt stays what it was
  const grant = await hanako.get(`/account/receipt?id=${receiptIds[0]}&format=jwt`);
  const { payload: g } = await jwtVerify(grant.text.trim(), jwks, { issuer: server.issuer, typ: TYP });
  assert.equal(g.consent_state, 'granted');
});
