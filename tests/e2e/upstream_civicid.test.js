// End-to-end: two civicid servers federate (issue 15). City A's civicid is
// an upstream of city B's: a citizen of A logs in to B's library with their
// A account. A releases to B (its client) what A's policy lets it; B
// releases to its library only what B's policy and the citizen's consent at
// B allow; each audit log records its own side.
import { after, before, test } from 'node:test';
import assert from 'node:assert/strict';

import * as client from 'openid-client';

import { Browser, addClient, addUser, cli, freshStore, loginForm, parseForms, startServer, statutePolicy } from './lib/server.js';
import { authorizationRequest, codeGrant, discover } from './lib/flow.js';
import { decodeJwt } from './lib/jwt.js';

const T = { timeout: 120_000 };
const TARO = { username: 'taro', password: 'taro-city-a-Passw0rd!' };
const LIBRARY = { clientId: 'library', redirect: 'http://127.0.0.1:9/cb' };
// B's library may have the given name with the citizen's consent; nothing else
const LIBRARY_POLICY = [
  `service ${LIBRARY.clientId}`,
  'name.ja 図書館',
  'name.en Library',
  'purpose lending',
  '  text.ja 貸出のため',
  '  text.en For lending',
  '  basis consent',
  '  retention 1y',
  '  consent_valid 1y',
  '  permit given_name',
  '',
].join('\n');
let storeA, storeB, serverA, serverB, config;

// the audit entries of a store of type (a prefix such as release.)
const auditOf = (store, type) => cli(['audit', 'query', '--store', store.dir, '--type', type, '--json'])
  .split('\n').filter(Boolean).map((l) => JSON.parse(l));

before(async () => {
  storeA = freshStore('city-a');
  storeB = freshStore('city-b');
  addUser(storeA, TARO.username, TARO.password, { given_name: 'Taro', family_name: 'Yamada', birthdate: '1980-01-01' });
  // A gives city B the names by law, never the birth date
  storeA.writePolicy('city-b.policy', statutePolicy('city-b', ['given_name', 'family_name']));
  storeB.writePolicy('library.policy', LIBRARY_POLICY);
  const lib = addClient(storeB, { clientId: LIBRARY.clientId, name: 'Library (e2e)', redirectUris: [LIBRARY.redirect], scope: 'openid profile' });
  serverB = await startServer(storeB);
  serverA = await startServer(storeA);
  const atA = addClient(storeA, { clientId: 'city-b', name: 'City B', redirectUris: [`${serverB.issuer}/upstream/callback`], scope: 'openid profile' });
  cli(['idp', 'add', 'city-a', '--store', storeB.dir, '--issuer', serverA.issuer, '--client-id', 'city-b',
    '--client-secret-stdin', '--scope', 'openid profile', '--claim-map', 'given_name=given_name',
    '--claim-map', 'family_name=family_name', '--claim-map', 'birthdate=birthdate', '--allow-create',
    '--label-en', 'City A account'], { input: atA.client_secret });
  config = await discover(serverB.issuer, lib.client_id, lib.client_secret);
});

after(async () => {
  await serverA?.stop();
  await serverB?.stop();
  storeA?.remove?.();
  storeB?.remove?.();
});

test('a citizen of city A logs in to city B\'s library; only what B\'s policy and consent allow reaches it', T, async () => {
  const req = await authorizationRequest(config, LIBRARY.redirect, 'openid profile');
  const atB = new Browser(serverB.issuer);
  const page = await atB.get(req.url);
  assert.equal(page.status, 200);
  const form = parseForms(page.text).find((f) => /\/upstream\/start$/.test(f.action) && f.fields.idp === 'city-a');
  assert.ok(form, 'a "Log in with City A account" button');
  assert.match(page.text, /Log in with City A account|City A accountでログイン/);
  const start = await atB.submit(page.url, form);
  assert.equal(start.status, 303, start.text.slice(0, 300));
  assert.equal(new URL(start.location).origin, serverA.issuer);
  // at city A: its own login form, its own password
  const atA = new Browser(serverA.issuer);
  const loginPage = await atA.get(start.location);
  assert.equal(loginPage.status, 200, loginPage.text.slice(0, 300));
  const login = await atA.submit(loginPage.url, loginForm(loginPage.text), { username: TARO.username, password: TARO.password });
  assert.ok([302, 303].includes(login.status), login.text.slice(0, 500));
  const back = new URL(login.location);
  assert.equal(`${back.origin}${back.pathname}`, `${serverB.issuer}/upstream/callback`);
  assert.equal(back.searchParams.get('iss'), serverA.issuer, 'RFC 9207 iss from A');
  // back at B: a citizen of B is made and linked, then B's consent screen
  const consent = await atB.get(back.href);
  assert.equal(consent.status, 200, consent.text.slice(0, 500));
  const cform = parseForms(consent.text).find((f) => /\/consent$/.test(f.action));
  assert.ok(cform, `B's consent screen:\n${consent.text.slice(0, 800)}`);
  const box = consent.text.match(/<input\b[^>]*type="checkbox"[^>]*name="([^"]+)"/);
  assert.ok(box, 'a checkbox for the given name');
  const done = await atB.submit(consent.url, cform, { action: 'approve', [box[1]]: '1' }, { withSubmitButton: false });
  assert.ok([302, 303].includes(done.status), done.text.slice(0, 500));
  const tokens = await codeGrant(config, new URL(done.location), req);
  const id = decodeJwt(tokens.id_token).payload;
  assert.deepEqual(id.amr, ['fed']);
  const info = await client.fetchUserInfo(config, tokens.access_token, id.sub);
  assert.equal(info.given_name, 'Taro');
  assert.equal(info.family_name, undefined, 'A released it to B, but B\'s policy gives it to no library');
  assert.equal(info.birthdate, undefined, 'A never released it');

  // A's log: its release to city B, the names permitted by law, the birth date (asked by scope profile) denied
  const a = auditOf(storeA, 'release.');
  const toB = a.filter((e) => e.service === 'city-b');
  const permittedToB = toB.filter((e) => e.decision === 'permit').flatMap((e) => e.attributes);
  assert.deepEqual(permittedToB.sort(), ['family_name', 'given_name'], JSON.stringify(toB));
  assert.ok(toB.some((e) => e.decision === 'deny' && e.attributes.includes('birthdate')));
  // B's log: its release to the library, and the consent given at B
  const b = auditOf(storeB, 'release.');
  const toLibrary = b.filter((e) => e.service === LIBRARY.clientId);
  assert.ok(toLibrary.some((e) => e.decision === 'permit' && e.attributes.includes('given_name')), JSON.stringify(toLibrary));
  assert.ok(toLibrary.some((e) => e.decision === 'deny' && e.attributes.includes('family_name')));
  assert.ok(auditOf(storeB, 'consent.granted').some((e) => e.service === LIBRARY.clientId && e.attributes.includes('given_name')));
  // and neither log holds the other's release
  assert.equal(a.filter((e) => e.service === LIBRARY.clientId).length, 0);
  assert.equal(b.filter((e) => e.service === 'city-b').length, 0);
});
