// End-to-end: the citizen's download of their own trail (JSON bundle, CSV,
// printable page) and the city's `civicid audit trail` for a disclosure
// request, with the real `civicid serve` (a fresh LMDB store) driven by
// openid-client (two services) and a cookie-keeping browser. The JSON bundle
// is checked by an independent verifier (lib/trail_verify.js, written from
// the README alone) with keys fetched apart from it, and refused after each
// kind of tampering.
//
// Run: CIVICID_BIN=build/asan/server/civicid bash tests/e2e/run.sh trail.test.js
import { after, before, test } from 'node:test';
import * as client from 'openid-client';
import assert from 'node:assert/strict';
import { generateKeyPairSync, createHash, sign as edSign } from 'node:crypto';

import { Browser, addClient, addUser, cli, freshStore, htmlDecode, startServer } from './lib/server.js';
import { discover } from './lib/flow.js';
import { consentAndRelease } from './lib/release_flow.js';
import { Rejected, verifyTrailBundle } from './lib/trail_verify.js';

const T = { timeout: 180_000 };

const POLICY_A = `# e2e: the trail bundle
service svc-a
name.ja 子育て支援（証明試験）
name.en Childcare support (trail e2e)
purpose fees
  text.ja 保育料を算定するため
  text.en To calculate your childcare fee
  basis consent
  retention 1y
  consent_valid 1y
  permit given_name
  permit email
`;

const POLICY_B = `# e2e: the trail bundle, a second service
service svc-b
name.ja 図書館（証明試験）
name.en Library (trail e2e)
purpose card
  text.ja 利用者カードを発行するため
  text.en To issue your library card
  basis consent
  retention 1y
  consent_valid 1y
  permit email
`;

const CONFIG = `timezone = Asia/Tokyo
controller_name = Demo City of Aoi
controller_contact = Privacy Office, Aoi City Hall
controller_address = 1-1 Aoi, Demo City, Fukushima 965-0000
controller_email = privacy@city.example.jp
policy_url = https://city.example.jp/privacy
`;

const SVCS = {
  a: { clientId: 'svc-a', redirect: 'http://127.0.0.1:9/a-cb', scope: 'openid profile email', tick: ['given_name', 'email'] },
  b: { clientId: 'svc-b', redirect: 'http://127.0.0.1:9/b-cb', scope: 'openid email', tick: ['email'] },
};
const HANAKO = { username: 'hanako', password: 'hanako-trail-Passw0rd!', claims: { given_name: '花子', email: 'hanako@example.jp' } };
const TARO = { username: 'taro', password: 'taro-trail-Passw0rd!', claims: { given_name: '太郎', email: 'taro@example.jp' } };

let store;
let server;
let configFile;
let hanako;
let hanakoId;
let trust;

before(async () => {
  store = freshStore('trail');
  store.writePolicy('svc-a.policy', POLICY_A);
  store.writePolicy('svc-b.policy', POLICY_B);
  configFile = store.writeConfig(CONFIG);
  for (const u of [HANAKO, TARO]) addUser(store, u.username, u.password, u.claims);
  for (const s of Object.values(SVCS)) {
    const out = addClient(store, { clientId: s.clientId, name: `${s.clientId} (registration)`, redirectUris: [s.redirect], scope: s.scope });
    s.secret = out.client_secret;
  }
  server = await startServer(store, { configFile });
  for (const s of Object.values(SVCS)) s.config = await discover(server.issuer, s.clientId, s.secret);
  // what a verifier trusts, fetched apart from any bundle
  const vk = await (await fetch(new URL('/.well-known/civicid-audit', server.issuer))).json();
  const jwks = await (await fetch(new URL('/jwks', server.issuer))).json();
  trust = { vkeys: vk.vkeys, jwks };
});

after(async () => {
  try {
    if (server) await server.stop();
  } finally {
    store?.remove();
  }
});

async function download(path) {
  const res = await hanako.get(path);
  assert.equal(res.status, 200, `${path}: ${res.text.slice(0, 400)}`);
  assert.equal(res.headers.get('cache-control'), 'no-store', path);
  return res;
}

test('signed out, the trail downloads answer 401', T, async () => {
  const anon = new Browser(server.issuer);
  for (const path of ['/account/trail', '/account/trail?format=json', '/account/trail?format=csv']) {
    const res = await anon.get(path);
    assert.equal(res.status, 401, path);
  }
});

test('after releases to two services the JSON bundle verifies offline, newest first, only hanako\'s', T, async () => {
  hanako = new Browser(server.issuer);
  await consentAndRelease(hanako, HANAKO, SVCS.a);
  await consentAndRelease(hanako, HANAKO, SVCS.b);
  await consentAndRelease(new Browser(server.issuer), TARO, SVCS.a);
  await consentAndRelease(hanako, HANAKO, SVCS.a); // a second release under the same consent
  const page = await download('/account?lang=en');
  for (const href of ['/account/trail?lang=en', '/account/trail?format=json&amp;lang=en', '/account/trail?format=csv&amp;lang=en'])
    assert.ok(page.text.includes(`href="${href}"`), `the account page links ${href}`);

  const res = await download('/account/trail?format=json&lang=en');
  assert.match(res.headers.get('content-type'), /^application\/json/);
  assert.match(res.headers.get('content-disposition'), /^attachment; filename="civicid-trail\.json"/);
  const bundle = JSON.parse(res.text);
  const v = verifyTrailBundle(bundle, trust);
  assert.equal(v.entries, bundle.entries.length);
  assert.equal(v.proved, v.entries, 'every entry proved (no witness configured)');
  hanakoId = bundle.citizen;
  const kinds = bundle.entries.map((e) => `${e.decision}:${e.service}`);
  assert.ok(kinds.filter((k) => k === 'permit:svc-a').length >= 2, kinds.join(' '));
  assert.ok(kinds.includes('permit:svc-b') && kinds.includes('granted:svc-a') && kinds.includes('granted:svc-b'), kinds.join(' '));
  for (const e of bundle.entries) {
    // entries name hanako by her pseudonyms (one per service and purpose), listed in names
    const who = JSON.parse(e.entry).citizen;
    assert.ok(who.startsWith('ps_') && bundle.names.includes(who), `only entries naming hanako: ${who}`);
    assert.equal(e.basis, 'consent');
    assert.match(e.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/);
    assert.ok(Array.isArray(e.attributes) && e.attributes.length > 0);
  }
  const names = new Set(bundle.entries.map((e) => e.service_name));
  assert.ok(names.has('Childcare support (trail e2e)') && names.has('Library (trail e2e)'), [...names].join(', '));
  assert.ok(bundle.entries.some((e) => e.purpose_text === 'To issue your library card'));
  assert.equal(bundle.lang, 'en');
  assert.equal(bundle.limit, 500);
  assert.equal(bundle.next_before, undefined, 'one page');
  assert.ok(trust.vkeys.includes(bundle.vkeys[0]), 'the bundle names the published vkey');

  // the same in Japanese: the names change, the proofs do not
  const ja = JSON.parse((await download('/account/trail?format=json&lang=ja')).text);
  verifyTrailBundle(ja, trust);
  assert.ok(ja.entries.some((e) => e.service_name === '図書館（証明試験）'));
});

/** A fresh copy of the latest bundle to tamper with. */
async function freshBundle() {
  return JSON.parse((await download('/account/trail?format=json&lang=en')).text);
}

/** Re-signs the checkpoint note with a key of the log's name that nobody published. */
function forgeNote(note, { changeRoot = false } = {}) {
  const cut = note.indexOf('\n\n');
  let text = note.slice(0, cut + 1);
  const name = text.split('\n')[0];
  if (changeRoot) {
    const lines = text.split('\n');
    lines[2] = Buffer.alloc(32, 7).toString('base64');
    text = lines.join('\n');
  }
  const { publicKey, privateKey } = generateKeyPairSync('ed25519');
  const pub = publicKey.export({ format: 'der', type: 'spki' }).subarray(12);
  const raw = Buffer.concat([Buffer.from([1]), pub]);
  const keyid = createHash('sha256').update(Buffer.concat([Buffer.from(name), Buffer.from([0x0a]), raw])).digest().subarray(0, 4);
  const sig = edSign(null, Buffer.from(text, 'utf8'), privateKey);
  return {
    note: `${text}\n\u2014 ${name} ${Buffer.concat([keyid, sig]).toString('base64')}\n`,
    vkey: `${name}+${keyid.toString('hex')}+${raw.toString('base64')}`,
  };
}

test('the verifier refuses the bundle after each kind of tampering', T, async () => {
  const base = await freshBundle();
  assert.ok(base.entries.length >= 4);
  assert.ok(base.entries.some((e) => e.proof.length > 0), 'a proof with hashes to change');
  const cases = [
    ['an entry byte changed (its leaf_hash kept)', /leaf_hash is not its text's/, (b) => { b.entries[1].entry = b.entries[1].entry.replace('"svc-', '"svx-'); }],
    ['an entry byte changed, its leaf_hash recomputed', /inclusion proof does not lead/, (b) => {
      const e = b.entries[0];
      e.entry = e.entry.replace(/"time":"(\d{4})/, (m, y) => `"time":"${Number(y) - 1}`);
      e.leaf_hash = createHash('sha256').update(Buffer.concat([Buffer.from([0]), Buffer.from(e.entry)])).digest('hex');
      e.time = JSON.parse(e.entry).time;
    }],
    ['an entry removed', /signed (count|entries_hash)/, (b) => { b.entries.splice(1, 1); }],
    ['the newest entry removed', /signed (count|entries_hash)/, (b) => { b.entries.shift(); }],
    ['a shown member changed (not the logged text)', /attributes is not what was logged/, (b) => { b.entries[0].attributes = ['family_name']; }],
    ['two entries swapped', /newest first/, (b) => { [b.entries[0], b.entries[1]] = [b.entries[1], b.entries[0]]; }],
    ['a proof hash changed', /inclusion proof does not lead/, (b) => {
      const e = b.entries.find((x) => x.proof.length > 0);
      e.proof[0] = (e.proof[0][0] === '0' ? '1' : '0') + e.proof[0].slice(1);
    }],
    ['a proof hash dropped', /inclusion proof does not lead/, (b) => { b.entries.find((x) => x.proof.length > 0).proof.pop(); }],
    ['the checkpoint re-signed with another key (named in the bundle)', /no signature of a trusted audit key/, (b) => {
      const f = forgeNote(b.checkpoint.note);
      b.checkpoint.note = f.note;
      b.vkeys = [f.vkey];
    }],
    ['the checkpoint root changed and re-signed with another key', /no signature of a trusted audit key/, (b) => {
      const f = forgeNote(b.checkpoint.note, { changeRoot: true });
      b.checkpoint.note = f.note;
      b.vkeys = [f.vkey];
    }],
    ['the checkpoint signature changed', /no signature of a trusted audit key/, (b) => {
      b.checkpoint.note = b.checkpoint.note.replace(/ (\S)(\S+)\n$/, (m, c, rest) => ` ${c === 'A' ? 'B' : 'A'}${rest}\n`);
    }],
    ['the page signature dropped', /not a compact JWS/, (b) => { delete b.signature; }],
    ['another citizen named', /the signed sub is/, (b) => { b.citizen = '00000000-0000-4000-8000-000000000000'; }],
    ["the citizen's pseudonyms left out", /names another citizen/, (b) => { b.names = b.names.slice(0, 1); }],
  ];
  for (const [what, why, tamper] of cases) {
    const b = structuredClone(base);
    tamper(b);
    assert.throws(() => verifyTrailBundle(b, trust), (err) => {
      assert.ok(err instanceof Rejected, `${what}: ${err.stack}`);
      assert.match(err.message, why, what);
      return true;
    }, what);
  }
  // and the untouched copy still verifies: the cases above failed for their change
  verifyTrailBundle(structuredClone(base), trust);
});

test('the CSV and the printable page list the same entries, in local time, and say how to verify', T, async () => {
  const bundle = await freshBundle();
  const csv = await download('/account/trail?format=csv&lang=ja');
  assert.match(csv.headers.get('content-type'), /^text\/csv; charset=utf-8/);
  assert.match(csv.headers.get('content-disposition'), /^attachment; filename="civicid-trail\.csv"/);
  // (fetch's text() drops the byte order mark: the CLI's test below sees it)
  const rows = csv.text.replace(/^\ufeff/, '').split('\r\n');
  assert.equal(rows[0], '番号,日時,提供先,利用目的,項目,根拠,内容');
  const data = rows.slice(1, 1 + bundle.entries.length);
  assert.equal(data.length, bundle.entries.length);
  data.forEach((row, i) => {
    assert.ok(row.startsWith(`${bundle.entries[i].seq},`), `row ${i} is entry ${bundle.entries[i].seq}: ${row}`);
    assert.match(row, /\d{4}年\d{1,2}月\d{1,2}日 \d\d:\d\d/, 'a local time');
    assert.ok(row.includes('本人の同意'));
  });
  assert.ok(csv.text.includes('子育て支援（証明試験）'));
  assert.equal(rows[1 + bundle.entries.length], '', 'an empty row before the note');
  assert.match(rows[2 + bundle.entries.length], /format=json/);
  assert.match(rows[2 + bundle.entries.length], /The citizen's trail bundle/);

  // a release's UTC time shown in Asia/Tokyo (UTC+9)
  const first = bundle.entries[0];
  const local = new Date(Date.parse(first.time) + 9 * 3600_000);
  const en = (await download('/account/trail?format=csv&lang=en')).text;
  const hh = String(local.getUTCHours()).padStart(2, '0');
  const mm = String(local.getUTCMinutes()).padStart(2, '0');
  assert.ok(en.includes(`${hh}:${mm}`), `the newest entry at ${hh}:${mm} local in:\n${en}`);

  for (const lang of ['en', 'ja']) {
    const page = await download(`/account/trail?lang=${lang}`);
    assert.match(page.headers.get('content-type'), /^text\/html/);
    assert.match(page.text, new RegExp(`<html[^>]* lang="${lang}"`));
    assert.ok(!/<script/i.test(page.text), 'no JavaScript');
    const trs = [...page.text.matchAll(/<tr class="entry">/g)];
    assert.equal(trs.length, bundle.entries.length);
    assert.ok(page.text.includes(`href="/account/trail?format=json&amp;lang=${lang}"`), 'links the verifiable JSON');
    assert.match(htmlDecode(page.text), /The citizen's trail bundle/);
  }
});

test('paging: ?before=SEQ gives only older entries, still verifying; a bad format or number is a 400', T, async () => {
  const all = await freshBundle();
  const cut = all.entries[1].seq;
  const older = JSON.parse((await download(`/account/trail?format=json&before=${cut}`)).text);
  verifyTrailBundle(older, trust);
  assert.equal(older.before, cut);
  assert.deepEqual(older.entries.map((e) => e.seq), all.entries.filter((e) => e.seq < cut).map((e) => e.seq));
  for (const q of ['format=xml', 'before=x', 'before=0', 'format=json&before=-1']) {
    const res = await hanako.get(`/account/trail?${q}`);
    assert.equal(res.status, 400, q);
  }
});

test('`civicid audit trail` hands the city the same verifiable bundle, on the record', T, async () => {
  const common = ['--store', store.dir, '--config', configFile, '--policies', store.policies, '--issuer', server.issuer];
  const out = cli(['audit', 'trail', '--citizen', HANAKO.username, '--format', 'json', '--lang', 'en', ...common]);
  const bundle = JSON.parse(out);
  const v = verifyTrailBundle(bundle, trust);
  assert.equal(bundle.citizen, hanakoId);
  assert.ok(v.entries >= 4);
  const csv = cli(['audit', 'trail', '--citizen', HANAKO.username, '--format', 'csv', '--lang', 'en', ...common]);
  assert.ok(csv.startsWith('\ufeffseq,time,service,purpose,items,basis,decision\r\n'), csv.slice(0, 80));
  // both disclosures are on the record
  const lines = cli(['audit', 'query', '--type', 'audit.exported', '--json', '--store', store.dir]).trim().split('\n');
  // (the filter's citizen is held as hanako's pseudonym of no scope, as every citizen in the log)
  const recs = lines.map((l) => JSON.parse(l)).filter((e) => e.ext?.format?.startsWith('trail-'));
  assert.ok(recs.every((e) => e.ext.citizen.startsWith('ps_')));
  assert.deepEqual(recs.map((e) => e.ext.format), ['trail-json', 'trail-csv']);
  assert.equal(recs[0].actor, 'operator');
  assert.equal(recs[0].ext.rows, String(v.entries));
  // the recorded bundle still verifies after the record was appended
  verifyTrailBundle(bundle, trust);
  assert.throws(() => cli(['audit', 'trail', '--citizen', 'nobody', ...common]));
  assert.throws(() => cli(['audit', 'trail', '--citizen', HANAKO.username, '--format', 'xml', ...common]));
});

test('a long trail: the printable page holds 100 entries and links the older ones; the JSON and CSV up to 500', T, async () => {
  const tokens = await consentAndRelease(hanako, HANAKO, SVCS.b);
  for (let i = 0; i < 110; i++) await client.fetchUserInfo(SVCS.b.config, tokens.access_token, tokens.claims().sub);
  const all = await freshBundle();
  assert.ok(all.entries.length > 110 && all.entries.length <= 500, `${all.entries.length} entries`);
  assert.equal(all.next_before, undefined, 'one JSON page');
  verifyTrailBundle(all, trust);
  const page = await download('/account/trail?lang=ja');
  const rows = [...page.text.matchAll(/<td data-label="[^"]*" class="seq">(\d+)<\/td>/g)].map((m) => Number(m[1]));
  assert.deepEqual(rows, all.entries.slice(0, 100).map((e) => e.seq), 'the newest 100, newest first');
  const older = page.text.match(/<a class="older" href="\/account\/trail\?before=(\d+)&amp;lang=ja">/);
  assert.ok(older, 'a link to the older entries');
  assert.equal(Number(older[1]), rows[99]);
  const next = await download(`/account/trail?before=${older[1]}&lang=ja`);
  const rows2 = [...next.text.matchAll(/<td data-label="[^"]*" class="seq">(\d+)<\/td>/g)].map((m) => Number(m[1]));
  assert.deepEqual(rows2, all.entries.slice(100, 200).map((e) => e.seq));
  // its JSON link starts where it does
  assert.ok(next.text.includes(`href="/account/trail?format=json&amp;before=${older[1]}&amp;lang=ja"`));
  const csv = (await download('/account/trail?format=csv&lang=en')).text.split('\r\n');
  assert.equal(csv.length, 1 + all.entries.length + 3, 'header, every entry, an empty row, the note, the end');
});
