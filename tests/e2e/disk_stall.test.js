// A disk that hangs holds up the requests that write, never the others.
// The real `civicid serve` runs with ONE polling thread (threads = 1), so a
// request that waited for the disk on it would hold every other connection;
// tools/fault_sync.c, preloaded, makes every fsync, fdatasync and msync wait
// while a file exists (the disk hangs). Shown: while a revocation waits for
// its durable write, discovery, the JWKS, a client_credentials token and an
// introspection are answered at once; the revocation is answered once the
// disk is back, and the token is then inactive. Without the write threads
// (the revocation answered on the polling thread) the reads hang too.
//
// Run: CIVICID_BIN=build/asan/server/civicid \
//      CID_FAULT_SYNC=$PWD/build/asan/tests/e2e/libfault_sync.so \
//      bash tests/e2e/run.sh disk_stall.test.js
import { after, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import { addClient, faultSyncLibrary, freshStore, preloadEnv, startServer } from './lib/server.js';

const stores = [];
let server;

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    for (const s of stores) s.remove();
  }
});

/** A fetch that gives up after ms: {status, body} or {timedOut: true}. */
async function within(ms, url, init = {}) {
  const ac = new AbortController();
  const timer = setTimeout(() => ac.abort(), ms);
  try {
    const res = await fetch(url, { ...init, signal: ac.signal });
    return { status: res.status, body: await res.text() };
  } catch (e) {
    if (ac.signal.aborted) return { timedOut: true };
    throw e;
  } finally {
    clearTimeout(timer);
  }
}

test('a hung disk holds up the writes, not the polling thread', async () => {
  const store = freshStore('stall');
  stores.push(store);
  const stallFile = join(store.root, 'the-disk-hangs');
  const { client_id: id, client_secret: secret } = addClient(store, {
    clientId: 'stall-machine',
    name: 'Disk stall test service',
    scope: 'city',
    grantTypes: 'client_credentials',
  });
  const configFile = store.writeConfig(
    'threads = 1\nwrite_threads = 2\naudit_checkpoint_interval = 86400\n');
  server = await startServer(store, {
    configFile,
    env: preloadEnv(faultSyncLibrary(), { CID_FAULT_STALL: stallFile }),
  });
  const { issuer } = server;
  const form = {
    'content-type': 'application/x-www-form-urlencoded',
    authorization: `Basic ${Buffer.from(`${id}:${secret}`).toString('base64')}`,
  };
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

  writeFileSync(stallFile, 'every sync waits while this file exists\n');
  // revoking an access token writes its id durably: it waits for the disk
  let revoked = null;
  const revocation = fetch(`${issuer}/revoke`, {
    method: 'POST', headers: form, body: `token=${encodeURIComponent(doomed)}`,
  }).then(async (res) => {
    revoked = { status: res.status, body: await res.text() };
  });
  // fault_sync leaves STALL.waiting once a sync waits: the revocation's
  for (let waited = 0; !existsSync(`${stallFile}.waiting`); waited += 20) {
    assert.ok(waited < 30_000, 'a sync waits for the hung disk');
    await sleep(20);
  }
  assert.equal(revoked, null, 'the revocation waits for the hung disk');

  // meanwhile the one polling thread answers everything that only reads
  // (5 s: room for a sanitized build on a busy machine, far under the hang)
  for (const path of ['/.well-known/openid-configuration', '/jwks']) {
    const r = await within(5_000, `${issuer}${path}`);
    assert.ok(!r.timedOut, `${path} is answered while the disk hangs`);
    assert.equal(r.status, 200);
  }
  const other = await ccToken(5_000);
  assert.equal((await introspect(other, 5_000)).active, true);
  assert.equal(revoked, null, 'the revocation still waits');

  rmSync(stallFile);
  await revocation;
  assert.equal(revoked.status, 200, revoked.body);
  assert.equal((await introspect(doomed, 10_000)).active, false, 'the revoked token is inactive');
  assert.equal((await introspect(other, 10_000)).active, true);
});
