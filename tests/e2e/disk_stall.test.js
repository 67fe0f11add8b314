// A disk that hangs holds up the requests that write, never the others.
// The real `civicid serve` runs with ONE polling thread (threads = 1), so a
// request that waited for the disk on it would hold every other connection;
// tools/fault_sync.c, preloaded, makes every fsync, fdatasync and msync wait
// while a file exists (the disk hangs). Shown: while a revocation waits for
// its durable write, discovery, the JWKS, a client_credentials token and an
// introspection are answered at once; the revocation is answered once the
// disk is back, and the token is then inactive. Without the write threads
// (the revocation answered on the polling thread) the reads hang too.
// And a server told to stop while a write waits for the hung disk: it still
// answers what only reads, answers a new write or login 503 with Retry-After
// (JSON, or a page for a page endpoint) instead of closing the connection
// on it, answers the waiting write once the disk is back, and exits 0; with
// several cities, a request for one not yet opened gets the same 503, as its
// first open would need the stopped opener thread. And a server told to
// stop while a userinfo's audit entries wait for the hung disk: a new
// userinfo is answered 503 at once, with no attribute (its entries would
// need the disk the stop is waiting for), the waiting one with its
// attributes once the disk is back, and its release is in the log.
//
// Run: CIVICID_BIN=build/asan/server/civicid \
//      CID_FAULT_SYNC=$PWD/build/asan/tests/e2e/libfault_sync.so \
//      bash tests/e2e/run.sh disk_stall.test.js
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { addStatuteService, cli, faultSyncLibrary, freshStore, preloadEnv, startServer } from './lib/server.js';
import { signIn } from './lib/flow.js';

const stores = [];
const running = []; // {server, stallFile}

after(async () => {
  try {
    // a test that failed may have left the disk hung: a stop would wait for it
    for (const r of running) rmSync(r.stallFile, { force: true });
    for (const r of running) await r.server.stop();
  } finally {
    for (const s of stores) s.remove();
  }
});

/** A fetch that gives up after ms: {status, headers, body} or {timedOut: true}. */
async function within(ms, url, init = {}) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    const res = await fetch(url, { ...init, signal: ac.signal });
    return { status: res.status, headers: res.headers, body: await res.text() };
  } catch (e) {
    if (ac.signal.aborted) return { timedOut: true };
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * A server over a fresh store, one polling thread and writeThreads write
 * threads, whose syncs all wait while stallFile exists; a client_credentials
 * client. With tenants (names), a store of those cities, the client in the
 * first, whose issuer is the one returned. prepare(store), if given, runs
 * before the server starts. {server, issuer, stallFile, form (its headers
 * for a form POST)}.
 */
async function stallableServer(name, writeThreads, tenants = [], prepare = null) {
  const store = freshStore(name);
  stores.push(store);
  const stallFile = join(store.root, 'the-disk-hangs');
  for (const t of tenants) {
    mkdirSync(join(store.policies, t), { mode: 0o700 });
    cli(['tenant', 'add', t, '--store', store.dir]);
  }
  const { client_id: id, client_secret: secret } = JSON.parse(cli([
    'client', 'add', '--store', store.dir, ...(tenants.length ? ['--tenant', tenants[0]] : []), '--json',
    '--client-id', `${name}-machine`, '--name', `Disk ${name} test service`, '--scope', 'city',
    '--grant-types', 'client_credentials',
  ]));
  if (prepare) prepare(store);
  const configFile = store.writeConfig(
    `threads = 1\nwrite_threads = ${writeThreads}\naudit_checkpoint_interval = 86400\n`);
  const started = await startServer(store, {
    configFile,
    env: preloadEnv(faultSyncLibrary(), { CID_FAULT_STALL: stallFile }),
  });
  const form = {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
  };
  running.push({ server: started, stallFile });
  const issuer = tenants.length ? `${started.issuer}/t/${tenants[0]}` : started.issuer;
  return { server: started, issuer, stallFile, form, store };
}

/** Hangs the disk, revokes token, waits until a sync waits: {done, result()}. */
async function revokeOnHungDisk({ issuer, stallFile, form }, token) {
  let result = null;
  writeFileSync(stallFile, 'every sync waits while this file exists\n');
  // revoking a token writes its id durably: it waits for the disk
  const done = fetch(`${issuer}/revoke`, {
    method: 'POST', headers: form, body: `token=${encodeURIComponent(token)}`,
  }).then(async (res) => {
    result = { status: res.status, body: await res.text() };
  });
  // fault_sync leaves STALL.waiting once a sync waits: the revocation's
  for (let waited = 0; !existsSync(`${stallFile}.waiting`); waited += 20) {
    assert.ok(waited < 30_000, 'a sync waits for the hung disk');
    await sleep(20);
  }
  return { done, result: () => result };
}

/**
 * A client_credentials token of hung's client, revoked on the hung disk,
 * then the server told to stop; returns once it says it is stopping and its
 * idle pools (login, opener) have stopped, the write pool waiting for the
 * revocation: {token, revocation (revokeOnHungDisk's), stopped (stop()'s)}.
 */
async function stopWhileRevoking(hung) {
  const { server, issuer, form } = hung;
  const cc = await within(30_000, `${issuer}/token`, {
    method: 'POST', headers: form, body: 'grant_type=client_credentials&scope=city',
  });
  assert.equal(cc.status, 200, cc.body);
  const token = JSON.parse(cc.body).access_token;

  const revocation = await revokeOnHungDisk(hung, token);
  const stopped = server.stop({ timeoutMs: 60_000 });
  for (let waited = 0; !/civicid: stopping\n/.test(server.output().stderr); waited += 20) {
    assert.ok(waited < 10_000, 'civicid serve says it is stopping');
    await sleep(20);
  }
  await sleep(300);
  return { token, revocation, stopped };
}

test('a hung disk holds up the writes, not the polling thread', async () => {
  const hung = await stallableServer('stall', 2);
  const { issuer, form } = hung;
  const ccToken = async (ms) => {
    const r = await within(ms, `${issuer}/token`, {
      method: 'POST', headers: form, body: 'grant_type=client_credentials&scope=city',
    });
    assert.ok(!r.timedOut, 'a client_credentials token is answered');
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body).access_token;
  };
  const introspect = async (token, ms) => {
    const r = await within(ms, `${issuer}/introspect`, {
      method: 'POST', headers: form, body: `token=${encodeURIComponent(token)}`,
    });
    assert.ok(!r.timedOut, 'an introspection is answered');
    assert.equal(r.status, 200, r.body);
    return JSON.parse(r.body);
  };

  const doomed = await ccToken(10_000);
  assert.equal((await introspect(doomed, 10_000)).active, true);

  const revocation = await revokeOnHungDisk(hung, doomed);
  assert.equal(revocation.result(), null, 'the revocation waits for the hung disk');

  // meanwhile the one polling thread answers everything that only reads
  // (5 s: room for a sanitized build on a busy machine, far under the hang)
  for (const path of ['/.well-known/openid-configuration', '/jwks']) {
    const r = await within(5_000, `${issuer}${path}`);
    assert.ok(!r.timedOut, `${path} is answered while the disk hangs`);
    assert.equal(r.status, 200);
  }
  const other = await ccToken(5_000);
  assert.equal((await introspect(other, 5_000)).active, true);
  assert.equal(revocation.result(), null, 'the revocation still waits');

  rmSync(hung.stallFile);
  await revocation.done;
  assert.equal(revocation.result().status, 200, revocation.result().body);
  assert.equal((await introspect(doomed, 10_000)).active, false, 'the revoked token is inactive');
  assert.equal((await introspect(other, 10_000)).active, true);
});

test('a server stopping while the disk hangs answers new writes 503, the waiting one once the disk is back', async () => {
  const hung = await stallableServer('stall-stop', 1);
  const { issuer, form } = hung;
  const { token, revocation, stopped } = await stopWhileRevoking(hung);

  const again = await within(5_000, `${issuer}/revoke`, {
    method: 'POST', headers: form, body: `token=${encodeURIComponent(token)}`,
  });
  assert.ok(!again.timedOut, 'a write arriving while the server stops is answered at once');
  assert.equal(again.status, 503, again.body);
  assert.equal(JSON.parse(again.body).error, 'temporarily_unavailable');
  const res = await fetch(`${issuer}/revoke`, {
    method: 'POST', headers: form, body: `token=${encodeURIComponent(token)}`,
  });
  assert.equal(res.status, 503);
  assert.equal(res.headers.get('retry-after'), '5', 'it says when to retry');
  await res.text();
  const login = await within(5_000, `${issuer}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded', 'accept-language': 'en' },
    body: 'req=x&csrf=y&username=nobody&password=nobody-password',
  });
  assert.ok(!login.timedOut, 'a login arriving while the server stops is answered at once');
  assert.equal(login.status, 503);
  assert.match(login.body, /<html/i, 'the login endpoint answers with a page');
  assert.match(login.body, /restarting\. Try again in a moment/);
  const disc = await within(5_000, `${issuer}/.well-known/openid-configuration`);
  assert.ok(!disc.timedOut && disc.status === 200, 'what only reads is still answered');
  assert.equal(revocation.result(), null, 'the revocation still waits for the disk');

  rmSync(hung.stallFile);
  await revocation.done;
  assert.equal(revocation.result().status, 200, revocation.result().body);
  await stopped; // exit 0, no sanitizer report
});

test('a server of several cities stopping while the disk hangs answers a first open 503', async () => {
  const hung = await stallableServer('stall-tenants', 1, ['p', 'q']);
  const { server: stopping, issuer } = hung;
  const { revocation, stopped } = await stopWhileRevoking(hung);

  const res = await within(5_000, `${stopping.issuer}/t/q/jwks`);
  assert.ok(!res.timedOut, 'a city not yet opened is answered at once');
  assert.equal(res.status, 503, res.body);
  assert.equal(JSON.parse(res.body).error, 'temporarily_unavailable');
  assert.equal(res.headers.get('retry-after'), '5', 'it says when to retry');
  const open = await within(5_000, `${issuer}/jwks`);
  assert.ok(!open.timedOut && open.status === 200, 'the open city still answers what only reads');
  const unknown = await within(5_000, `${stopping.issuer}/t/nosuch/jwks`);
  assert.ok(!unknown.timedOut && unknown.status === 404, 'a city that does not exist is still 404');
  assert.equal(revocation.result(), null, 'the revocation still waits for the disk');

  rmSync(hung.stallFile);
  await revocation.done;
  assert.equal(revocation.result().status, 200, revocation.result().body);
  await stopped;
});

test('a server stopping while a userinfo waits for the hung disk answers a new userinfo 503', async () => {
  const service = 'stall-rp';
  const redirect = 'http://127.0.0.1:9/stall-cb';
  const claims = { given_name: '花子', family_name: '山田', email: 'hanako@example.jp' };
  let secret;
  const hung = await stallableServer('stall-userinfo', 1, [], (store) => {
    secret = addStatuteService(store, {
      service, name: 'Disk stall test service', redirectUri: redirect,
      username: 'hanako', password: 'hanako-stall-Passw0rd!', claims,
    });
  });
  const { server, issuer, stallFile } = hung;
  const { tokens } = await signIn(issuer, {
    clientId: service, secret, redirectUri: redirect, username: 'hanako', password: 'hanako-stall-Passw0rd!',
  });
  const bearer = { authorization: `Bearer ${tokens.access_token}` };
  const first = await within(10_000, `${issuer}/userinfo`, { headers: bearer });
  assert.equal(first.status, 200, first.body);

  // a userinfo whose audit entries wait for the hung disk, then the stop
  writeFileSync(stallFile, 'every sync waits while this file exists\n');
  let waiting = null;
  const done = fetch(`${issuer}/userinfo`, { headers: bearer }).then(async (res) => {
    waiting = { status: res.status, release: res.headers.get('x-civicid-release'), body: await res.text() };
  });
  for (let waited = 0; !existsSync(`${stallFile}.waiting`); waited += 20) {
    assert.ok(waited < 30_000, 'the userinfo\'s commit waits for the hung disk');
    await sleep(20);
  }
  const stopped = server.stop({ timeoutMs: 60_000 });
  // the stop refuses userinfo once its write threads are done: a write
  // refused (a revocation of no token, which writes nothing) says they are
  const basic = { authorization: `Basic ${Buffer.from(`${service}:${secret}`).toString('base64')}` };
  for (let waited = 0; ; waited += 50) {
    const r = await within(5_000, `${issuer}/revoke`, {
      method: 'POST', headers: { ...basic, 'content-type': 'application/x-www-form-urlencoded' },
      body: 'token=no-such-token',
    });
    assert.ok(!r.timedOut, 'a revocation of no token is answered at once');
    if (r.status === 503) break;
    assert.equal(r.status, 200, r.body);
    assert.ok(waited < 20_000, 'the stop refuses writes');
    await sleep(50);
  }

  const again = await within(5_000, `${issuer}/userinfo`, { headers: bearer });
  assert.ok(!again.timedOut, 'a userinfo arriving while the server stops is answered at once');
  assert.equal(again.status, 503, again.body);
  assert.equal(JSON.parse(again.body).error, 'temporarily_unavailable');
  assert.equal(again.headers.get('retry-after'), '5', 'it says when to retry');
  for (const v of Object.values(claims)) assert.ok(!again.body.includes(v), `no attribute: ${again.body}`);
  const disc = await within(5_000, `${issuer}/.well-known/openid-configuration`);
  assert.ok(!disc.timedOut && disc.status === 200, 'what only reads is still answered');
  assert.equal(waiting, null, 'the first userinfo still waits for the disk');

  rmSync(stallFile);
  await done;
  assert.equal(waiting.status, 200, waiting.body);
  assert.equal(JSON.parse(waiting.body).given_name, claims.given_name);
  await stopped; // exit 0, no sanitizer report
  const rep = JSON.parse(cli(['audit', 'verify', '--store', hung.store.dir, '--json']));
  assert.equal(rep.ok, true, JSON.stringify(rep));
  assert.ok(waiting.release, 'the answer names its release');
  const named = cli(['audit', 'query', '--store', hung.store.dir, '--release', waiting.release, '--json']);
  assert.match(named, /release\.permit/, `the release answered with attributes is in the log: ${named}`);
});
