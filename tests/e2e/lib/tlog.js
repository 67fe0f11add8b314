// An independent verifier of the "audit" member of a consent receipt,
// written from the README's description only (RFC 9162 hashes, a C2SP
// signed-note checkpoint, an Ed25519 vkey): nothing of civicid is reused.
import { createHash, createPublicKey, verify } from 'node:crypto';

const sha256 = (...parts) => createHash('sha256').update(Buffer.concat(parts)).digest();

/** RFC 9162 §2.1.3.2: the root an inclusion path gives, or null when it cannot. */
export function rootFromInclusion(index, size, leaf, path) {
  let fn = index;
  let sn = size - 1;
  let r = leaf;
  if (index >= size) return null;
  for (const p of path) {
    if (sn === 0) return null;
    if (fn % 2 === 1 || fn === sn) {
      r = sha256(Buffer.from([1]), p, r);
      if (fn % 2 === 0) {
        while (fn % 2 === 0 && fn !== 0) {
          fn = Math.floor(fn / 2);
          sn = Math.floor(sn / 2);
        }
      }
    } else {
      r = sha256(Buffer.from([1]), r, p);
    }
    fn = Math.floor(fn / 2);
    sn = Math.floor(sn / 2);
  }
  return sn === 0 ? r : null;
}

/** Checks a C2SP signed note against vkeys ("name+keyid+base64(0x01||pub)"); its body lines. */
export function verifyNote(note, vkeys) {
  const cut = note.indexOf('\n\n');
  if (cut < 0) throw new Error('a signed note has a blank line before its signatures');
  const body = Buffer.from(note.slice(0, cut + 1), 'utf8');
  const sigs = note.slice(cut + 2).split('\n').filter((l) => l !== '');
  for (const vkey of vkeys) {
    // name+keyid+key: the key's base64 may hold '+' itself
    const [name, keyid] = vkey.split('+', 2);
    const key = vkey.slice(name.length + keyid.length + 2);
    const raw = Buffer.from(key, 'base64');
    if (raw[0] !== 1 || raw.length !== 33) continue;
    const pub = createPublicKey({
      key: Buffer.concat([Buffer.from('302a300506032b6570032100', 'hex'), raw.subarray(1)]),
      format: 'der',
      type: 'spki',
    });
    for (const line of sigs) {
      const m = /^\u2014 (\S+) (\S+)$/.exec(line);
      if (m === null || m[1] !== name) continue;
      const sig = Buffer.from(m[2], 'base64');
      if (sig.subarray(0, 4).toString('hex') !== keyid) continue;
      if (verify(null, body, pub, sig.subarray(4))) return body.toString('utf8').split('\n');
    }
  }
  throw new Error('no signature of the note verifies with the vkeys given');
}

/**
 * Verifies a receipt's "audit" ({seq, size, entry, leaf_hash, proof, checkpoint})
 * offline with the log's vkeys; returns the entry parsed. Throws on any mismatch.
 */
export function verifyReceiptAudit(audit, vkeys) {
  const lines = verifyNote(audit.checkpoint, vkeys);
  const size = Number(lines[1]);
  const root = Buffer.from(lines[2], 'base64');
  if (size !== audit.size) throw new Error(`the checkpoint is of size ${size}, not ${audit.size}`);
  const leaf = sha256(Buffer.from([0]), Buffer.from(audit.entry, 'utf8'));
  if (leaf.toString('hex') !== audit.leaf_hash) throw new Error('leaf_hash is not the entry\'s');
  const got = rootFromInclusion(audit.seq, size, leaf, audit.proof.map((h) => Buffer.from(h, 'hex')));
  if (got === null || !got.equals(root)) throw new Error('the inclusion path does not lead to the signed root');
  const entry = JSON.parse(audit.entry);
  if (entry.seq !== audit.seq) throw new Error(`the entry is seq ${entry.seq}, not ${audit.seq}`);
  return entry;
}
