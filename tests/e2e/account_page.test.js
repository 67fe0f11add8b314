// End-to-end: an account page a citizen can live with (issue 11, item 3),
// against the real `civicid serve` with two services under consent
// policies, openid-client as those services, a cookie-keeping HTTP client
// (no JavaScript) and headless Chromium (Debian's, driven by
// playwright-core) as the citizen's browser: a signed-out /account offers a
// login that comes back to /account signed in (the account pages' own
// client, no consent screen, nothing released to it); the trail filtered by
// service and paged both ways by plain links; no sideways scrolling at
// 320 px on the account page, a receipt page and the printable trail; and a
// service that takes only what the law provides, listed once signed in to.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh account_page.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';
import { chromium } from 'playwright-core';

import { Browser, addClient, addUser, freshStore, htmlDecode, loginForm, parseForms, startServer, submitLogin } from './lib/server.js';
import { authorizationRequest, codeGrant, discover, signIn } from './lib/flow.js';

const T = { timeout: 180_000 };
const CHROMIUM = process.env.CIVICID_CHROMIUM || '/usr/bin/chromium';
const MSG_EN = JSON.parse(readFileSync(new URL('../../web/messages/en.json', import.meta.url), 'utf8'));
const MSG_JA = JSON.parse(readFileSync(new URL('../../web/messages/ja.json', import.meta.url), 'utf8'));

// long names, as real ones are: they must wrap, not push the page sideways
const policy = (id, ja, en) => `# e2e: the account page
service ${id}
name.ja ${ja}
name.en ${en}
purpose fees
  text.ja 保育料と延長保育料を算定し、お知らせを送付するため
  text.en To calculate your childcare and extended-care fees and send you notices
  basis consent
  retention 1y
  consent_valid 1y
  permit given_name
  permit family_name
  permit email
`;
const SERVICES = [
  { clientId: 'svc-a', ja: '子育て支援課オンライン申請サービス', en: 'Childcare Support Division Online Applications', redirect: 'http://127.0.0.1:9/a-cb' },
  { clientId: 'svc-b', ja: '市立図書館貸出予約サービス', en: 'Municipal Library Lending and Reservations', redirect: 'http://127.0.0.1:9/b-cb' },
];
// a service whose one purpose is provided by law: no consent screen, no consent record
const LAW = { clientId: 'svc-law', en: 'Resident Records Check', redirect: 'http://127.0.0.1:9/law-cb', citation: '住民基本台帳法 第12条の2 / Basic Resident Registers Act, Art. 12-2' };
const LAW_POLICY = `# e2e: the account page, a statute-only service
service ${LAW.clientId}
name.ja 住民記録照会
name.en ${LAW.en}
purpose verify
  text.ja 住所を確認するため
  text.en To confirm your address
  basis statute ${LAW.citation}
  retention 5y
  permit family_name
`;
const SCOPE = 'openid profile email';
const HANAKO = { username: 'hanako', password: 'hanako-page-Passw0rd!', claims: { given_name: '花子', family_name: '山田', email: 'hanako.yamada.long-address@example.jp' } };
const CONFIG = `controller_name = Demo City of Aoi
controller_contact = Privacy Office, Aoi City Hall
controller_address = 1-1 Aoi, Demo City, Fukushima 965-0000
controller_email = privacy@city.example.jp
policy_url = https://city.example.jp/privacy
`;
const PAGE = 50; // CID_ACCOUNT_PAGE
const ACCOUNT_LINK = '<a class="account" href="/account">';

let store;
let server;
let chrome;
const svc = {}; // clientId -> { config, tokens, sub }

before(async () => {
  store = freshStore('account-page');
  for (const s of SERVICES) store.writePolicy(`${s.clientId}.policy`, policy(s.clientId, s.ja, s.en));
  store.writePolicy(`${LAW.clientId}.policy`, LAW_POLICY);
  addUser(store, HANAKO.username, HANAKO.password, HANAKO.claims);
  const secrets = {};
  for (const s of [...SERVICES, LAW])
    secrets[s.clientId] = addClient(store, { clientId: s.clientId, name: s.en, redirectUris: [s.redirect], scope: SCOPE }).client_secret;
  LAW.secret = secrets[LAW.clientId];
  server = await startServer(store, { configFile: store.writeConfig(CONFIG) });
  for (const s of SERVICES) svc[s.clientId] = { config: await discover(server.issuer, s.clientId, secrets[s.clientId]) };
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

/** Logs in for service s in a fresh browser and approves every attribute of its consent screen. */
async function signInAndApprove(s) {
  const b = new Browser(server.issuer);
  const { config } = svc[s.clientId];
  const req = await authorizationRequest(config, s.redirect, SCOPE, { ui_locales: 'en' });
  const { response: page } = await submitLogin(b, req.url, HANAKO.username, HANAKO.password);
  assert.equal(page.status, 200, `the consent page:\n${page.text.slice(0, 800)}`);
  assert.ok(page.text.includes(ACCOUNT_LINK), 'the consent page links the account page');
  const form = parseForms(page.text).find((f) => /\/consent$/.test(f.action));
  const values = { action: 'approve' };
  for (const m of page.text.matchAll(/<input\b[^>]*type="checkbox"[^>]*name="([^"]*)"/g)) values[m[1]] = '1';
  const res = await b.submit(page.url, form, values, { withSubmitButton: false });
  assert.ok(res.status === 302 || res.status === 303, `a redirect to the service, got ${res.status}`);
  const tokens = await codeGrant(config, new URL(res.location), req);
  svc[s.clientId].tokens = tokens;
  svc[s.clientId].sub = tokens.claims().sub;
}

/** Logs in from the signed-out account page in the Chromium page p: clicks "Log in", fills the form. */
async function loginFromAccount(p, lang = 'en') {
  const res = await p.goto(server.url(`/account?lang=${lang}`).href);
  assert.equal(res.status(), 401);
  const msgs = lang === 'en' ? MSG_EN : MSG_JA;
  await p.getByRole('link', { name: msgs.account_login, exact: true }).click();
  await p.waitForURL((u) => u.pathname === '/authorize');
  await p.fill('#username', HANAKO.username);
  await p.fill('#password', HANAKO.password);
  await Promise.all([p.waitForURL((u) => u.pathname === '/account'), p.click('form[action="/login"] button[type=submit]')]);
}

/** The trail rows of an account page: [{ service, time }]. */
function trailRows(html) {
  return [...html.matchAll(/<tr class="entry"><td[^>]*><time datetime="([^"]*)">[^<]*<\/time><\/td><td[^>]*>([^<]*)<\/td>/g)].map((m) => ({
    time: m[1],
    service: htmlDecode(m[2]),
  }));
}

/** The href of the pager link of class cls, or null. */
const pagerLink = (html, cls) => {
  const m = html.match(new RegExp(`<a class="${cls}" href="([^"]*)"`));
  return m ? htmlDecode(m[1]) : null;
};

test('signed out, /account offers a login that lands back on /account signed in, with no consent screen and nothing released', T, async () => {
  const anon = new Browser(server.issuer);
  const out = await anon.get('/account?lang=en');
  assert.equal(out.status, 401);
  assert.ok(out.text.includes(`<a class="button login" href="/account/login?lang=en">${MSG_EN.account_login}</a>`), out.text);
  // the login link starts the normal authorization flow as the account pages' own client
  const login = await anon.get('/account/login?lang=en');
  assert.equal(login.status, 303);
  const authz = new URL(login.location);
  assert.equal(authz.origin + authz.pathname, server.url('/authorize').href);
  assert.equal(authz.searchParams.get('client_id'), 'civicid-account');
  assert.equal(authz.searchParams.get('redirect_uri'), server.url('/account/callback').href);
  assert.equal(authz.searchParams.get('scope'), 'openid');
  assert.equal(authz.searchParams.get('code_challenge_method'), 'S256');
  assert.match(authz.searchParams.get('state'), /^[A-Za-z0-9_-]{43}$/);

  const ctx = await chrome.newContext();
  try {
    const p = await ctx.newPage();
    await loginFromAccount(p);
    assert.equal(new URL(p.url()).pathname, '/account');
    assert.ok(await p.locator('#consents').isVisible(), 'the signed-in page');
    assert.equal(await p.getByRole('link', { name: MSG_EN.account_login, exact: true }).count(), 0);
    // nothing was released to the account pages: the trail is empty
    assert.ok((await p.locator('#trail').innerText()).includes(MSG_EN.account_trail_none));
    // a callback another browser began (a login CSRF) is refused
    const forged = await anon.get(`/account/callback?code=AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA&state=${authz.searchParams.get('state')}A`);
    assert.equal(forged.status, 400);
    assert.ok(htmlDecode(forged.text).includes(MSG_JA['err.account_callback']) || htmlDecode(forged.text).includes(MSG_EN['err.account_callback']));
  } finally {
    await ctx.close();
  }
});

test('the trail is filtered by service and paged both ways by plain links', T, async () => {
  for (const s of SERVICES) await signInAndApprove(s);
  // the services ask: svc-a often, svc-b a few times; each answer is a trail entry
  for (let i = 0; i < PAGE + 5; i++) await client.fetchUserInfo(svc['svc-a'].config, svc['svc-a'].tokens.access_token, svc['svc-a'].sub);
  for (let i = 0; i < 3; i++) await client.fetchUserInfo(svc['svc-b'].config, svc['svc-b'].tokens.access_token, svc['svc-b'].sub);

  const b = new Browser(server.issuer);
  // without JavaScript too: the login link, the form, and back on /account
  const loginPage = await b.follow(server.url('/account/login?lang=en').href);
  assert.equal(loginPage.status, 200);
  assert.ok(loginPage.text.includes(ACCOUNT_LINK), 'the login page links the account page');
  const posted = await b.submit(loginPage.url, loginForm(loginPage.text), { username: HANAKO.username, password: HANAKO.password });
  const landed = await b.follow(posted.location);
  assert.equal(new URL(landed.url).pathname, '/account');
  assert.equal(landed.status, 200);
  const first = await b.get('/account?lang=en');
  assert.equal(first.status, 200);
  const rows1 = trailRows(first.text);
  assert.equal(rows1.length, PAGE);
  assert.equal(pagerLink(first.text, 'newer'), null, 'the newest page has no newer link');
  const older = await b.get(pagerLink(first.text, 'older'));
  const rows2 = trailRows(older.text);
  assert.ok(rows2.length > 0, 'older entries');
  assert.ok(rows2[0].time <= rows1[PAGE - 1].time, 'older entries below');
  // and back up: the first page again
  const back = await b.get(pagerLink(older.text, 'newer'));
  assert.deepEqual(trailRows(back.text), rows1);

  // the filter: a plain GET form listing both services
  const form = parseForms(first.text).find((f) => f.action === '/account' && f.method === 'get');
  assert.ok(form, 'a filter form');
  for (const s of SERVICES) assert.ok(first.text.includes(`<option value="${s.clientId}">${s.en}</option>`), s.clientId);
  const onlyB = await b.submit(first.url, form, { service: 'svc-b' });
  assert.equal(onlyB.status, 200);
  const rowsB = trailRows(onlyB.text);
  // its three answers and the consent, none of svc-a: one page
  assert.ok(rowsB.length >= 3 + 1 && rowsB.length < PAGE, `${rowsB.length} rows of svc-b`);
  assert.ok(rowsB.every((r) => r.service === SERVICES[1].en), JSON.stringify(rowsB));
  assert.ok(onlyB.text.includes(`<option value="svc-b" selected>`));
  assert.equal(pagerLink(onlyB.text, 'older'), null);
  // paging keeps the filter
  const onlyA = await b.get('/account?service=svc-a&lang=en');
  const nextA = pagerLink(onlyA.text, 'older');
  assert.match(nextA, /[?&]service=svc-a(&|$)/);
  const rowsA2 = trailRows((await b.get(nextA)).text);
  assert.ok(rowsA2.length > 0 && rowsA2.every((r) => r.service === SERVICES[0].en));
  // a bad filter or page is a clear error page, not a crash nor someone else's data
  for (const [q, key] of [['service=nope', 'err.account_service'], ['after=x', 'err.account_after'], ['after=1&newer=2', 'err.account_paging']]) {
    const bad = await b.get(`/account?${q}&lang=en`);
    assert.equal(bad.status, 400, q);
    assert.ok(htmlDecode(bad.text).includes(MSG_EN[key]), q);
    assert.ok(bad.text.includes(ACCOUNT_LINK), 'an error page links the account page');
  }
  // the logged-out page links it too
  const confirm = await b.get('/logout?lang=en');
  const logout = parseForms(confirm.text).find((f) => f.method === 'post' && /\/logout$/.test(f.action));
  assert.ok(logout, `a logout form:\n${confirm.text.slice(0, 500)}`);
  const done = await b.follow((await b.submit(confirm.url, logout)).location ?? confirm.url);
  assert.equal(done.status, 200);
  assert.ok(done.text.includes(ACCOUNT_LINK), 'the logged-out page links the account page');
});

test('at 320 px the account page, a receipt page and the printable trail need no sideways scrolling, in ja and en', T, async () => {
  const ctx = await chrome.newContext({ viewport: { width: 320, height: 640 } });
  try {
    const p = await ctx.newPage();
    await loginFromAccount(p, 'ja');
    const receipt = await p.locator('a.receipt').first().getAttribute('href');
    assert.ok(receipt, 'a receipt link');
    for (const lang of ['ja', 'en']) {
      for (const path of [`/account?lang=${lang}`, `${receipt.replace(/lang=\w+/, `lang=${lang}`)}`, `/account/trail?lang=${lang}`]) {
        await p.goto(server.url(path).href);
        const width = await p.evaluate(() => document.documentElement.scrollWidth);
        assert.ok(width <= 320, `${path}: scrollWidth ${width} > 320`);
        const rows = await p.locator('tr.entry').count();
        if (path.startsWith('/account?')) {
          assert.ok(rows > 0, 'trail rows on the page');
          assert.ok((await p.locator('.consent').count()) > 0, 'consents on the page');
          // times as the citizen reads them, in the city's zone: no UTC ISO text
          const body = await p.locator('main').innerText();
          assert.match(body, lang === 'ja' ? /\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d/ : /\d{1,2} [A-Z][a-z]+ \d{4}, \d\d:\d\d/);
          assert.ok(!/\d{4}-\d\d-\d\dT\d\d:\d\d/.test(body), 'no UTC ISO time shown');
          // the trail's rows are stacked blocks here
          assert.equal(await p.locator('tr.entry').first().evaluate((e) => getComputedStyle(e).display), 'block');
        } else if (path.startsWith('/account/trail')) {
          // the printable trail: the same rows, stacked here too, and its downloads linked
          assert.ok(rows > 0, 'trail rows on the printable page');
          assert.equal(await p.locator('tr.entry').first().evaluate((e) => getComputedStyle(e).display), 'block');
          assert.equal(await p.locator('a.json').getAttribute('href'), `/account/trail?format=json&lang=${lang}`);
          assert.equal(await p.getAttribute('html', 'lang'), lang);
        } else {
          assert.ok(await p.locator('dl.receipt').isVisible(), 'the receipt page');
        }
      }
    }
    // a wide screen keeps the table
    await p.setViewportSize({ width: 1280, height: 800 });
    await p.goto(server.url('/account?lang=en').href);
    assert.equal(await p.locator('tr.entry').first().evaluate((e) => getComputedStyle(e).display), 'table-row');
  } finally {
    await ctx.close();
  }
});

test('a service that takes only what the law provides is listed once signed in to, with the citation and no button', T, async () => {
  const b = new Browser(server.issuer);
  const signInToAccount = async () => {
    const loginPage = await b.follow(server.url('/account/login?lang=en').href);
    const posted = await b.submit(loginPage.url, loginForm(loginPage.text), { username: HANAKO.username, password: HANAKO.password });
    return b.follow(posted.location);
  };
  const heading = `<h3 class="service">${LAW.en}</h3>`;
  // never signed in to it: no consent record, nothing to list
  assert.ok(!(await signInToAccount()).text.includes(heading), 'not listed before a sign-in');
  // the service signs her in: no consent screen comes between
  const { config, tokens } = await signIn(server.issuer, { clientId: LAW.clientId, secret: LAW.secret, redirectUri: LAW.redirect, username: HANAKO.username, password: HANAKO.password });
  await client.fetchUserInfo(config, tokens.access_token, tokens.claims().sub);
  const page = await b.get('/account?lang=en');
  assert.equal(page.status, 200);
  const at = page.text.indexOf(heading);
  assert.ok(at >= 0, `the service is listed:\n${page.text.slice(0, 3000)}`);
  assert.equal(page.text.indexOf(heading, at + 1), -1, 'listed once');
  // its heading, then its purpose: the citation, "provided by law", no form to change it
  const block = page.text.slice(at, page.text.indexOf('</div>', at));
  assert.ok(htmlDecode(block).includes(`${MSG_EN.account_statute} ${LAW.citation}`), block);
  assert.ok(block.includes(MSG_EN.account_state_law), block);
  assert.ok(!block.includes('<form'), `no button:\n${block}`);
  // the release to it is in her trail, and the filter offers it
  assert.ok(page.text.includes(`<option value="${LAW.clientId}">${LAW.en}</option>`));
  const only = await b.get(`/account?service=${LAW.clientId}&lang=en`);
  assert.ok(trailRows(only.text).some((r) => r.service === LAW.en), 'its releases in the trail');
});
