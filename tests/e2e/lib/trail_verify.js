// An independent verifier of a citizen's trail bundle, written from the
// README's section "The citizen's trail bundle" alone: node's crypto only,
// nothing of civicid (nor of tlog.js) reused. It trusts only the vkeys and
// the JWKS handed to it, never the keys the bundle names.
import { createHash, createPublicKey, verify } from 'node:crypto';

const sha256 = (...parts) => createHash('sha256').update(Buffer.concat(parts)).digest();

class Rejected extends Error {}

function fail(why) {
  throw new Rejected(why);
}

/** A vkey "NAME+KEYID+BASE64(type || key)": its parts, the key id checked. */
function parseVkey(vkey) {
  const first = vkey.indexOf('+');
  const second = vkey.indexOf('+', first + 1);
  if (first <= 0 || second < 0) fail(`not a vkey: ${vkey}`);
  const name = vkey.slice(0, first);
  const keyid = vkey.slice(first + 1, second);
  const raw = Buffer.from(vkey.slice(second + 1), 'base64');
  const want = sha256(Buffer.from(name, 'utf8'), Buffer.from([0x0a]), raw).subarray(0, 4).toString('hex');
  if (keyid !== want) fail(`the key id of ${name} is not its key's`);
  const pub = createPublicKey({
    key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw.subarray(1)]),
    format: 'der',
    type: 'spki',
  });
  return { name, keyid, type: raw[0], pub };
}

/** The checkpoint's text lines, once a line of a trusted log vkey verifies; and cosigners. */
function checkNote(note, vkeys, witnessVkeys) {
  const cut = note.indexOf('\n\n');
  if (cut < 0) fail('the checkpoint note has no empty line before its signatures');
  const text = Buffer.from(note.slice(0, cut + 1), 'utf8');
  const lines = note.slice(cut + 2).split('\n').filter((l) => l !== '');
  const sigs = lines.map((l) => {
    const m = /^\u2014 (\S+) (\S+)$/.exec(l);
    if (m === null) fail(`not a signature line: ${l}`);
    return { name: m[1], blob: Buffer.from(m[2], 'base64') };
  });
  let signed = false;
  for (const k of vkeys.map(parseVkey).filter((k) => k.type === 0x01)) {
    for (const s of sigs) {
      if (s.name !== k.name || s.blob.subarray(0, 4).toString('hex') !== k.keyid) continue;
      if (verify(null, text, k.pub, s.blob.subarray(4))) signed = true;
    }
  }
  if (!signed) fail('no signature of a trusted audit key verifies on the checkpoint');
  const cosigners = [];
  for (const k of witnessVkeys.map(parseVkey).filter((k) => k.type === 0x04)) {
    for (const s of sigs) {
      if (s.name !== k.name || s.blob.subarray(0, 4).toString('hex') !== k.keyid || s.blob.length !== 76) continue;
      const time = s.blob.readBigUInt64BE(4);
      const msg = Buffer.concat([Buffer.from(`cosignature/v1\ntime ${time}\n`, 'utf8'), text]);
      if (verify(null, msg, k.pub, s.blob.subarray(12))) cosigners.push(k.name);
    }
  }
  return { lines: text.toString('utf8').split('\n'), cosigners };
}

/** RFC 9162 §2.1.3.2: the root of an inclusion path, or null. */
function foldPath(index, size, leaf, path) {
  if (index >= size) return null;
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(Buffer.from([1]), p, r);
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2);
        sn = Math.floor(sn / 2);
      }
    } else {
      r = sha256(Buffer.from([1]), r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

const same = (a, b) => JSON.stringify(a) === JSON.stringify(b);

/** Checks a compact ES256 JWS against a JWKS; its header and payload. */
function checkJws(jws, jwks) {
  const parts = String(jws).split('.');
  if (parts.length !== 3) fail('the signature is not a compact JWS');
  const header = JSON.parse(Buffer.from(parts[0], 'base64url').toString('utf8'));
  if (header.alg !== 'ES256') fail(`the signature's alg is ${header.alg}`);
  const jwk = jwks.keys.find((k) => k.kid === header.kid);
  if (!jwk) fail('the signature names a key not in the JWKS');
  const ok = verify('sha256', Buffer.from(`${parts[0]}.${parts[1]}`, 'ascii'),
    { key: createPublicKey({ key: jwk, format: 'jwk' }), dsaEncoding: 'ieee-p1363' },
    Buffer.from(parts[2], 'base64url'));
  if (!ok) fail('the signature over the page does not verify');
  return { header, payload: JSON.parse(Buffer.from(parts[1], 'base64url').toString('utf8')) };
}

/**
 * Verifies a bundle with the trusted log vkeys and JWKS (and the witnesses'
 * cosignature vkeys the verifier trusts, to name who cosigned). Returns
 * {entries, proved, unproved, size, cosigners}; throws a Rejected error
 * saying why otherwise.
 */
export function verifyTrailBundle(bundle, { vkeys, jwks, witnessVkeys = [] }) {
  if (bundle?.type !== 'civicid-citizen-trail/v1') fail('not a civicid-citizen-trail/v1 bundle');
  const entries = bundle.entries;
  if (!Array.isArray(entries)) fail('no entries');
  const cp = bundle.checkpoint;
  let root = null;
  let size = 0;
  let cosigners = [];
  if (cp !== null) {
    const note = checkNote(cp.note, vkeys, witnessVkeys);
    cosigners = note.cosigners;
    const [origin, sizeLine, rootLine] = note.lines;
    if (origin !== bundle.origin) fail('the checkpoint is of another log');
    size = Number(sizeLine);
    if (!Number.isSafeInteger(size) || String(size) !== sizeLine || size !== cp.size) fail('the checkpoint size differs');
    root = Buffer.from(rootLine, 'base64');
    if (root.length !== 32) fail('the checkpoint has no root hash');
  } else if (entries.length > 0) {
    fail('entries without a checkpoint');
  }
  const leaves = [];
  let proved = 0;
  let unproved = 0;
  let last = Infinity;
  for (const item of entries) {
    if (typeof item.entry !== 'string') fail(`entry ${item.seq} has no logged text`);
    const leaf = sha256(Buffer.from([0]), Buffer.from(item.entry, 'utf8'));
    if (leaf.toString('hex') !== item.leaf_hash) fail(`entry ${item.seq}: leaf_hash is not its text's`);
    leaves.push(leaf);
    let e;
    try {
      e = JSON.parse(item.entry);
    } catch {
      fail(`entry ${item.seq} is not JSON`);
    }
    if (e.seq !== item.seq) fail(`entry ${item.seq} says seq ${e.seq}`);
    if (!Array.isArray(bundle.names) || !bundle.names.includes(e.citizen)) fail(`entry ${item.seq} names another citizen`);
    for (const m of ['time', 'type', 'service', 'purpose', 'attributes', 'basis'])
      if (!same(e[m], item[m])) fail(`entry ${item.seq}: ${m} is not what was logged`);
    if (!(item.seq < last)) fail('entries are not newest first');
    last = item.seq;
    if (item.proof === null) {
      if (!cp.cosigned || item.seq < size) fail(`entry ${item.seq} has no proof`);
      unproved++;
      continue;
    }
    if (!Array.isArray(item.proof)) fail(`entry ${item.seq} has no proof`);
    const got = foldPath(item.seq, size, leaf, item.proof.map((h) => Buffer.from(h, 'hex')));
    if (got === null || !got.equals(root)) fail(`entry ${item.seq}: the inclusion proof does not lead to the checkpoint's root`);
    proved++;
  }
  const { header, payload } = checkJws(bundle.signature, jwks);
  if (header.typ !== 'civicid-trail+jwt') fail(`the signature's typ is ${header.typ}`);
  const want = {
    iss: bundle.issuer,
    sub: bundle.citizen,
    before: bundle.before,
    next_before: bundle.next_before ?? 0,
    size,
    count: entries.length,
    entries_hash: sha256(...leaves).toString('hex'),
  };
  for (const [k, v] of Object.entries(want))
    if (payload[k] !== v) fail(`the signed ${k} is ${payload[k]}, the bundle's ${v}`);
  return { entries: entries.length, proved, unproved, size, cosigners };
}

export { Rejected };
