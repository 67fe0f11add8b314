// JWT helpers written by hand on purpose: the tests look at tokens the way a
// service that verifies them offline would, without trusting the library
// under test to do the decoding.
import { webcrypto } from 'node:crypto';

const { subtle } = webcrypto;

export function b64urlDecode(s) {
  if (!/^[A-Za-z0-9_-]*$/.test(s)) throw new Error(`not base64url: ${s.slice(0, 40)}`);
  return Buffer.from(s, 'base64url');
}

export function b64urlEncode(buf) {
  return Buffer.from(buf).toString('base64url');
}

/** {header, payload, signature, signingInput} of a compact JWS. */
export function decodeJwt(jwt) {
  const parts = jwt.split('.');
  if (parts.length !== 3) throw new Error(`a JWS has three parts, this one has ${parts.length}`);
  return {
    header: JSON.parse(b64urlDecode(parts[0]).toString('utf8')),
    payload: JSON.parse(b64urlDecode(parts[1]).toString('utf8')),
    signature: b64urlDecode(parts[2]),
    signingInput: `${parts[0]}.${parts[1]}`,
    parts,
  };
}

/**
 * Changes one character in the middle of the signature. (Not the last one:
 * its low bits may be padding that a decoder ignores.)
 */
export function tamperSignature(jwt) {
  const [h, p, s] = jwt.split('.');
  const i = Math.floor(s.length / 2);
  const c = s[i] === 'A' ? 'B' : 'A';
  return `${h}.${p}.${s.slice(0, i)}${c}${s.slice(i + 1)}`;
}

/** Re-encodes the payload after edit(payload), keeping the original signature. */
export function tamperPayload(jwt, edit) {
  const [h, p, s] = jwt.split('.');
  const payload = JSON.parse(b64urlDecode(p).toString('utf8'));
  edit(payload);
  return `${h}.${b64urlEncode(JSON.stringify(payload))}.${s}`;
}

const ALGS = {
  ES256: {
    importAlg: { name: 'ECDSA', namedCurve: 'P-256' },
    verifyAlg: { name: 'ECDSA', hash: 'SHA-256' },
  },
  RS256: {
    importAlg: { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' },
    verifyAlg: { name: 'RSASSA-PKCS1-v1_5' },
  },
};

/**
 * Verifies a JWS against a JWKS the way an offline resource server does:
 * find the key by kid, check it suits the alg, verify. Returns the decoded
 * token; throws if anything does not hold.
 */
export async function verifyWithJwks(jwt, jwks) {
  const t = decodeJwt(jwt);
  const alg = ALGS[t.header.alg];
  if (!alg) throw new Error(`unexpected alg ${t.header.alg}`);
  if (!t.header.kid) throw new Error('the JWS header has no kid');
  const jwk = jwks.keys.find((k) => k.kid === t.header.kid);
  if (!jwk) throw new Error(`kid ${t.header.kid} is not in the JWKS`);
  if (jwk.alg && jwk.alg !== t.header.alg) throw new Error(`key ${jwk.kid} is for ${jwk.alg}, not ${t.header.alg}`);
  const { kty, crv, x, y, n, e } = jwk;
  const pub = kty === 'EC' ? { kty, crv, x, y } : { kty, n, e };
  const key = await subtle.importKey('jwk', pub, alg.importAlg, false, ['verify']);
  const ok = await subtle.verify(alg.verifyAlg, key, t.signature, new TextEncoder().encode(t.signingInput));
  if (!ok) throw new Error('signature verification failed');
  return t;
}
