// End-to-end: a tenant served at a host of its own (issue 14, `civicid tenant
// add c --set host=c.example`) beside a tenant at /t/a, on one server. The
// name c.example resolves nowhere: every request for it goes to the server on
// 127.0.0.1 with "Host: c.example", as a reverse proxy passes it (hostFetch
// for openid-client and the cookie-keeping Browser; Chromium maps the name
// with --host-resolver-rules). A full sign-in at c: discovery, the login
// page, the token endpoint and userinfo all at c's root, the ID token's iss
// c's host issuer and verifying against c's JWKS only; c's cookies at Path=/;
// c is not reached by /t/c, nor a by c's host; an officer of c works in c's
// console at its host in a real browser.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh ./tenant_host.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { chromium } from 'playwright-core';

import { Browser, cli, freshStore, hostFetch, startServer, statutePolicy, submitLogin } from './lib/server.js';
import { authorizationRequest, discover, signIn, totp } from './lib/flow.js';
import { verifyWithJwks } from './lib/jwt.js';

const T = { timeout: 120_000 };
// Debian's chromium; CIVICID_CHROMIUM names another (a missing one fails the suite)
const CHROMIUM = process.env.CIVICID_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'hanako-e2e-Passw0rd!';
const OFFICER = { name: 'olga', password: 'olga-e2e-Passw0rd!' };
const HOST = 'c.example';
const ISSUER_C = `http://${HOST}`;
const CITIES = {
  a: { nameEn: 'Aizu', given: '会津花子', service: 'rp-a', redirect: 'http://127.0.0.1:9/a-cb', set: [] },
  c: { nameEn: 'Chuo', given: '中央花子', service: 'rp-c', redirect: 'http://127.0.0.1:9/c-cb', set: ['--set', `host=${HOST}`] },
};

let store;
let server;
let viaHost; // fetch for c's URLs: to the server, with Host: c.example
const city = {}; // name -> {secret, officerSecret, tokens}

/** `civicid ARGS --store DIR --tenant NAME` */
function tcli(name, args, opts) {
  return cli([...args, '--store', store.dir, '--tenant', name], opts);
}

before(async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed (deploy/install-deps.sh test)`);
  store = freshStore('tenant-host');
  for (const [name, c] of Object.entries(CITIES)) {
    mkdirSync(join(store.policies, name), { mode: 0o700 });
    writeFileSync(join(store.policies, name, `${c.service}.policy`),
      statutePolicy(c.service, ['given_name', 'email']));
    const added = cli(['tenant', 'add', name, '--store', store.dir, '--name-en', c.nameEn, '--set', 'default_locale=en', ...c.set]);
    // the operator is told the issuer services must use: the host's for c
    if (name === 'c') assert.match(added, new RegExp(`: issuer ${ISSUER_C}, `), added);
    else assert.match(added, /: issuer http:\/\/[^ ]+\/t\/a, /, added);
    tcli(name, ['user', 'add', 'hanako', '--password-stdin', '--claim', `given_name=${c.given}`,
      '--claim', `email=hanako@${name}.example`], { input: PASSWORD });
    const client = JSON.parse(tcli(name, ['client', 'add', '--json', '--client-id', c.service, '--name', c.service,
      '--redirect-uri', c.redirect, '--scope', 'openid profile email']));
    const out = tcli(name, ['audit', 'officer', 'add', OFFICER.name, '--password-stdin'], { input: OFFICER.password });
    city[name] = { secret: client.client_secret, officerSecret: /^secret:\s*([A-Z2-7]+=*)\s*$/m.exec(out)[1] };
  }
  server = await startServer(store);
  viaHost = hostFetch(ISSUER_C, server.issuer);
  city.a.issuer = `${server.issuer}/t/a`;
  city.c.issuer = ISSUER_C;
});

after(async () => {
  if (server) await server.stop();
  if (store) store.remove();
});

test("serve's start line says where the tenants are: below /t/NAME and one at its own host", T, () => {
  const { stdout } = server.output();
  assert.ok(stdout.split('\n').includes(`civicid: tenants below ${server.issuer}/t/NAME and 1 at a host of its own`
    + ' (each opened on its first request)'), stdout);
});

test("tenant list and show name c's host issuer; a second tenant cannot take its host", T, () => {
  const conf = store.writeConfig(`issuer = ${server.issuer}\npolicies = ${store.policies}\n`);
  const list = JSON.parse(cli(['tenant', 'list', '--store', store.dir, '--config', conf, '--json']));
  assert.deepEqual(list.map((t) => [t.name, t.issuer]), [['a', city.a.issuer], ['c', ISSUER_C]]);
  assert.throws(() => cli(['tenant', 'add', 'd', '--store', store.dir, '--set', 'host=C.example']),
    /tenant "c" is already served at c\.example/);
  assert.throws(() => cli(['tenant', 'add', 'd', '--store', store.dir, '--set', 'host=c.example/t/a']),
    /host: a DNS name/);
});

test("c answers at its host's root: discovery and JWKS name its own issuer", T, async () => {
  const d = await (await viaHost(`${ISSUER_C}/.well-known/openid-configuration`)).json();
  assert.equal(d.issuer, ISSUER_C);
  assert.equal(d.authorization_endpoint, `${ISSUER_C}/authorize`);
  assert.equal(d.jwks_uri, `${ISSUER_C}/jwks`);
  city.c.jwks = await (await viaHost(`${ISSUER_C}/jwks`)).json();
  city.a.jwks = await (await fetch(`${city.a.issuer}/jwks`)).json();
  const kidsA = city.a.jwks.keys.map((k) => k.kid);
  assert.ok(city.c.jwks.keys.every((k) => !kidsA.includes(k.kid)), 'c shares no signing key with a');
  // the Host is a name, read strictly, in any case, with its default port or none
  for (const host of ['C.EXAMPLE', 'c.example:80']) {
    const res = await hostFetch(`http://${host}`, server.issuer)(`http://${host}/.well-known/openid-configuration`);
    assert.equal(res.status, 200, host);
    assert.equal((await res.json()).issuer, ISSUER_C);
  }
});

test('c is served at its host only; a at /t/a only', T, async () => {
  // c by its path on the server's host
  assert.equal((await fetch(server.url('/t/c/.well-known/openid-configuration'))).status, 404);
  // at c's host, /t/a is c's path: no endpoint, never tenant a
  assert.equal((await viaHost(`${ISSUER_C}/t/a/.well-known/openid-configuration`)).status, 404);
  // a as before; nothing at the server's root
  assert.equal((await fetch(`${city.a.issuer}/.well-known/openid-configuration`)).status, 200);
  assert.equal((await fetch(server.url('/.well-known/openid-configuration'))).status, 404);
  // a host nearly c's, or hostile, is nobody's
  // (:443 too: the server is http, whose clients leave out :80 only)
  for (const host of ['c.example.', 'x.c.example', 'c.example:8080', 'c.example:443', 'c_example']) {
    const res = await hostFetch(`http://${host}`, server.issuer)(`http://${host}/.well-known/openid-configuration`);
    assert.equal(res.status, 404, host);
  }
});

test("a full sign-in at c by its host: the token's iss is c's host issuer", T, async () => {
  const c = CITIES.c;
  const { config, tokens } = await signIn(ISSUER_C, {
    clientId: c.service, secret: city.c.secret, redirectUri: c.redirect, username: 'hanako', password: PASSWORD,
    fetch: viaHost,
  });
  assert.equal(config.serverMetadata().issuer, ISSUER_C);
  assert.equal(tokens.claims().iss, ISSUER_C);
  await verifyWithJwks(tokens.id_token, city.c.jwks);
  await assert.rejects(verifyWithJwks(tokens.id_token, city.a.jwks), /not in the JWKS/);
  const res = await viaHost(`${ISSUER_C}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(res.status, 200);
  assert.equal((await res.json()).given_name, c.given);
  // a refuses c's access token
  const atA = await fetch(`${city.a.issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
  assert.equal(atA.status, 401);
});

test("c's pages post to its root and its cookies have Path=/", T, async () => {
  const c = CITIES.c;
  const config = await discover(ISSUER_C, c.service, city.c.secret, { fetch: viaHost });
  const req = await authorizationRequest(config, c.redirect, 'openid profile email');
  const browser = new Browser(ISSUER_C, { fetch: viaHost });
  const { form, response } = await submitLogin(browser, req.url.href, 'hanako', PASSWORD);
  assert.equal(form.action, '/login', "the login form posts to c's root");
  assert.equal(response.status, 303);
  assert.equal(new URL(response.location).origin, new URL(c.redirect).origin, 'back to the service');
  assert.ok(response.setCookies.some((l) => /^civicid_session=/.test(l)), 'a session cookie was set');
  for (const line of response.setCookies) assert.match(line, /; Path=\/;/);
  // the session opens c's account page, whose links stay at c's root
  const account = await browser.get(`${ISSUER_C}/account`);
  assert.equal(account.status, 200);
  assert.match(account.text, /href="\/account\/security/);
  // and is nobody at a
  const atA = await browser.get(`${city.a.issuer}/account`);
  assert.equal(atA.status, 401);
});

test("an officer of c works in c's console at its host, in Chromium", T, async () => {
  const chrome = await chromium.launch({
    executablePath: CHROMIUM, headless: true,
    args: ['--no-sandbox', `--host-resolver-rules=MAP ${HOST} 127.0.0.1:${server.port}`],
  });
  try {
    const context = await chrome.newContext();
    const page = await context.newPage();
    await page.goto(`${ISSUER_C}/officer/login`);
    await page.fill('#name', OFFICER.name);
    await page.fill('#password', OFFICER.password);
    await page.fill('#code', totp(city.c.officerSecret));
    await Promise.all([page.waitForURL(`${ISSUER_C}/officer`), page.click('form[action="/officer/login"] button[type="submit"]')]);
    const cookie = (await context.cookies()).find((k) => k.name === 'civicid_officer');
    assert.equal(cookie.domain, HOST);
    assert.equal(cookie.path, '/');
    const text = await page.textContent('main');
    assert.match(text, /rp-c/, "c's log names its service");
    assert.doesNotMatch(text, /rp-a/);
    await context.close();
  } finally {
    await chrome.close();
  }
});
