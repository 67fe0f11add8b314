// The demo city of the README's first command (deploy/quickstart.sh), as it
// ships: deploy/demo-city.sh makes the store, the release policies of
// policies/ and deploy/demo-city.conf serve it, and a citizen of it signs in
// to a demo service through the real login form and gets what the service's
// policy releases, on the record. quickstart.sh itself (a release build,
// port 8080, a server that runs until stopped) is not run here; what it
// runs after its build is.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { cpSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as client from 'openid-client';

import { authorizationRequest, codeGrant, discover } from './lib/flow.js';
import { Browser, civicidBin, cli, freshStore, loginAndGetCallback, startServer } from './lib/server.js';

const ROOT = fileURLToPath(new URL('../../', import.meta.url));
const T = { timeout: 120_000 };

let store;
let server;
let services; // client_id -> client_secret, as demo-city.sh wrote them

before(async () => {
  store = freshStore('demo');
  const made = spawnSync('bash', [join(ROOT, 'deploy/demo-city.sh'), civicidBin(), store.dir], {
    encoding: 'utf8',
    timeout: 120_000,
  });
  assert.equal(made.status, 0, `deploy/demo-city.sh failed:\n${made.stderr}${made.stdout}`);
  // the services' secrets beside the store: the JSON objects `client add --json`
  // printed, each from a "{" line to a "}" line, among comment lines
  const objects = readFileSync(join(store.root, 'civicid-demo.txt'), 'utf8').match(/^\{$[\s\S]*?^\}$/gm) ?? [];
  services = new Map(
    objects
      .map((o) => JSON.parse(o))
      .filter((o) => typeof o.client_id === 'string')
      .map((c) => [c.client_id, c.client_secret]),
  );
  cpSync(join(ROOT, 'policies'), store.policies, { recursive: true });
  server = await startServer(store, { configFile: join(ROOT, 'deploy/demo-city.conf') });
});

after(async () => {
  await server?.stop();
  store?.remove();
});

test('the shipped policies pass their own check', T, () => {
  const out = cli(['policy', 'check', store.policies]);
  for (const service of ['childcare', 'disaster-alert', 'library'])
    assert.match(out, new RegExp(service), `policy check names ${service}:\n${out}`);
});

test('the demo city has its citizens, its three services and an officer', T, () => {
  assert.deepEqual([...services.keys()].sort(), ['childcare', 'disaster-alert', 'library']);
  assert.equal(services.get('library'), undefined, 'the library is a public client: no secret');
  const users = cli(['user', 'list', '--store', store.dir]);
  for (const name of ['hanako', 'taro', 'yui', 'emily', 'kenji'])
    assert.match(users, new RegExp(`\\b${name}\\b`), `user list names ${name}:\n${users}`);
  const officers = cli(['audit', 'officer', 'list', '--store', store.dir]);
  assert.match(officers, /\bprivacy\b/);
});

test('a citizen signs in to the disaster service and gets what its statute permits', T, async () => {
  const secret = services.get('disaster-alert');
  const config = await discover(server.issuer, 'disaster-alert', secret);
  const meta = config.serverMetadata();
  assert.equal(meta.issuer, server.issuer);
  // the city's statute purpose: no consent screen comes between
  const redirect = 'http://127.0.0.1:3002/callback';
  const req = await authorizationRequest(config, redirect, 'openid city');
  const callback = await loginAndGetCallback(new Browser(server.issuer), req.url, 'taro', 'taro-demo-2026');
  const tokens = await codeGrant(config, callback, req);
  const sub = tokens.claims().sub;
  const info = await client.fetchUserInfo(config, tokens.access_token, sub);
  assert.equal(info.resident_district, 'Kita');
  assert.equal(info.household_size, 1);
  // what its policy does not permit is not released
  assert.equal(info.email, undefined);
  assert.equal(info.birthdate, undefined);
  // and the release is on the record, under the purpose of the statute
  const log = cli(['audit', 'query', '--store', store.dir, '--service', 'disaster-alert', '--type', 'release.']);
  assert.match(log, /evacuation-support-register/);
});

test('the page the README sends a citizen to answers in the demo city', T, async () => {
  const res = await fetch(`${server.issuer}/account/login`, { redirect: 'manual' });
  assert.equal(res.status, 303);
  const home = await fetch(`${server.issuer}/.well-known/openid-configuration`);
  assert.equal(home.status, 200);
});
