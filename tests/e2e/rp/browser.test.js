// The citizen's browser walk of issue 11 ("How it is shown"), in headless
// Chromium (Debian's, driven by playwright-core) through civicid and two
// services, A and B, each Apache + mod_auth_openidc (browser.sh starts them
// and passes their URLs): log in at A and consent, A shows its claims; B
// lets the citizen in without a password; on /account withdraw one attribute
// of A in fewer clicks than granting it took; A's next login lacks it and
// A's refresh (mod_auth_openidc's refresh hook) brings tokens without it;
// share it again and it is back; withdraw everything of A and A's refresh
// token is refused; log out at B and A is signed out too (back-channel
// logout), both services' sessions gone.
//
// Every civicid page the walk meets, and the pages of VISITS, is checked
// with axe-core for WCAG 2.1 A and AA at 1280 and 320 px wide; the walk runs
// once in Japanese (hanako) and once in English (john). With
// CIVICID_SCREENSHOTS set, the Japanese walk saves the consent screen, the
// account page and (when it is a page) the receipt there as PNG.
//
// Run by browser.sh, which sets CIVICID_ISSUER, RP_A, RP_B.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

const T = { timeout: 120_000 };
const need = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set: run this through tests/e2e/rp/browser.sh`);
  return v;
};
const ISSUER = need('CIVICID_ISSUER');
const RP = { a: need('RP_A'), b: need('RP_B') };
const CHROMIUM = process.env.CIVICID_CHROMIUM || '/usr/bin/chromium';
const SHOTS = process.env.CIVICID_SCREENSHOTS || '';
const AXE = readFileSync(createRequire(import.meta.url).resolve('axe-core/axe.min.js'), 'utf8');
const WCAG21 = ['wcag2a', 'wcag2aa', 'wcag21a', 'wcag21aa'];
const WIDTHS = [1280, 320];

const CITIZENS = [
  { lang: 'ja', locale: 'ja-JP', username: 'hanako', password: 'hanako-browser-Passw0rd!', email: 'hanako@example.jp', phone: '+81-3-0000-0001' },
  { lang: 'en', locale: 'en-US', username: 'john', password: 'john-browser-Passw0rd!', email: 'john@example.com', phone: '+81-3-0000-0002' },
];

// civicid pages visited on their own, beside those the walk meets: each gets
// the axe check. url(page) gives the path (null: nothing to visit, e.g. a
// receipt that is still a download); shows is what the page must hold; signed
// says whether the visit happens while the citizen is signed in (after B's
// consent) or after the logout; shot names its screenshot (ja).
// Add a page here and it is checked in both languages at both widths.
const VISITS = [
  { name: 'error', signed: true, shows: 'main p.error[role=alert]', url: () => '/authorize?client_id=no-such-service&response_type=code&scope=openid' },
  { name: 'receipt', signed: true, shows: 'main h1', shot: 'receipt', url: receiptPage },
  { name: 'security', signed: true, shows: 'main h1', url: () => '/account/security' },
  { name: 'account (signed out)', signed: false, shows: 'main', url: () => '/account' },
];

let chrome;

before(async () => {
  chrome = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
});

after(async () => {
  await chrome?.close();
});

/** The first receipt of the account page: a page (text/html) to check, its JWT a link beside it. */
async function receiptPage(page) {
  await page.goto(`${ISSUER}/account`);
  const href = await page.locator('a.receipt').first().getAttribute('href');
  assert.ok(href, 'the account page links a receipt');
  const res = await page.request.get(new URL(href, ISSUER).href);
  assert.equal(res.status(), 200, `GET ${href}: ${(await res.text()).slice(0, 300)}`);
  assert.match(res.headers()['content-type'] ?? '', /^text\/html\b/, 'the receipt is a page');
  return href;
}

/** One citizen's walk: its pages, clicks and what it checked. */
class Walk {
  constructor(citizen, context, page) {
    this.c = citizen;
    this.context = context;
    this.page = page;
    this.checked = []; // names of the civicid pages checked
    this.clicks = 0; // clicks on civicid pages since the last reset
  }

  /** Clicks a locator on a civicid page, counting it. */
  async click(locator) {
    this.clicks += 1;
    await Promise.all([this.page.waitForLoadState('load'), locator.click()]);
  }

  /**
   * The page is civicid's: its language is the walk's; axe-core finds no
   * WCAG 2.1 A/AA violation at 1280 and at 320 px; at 320 px nothing scrolls
   * sideways. With shot, the ja walk saves a screenshot (560 px wide).
   */
  async check(name, { shot } = {}) {
    const page = this.page;
    await page.waitForLoadState('load');
    assert.equal(new URL(page.url()).origin, ISSUER, `${name}: a civicid page (${page.url()})`);
    assert.equal(await page.locator('html').getAttribute('lang'), this.c.lang, `${name}: <html lang>`);
    const size = page.viewportSize();
    try {
      for (const width of WIDTHS) {
        await page.setViewportSize({ width, height: 900 });
        const found = await axe(page);
        assert.deepEqual(found, [], `${name} (${this.c.lang}, ${width} px): WCAG 2.1 A/AA violations:\n${found.join('\n')}`);
        if (width === 320) {
          const wide = await page.evaluate(() => document.documentElement.scrollWidth);
          if (wide > 320) {
            const over = await page.evaluate(() => [...document.querySelectorAll('body *')]
              .filter((e) => e.getBoundingClientRect().right > 320)
              .slice(0, 5).map((e) => `${e.tagName.toLowerCase()}.${e.className}: ${e.outerHTML.slice(0, 120)}`));
            assert.fail(`${name} (${this.c.lang}): at 320 px the page is ${wide} px wide:\n${over.join('\n')}`);
          }
        }
      }
      if (shot && SHOTS && this.c.lang === 'ja') {
        await page.setViewportSize({ width: 560, height: 900 }); // the card, not a sea of margin
        await page.screenshot({ path: join(SHOTS, `${shot}.png`), fullPage: true });
      }
    } finally {
      await page.setViewportSize(size);
    }
    this.checked.push(name);
  }

  /** Goes to a service's protected page (following every redirect). */
  async service(rp) {
    await this.page.goto(`${RP[rp]}/protected/`);
  }

  /** What mod_auth_openidc told service rp's page (null when the page is not the service's). */
  async claims(rp) {
    if (new URL(this.page.url()).origin !== RP[rp]) return null;
    const text = await this.page.locator('body').innerText();
    return Object.fromEntries(text.split('\n').filter((l) => l.includes('=')).map((l) => {
      const i = l.indexOf('=');
      return [l.slice(0, i).replace(/^OIDC_CLAIM_/, ''), l.slice(i + 1)];
    }));
  }

  /** At service rp with claims; asserts so. */
  async atService(rp, what) {
    const claims = await this.claims(rp);
    assert.ok(claims, `${what}: at service ${rp}, not ${this.page.url()}`);
    assert.equal(claims.AUTH_TYPE, 'openid-connect', `${what}: mod_auth_openidc let the citizen in`);
    return claims;
  }

  /** On civicid's login form: logs in (checking the page first). */
  async login(what) {
    await this.check(`login (${what})`);
    await this.page.fill('#username', this.c.username);
    await this.page.fill('#password', this.c.password);
    await this.click(this.page.locator('form[action="/login"] button[type=submit]'));
  }

  isLogin() {
    return this.page.locator('#password').count().then((n) => n > 0);
  }

  async isConsent() {
    return new URL(this.page.url()).origin === ISSUER &&
      (await this.page.locator('form[action="/consent"]').count()) > 0;
  }

  /** The account page's change form for svc, purpose?, attribute?, action. */
  accountButton(action, service, attribute) {
    let form = `form[action="/account/consent"]:has(input[name=service][value="${service}"])`;
    form += attribute ? `:has(input[name=attribute][value="${attribute}"])` : ':not(:has(input[name=purpose]))';
    return this.page.locator(`${form} button[name=action][value=${action}]`);
  }

  /** Changes one thing on /account (checking the page before and after); returns the clicks it took. */
  async account(action, service, attribute, opts = {}) {
    await this.page.goto(`${ISSUER}/account`);
    await this.check('account', opts);
    this.clicks = 0;
    const button = this.accountButton(action, service, attribute);
    assert.equal(await button.count(), 1, `one ${action} button for ${service} ${attribute ?? '(all)'}`);
    await this.click(button);
    assert.equal(new URL(this.page.url()).pathname, '/account', 'back on the account page');
    await this.check(`account after ${action}`);
    assert.equal(await this.page.locator('p.notice:not(.error)').count(), 1, 'the page says what happened');
    return this.clicks;
  }

  /** A's next login: A's session cookie dropped, the SSO session logs in again. */
  async nextLoginAt(rp) {
    await this.context.clearCookies({ name: `svc_${rp}_session` });
    await this.service(rp);
    assert.ok(!(await this.isLogin()), `${rp}'s next login needs no password (SSO)`);
    return this.atService(rp, `${rp}'s next login`);
  }

  /** mod_auth_openidc's refresh hook with the page's access token; the URL it comes back to. */
  async refresh(rp, claims) {
    const back = `${RP[rp]}/protected/`;
    const hook = new URL(`${RP[rp]}/protected/redirect_uri`);
    hook.searchParams.set('refresh', back);
    hook.searchParams.set('access_token', claims.OIDC_access_token);
    await this.page.goto(hook.href);
    return new URL(this.page.url());
  }
}

/** axe-core's WCAG 2.1 A/AA violations of the page, one line per node. */
async function axe(page) {
  if (!(await page.evaluate(() => typeof window.axe === 'object'))) await page.addScriptTag({ content: AXE });
  const result = await page.evaluate((tags) => window.axe.run(document, {
    runOnly: { type: 'tag', values: tags },
    resultTypes: ['violations'],
  }), WCAG21);
  return result.violations.flatMap((v) => v.nodes.map((n) =>
    `${v.id} (${v.impact}): ${v.help} at ${n.target.join(' ')}: ${n.html.slice(0, 200)}${n.failureSummary ? ` — ${n.failureSummary.replace(/\s+/g, ' ')}` : ''}`));
}

/** The userinfo of an access token, as the service would see it. */
async function userinfo(accessToken) {
  const res = await fetch(`${ISSUER}/userinfo`, { headers: { authorization: `Bearer ${accessToken}` } });
  return { status: res.status, body: res.status === 200 ? await res.json() : null };
}

async function visits(w, signed) {
  for (const v of VISITS.filter((x) => x.signed === signed)) {
    const url = await v.url(w.page);
    if (url === null) continue; // not a page (yet): nothing to check
    await w.page.goto(new URL(url, ISSUER).href);
    assert.ok((await w.page.locator(v.shows).count()) > 0, `${v.name}: the page shows ${v.shows} (${w.page.url()})`);
    await w.check(v.name, { shot: v.shot });
  }
}

for (const citizen of CITIZENS) {
  test(`the walk in ${citizen.lang}: SSO at two services, withdraw and share on /account, single logout; every civicid page passes axe`, T, async () => {
    // bypassCSP: only so that axe-core can be added to civicid's pages
    const context = await chrome.newContext({ locale: citizen.locale, bypassCSP: true, viewport: { width: 1280, height: 900 } });
    context.setDefaultTimeout(15_000);
    try {
      const w = new Walk(citizen, context, await context.newPage());

      // 1. A: login, consent (tick email and phone, approve), A shows its claims
      await w.service('a');
      assert.ok(await w.isLogin(), `A sends the citizen to civicid's login (${w.page.url()})`);
      await w.login('A');
      assert.ok(await w.isConsent(), `civicid asks consent for A (${w.page.url()})`);
      await w.check('consent (A)', { shot: 'consent' });
      w.clicks = 0;
      await w.click(w.page.locator('input[type=checkbox][value=email]'));
      const tickEmail = w.clicks;
      await w.click(w.page.locator('input[type=checkbox][value=phone_number]'));
      await w.click(w.page.locator('button[name=action][value=approve]'));
      const grantEmail = tickEmail + 1; // its tick and the approval
      let a = await w.atService('a', 'after consent');
      assert.equal(a.email, citizen.email, 'A has the email the citizen shared');
      assert.equal(a.phone_number, citizen.phone, 'A has the phone number');
      assert.ok(a.family_name, 'A has the name the law provides');
      assert.ok(a.sid, 'the ID token names the session (sid), for the back-channel logout');

      // 2. B: no password (SSO); B asks its own consent
      await w.service('b');
      assert.ok(!(await w.isLogin()), 'B lets the citizen in without a password');
      if (await w.isConsent()) {
        await w.check('consent (B)');
        await w.click(w.page.locator('input[type=checkbox][value=email]'));
        await w.click(w.page.locator('button[name=action][value=approve]'));
      }
      const b = await w.atService('b', 'B after SSO');
      assert.equal(b.email, citizen.email, 'B has the email');
      assert.notEqual(b.sub, a.sub, 'A and B see different (pairwise) subjects');

      // the pages visited on their own while signed in (error page, receipt)
      await visits(w, true);

      // 3. withdraw A's email on /account: fewer clicks than granting it took
      const withdrawClicks = await w.account('withdraw', 'svc-a', 'email', { shot: 'account' });
      assert.ok(withdrawClicks <= grantEmail,
        `withdrawing took ${withdrawClicks} click(s), granting ${grantEmail}`);
      assert.equal(withdrawClicks, 1, 'one click withdraws an attribute');

      // A's next login lacks it; A's refresh brings tokens without it
      a = await w.nextLoginAt('a');
      assert.equal(a.email, undefined, "A's next login has no email");
      assert.equal(a.phone_number, citizen.phone, 'and still the phone number');
      let back = await w.refresh('a', a);
      assert.equal(back.searchParams.get('error_code'), null, `A's refresh works after one attribute is withdrawn (${back})`);
      a = await w.atService('a', 'after the refresh');
      let ui = await userinfo(a.OIDC_access_token);
      assert.equal(ui.status, 200, 'the refreshed access token works at /userinfo');
      assert.equal(ui.body.email, undefined, 'the refreshed access token gets no email');

      // 4. share it again: one click, and A's next login has it back
      assert.equal(await w.account('share', 'svc-a', 'email'), 1, 'one click shares it again');
      a = await w.nextLoginAt('a');
      assert.equal(a.email, citizen.email, "A's next login has the email again");

      // 5. withdraw everything of A: A's refresh token is refused
      assert.equal(await w.account('withdraw', 'svc-a', null), 1, 'one click withdraws everything of A');
      back = await w.refresh('a', a);
      assert.ok(back.searchParams.get('error_code'), `A's refresh token is refused (${back})`);
      ui = await userinfo(a.OIDC_access_token);
      assert.equal(ui.status, 401, "and A's access token too");
      await w.service('a');
      await w.atService('a', 'A before the logout at B'); // A's own session lives on

      // 6. log out at B (RP-initiated, through mod_auth_openidc): civicid's pages
      // (no return URL: civicid shows its own logged-out page)
      await w.page.goto(`${RP.b}/protected/redirect_uri?logout=`);
      const confirm = w.page.locator('form[action="/logout"] button[name=confirm]');
      if (new URL(w.page.url()).origin === ISSUER && (await confirm.count()) > 0) {
        await w.check('logout confirmation');
        await w.click(confirm);
      }
      assert.equal(new URL(w.page.url()).pathname, '/logout', `civicid's logged-out page (${w.page.url()})`);
      assert.equal(await w.page.locator('form[action="/logout"]').count(), 0, 'the logout is done, not asked');
      await w.check('logged out');
      const names = (await context.cookies()).map((c) => c.name);
      assert.ok(!names.includes('svc_b_session'), `B's session cookie is gone (${names})`);
      assert.ok(!names.includes('civicid_session'), `civicid's session cookie is gone (${names})`);

      // A is signed out too: the back-channel logout ended its session
      const deadline = Date.now() + 15_000;
      for (;;) {
        await w.service('a');
        if (await w.isLogin()) break;
        assert.ok(Date.now() < deadline, `A still lets the citizen in 15 s after the logout at B (${w.page.url()})`);
        await w.page.waitForTimeout(250);
      }
      // (A's cookie, if the browser still has it, opened nothing: A sent the citizen to civicid)
      await w.check('login (after the logout)');

      // the pages visited on their own while signed out
      await visits(w, false);
      for (const must of ['login (A)', 'consent (A)', 'account', 'logged out', 'error', 'account (signed out)'])
        assert.ok(w.checked.includes(must), `${must} was checked (${w.checked})`);
    } finally {
      await context.close();
    }
  });
}
