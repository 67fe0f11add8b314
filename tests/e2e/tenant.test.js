// End-to-end: two municipalities on one server (issue 14). Tenants a and b of
// one store, each with a service and a citizen "hanako" (the same username,
// two accounts); a full sign-in at each with openid-client; each token
// verifies only against its own tenant's JWKS; each credential of a is
// refused by b; each tenant's audit log verifies alone and its export holds
// only its own entries; an officer of a cannot reach b's console by URL, with
// plain HTTP and in Chromium (playwright-core), and the reverse.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh ./tenant.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, spawnSync } from 'node:child_process';
import { once } from 'node:events';
import { createServer } from 'node:http';
import { existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { chromium } from 'playwright-core';

import { Browser, cli, civicidBin, freshStore, parseForms, startServer, statutePolicy } from './lib/server.js';
import { signIn, totp } from './lib/flow.js';
import { decodeJwt, verifyWithJwks } from './lib/jwt.js';

const T = { timeout: 120_000 };
// Debian's chromium; CIVICID_CHROMIUM names another (a missing one fails the suite)
const CHROMIUM = process.env.CIVICID_CHROMIUM || '/usr/bin/chromium';
const PASSWORD = 'hanako-e2e-Passw0rd!';
const OFFICER = { name: 'olga', password: 'olga-e2e-Passw0rd!' };
const CITIES = {
  a: { nameEn: 'Aizu', given: '会津花子', service: 'rp-a', redirect: 'http://127.0.0.1:9/a-cb' },
  b: { nameEn: 'Bandai', given: '磐梯花子', service: 'rp-b', redirect: 'http://127.0.0.1:9/b-cb' },
};

let store;
let server;
let receiver; // a's back-channel logout endpoint: the bodies it was posted
const received = [];
const city = {}; // name -> {issuer, secret, tokens, config, officerSecret, jwks}

/** `civicid ARGS --store DIR --tenant NAME` */
function tcli(name, args, opts) {
  return cli([...args, '--store', store.dir, '--tenant', name], opts);
}

before(async () => {
  receiver = createServer((req, res) => {
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', () => {
      received.push(new URLSearchParams(body).get('logout_token'));
      res.writeHead(200).end();
    });
  });
  await new Promise((resolve) => receiver.listen(0, '127.0.0.1', resolve));
  const bcl = `http://127.0.0.1:${receiver.address().port}/bcl`;
  store = freshStore('tenant');
  for (const [name, c] of Object.entries(CITIES)) {
    mkdirSync(join(store.policies, name), { mode: 0o700 });
    writeFileSync(join(store.policies, name, `${c.service}.policy`),
      statutePolicy(c.service, ['given_name', 'email']));
    cli(['tenant', 'add', name, '--store', store.dir, '--name-en', c.nameEn, '--set', 'default_locale=en']);
    tcli(name, ['user', 'add', 'hanako', '--password-stdin', '--claim', `given_name=${c.given}`,
      '--claim', `email=hanako@${name}.example`], { input: PASSWORD });
    const client = JSON.parse(tcli(name, ['client', 'add', '--json', '--client-id', c.service, '--name', c.service,
      '--redirect-uri', c.redirect, '--scope', 'openid profile email offline_access',
      ...(name === 'a' ? ['--backchannel-logout-uri', bcl] : [])]));
    const out = tcli(name, ['audit', 'officer', 'add', OFFICER.name, '--password-stdin'], { input: OFFICER.password });
    city[name] = { secret: client.client_secret, officerSecret: /^secret:\s*([A-Z2-7]+=*)\s*$/m.exec(out)[1] };
  }
  server = await startServer(store);
  for (const name of Object.keys(CITIES)) {
    city[name].issuer = `${server.issuer}/t/${name}`;
    const res = await fetch(`${city[name].issuer}/jwks`);
    assert.equal(res.status, 200);
    city[name].jwks = await res.json();
  }
});

after(async () => {
  if (server) await server.stop();
  if (receiver) receiver.close();
  if (store) store.remove();
});

test("serve's start line says where the tenants are: all below /t/NAME", T, () => {
  const { stdout } = server.output();
  assert.ok(stdout.split('\n').includes(`civicid: tenants below ${server.issuer}/t/NAME (each opened on its first request)`),
    stdout);
});

test('each tenant is an issuer of its own: discovery, JWKS, nothing at the root', T, async () => {
  for (const name of Object.keys(CITIES)) {
    const d = await (await fetch(`${city[name].issuer}/.well-known/openid-configuration`)).json();
    assert.equal(d.issuer, city[name].issuer);
    assert.equal(d.token_endpoint, `${city[name].issuer}/token`);
  }
  const kidsA = city.a.jwks.keys.map((k) => k.kid);
  assert.ok(city.b.jwks.keys.every((k) => !kidsA.includes(k.kid)), 'the tenants share no signing key');
  assert.equal((await fetch(server.url('/.well-known/openid-configuration'))).status, 404);
  assert.equal((await fetch(server.url('/t/nowhere/.well-known/openid-configuration'))).status, 404);
  assert.equal((await fetch(server.url('/t/../.well-known/openid-configuration'))).status, 404);
});

test('a full sign-in at each tenant; each token verifies only against its own JWKS', T, async () => {
  for (const [name, c] of Object.entries(CITIES)) {
    const { config, tokens } = await signIn(city[name].issuer, {
      clientId: c.service, secret: city[name].secret, redirectUri: c.redirect, username: 'hanako', password: PASSWORD,
    });
    city[name].config = config;
    city[name].tokens = tokens;
    assert.equal(tokens.claims().iss, city[name].issuer);
    const res = await fetch(`${city[name].issuer}/userinfo`, { headers: { authorization: `Bearer ${tokens.access_token}` } });
    assert.equal(res.status, 200);
    assert.equal((await res.json()).given_name, c.given, 'the same username is a citizen of each tenant');
  }
  for (const [mine, other] of [['a', 'b'], ['b', 'a']]) {
    for (const jwt of [city[mine].tokens.id_token, city[mine].tokens.access_token]) {
      await verifyWithJwks(jwt, city[mine].jwks);
      await assert.rejects(verifyWithJwks(jwt, city[other].jwks), /not in the JWKS/);
    }
  }
  assert.notEqual(decodeJwt(city.a.tokens.id_token).payload.sub, decodeJwt(city.b.tokens.id_token).payload.sub);
});

test("each credential of tenant a is refused by tenant b", T, async () => {
  const a = city.a;
  const b = city.b;
  const basic = (id, secret) => `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`;
  // the access token at b's userinfo
  let res = await fetch(`${b.issuer}/userinfo`, { headers: { authorization: `Bearer ${a.tokens.access_token}` } });
  assert.equal(res.status, 401);
  assert.match(res.headers.get('www-authenticate') ?? '', /invalid_token/);
  // ... and at a's, the same token works
  res = await fetch(`${a.issuer}/userinfo`, { headers: { authorization: `Bearer ${a.tokens.access_token}` } });
  assert.equal(res.status, 200);
  // the refresh token at b's token endpoint, with b's service credentials
  res = await fetch(`${b.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('rp-b', b.secret) },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: a.tokens.refresh_token }),
  });
  assert.equal(res.status, 400);
  assert.equal((await res.json()).error, 'invalid_grant');
  // a's service credentials at b
  res = await fetch(`${b.issuer}/token`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('rp-a', a.secret) },
    body: new URLSearchParams({ grant_type: 'refresh_token', refresh_token: a.tokens.refresh_token }),
  });
  assert.equal(res.status, 401);
  assert.equal((await res.json()).error, 'invalid_client');
  // the ID token as b's id_token_hint
  res = await fetch(`${b.issuer}/logout?id_token_hint=${a.tokens.id_token}`);
  assert.equal(res.status, 400);
  // a's introspection says inactive at b
  res = await fetch(`${b.issuer}/introspect`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', authorization: basic('rp-b', b.secret) },
    body: new URLSearchParams({ token: a.tokens.access_token }),
  });
  assert.equal((await res.json()).active, false);
});

test("a tenant's cookies are scoped to its path, and b ignores a's session", T, async () => {
  const browser = new Browser(city.a.issuer);
  const page = await browser.follow(`${city.a.issuer}/account/login`);
  const login = parseForms(page.text).find((f) => /\/login$/.test(f.action));
  assert.ok(login, 'the login form');
  assert.equal(new URL(login.action, page.url).pathname, '/t/a/login', 'the form posts inside the tenant');
  let res = await browser.post(new URL(login.action, page.url).href, { ...login.fields, username: 'hanako', password: PASSWORD });
  const lines = [...res.setCookies];
  while (res.status >= 300 && res.status < 400 && new URL(res.location).origin === browser.origin) {
    res = await browser.get(res.location);
    lines.push(...res.setCookies);
  }
  assert.equal(res.status, 200);
  assert.equal(new URL(res.url).pathname, '/t/a/account');
  assert.ok(lines.some((l) => /^civicid_session=/.test(l)), 'a session cookie was set');
  for (const line of lines) assert.match(line, /; Path=\/t\/a;/);
  // this browser sends every cookie it has to b too (it ignores Path): b still sees no one
  const atB = await browser.get(`${city.b.issuer}/account`);
  assert.equal(atB.status, 401);
  const atA = await browser.get(`${city.a.issuer}/account`);
  assert.equal(atA.status, 200);
  assert.match(atA.text, /href="\/t\/a\/account\/security/);
});

test("an officer of a cannot reach b's console entries by URL", T, async () => {
  const browser = new Browser(city.a.issuer);
  const form = parseForms((await browser.get(`${city.a.issuer}/officer/login`)).text)
    .find((f) => /\/officer\/login$/.test(f.action));
  assert.equal(form.action, '/t/a/officer/login');
  const res = await browser.post(new URL(form.action, city.a.issuer).href, {
    ...form.fields, name: OFFICER.name, password: OFFICER.password, code: totp(city.a.officerSecret),
  });
  assert.equal(res.status, 303);
  assert.equal(new URL(res.location).pathname, '/t/a/officer');
  assert.equal((await browser.get(`${city.a.issuer}/officer/entry?seq=0`)).status, 200);
  const atB = await browser.get(`${city.b.issuer}/officer/entry?seq=0`);
  assert.equal(atB.status, 303);
  assert.equal(new URL(atB.location).pathname, '/t/b/officer/login');
});

test("in Chromium, an officer of each tenant sees its entries and none of the other's by URL", T, async () => {
  assert.ok(existsSync(CHROMIUM), `${CHROMIUM} is installed (deploy/install-deps.sh test)`);
  const chrome = await chromium.launch({ executablePath: CHROMIUM, headless: true, args: ['--no-sandbox'] });
  try {
    for (const [mine, other] of [['a', 'b'], ['b', 'a']]) {
      const context = await chrome.newContext();
      const page = await context.newPage();
      // log in to mine's console (a code of the next step: the one before may be spent)
      await page.goto(`${city[mine].issuer}/officer/login`);
      await page.fill('#name', OFFICER.name);
      await page.fill('#password', OFFICER.password);
      await page.fill('#code', totp(city[mine].officerSecret, Date.now() + 30_000));
      await Promise.all([
        page.waitForURL(`${city[mine].issuer}/officer`),
        page.click(`form[action="/t/${mine}/officer/login"] button[type="submit"]`),
      ]);
      const cookie = (await context.cookies()).find((c) => /civicid_officer$/.test(c.name));
      assert.equal(cookie.path, `/t/${mine}`, "the console's cookie stays in its tenant");
      // mine's log, with its service's entries and nothing of the other's
      const services = await page.$$eval('table.log tbody tr', (trs) => trs.map((tr) => tr.querySelectorAll('td')[5]?.textContent.trim()));
      assert.ok(services.includes(CITIES[mine].service), `${mine}'s log names ${CITIES[mine].service}: ${services}`);
      assert.ok(!services.includes(CITIES[other].service), `${mine}'s log names nothing of ${other}`);
      // an entry of mine opens from its link
      const link = page.locator(`table.log a[href^="/t/${mine}/officer/entry?seq="]`).first();
      const href = await link.getAttribute('href');
      await Promise.all([page.waitForURL((u) => u.pathname === `/t/${mine}/officer/entry`), link.click()]);
      assert.doesNotMatch(await page.textContent('main'), new RegExp(CITIES[other].service));
      // the other's console and its entries, by URL: its login form, none of its data
      const seq = new URL(href, city[mine].issuer).searchParams.get('seq');
      for (const path of ['/officer', `/officer/entry?seq=${seq}`, '/officer/entry?seq=0', '/officer/services']) {
        await page.goto(`${city[other].issuer}${path}`);
        assert.equal(new URL(page.url()).pathname, `/t/${other}/officer/login`, `${mine}'s officer at ${other}${path}`);
        const text = await page.textContent('body');
        assert.doesNotMatch(text, new RegExp(`${CITIES[other].service}|${CITIES[other].given}`));
        assert.equal(await page.locator('table.log').count(), 0);
      }
      // and mine's console is still open to them
      await page.goto(`${city[mine].issuer}/officer`);
      assert.equal(new URL(page.url()).pathname, `/t/${mine}/officer`);
      await context.close();
    }
  } finally {
    await chrome.close();
  }
});

test("each tenant's audit log verifies alone and its export holds only its own", T, async () => {
  for (const [name, other] of [['a', 'b'], ['b', 'a']]) {
    tcli(name, ['audit', 'verify']);
    const path = join(store.root, `export-${name}.jsonl`);
    tcli(name, ['audit', 'export', '--output', path]);
    const text = readFileSync(path, 'utf8');
    assert.match(text, new RegExp(CITIES[name].service));
    assert.doesNotMatch(text, new RegExp(CITIES[other].service), `${name}'s export names nothing of ${other}`);
  }
});

test('commands need --tenant once a store has tenants; tenant show and disable', T, async () => {
  const r = spawnSync(civicidBin(), ['user', 'list', '--store', store.dir], { encoding: 'utf8' });
  assert.equal(r.status, 2);
  assert.match(r.stderr, /--tenant NAME/);
  const conf = store.writeConfig(`issuer = ${server.issuer}\npolicies = ${store.policies}\n`);
  const show = JSON.parse(cli(['tenant', 'show', 'a', '--store', store.dir, '--config', conf, '--json']));
  assert.equal(show.issuer, city.a.issuer);
  assert.equal(show.counts.citizens, 1);
  assert.equal(show.counts.services, 2); // rp-a, and the account pages' own (civicid-account)
  assert.deepEqual(show.policies.map((p) => p.service), ['rp-a']);
  assert.deepEqual(show.keys.map((k) => k.kid).sort(), city.a.jwks.keys.map((k) => k.kid).sort());
  assert.deepEqual(JSON.parse(cli(['tenant', 'disable', 'b', '--store', store.dir, '--json'])),
    { name: 'b', disabled: true });
  // the server looks every few seconds
  let status = 200;
  for (let i = 0; i < 60 && status !== 404; i++) {
    await sleep(250);
    status = (await fetch(`${city.b.issuer}/.well-known/openid-configuration`)).status;
  }
  assert.equal(status, 404);
  assert.equal((await fetch(`${city.a.issuer}/.well-known/openid-configuration`)).status, 200);
  const list = JSON.parse(cli(['tenant', 'list', '--store', store.dir, '--config', conf, '--json']));
  assert.deepEqual(list.map((t) => [t.name, t.issuer, t.disabled]),
    [['a', city.a.issuer, false], ['b', city.b.issuer, true]]);
  const bad = spawnSync(civicidBin(), ['tenant', 'add', 'Not-A-Name', '--store', store.dir], { encoding: 'utf8' });
  assert.equal(bad.status, 2);
  assert.match(bad.stderr, /a-z, 0-9/);
});

test("tenant show of a tenant never served leaves its audit log's issuer to the server", T, async () => {
  // the CLI's issuer (no --config issuer: its default, http://127.0.0.1:8080)
  // recorded by a look would sign the tenant's checkpoints under it for good
  const own = freshStore('tenant-show');
  mkdirSync(join(own.policies, 'c'), { mode: 0o700 });
  cli(['tenant', 'add', 'c', '--store', own.dir]);
  const conf = own.writeConfig(`policies = ${own.policies}\n`, 'show.conf');
  const show = JSON.parse(cli(['tenant', 'show', 'c', '--store', own.dir, '--config', conf, '--json']));
  assert.equal(show.issuer, 'http://127.0.0.1:8080/t/c');
  const srv = await startServer(own);
  try {
    const res = await fetch(`${srv.issuer}/t/c/.well-known/civicid-audit`);
    assert.equal(res.status, 200);
    const { origin } = await res.json();
    assert.equal(origin, `${new URL(srv.issuer).host}/t/c/audit`);
  } finally {
    await srv.stop();
    own.remove();
  }
});

test("a tenant's back-channel logout notices go out, signed by its own keys", T, async () => {
  tcli('a', ['user', 'disable', 'hanako']);
  for (let i = 0; i < 100 && received.length === 0; i++) await sleep(100);
  assert.equal(received.length, 1, 'one notice: hanako of a had one session with rp-a');
  const t = await verifyWithJwks(received[0], city.a.jwks);
  assert.equal(t.payload.iss, city.a.issuer);
  assert.equal(t.payload.aud, 'rp-a');
});

// four first opens, each tens of seconds under valgrind on a slow machine
test("a tenant's first open (its store, its keys) stalls neither an open tenant's requests nor an unknown one's 404", { timeout: 300_000 }, async () => {
  // one polling thread, so that a first open run on it would hold every other
  // request behind it; each first open takes far longer than a JWKS request
  const own = freshStore('tenant-open');
  const names = ['p', 'q', 'r', 's'];
  for (const name of names) {
    mkdirSync(join(own.policies, name), { mode: 0o700 });
    cli(['tenant', 'add', name, '--store', own.dir]);
  }
  const srv = await startServer(own, { configFile: own.writeConfig('threads = 1\n') });
  try {
    const jwks = (name) => fetch(`${srv.issuer}/t/${name}/jwks`).then(async (res) => {
      assert.equal(res.status, 200, name);
      await res.arrayBuffer();
      return performance.now();
    });
    const unknown = () => fetch(`${srv.issuer}/t/nosuch/jwks`).then(async (res) => {
      assert.equal(res.status, 404);
      await res.arrayBuffer();
      return performance.now();
    });
    await jwks('p');
    for (const name of names.slice(1)) {
      const opening = jwks(name);
      await sleep(20); // its request is in, its open under way
      // one after the other: a 404 held until the open ends would let its
      // answer arrive first, so only p, asked after it, shows the wait
      const refused = await unknown();
      const answered = await jwks('p');
      const opened = await opening;
      assert.ok(refused < opened && answered < opened,
        `nosuch's 404, then p, answered only after ${name}'s first open ended (${(answered - opened).toFixed(1)} ms)`);
    }
  } finally {
    await srv.stop();
    own.remove();
  }
});

test("a first open that hangs does not hold an open tenant's logins", { timeout: 240_000 }, async () => {
  // one login worker: were the first opens run by the login workers, a login
  // POST at the open tenant p would wait until q's open ends. q's open is made
  // to hang, not merely to be slow, so that the order does not depend on how
  // threads are scheduled (valgrind runs one at a time): a process of the
  // test holds the write lock LMDB takes on byte 0 of q's lock.mdb to learn
  // whether it is the store's only user, and LMDB waits for it
  const own = freshStore('tenant-hang');
  for (const name of ['p', 'q']) {
    mkdirSync(join(own.policies, name), { mode: 0o700 });
    cli(['tenant', 'add', name, '--store', own.dir]);
  }
  const lockFile = join(own.dir, 'tenants', 'q', 'lock.mdb');
  cli(['user', 'list', '--store', own.dir, '--tenant', 'q']); // q's lock.mdb, made as LMDB makes it
  const srv = await startServer(own, { configFile: own.writeConfig('login_threads = 1\n') });
  let holder = null;
  const release = () => holder?.stdin.end();
  try {
    // p is open before the lock is held: the server's notice worker may be
    // the first to wait for it, holding the map's opening lock meanwhile
    assert.equal((await fetch(`${srv.issuer}/t/p/jwks`)).status, 200);
    holder = spawn('python3', ['-c', [
      'import fcntl, sys',
      'f = open(sys.argv[1], "r+b")',
      'fcntl.lockf(f, fcntl.LOCK_EX, 1, 0)', // waits out the notice worker's look, if any
      'print("held", flush=True)',
      'sys.stdin.read()',
    ].join('\n'), lockFile], { stdio: ['pipe', 'pipe', 'inherit'] });
    const held = await Promise.race([once(holder.stdout, 'data'), once(holder, 'exit')]);
    assert.equal(String(held[0]).trim(), 'held', 'the lock holder failed');
    let opened = false;
    const open = fetch(`${srv.issuer}/t/q/jwks`).then((res) => {
      opened = true;
      return res.status;
    });
    // q's open is under way once the server waits for the lock (/proc/locks
    // lists a waiter as "->")
    const ino = `:${statSync(lockFile).ino} `;
    const waiting = () => readFileSync('/proc/locks', 'utf8').split('\n')
      .some((line) => line.includes('->') && line.includes(ino));
    for (let i = 0; i < 600 && !waiting(); i++) await sleep(50);
    assert.ok(waiting(), "the server never waited for q's lock");
    // a login POST is answered by the login worker (here a refusal: no form);
    // without an answer in 60 s, it waits for q's open
    const login = fetch(`${srv.issuer}/t/p/login`, {
      method: 'POST',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      body: 'username=hanako',
    }).then(async (res) => {
      await res.arrayBuffer();
      return res.status;
    });
    let timer;
    const answered = await Promise.race([login, new Promise((r) => { timer = setTimeout(() => r('none'), 60_000); })]);
    clearTimeout(timer);
    assert.equal(opened, false, "q's open ended while its lock was held");
    release();
    assert.equal(answered, 400, "p's login was not answered while q's first open hung");
    assert.equal(await open, 200, 'q opens once the lock is let go');
  } finally {
    release();
    await srv.stop();
    own.remove();
  }
});

test("a tenant no request opened since a restart still sends the notices the CLI queues", T, async () => {
  tcli('a', ['user', 'enable', 'hanako']);
  const c = CITIES.a;
  await signIn(city.a.issuer, { clientId: c.service, secret: city.a.secret, redirectUri: c.redirect, username: 'hanako', password: PASSWORD });
  // the same port, so the tenant's issuer (and its sessions' services) stay as they were
  await server.stop();
  server = await startServer(store, { port: server.port });
  received.length = 0;
  tcli('a', ['user', 'disable', 'hanako']);
  // no request reaches /t/a: the worker finds the notice due in the tenant's store and
  // opens it (it looks every 15 s)
  for (let i = 0; i < 250 && received.length === 0; i++) await sleep(100);
  assert.equal(received.length, 1, 'the notice went out with no request to the tenant');
  const t = await verifyWithJwks(received[0], city.a.jwks);
  assert.equal(t.payload.iss, city.a.issuer);
  assert.equal(t.payload.aud, 'rp-a');
});
