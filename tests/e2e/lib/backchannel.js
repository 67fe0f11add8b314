// A service's back-channel logout receiver for the e2e tests (OpenID Connect
// Back-Channel Logout 1.0): a small node HTTP server on 127.0.0.1 that checks
// each logout token as a service would, with `jose` against civicid's /jwks.
import { createServer } from 'node:http';
import { setTimeout as sleep } from 'node:timers/promises';
import { jwtVerify } from 'jose';

export const EVENT = 'http://schemas.openid.net/event/backchannel-logout';

/**
 * A back-channel receiver: verifies each logout token it is posted as the
 * service `audience` would (signature, typ logout+jwt, iss, aud, iat, events,
 * no nonce), answers 200 (valid) or 400, and keeps what it got.
 * op: what to verify against, read when a token arrives (the receiver starts
 * before the server whose address it must be registered with): {issuer,
 * jwks (a jose key set), now? (() => Date: the receiver's clock, default the
 * real one)}. hang: accept requests and never answer.
 */
export function startReceiver(audience, op, { hang = false } = {}) {
  const r = { audience, got: [], requests: 0 };
  r.server = createServer((req, res) => {
    r.requests++;
    if (hang) return; // never answers
    let body = '';
    req.setEncoding('utf8');
    req.on('data', (d) => { body += d; });
    req.on('end', async () => {
      const entry = { contentType: req.headers['content-type'], method: req.method };
      try {
        const token = new URLSearchParams(body).get('logout_token');
        entry.token = token;
        const { payload, protectedHeader } = await jwtVerify(token, op.jwks, {
          issuer: op.issuer,
          audience,
          typ: 'logout+jwt',
          algorithms: ['ES256'],
          maxTokenAge: '2 minutes',
          currentDate: op.now?.(),
        });
        // Back-Channel Logout 1.0 §2.6: the checks a receiver makes beyond the signature
        if (!payload.events || typeof payload.events[EVENT] !== 'object') throw new Error('no backchannel-logout event');
        if ('nonce' in payload) throw new Error('a logout token must not carry a nonce');
        if (!payload.sid && !payload.sub) throw new Error('neither sid nor sub');
        if (typeof payload.jti !== 'string' || typeof payload.iat !== 'number') throw new Error('no jti or iat');
        entry.payload = payload;
        entry.header = protectedHeader;
        res.writeHead(200, { 'cache-control': 'no-store' }).end();
      } catch (e) {
        entry.error = String(e.message ?? e);
        res.writeHead(400, { 'cache-control': 'no-store' }).end();
      }
      r.got.push(entry);
    });
  });
  return new Promise((resolve) => {
    r.server.listen(0, '127.0.0.1', () => {
      r.url = `http://127.0.0.1:${r.server.address().port}/backchannel-logout`;
      resolve(r);
    });
  });
}

export async function stopReceiver(r) {
  r.server.closeAllConnections();
  await new Promise((resolve) => r.server.close(resolve));
}

/** Waits until check() returns something truthy, at most ms: that value. */
export async function waitFor(what, check, ms = 15_000) {
  const until = Date.now() + ms;
  for (;;) {
    const v = await check();
    if (v) return v;
    if (Date.now() > until) throw new Error(`timed out waiting for ${what}`);
    await sleep(100);
  }
}

/** The receiver's entries for the session sid, once there are n. */
export function tokensFor(r, sid, n = 1) {
  return waitFor(`${n} logout token(s) at ${r.audience} for the session`, () => {
    const bad = r.got.find((e) => e.error);
    if (bad) throw new Error(`${r.audience} refused a logout token: ${bad.error}`);
    const got = r.got.filter((e) => e.payload?.sid === sid);
    return got.length >= n ? got : null;
  });
}
