// The privacy officer's console in a real browser: headless Chromium (Debian's
// chromium package) driven by playwright-core, against the real `civicid
// serve`. The log holds what a real sign-in writes (release entries of the
// id_token and a userinfo call) and a consent given on paper through the CLI.
// A citizen's credentials do not open the console; the officer logs in with
// password and TOTP, searches the log, opens an entry, verifies the chain,
// downloads a CSV export and sees the services chart. No page may raise a
// JavaScript error or a CSP violation.
//
// Run: CIVICID_BIN=build/dev/server/civicid bash tests/e2e/run.sh console.test.js
// CIVICID_E2E_SCREENSHOTS=DIR also saves a screenshot of every console page.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import {
  addClient,
  addUser,
  cli,
  freshStore,
  startServer,
  statutePolicy,
} from './lib/server.js';
import { signIn, totp } from './lib/flow.js';

// Debian's chromium; CIVICID_CHROMIUM names another (a missing one fails the suite)
const CHROMIUM = process.env.CIVICID_CHROMIUM || '/usr/bin/chromium';
const SERVICE = 'console-rp';
const PAPER_SERVICE = 'paper-rp';
const REDIRECT = 'http://127.0.0.1:9/console-cb';
const CLAIMS = { given_name: '花子', family_name: '山田', email: 'hanako@example.jp' };
const CITIZEN = { name: 'hanako', password: 'hanako-console-Passw0rd!' };
const OFFICER = { name: 'alice', password: 'alice-officer-Passw0rd!' };
const SHOTS = process.env.CIVICID_E2E_SCREENSHOTS;

const PAPER_POLICY = [
  `service ${PAPER_SERVICE}`,
  'name.ja 紙の同意',
  'name.en Paper consent',
  'purpose news',
  '  text.ja お知らせを送るため',
  '  text.en To send the newsletter',
  '  basis consent',
  '  consent_valid 1y',
  '  retention 1y',
  '  permit email',
  '',
].join('\n');

let store;
let server;
let browser;
let officerSecret;
// what must never be shown: filled in before(), checked on every console page
const secrets = {};

/** A new browser page that records JavaScript errors and console errors (CSP violations). */
async function newPage() {
  const context = await browser.newContext({ acceptDownloads: true, viewport: { width: 1280, height: 900 } });
  const page = await context.newPage();
  const errors = [];
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  // a refused login is a 401 document and Chromium asks for /favicon.ico on
  // its own: those "Failed to load resource" lines are no fault of a page;
  // a page's own stylesheet or image that fails is (see 'response' below)
  page.on('console', (m) => {
    if (m.type() === 'error' && !m.text().startsWith('Failed to load resource'))
      errors.push(`console: ${m.text()}`);
  });
  page.on('response', (r) => {
    const type = r.request().resourceType();
    if (type !== 'document' && r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico')
      errors.push(`${type} ${r.url()}: ${r.status()}`);
  });
  page.on('requestfailed', (r) => {
    if (r.resourceType() !== 'document') errors.push(`${r.resourceType()} ${r.url()}: ${r.failure()?.errorText}`);
  });
  return { context, page, errors };
}

async function shot(page, name) {
  if (SHOTS) await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}

/**
 * Clicks selector and waits until the page it leads to has loaded, stylesheet
 * included. waitForLoadState alone would answer at once for the page being
 * left, and the next step would then abort the new page's requests.
 */
async function clickToPage(page, selector) {
  const navigated = page.waitForEvent('framenavigated', (f) => f === page.mainFrame());
  await page.click(selector);
  await navigated;
  await page.waitForLoadState('load');
}

/** Fills and sends the console's login form. */
async function consoleLogin(page, name, password, code) {
  await page.goto(server.url('/officer/login').href);
  await page.fill('#name', name);
  await page.fill('#password', password);
  await page.fill('#code', code);
  await clickToPage(page, 'form[action="/officer/login"] button[type="submit"]');
}

/** The log table's rows as objects keyed by column: seq, time, type, actor, citizen, service, ... */
async function logRows(page) {
  return page.$$eval('table.log tbody tr', (trs) =>
    trs.map((tr) => {
      const td = [...tr.querySelectorAll('td')].map((c) => c.textContent.trim());
      return { seq: td[0], time: td[1], type: td[2], actor: td[3], citizen: td[4], service: td[5], purpose: td[6], attributes: td[7], basis: td[8] };
    }),
  );
}

/** Asserts that no value of secrets is in any text of seen ({where: text}). */
function assertNoSecret(seen) {
  assert.equal(Object.keys(secrets).length >= 6, true, 'the secrets to look for');
  for (const [where, text] of Object.entries(seen))
    for (const [what, value] of Object.entries(secrets)) {
      assert.ok(typeof value === 'string' && value.length >= 12, `${what} is a secret worth looking for`);
      assert.equal(text.includes(value), false, `the ${what} is in ${where}`);
    }
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed (deploy/install-deps.sh test)`);
  store = freshStore('console');
  store.writePolicy(`${SERVICE}.policy`, statutePolicy(SERVICE, Object.keys(CLAIMS)));
  store.writePolicy(`${PAPER_SERVICE}.policy`, PAPER_POLICY);
  addUser(store, CITIZEN.name, CITIZEN.password, CLAIMS);
  const out = cli(['audit', 'officer', 'add', OFFICER.name, '--store', store.dir, '--password-stdin'], { input: OFFICER.password });
  const m = /^secret:\s*([A-Z2-7]+=*)\s*$/m.exec(out);
  assert.ok(m, `civicid audit officer add prints the secret:\n${out}`);
  officerSecret = m[1];
  assert.match(out, /otpauth:\/\/totp\//);

  const { client_secret: secret } = addClient(store, {
    clientId: SERVICE,
    name: 'Console test service',
    redirectUris: [REDIRECT],
    scope: 'openid profile email',
  });
  server = await startServer(store);
  const { config, tokens } = await signIn(server.issuer, {
    clientId: SERVICE,
    secret,
    redirectUri: REDIRECT,
    username: CITIZEN.name,
    password: CITIZEN.password,
  });
  const info = await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
  assert.equal(info.email, CLAIMS.email);
  Object.assign(secrets, {
    client_secret: secret,
    'citizen password': CITIZEN.password,
    'officer password': OFFICER.password,
    'officer TOTP secret': officerSecret,
    'access token': tokens.access_token,
    'ID token': tokens.id_token,
  });
  if (tokens.refresh_token) secrets['refresh token'] = tokens.refresh_token;
  cli(['consent', 'grant', CITIZEN.name, '--store', store.dir, '--service', PAPER_SERVICE, '--purpose', 'news',
    '--attribute', 'email', '--policies', store.policies]);
  browser = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  try {
    await browser?.close();
    if (server) await server.stop();
  } finally {
    store?.remove();
  }
});

test("a citizen's username and password do not open the console", async () => {
  const { context, page, errors } = await newPage();
  await consoleLogin(page, CITIZEN.name, CITIZEN.password, '000000');
  assert.equal(new URL(page.url()).pathname, '/officer/login');
  assert.equal(await page.locator('p.error[role="alert"]').count(), 1);
  assert.equal((await context.cookies()).some((c) => c.name === 'civicid_officer'), false);
  // and the console itself sends the browser back to the login form
  const res = await page.goto(server.url('/officer').href);
  assert.equal(new URL(page.url()).pathname, '/officer/login');
  assert.equal(res.status(), 200);
  await shot(page, 'officer_login');
  assert.deepEqual(errors, []);
  await context.close();
});

test('the officer logs in with password and TOTP and works through the console', async () => {
  const { context, page, errors } = await newPage();

  // log in; the cookie is the console's, HttpOnly and strict
  await consoleLogin(page, OFFICER.name, OFFICER.password, totp(officerSecret));
  assert.equal(new URL(page.url()).pathname, '/officer', `logged in: ${await page.textContent('main')}`);
  const cookie = (await context.cookies()).find((c) => c.name === 'civicid_officer');
  assert.ok(cookie, 'the console session cookie');
  assert.equal(cookie.httpOnly, true);
  assert.equal(cookie.sameSite, 'Strict');
  assert.equal(cookie.path, '/');

  // the log: the sign-in's releases and the paper consent, newest first
  let rows = await logRows(page);
  const types = rows.map((r) => r.type);
  assert.ok(types.includes('consent.granted'), `consent.granted in ${types}`);
  assert.ok(types.includes('release.permit'), `release.permit in ${types}`);
  assert.deepEqual(rows.map((r) => Number(r.seq)), [...rows.map((r) => Number(r.seq))].sort((a, b) => b - a));
  const granted = rows.find((r) => r.type === 'consent.granted');
  assert.equal(granted.service, PAPER_SERVICE);
  assert.equal(granted.actor, 'operator');
  assert.match(granted.attributes, /email/);
  // the citizen by the log's pseudonym alone (who it is takes a logged look-up), the time
  // local and in the page's language
  assert.match(granted.citizen, /^ps_[0-9a-f]{32}$/, granted.citizen);
  // Chromium asks for en-US (Accept-Language); the header's switch changes it and is remembered
  const lang = await page.getAttribute('html', 'lang');
  const other = lang === 'en' ? 'ja' : 'en';
  const timeIn = { ja: /^\d{4}年\d{1,2}月\d{1,2}日 \d{2}:\d{2}$/, en: /^\d{1,2} [A-Z][a-z]+ \d{4}, \d{2}:\d{2}$/ };
  assert.match(granted.time, timeIn[lang], granted.time);
  await clickToPage(page, `ul.lang a[hreflang="${other}"]`);
  assert.equal(await page.getAttribute('html', 'lang'), other);
  const switched = (await logRows(page)).find((r) => r.seq === granted.seq);
  assert.match(switched.time, timeIn[other], switched.time);
  await page.goto(server.url('/officer').href);
  assert.equal(await page.getAttribute('html', 'lang'), other, 'the choice is remembered');
  await clickToPage(page, `ul.lang a[hreflang="${lang}"]`);
  assert.equal(await page.getAttribute('html', 'lang'), lang);
  assert.ok(rows.some((r) => r.type === 'release.permit' && r.service === SERVICE && /email/.test(r.attributes)));
  await shot(page, 'officer_log');

  // filter by service: only that service's entries, and the form keeps the value
  await page.fill('#service', SERVICE);
  await clickToPage(page, 'form.filter button[type="submit"]');
  assert.equal(new URL(page.url()).searchParams.get('service'), SERVICE);
  assert.equal(await page.inputValue('#service'), SERVICE);
  rows = await logRows(page);
  assert.ok(rows.length > 0);
  assert.ok(rows.every((r) => r.service === SERVICE), JSON.stringify(rows));
  assert.ok(rows.every((r) => r.type.startsWith('release.')));

  // one release entry: its fields, the statute it rests on and the rule that decided it
  const permit = rows.find((r) => r.type === 'release.permit');
  await clickToPage(page, `table.log a[href="/officer/entry?seq=${permit.seq}"]`);
  assert.equal(new URL(page.url()).searchParams.get('seq'), permit.seq);
  const fields = Object.fromEntries(
    await page.$$eval('table.fields tr', (trs) => trs.map((tr) => [tr.querySelector('th').textContent, tr.querySelector('td').textContent])),
  );
  assert.equal(fields.type, 'release.permit');
  assert.equal(fields.service, SERVICE);
  assert.match(fields.basis, /^statute:e2e test act, art\. 1$/);
  assert.match(fields.rule, new RegExp(`^${SERVICE}\\.policy:\\d+(,\\d+)*$`));
  assert.match(await page.textContent('table.purpose'), /For the end-to-end test/);
  assert.match(await page.textContent('pre.rule'), /permit (given_name|family_name|email)/);
  await shot(page, 'officer_entry');

  // who the entry's pseudonym is: only with a reason, and on the record before the answer
  assert.match(fields.citizen, /^ps_[0-9a-f]{32}$/);
  assert.equal(await page.textContent('main').then((t) => t.includes(CITIZEN.name)), false,
    'the entry page does not name the citizen');
  await page.fill('form.resolve input[name="reason"]', '開示請求 2026-77');
  await clickToPage(page, 'form.resolve button[type="submit"]');
  assert.equal(new URL(page.url()).pathname, '/officer/resolve');
  const resolved = await page.textContent('table.fields');
  assert.match(resolved, new RegExp(CITIZEN.name), resolved);
  assert.match(resolved, new RegExp(SERVICE));
  assert.match(resolved, /開示請求 2026-77/);
  await shot(page, 'officer_resolve');
  await page.goto(server.url('/officer?type=officer.resolved').href);
  const lookups = await logRows(page);
  assert.equal(lookups.length, 1, JSON.stringify(lookups));
  assert.equal(lookups[0].actor, `officer:${OFFICER.name}`);
  assert.equal(lookups[0].citizen, fields.citizen);

  // the consent entry: its consent record, given on paper
  await page.goto(server.url(`/officer/entry?seq=${granted.seq}`).href);
  const consent = await page.textContent('table.consent');
  assert.match(consent, /granted/);
  assert.match(consent, /cli:paper/);
  assert.match(consent, new RegExp(PAPER_SERVICE));
  assert.match(await page.textContent('table.purpose'), /To send the newsletter/);

  // verify the chain
  await page.goto(server.url('/officer').href);
  await clickToPage(page, 'form[action="/officer/verify"] button[type="submit"]');
  assert.equal(new URL(page.url()).pathname, '/officer/verify');
  assert.equal(await page.locator('p.verify-ok').count(), 1, await page.textContent('main'));
  assert.equal(await page.locator('p.error').count(), 0);
  await shot(page, 'officer_verify');

  // export the service's slice as CSV
  await page.goto(server.url(`/officer?service=${SERVICE}`).href);
  const shown = await logRows(page);
  const [download] = await Promise.all([
    page.waitForEvent('download'),
    page.click('form[action="/officer/export"] button[value="csv"]'),
  ]);
  assert.equal(download.suggestedFilename(), 'civicid-audit.csv');
  const raw = readFileSync(await download.path(), 'utf8');
  // a UTF-8 byte order mark first, so that Japanese Excel reads the names
  assert.ok(raw.startsWith('\uFEFF'), 'the CSV starts with a UTF-8 BOM');
  const csv = raw.slice(1).trim().split(/\r?\n/);
  assert.match(csv[0], /^seq,time,type,actor,citizen,service,purpose,attributes,decision,reason,basis,rule,/);
  assert.equal(csv.length - 1, shown.length, 'one row per entry on the page');
  for (const line of csv.slice(1)) assert.ok(line.split(',')[5] === SERVICE, line);
  assert.deepEqual(csv.slice(1).map((l) => l.split(',')[0]).sort(), shown.map((r) => r.seq).sort());

  // the export itself is on the record, in the officer's name
  await page.goto(server.url('/officer?type=audit.exported').href);
  rows = await logRows(page);
  assert.equal(rows.length, 1);
  assert.equal(rows[0].actor, `officer:${OFFICER.name}`);

  // the services page: the service's chart has bars
  await page.goto(server.url('/officer/services').href);
  const chart = page.locator(`svg.chart[aria-label="${SERVICE}"]`);
  assert.equal(await chart.count(), 1);
  assert.ok((await chart.locator('rect.bar-permit').count()) >= 1, 'a release bar');
  const box = await chart.locator('rect.bar-permit').first().boundingBox();
  assert.ok(box && box.height > 0 && box.width > 0, `the bar is drawn: ${JSON.stringify(box)}`);
  // readable without colour: each bar's count is written on the chart
  const counts = await chart.locator('text.count').allTextContents();
  assert.equal(counts.length, await chart.locator('rect').count(), 'a count per bar');
  assert.ok(counts.every((c) => /^[1-9]\d*$/.test(c)), JSON.stringify(counts));
  assert.equal(await page.locator(`svg.chart[aria-label="${PAPER_SERVICE}"]`).count(), 0, 'a consent is no release');
  await shot(page, 'officer_services');

  // no secret on any page of the console, nor in its export: every view,
  // every entry of the log, each one's resolution, and the CSV
  const seen = { 'the CSV export': raw };
  for (const path of ['/officer', `/officer?service=${SERVICE}`, '/officer?type=release.permit',
    '/officer/services']) {
    await page.goto(server.url(path).href);
    seen[path] = await page.content();
  }
  await page.goto(server.url('/officer').href);
  for (const r of await logRows(page)) {
    const path = `/officer/entry?seq=${r.seq}`;
    await page.goto(server.url(path).href);
    seen[path] = await page.content();
  }
  assert.ok(Object.keys(seen).length >= 8, Object.keys(seen).join(' '));
  assertNoSecret(seen);

  // log out: the console is closed again
  await clickToPage(page, 'form[action="/officer/logout"] button');
  assert.equal(new URL(page.url()).pathname, '/officer/login');
  await page.goto(server.url('/officer').href);
  assert.equal(new URL(page.url()).pathname, '/officer/login');

  assert.deepEqual(errors, []);
  await context.close();
});

test('a code already used cannot open a second session', async () => {
  // a fresh step, so that this test's first login is not a replay of the earlier test's
  const first = await newPage();
  const left = 30_000 - (Date.now() % 30_000);
  if (left < 29_000) await sleep(left + 200);
  const fresh = totp(officerSecret);
  await consoleLogin(first.page, OFFICER.name, OFFICER.password, fresh);
  assert.equal(new URL(first.page.url()).pathname, '/officer');
  const second = await newPage();
  await consoleLogin(second.page, OFFICER.name, OFFICER.password, fresh);
  assert.equal(new URL(second.page.url()).pathname, '/officer/login');
  assert.equal(await second.page.locator('p.error[role="alert"]').count(), 1);
  assert.deepEqual([...first.errors, ...second.errors], []);
  await first.context.close();
  await second.context.close();
});

test('no secret in what the operator reads: client and user listings, the log export', () => {
  const seen = {};
  for (const args of [['client', 'list'], ['client', 'show', SERVICE],
    ['user', 'show', CITIZEN.name], ['audit', 'officer', 'list']]) {
    seen[`civicid ${args.join(' ')}`] = cli([...args, '--store', store.dir]);
  }
  const exportPath = join(store.root, 'secrets-export.jsonl');
  cli(['audit', 'export', '--store', store.dir, '--output', exportPath]);
  seen['civicid audit export'] = readFileSync(exportPath, 'utf8');
  assert.match(seen[`civicid client show ${SERVICE}`], new RegExp(SERVICE));
  assertNoSecret(seen);
});
