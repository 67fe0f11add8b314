// End-to-end: the words and ways out of every page (issue 11, items 2 and 6),
// against the real `civicid serve` configured with a city name, a logo and a
// controller: the frame (header, language switch, footer), the one language
// rule (ui_locales, the remembered switch, Accept-Language), error pages
// wholly in the page's language with a way back, the failed and the
// throttled login, the consent screen's facts, the step-up page's way out,
// and (headless Chromium) where focus goes and how visible its ring is.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh pages.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { cpSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import { Browser, addClient, addUser, cli, freshStore, htmlDecode, loginForm, parseForms, startServer } from './lib/server.js';
import { discover, totp } from './lib/flow.js';

const T = { timeout: 120_000 };
const CHROMIUM = process.env.CIVICID_CHROMIUM || '/usr/bin/chromium';
const MSG_EN = JSON.parse(readFileSync(new URL('../../web/messages/en.json', import.meta.url), 'utf8'));
const MSG_JA = JSON.parse(readFileSync(new URL('../../web/messages/ja.json', import.meta.url), 'utf8'));
const WEB = new URL('../../web', import.meta.url).pathname;

// the smallest PNG: one transparent pixel
const LOGO = Buffer.from(
  'iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==',
  'base64',
);

const POLICY = `# e2e: the pages
service svc
name.ja 図書館（試験）
name.en Library (e2e)
subject pairwise

purpose loans
  text.ja 貸出の連絡のため
  text.en To tell you about your loans
  basis consent
  retention 2y
  consent_valid 6m
  permit email
  permit phone_number
  permit birthdate level=2
`;

const SVC = { clientId: 'svc', redirect: 'http://127.0.0.1:9/cb', scope: 'openid email phone profile' };
const HANAKO = { username: 'hanako', password: 'hanako-pages-Passw0rd!', claims: { email: 'hanako@example.jp', phone_number: '+81-3-0000-0000', birthdate: '1990-01-02' } };
const KENJI = { username: 'kenji', password: 'kenji-pages-Passw0rd!', claims: { email: 'kenji@example.jp', birthdate: '1975-11-03' } };
const CITY = { ja: 'テスト市', en: 'Test City' };
const CONTROLLER = { name: 'Test City Privacy', contact: 'Privacy Office', email: 'privacy@test-city.example' };
const POLICY_URL = 'https://test-city.example/privacy';

let store;
let server;
let config;
let kenjiSecret;
let chrome;

before(async () => {
  store = freshStore('pages');
  store.writePolicy('svc.policy', POLICY);
  for (const u of [HANAKO, KENJI]) addUser(store, u.username, u.password, u.claims);
  const out = addClient(store, { clientId: SVC.clientId, name: 'Library', redirectUris: [SVC.redirect], scope: SVC.scope });
  kenjiSecret = JSON.parse(cli(['user', 'totp', KENJI.username, '--store', store.dir, '--json'])).secret;
  // a web directory of our own, holding the city's logo
  const web = join(store.root, 'web');
  cpSync(WEB, web, { recursive: true });
  writeFileSync(join(web, 'static', 'city-logo.png'), LOGO);
  const conf = store.writeConfig([
    `web_dir = ${web}`,
    `city_name_ja = ${CITY.ja}`,
    `city_name_en = ${CITY.en}`,
    'city_logo = city-logo.png',
    `controller_name = ${CONTROLLER.name}`,
    `controller_contact = ${CONTROLLER.contact}`,
    `controller_email = ${CONTROLLER.email}`,
    `policy_url = ${POLICY_URL}`,
    '',
  ].join('\n'));
  server = await startServer(store, { configFile: conf });
  config = await discover(server.issuer, SVC.clientId, out.client_secret);
  chrome = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  try {
    await chrome?.close();
    if (server) await server.stop();
  } finally {
    store?.remove();
  }
});

/** An authorization URL of the service; params adds or overrides (ui_locales is absent unless given). */
async function authUrl(params = {}) {
  const verifier = client.randomPKCECodeVerifier();
  return client.buildAuthorizationUrl(config, {
    redirect_uri: SVC.redirect,
    scope: SVC.scope,
    code_challenge: await client.calculatePKCECodeChallenge(verifier),
    code_challenge_method: 'S256',
    state: client.randomState(),
    ...params,
  }).href;
}

const langOf = (html) => html.match(/<html lang="([^"]*)"/)?.[1];
const text = (html) => htmlDecode(html.replace(/<[^>]*>/g, ' ')).replace(/\s+/g, ' ');
const formTo = (html, path) => parseForms(html).find((f) => f.method === 'post' && new URL(f.action, 'http://x').pathname === path) ?? null;

/** Logs in (a fresh browser unless given) and returns the answer to the POST. */
async function login(user, params = {}, browser = new Browser(server.issuer)) {
  const page = await browser.get(await authUrl(params));
  assert.equal(page.status, 200, page.text.slice(0, 500));
  const res = await browser.submit(page.url, loginForm(page.text), { username: user.username, password: user.password });
  return { browser, res };
}

test('every page has the frame: the city name and logo, the account link, a language switch, the controller and the privacy link', T, async () => {
  const b = new Browser(server.issuer);
  for (const [lang, msgs] of [['ja', MSG_JA], ['en', MSG_EN]]) {
    const page = await b.get(await authUrl({ ui_locales: lang }));
    assert.equal(langOf(page.text), lang);
    const header = page.text.match(/<header class="site-header">[\s\S]*?<\/header>/)?.[0] ?? '';
    assert.ok(header.includes(`<span class="city">${CITY[lang]}</span>`), `the city's name in ${lang}: ${header}`);
    assert.match(header, /<img class="logo" src="\/static\/logo" alt=""/);
    assert.match(header, /<a class="account" href="\/account">/);
    const footer = page.text.match(/<footer class="site-footer">[\s\S]*?<\/footer>/)?.[0] ?? '';
    assert.ok(text(footer).includes(`${msgs.footer_controller} ${CONTROLLER.name} · ${CONTROLLER.contact} · ${CONTROLLER.email}`), footer);
    assert.ok(footer.includes(`<a href="${POLICY_URL}">${msgs.footer_policy}</a>`), footer);
  }
  const logo = await fetch(server.url('/static/logo'));
  assert.equal(logo.status, 200);
  assert.equal(logo.headers.get('content-type'), 'image/png');
  assert.deepEqual(Buffer.from(await logo.arrayBuffer()), LOGO);
  // the account page (signed out) and an error page carry the same frame
  for (const path of ['/account', '/authorize']) {
    const page = await b.get(path);
    assert.match(page.text, /<header class="site-header">/, path);
    assert.match(page.text, /<footer class="site-footer">/, path);
    assert.ok(page.text.includes(POLICY_URL), path);
  }
});

test('without ui_locales the browser\'s Accept-Language decides, by its q-values; ui_locales wins over it', T, async () => {
  const cases = [
    [{}, 'en-US,en;q=0.9,ja;q=0.5', 'en'],
    [{}, 'en;q=0.4, ja-JP;q=0.8', 'ja'],
    [{}, 'fr, ja;q=0', 'ja'], // neither acceptable: the default (ja)
    [{ ui_locales: 'ja' }, 'en', 'ja'],
    [{ ui_locales: 'en' }, 'ja', 'en'],
  ];
  for (const [params, accept, want] of cases) {
    const page = await new Browser(server.issuer).get(await authUrl(params), { headers: { 'accept-language': accept } });
    assert.equal(page.status, 200);
    assert.equal(langOf(page.text), want, `${JSON.stringify(params)} Accept-Language: ${accept}`);
    assert.ok(page.text.includes(want === 'en' ? MSG_EN.login_title : MSG_JA.login_title));
  }
});

test('the language switch shows the same step again in the other language and is remembered on later pages', T, async () => {
  const b = new Browser(server.issuer);
  const page = await b.get(await authUrl(), { headers: { 'accept-language': 'ja' } });
  assert.equal(langOf(page.text), 'ja');
  // a step of the flow switches by a form carrying its pending request
  const sw = formTo(page.text, '/lang');
  assert.ok(sw, 'a language form on the login page');
  const login = loginForm(page.text);
  assert.equal(sw.fields.req, login.fields.req);
  const en = await b.post(server.url('/lang'), { req: sw.fields.req, csrf: sw.fields.csrf, lang: 'en' });
  assert.equal(en.status, 200);
  assert.equal(langOf(en.text), 'en');
  assert.ok(en.text.includes(MSG_EN.login_title));
  assert.equal(loginForm(en.text).fields.req, login.fields.req, 'the same pending request');
  assert.ok(en.setCookies.some((c) => /^civicid_lang=en;.*Max-Age=31536000/.test(c)), en.setCookies.join('\n'));
  // the form still works after the switch, and the next steps keep the language
  const res = await b.submit(en.url, loginForm(en.text), { username: HANAKO.username, password: HANAKO.password });
  assert.equal(res.status, 200);
  assert.equal(langOf(res.text), 'en', 'the consent screen in the chosen language');
  // remembered: a later page without ui_locales, whatever the browser prefers
  const later = await b.get(await authUrl(), { headers: { 'accept-language': 'ja' } });
  assert.equal(langOf(later.text), 'en');
  // other pages switch by a link to themselves
  const account = await b.get('/account?lang=ja');
  assert.equal(langOf(account.text), 'ja');
  assert.match(account.text, /<a href="\/account\?lang=en" lang="en" hreflang="en">English<\/a>/);
  const again = await b.get('/account');
  assert.equal(langOf(again.text), 'ja', 'the switch to ja is remembered too');
});

test('error pages are wholly in the page\'s language and offer a way back', T, async () => {
  const b = new Browser(server.issuer);
  const ja = await b.get('/authorize?response_type=code', { headers: { 'accept-language': 'ja' } });
  assert.equal(ja.status, 400);
  assert.equal(langOf(ja.text), 'ja');
  const jaText = text(ja.text);
  assert.ok(jaText.includes(MSG_JA['err.client_id_missing']), jaText);
  assert.ok(!jaText.includes(MSG_EN['err.client_id_missing']), 'no English sentence on the Japanese page');
  assert.match(ja.text, new RegExp(`<a href="/account">${MSG_JA.error_back_account}</a>`));
  const en = await b.get('/authorize?response_type=code&lang=en');
  assert.equal(langOf(en.text), 'en');
  assert.ok(text(en.text).includes(MSG_EN['err.client_id_missing']));
  assert.match(en.text, new RegExp(`<a href="/account">${MSG_EN.error_back_account}</a>`));
  // a step's refusal before its pending request is read follows the same rule: b
  // remembered the switch to en above, which the browser's ja does not override
  const incomplete = { req: 'x', csrf: 'y' };
  assert.equal(b.cookie('civicid_lang'), 'en');
  const stale = await b.post(server.url('/consent'), incomplete, { headers: { 'accept-language': 'ja' } });
  assert.equal(stale.status, 400);
  assert.equal(langOf(stale.text), 'en');
  assert.ok(text(stale.text).includes(MSG_EN['err.form_incomplete']), text(stale.text));
  // no choice remembered: the browser's language; none either: default_locale
  const byHeader = await new Browser(server.issuer).post(server.url('/consent'), incomplete, { headers: { 'accept-language': 'en' } });
  assert.equal(langOf(byHeader.text), 'en');
  assert.ok(text(byHeader.text).includes(MSG_EN['err.form_incomplete']));
  const byDefault = await new Browser(server.issuer).post(server.url('/consent'), incomplete);
  assert.equal(langOf(byDefault.text), 'ja');
  assert.ok(text(byDefault.text).includes(MSG_JA['err.form_incomplete']));
  // once the pending request is read, its language: a login form posted to the consent step
  const b3 = new Browser(server.issuer);
  const enPage = await b3.get(await authUrl({ ui_locales: 'en' }), { headers: { 'accept-language': 'ja' } });
  const early = loginForm(enPage.text);
  const expired = await b3.post(server.url('/consent'), { req: early.fields.req, csrf: early.fields.csrf }, { headers: { 'accept-language': 'ja' } });
  assert.equal(expired.status, 400);
  assert.equal(langOf(expired.text), 'en');
  assert.ok(text(expired.text).includes(MSG_EN['err.page_expired']), text(expired.text));
});

test('a failed login keeps the name, marks the fields and ties them to the message; a throttled one says how long to wait', T, async () => {
  const b = new Browser(server.issuer, { localAddress: '127.0.0.3' });
  const page = await b.get(await authUrl({ ui_locales: 'en' }));
  let form = loginForm(page.text);
  let res = await b.submit(page.url, form, { username: 'hanako', password: 'wrong-password' });
  assert.equal(res.status, 200);
  assert.match(res.text, /<p class="error" id="login-message" role="alert" tabindex="-1" autofocus>/);
  assert.match(res.text, /<input id="username"[^>]* value="hanako" aria-invalid="true" aria-describedby="login-message">/);
  assert.match(res.text, /<input id="password"[^>]* aria-invalid="true" aria-describedby="login-message">/);
  assert.equal(res.headers.get('retry-after'), null, 'no wait yet');
  // past the free failures each attempt waits: the page and Retry-After say how long
  let throttled = null;
  for (let i = 0; i < 12 && !throttled; i++) {
    form = loginForm(res.text);
    res = await b.submit(res.url, form, { username: 'hanako', password: `wrong-${i}` });
    if (res.text.includes(MSG_EN.login_throttled)) throttled = res;
  }
  assert.ok(throttled, 'the login is throttled');
  const wait = Number(throttled.headers.get('retry-after'));
  assert.ok(Number.isInteger(wait) && wait >= 1 && wait <= 900, `Retry-After: ${throttled.headers.get('retry-after')}`);
  const said = wait === 1 ? MSG_EN.login_wait_second : MSG_EN.login_wait_seconds.replace('{}', String(wait));
  assert.ok(text(throttled.text).includes(said), `"${said}" in ${text(throttled.text)}`);
  assert.match(throttled.text, /value="hanako"/, 'the name stays');
});

test('the consent screen: each checkbox carries its attribute, and each purpose says its basis, retention, consent lifetime, controller, privacy link and where to withdraw', T, async () => {
  for (const [lang, msgs] of [['en', MSG_EN], ['ja', MSG_JA]]) {
    const { res } = await login(HANAKO, { ui_locales: lang });
    assert.equal(res.status, 200, res.text.slice(0, 800));
    const values = [...res.text.matchAll(/<input type="checkbox" name="a\d+" value="([^"]*)">/g)].map((m) => m[1]);
    assert.deepEqual(values.sort(), ['email', 'phone_number']);
    const facts = res.text.match(/<dl class="facts">[\s\S]*?<\/dl>/)?.[0] ?? '';
    const t = text(facts);
    assert.ok(t.includes(`${msgs.consent_basis} ${msgs.consent_basis_consent}`), t);
    assert.ok(t.includes(`${msgs.consent_retention} ${msgs['dur.years'].replace('{}', '2')}`), t);
    assert.ok(t.includes(`${msgs.consent_valid} ${msgs['dur.months'].replace('{}', '6')}`), t);
    assert.ok(t.includes(`${CONTROLLER.name}, ${CONTROLLER.contact}, ${CONTROLLER.email}`), t);
    assert.ok(facts.includes(`<a href="${POLICY_URL}">`), facts);
    assert.ok(res.text.includes(`<p class="withdraw">${msgs.consent_withdraw} <a href="/account">${msgs.consent_withdraw_link}</a></p>`));
  }
});

test('the step-up page names the attribute that needs it and lets the citizen go on without it', T, async () => {
  const { browser, res } = await login(KENJI, { ui_locales: 'en' });
  assert.equal(res.status, 200);
  const t = text(res.text);
  assert.ok(t.includes(`${MSG_EN.totp_needs} ${MSG_EN['attr.birthdate']}`), t);
  const form = formTo(res.text, '/totp');
  assert.match(res.text, new RegExp(`<button type="submit" name="action" value="skip" class="secondary" formnovalidate>${MSG_EN.totp_skip}</button>`));
  // going on without it: the consent screen asks only what the password login allows
  const next = await browser.submit(res.url, form, { action: 'skip', code: '' }, { withSubmitButton: false });
  assert.equal(next.status, 200, next.text.slice(0, 800));
  assert.ok(formTo(next.text, '/consent'), 'the consent screen follows');
  const asked = [...next.text.matchAll(/type="checkbox" name="a\d+" value="([^"]*)"/g)].map((m) => m[1]);
  assert.deepEqual(asked, ['email'], 'no birthdate without the code');

  // a request that itself requires the level: the way out returns to the service, denied
  const req = await login(KENJI, { ui_locales: 'en', acr_values: 'urn:civicid:acr:mfa', scope: 'openid' });
  assert.match(req.res.text, new RegExp(`value="skip" class="secondary" formnovalidate>${MSG_EN.totp_cancel}<`));
  const out = await req.browser.submit(req.res.url, formTo(req.res.text, '/totp'), { action: 'skip', code: '' }, { withSubmitButton: false });
  assert.ok(out.status === 302 || out.status === 303, `${out.status}`);
  const cb = new URL(out.location);
  assert.equal(`${cb.origin}${cb.pathname}`, SVC.redirect);
  assert.equal(cb.searchParams.get('error'), 'access_denied');
  // and the code still works for one who has it
  const ok = await login(KENJI, { ui_locales: 'en', scope: 'openid', acr_values: 'urn:civicid:acr:mfa' });
  const done = await ok.browser.submit(ok.res.url, formTo(ok.res.text, '/totp'), { action: 'confirm', code: totp(kenjiSecret) }, { withSubmitButton: false });
  assert.ok(done.status === 302 || done.status === 303, `${done.status} ${done.text.slice(0, 300)}`);
  assert.ok(new URL(done.location).searchParams.get('code'));
});

/** The relative luminance of a CSS rgb()/rgba() colour (WCAG 2.1). */
function luminance(css) {
  const [r, g, b] = css.match(/[\d.]+/g).slice(0, 3).map(Number).map((v) => {
    const c = v / 255;
    return c <= 0.03928 ? c / 12.92 : ((c + 0.055) / 1.055) ** 2.4;
  });
  return 0.2126 * r + 0.7152 * g + 0.0722 * b;
}

function contrast(a, b) {
  const [x, y] = [luminance(a), luminance(b)].sort((p, q) => q - p);
  return (x + 0.05) / (y + 0.05);
}

test('in a browser: a failed login moves focus to the message; the focus ring has at least 3:1 contrast', T, async () => {
  const page = await chrome.newPage();
  try {
    await page.goto(await authUrl({ ui_locales: 'en' }));
    await page.fill('#username', HANAKO.username);
    await page.fill('#password', 'not-the-password');
    await Promise.all([page.waitForNavigation(), page.click('form[action="/login"] button[type="submit"]')]);
    // Chromium applies autofocus at a rendering update, which may come after
    // the load event on a busy machine: wait for it (bounded), then check
    await page.waitForFunction(() => document.activeElement?.id === 'login-message', null, { timeout: 15000 })
      .catch(() => {});
    assert.equal(await page.evaluate(() => document.activeElement?.id), 'login-message');
    assert.equal(await page.inputValue('#username'), HANAKO.username);
    // the ring of each kind of control, against the card and the page behind it
    for (const sel of ['#username', 'form[action="/login"] button[type="submit"]', 'header a.account']) {
      await page.focus(sel);
      const s = await page.evaluate((q) => {
        const cs = getComputedStyle(document.querySelector(q));
        return { color: cs.outlineColor, style: cs.outlineStyle, width: parseFloat(cs.outlineWidth),
          card: getComputedStyle(document.querySelector('main')).backgroundColor,
          body: getComputedStyle(document.body).backgroundColor };
      }, sel);
      assert.notEqual(s.style, 'none', `${sel} has a focus ring`);
      assert.ok(s.width >= 2, `${sel}: ring ${s.width}px`);
      for (const bg of [s.card, s.body])
        assert.ok(contrast(s.color, bg) >= 3, `${sel}: ring ${s.color} on ${bg} is ${contrast(s.color, bg).toFixed(2)}:1`);
    }
  } finally {
    await page.close();
  }
});
