// End-to-end: with a witness configured, a citizen's trail bundle is proved
// against the newest checkpoint the witness cosigned. The real `civicid
// serve` (audit_witnesses names the witness; a checkpoint every 5 s) and
// `civicid witness serve` with its own store, as two processes; the bundle
// checked by the independent verifier (lib/trail_verify.js) with the log's
// vkeys, the JWKS and the witness's vkey, each fetched apart from it.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh trail_witness.test.js
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';

import { Browser, addClient, addUser, civicidBin, cli, freePort, freshStore, startServer } from './lib/server.js';
import { discover } from './lib/flow.js';
import { consentAndRelease } from './lib/release_flow.js';
import { verifyTrailBundle } from './lib/trail_verify.js';

const T = { timeout: 180_000 };
const WITNESS = 'witness.example/w1';

const POLICY = `# e2e: the trail bundle under a witness
service svc-w
name.ja 子育て支援（立会人試験）
name.en Childcare support (witness e2e)
purpose fees
  text.ja 保育料を算定するため
  text.en To calculate your childcare fee
  basis consent
  retention 1y
  consent_valid 1y
  permit given_name
`;

const SVC = { clientId: 'svc-w', redirect: 'http://127.0.0.1:9/w-cb', scope: 'openid profile', tick: ['given_name'] };
const HANAKO = { username: 'hanako', password: 'hanako-witness-Passw0rd!', claims: { given_name: '花子' } };

let store;
let server;
let witness;
let witnessVkey;
let trust;
let hanako;

/** Starts `civicid witness serve` on a free port; resolves {url, stop()}. */
async function startWitness(dir) {
  for (let attempt = 0; attempt < 3; attempt++) {
    const port = await freePort();
    const child = spawn(civicidBin(), ['witness', 'serve', '--store', dir, '--port', String(port)], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d) => { err += d; });
    const up = await new Promise((resolve) => {
      const timer = setTimeout(() => resolve(false), 30_000);
      child.stdout.on('data', (d) => {
        out += d;
        if (out.includes(`listening on 127.0.0.1 port ${port}`)) {
          clearTimeout(timer);
          resolve(true);
        }
      });
      child.on('exit', () => {
        clearTimeout(timer);
        resolve(false);
      });
    });
    const stop = () => new Promise((resolve) => {
      if (child.exitCode !== null) return resolve();
      child.on('exit', resolve);
      child.kill('SIGTERM');
    });
    if (up) return { url: `http://127.0.0.1:${port}`, stop, err: () => err };
    await stop();
  }
  throw new Error('civicid witness serve did not start');
}

before(async () => {
  store = freshStore('trail-witness');
  const wdir = join(store.root, 'witness');
  witnessVkey = cli(['witness', 'init', '--store', wdir, '--name', WITNESS]).trim();
  witness = await startWitness(wdir);
  store.writePolicy('svc-w.policy', POLICY);
  const configFile = store.writeConfig(`audit_checkpoint_interval = 5\naudit_witnesses = ${witness.url}/ ${witnessVkey}\n`);
  addUser(store, HANAKO.username, HANAKO.password, HANAKO.claims);
  const out = addClient(store, { clientId: SVC.clientId, name: 'Witness e2e', redirectUris: [SVC.redirect], scope: SVC.scope });
  server = await startServer(store, { configFile });
  SVC.config = await discover(server.issuer, SVC.clientId, out.client_secret);
  const vk = await (await fetch(new URL('/.well-known/civicid-audit', server.issuer))).json();
  cli(['witness', 'add-log', '--store', wdir, '--origin', vk.origin, '--key', vk.active]);
  const jwks = await (await fetch(new URL('/jwks', server.issuer))).json();
  trust = { vkeys: vk.vkeys, jwks, witnessVkeys: [witnessVkey] };
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    try {
      if (witness) await witness.stop();
    } finally {
      store?.remove();
    }
  }
});

async function bundleNow() {
  const res = await hanako.get('/account/trail?format=json&lang=en');
  assert.equal(res.status, 200, res.text.slice(0, 400));
  return JSON.parse(res.text);
}

test('the bundle is proved against the checkpoint the witness cosigned, and names it', T, async () => {
  hanako = new Browser(server.issuer);
  await consentAndRelease(hanako, HANAKO, SVC);
  // the server pushes its checkpoints every 5 s: wait for one covering hanako's entries
  let bundle;
  const deadline = Date.now() + 90_000;
  for (;;) {
    bundle = await bundleNow();
    if (bundle.checkpoint?.cosigned && bundle.entries.every((e) => e.proof !== null)) break;
    assert.ok(Date.now() < deadline, `no cosigned checkpoint covers the trail:\n${JSON.stringify(bundle.checkpoint)}\n${witness.err()}`);
    await new Promise((r) => setTimeout(r, 500));
  }
  const v = verifyTrailBundle(bundle, trust);
  assert.deepEqual(v.cosigners, [WITNESS], 'the witness cosigned the checkpoint');
  assert.equal(v.proved, bundle.entries.length);
  assert.deepEqual(bundle.witness_vkeys, [witnessVkey]);
  assert.match(bundle.checkpoint.note, new RegExp(`\\n\\u2014 ${WITNESS} `));
  // a release now: until the witness cosigns a newer checkpoint its entries are listed, unproved
  await consentAndRelease(hanako, HANAKO, SVC);
  const later = await bundleNow();
  const w = verifyTrailBundle(later, trust);
  assert.ok(later.checkpoint.cosigned, 'still a cosigned checkpoint');
  assert.equal(w.proved + w.unproved, later.entries.length);
  for (const e of later.entries) assert.ok(e.proof !== null || e.seq >= later.checkpoint.size, `entry ${e.seq}`);
});
