// The power-cut test of the audit log's group commit: under concurrent
// userinfo load, one fdatasync of the real `civicid serve` fails with EIO
// (tools/fault_sync.c, preloaded: it fails the next fsync/fdatasync/msync
// once a file exists), so the commit of the group in flight is lost, as at a
// power cut. LMDB aborts that transaction and keeps its last durable state.
// Shown: every request of the failed group got an error and no attribute;
// every 200 answer's release id has its entries in the log (an answer released
// before its commit was durable would have none); the server goes on
// answering; it stops cleanly, its counters saying one commit failed with as
// many requests as got errors; the log verifies.
//
// Run: CIVICID_BIN=build/asan/server/civicid \
//      CID_FAULT_SYNC=$PWD/build/asan/tests/e2e/libfault_sync.so \
//      bash tests/e2e/run.sh audit_powercut.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';

import {
  addClient,
  addUser,
  cli,
  freshStore,
  startServer,
  statutePolicy,
} from './lib/server.js';
import { signIn } from './lib/flow.js';

const WORKERS = 16;
const SERVICE = 'powercut-rp';
const REDIRECT = 'http://127.0.0.1:9/powercut-cb';
const CLAIMS = { given_name: '花子', family_name: '山田', email: 'hanako@example.jp' };

let store;
let server;

before(() => {
  store = freshStore('audit-powercut');
  store.writePolicy(`${SERVICE}.policy`, statutePolicy(SERVICE, Object.keys(CLAIMS)));
  addUser(store, 'hanako', 'hanako-cut-Passw0rd!', CLAIMS);
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    store?.remove();
  }
});

/** Requests userinfo until told to stop; records every answer. */
async function worker(url, token, answers, run) {
  while (run.on) {
    const res = await fetch(url, { headers: { authorization: `Bearer ${token}` } });
    const text = await res.text();
    answers.push({ status: res.status, release: res.headers.get('x-civicid-release'), text });
  }
}

async function until(cond, what, ms = 60_000) {
  for (let waited = 0; !cond(); waited += 20) {
    if (waited > ms) throw new Error(`timed out waiting for ${what}`);
    await sleep(20);
  }
}

test('a failed fsync in the middle of a group: its requests get errors, no attribute leaves unlogged, the log verifies', { timeout: 600_000 }, async (t) => {
  const shim = process.env.CID_FAULT_SYNC;
  assert.ok(shim && existsSync(shim),
    `CID_FAULT_SYNC must name the fault_sync library (build/asan/tests/e2e/libfault_sync.so): ${shim}`);
  const arm = join(store.root, 'cut-the-power');
  const { client_secret: secret } = addClient(store, {
    clientId: SERVICE,
    name: 'Power-cut test service',
    redirectUris: [REDIRECT],
    scope: 'openid profile email',
  });
  // no checkpoint during the load: the failed sync must be a group's
  const configFile = store.writeConfig('access_token_ttl = 3600\naudit_checkpoint_interval = 86400\n');
  server = await startServer(store, {
    configFile,
    env: {
      LD_PRELOAD: shim,
      CID_FAULT_SYNC_ARM: arm,
      // the shim comes ahead of a sanitized binary's runtime
      ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? 'detect_leaks=1:abort_on_error=1'}:verify_asan_link_order=0`,
    },
  });
  const { tokens } = await signIn(server.issuer, {
    clientId: SERVICE,
    secret,
    redirectUri: REDIRECT,
    username: 'hanako',
    password: 'hanako-cut-Passw0rd!',
  });
  const answers = [];
  const run = { on: true };
  const url = server.url('/userinfo');
  const load = Array.from({ length: WORKERS }, () => worker(url, tokens.access_token, answers, run));

  await until(() => answers.length >= 50, '50 answers before the cut');
  writeFileSync(arm, '');
  await until(() => !existsSync(arm), 'the armed sync to fail');
  const cutAt = answers.length;
  await until(() => answers.length >= cutAt + 100, '100 answers after the cut');
  run.on = false;
  await Promise.all(load);
  const { stderr } = await server.stop();
  server = null;

  assert.match(stderr, /fault_sync: fdatasync failed with EIO/, 'the armed sync was a data sync of a commit');
  const counters = stderr.match(/civicid: audit group commit: .*\bfailed=(\d+) failed_appends=(\d+)/);
  assert.ok(counters, `the server printed its group-commit counters at stop:\n${stderr}`);
  const [failed, failedAppends] = [Number(counters[1]), Number(counters[2])];
  assert.equal(failed, 1, 'exactly one commit failed');

  const ok = answers.filter((a) => a.status === 200);
  const errors = answers.filter((a) => a.status !== 200);
  t.diagnostic(`${answers.length} answers, ${errors.length} errors (${[...new Set(errors.map((e) => e.status))]}); ` +
    `the failed commit carried ${failedAppends} requests`);
  // every request of the failed group, and only those, got an error
  assert.ok(errors.length >= 1, 'the requests of the failed group got errors');
  assert.equal(errors.length, failedAppends,
    `one error per request of the failed commit: ${JSON.stringify(errors.map((e) => e.status))}`);
  for (const e of errors) {
    assert.ok(e.status >= 500, `an error answer: ${e.status}`);
    for (const v of Object.values(CLAIMS))
      assert.ok(!e.text.includes(v), `no attribute in the error answer: ${e.text}`);
  }
  // the server went on: answers with attributes after the failed commit
  assert.ok(answers.slice(cutAt).some((a) => a.status === 200), 'answers after the cut');

  const rep = JSON.parse(cli(['audit', 'verify', '--store', store.dir, '--json']));
  assert.equal(rep.ok, true, JSON.stringify(rep));
  const exportPath = join(store.root, 'export.jsonl');
  cli(['audit', 'export', '--store', store.dir, '--output', exportPath]);
  const logged = new Set();
  for (const line of readFileSync(exportPath, 'utf8').split('\n')) {
    if (!line) continue;
    const e = JSON.parse(line);
    if (e.request_id && e.type === 'release.permit') logged.add(e.request_id);
  }
  for (const e of errors)
    if (e.release) assert.ok(!logged.has(e.release), `the failed group's release ${e.release} is not in the log`);
  for (const a of ok) {
    assert.ok(a.release, 'a 200 answer names its release');
    assert.ok(logged.has(a.release), `the release ${a.release} answered with attributes is in the log`);
  }
});
