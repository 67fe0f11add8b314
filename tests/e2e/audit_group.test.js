// Group commit through HTTP: userinfo requests that arrive on the same
// polling thread wait for their audit commit together. With one polling
// thread (threads = 1) and 16 clients at once, a handler that waited for the
// fsync on the polling thread would put one request in each commit (the
// server sets each connection aside until its entries are durable); the
// server's group-commit counters (printed at stop) show commits carrying
// many, and every answer was a 200 with its entries. SIGUSR1 prints the
// argon2id gate's counters: the sign-in's hash went through a gate of the
// configured argon2_at_once places.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh audit_group.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { setTimeout as sleep } from 'node:timers/promises';

import { addStatuteService, freshStore, startServer } from './lib/server.js';
import { signIn } from './lib/flow.js';

const CLIENTS = 16;
const PER_CLIENT = 25;
const SERVICE = 'group-rp';
const REDIRECT = 'http://127.0.0.1:9/group-cb';
const CLAIMS = { given_name: '花子', email: 'hanako@example.jp' };

let store;
let secret;
let server;

before(() => {
  store = freshStore('audit-group');
  secret = addStatuteService(store, {
    service: SERVICE,
    name: 'Group commit test service',
    redirectUri: REDIRECT,
    username: 'hanako',
    password: 'hanako-group-Passw0rd!',
    claims: CLAIMS,
  });
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    store?.remove();
  }
});

test('userinfo requests on one polling thread share audit commits', { timeout: 300_000 }, async (t) => {
  const configFile = store.writeConfig('threads = 1\naudit_checkpoint_interval = 86400\nargon2_at_once = 1\n');
  server = await startServer(store, { configFile });
  const { tokens } = await signIn(server.issuer, {
    clientId: SERVICE,
    secret,
    redirectUri: REDIRECT,
    username: 'hanako',
    password: 'hanako-group-Passw0rd!',
  });
  const url = server.url('/userinfo');
  const statuses = [];
  await Promise.all(Array.from({ length: CLIENTS }, async () => {
    for (let i = 0; i < PER_CLIENT; i++) {
      const res = await fetch(url, { headers: { authorization: `Bearer ${tokens.access_token}` } });
      const body = await res.json();
      statuses.push(res.status);
      assert.equal(res.status, 200, JSON.stringify(body));
      assert.equal(body.given_name, CLAIMS.given_name);
    }
  }));
  // SIGUSR1 prints (and restarts) the counters: those since the start,
  // so the first group-commit line below is this one
  server.signal('SIGUSR1');
  const hashes = /civicid: argon2id hashes: (\d+) in .* of (\d+) places/;
  for (let i = 0; i < 100 && !hashes.test(server.output().stderr); i++) await sleep(50);
  const { stderr } = await server.stop();
  server = null;

  const gate = stderr.match(hashes);
  assert.ok(gate, `SIGUSR1 printed the argon2id gate's counters:\n${stderr}`);
  t.diagnostic(gate[0]);
  assert.equal(Number(gate[2]), 1, 'the gate has the argon2_at_once places of the config');
  assert.ok(Number(gate[1]) >= 1, "the sign-in's password hash went through the gate");
  const line = stderr.match(/civicid: audit group commit: (.*)/);
  assert.ok(line, `the server printed its group-commit counters:\n${stderr}`);
  const c = Object.fromEntries(line[1].split(' ').map((w) => w.split('=')));
  t.diagnostic(line[1]);
  assert.equal(statuses.length, CLIENTS * PER_CLIENT);
  assert.equal(Number(c.failed), 0);
  // every answer was one append (the sign-in's token answer adds its own)
  assert.ok(Number(c.appends) >= CLIENTS * PER_CLIENT, `appends: ${c.appends}`);
  assert.ok(Number(c.max_appends) >= 4, `a commit carried several requests: max ${c.max_appends}`);
  // one polling thread that waited for each commit would commit every request on
  // its own (commits == appends); how much they share depends on the disk and the
  // load, so the bound leaves room (a loaded CI machine measured 207 for 401)
  assert.ok(Number(c.commits) < Number(c.appends) * 0.8,
    `requests shared commits: ${c.commits} commits for ${c.appends} requests`);
});
