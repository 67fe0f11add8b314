// A citizen's consent and a release through the real pages, for tests that
// need entries in the audit log: the authorization request of a service, the
// login form (once per browser: the session then carries on), the consent
// screen with the given attributes ticked, the code grant and userinfo.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import * as client from 'openid-client';

import { htmlDecode, loginForm, parseForms } from './server.js';
import { authorizationRequest, codeGrant } from './flow.js';

const MSG_EN = JSON.parse(readFileSync(new URL('../../../web/messages/en.json', import.meta.url), 'utf8'));

/**
 * Logs user ({username, password}) in to service s ({config, redirect, scope,
 * tick: attribute names}) in browser, approves s.tick on the consent screen
 * when it is shown, and calls userinfo: a release entry (and the consent's).
 * Returns the tokens (more userinfo calls: more release entries).
 */
export async function consentAndRelease(browser, user, s) {
  const req = await authorizationRequest(s.config, s.redirect, s.scope, { ui_locales: 'en' });
  let res = await browser.get(req.url);
  const login = res.status === 200 ? loginForm(res.text) : null;
  if (login) res = await browser.submit(res.url, login, { username: user.username, password: user.password });
  if (res.status === 200) {
    const form = parseForms(res.text).find((f) => /\/consent$/.test(f.action));
    assert.ok(form, `a consent form:\n${res.text.slice(0, 800)}`);
    const values = { action: 'approve' };
    for (const m of res.text.matchAll(/<label class="check">\s*<input\b[^>]*name="([^"]*)"[^>]*>\s*([^<]*)<\/label>/gi))
      if (s.tick.some((a) => MSG_EN[`attr.${a}`] === htmlDecode(m[2].trim()))) values[m[1]] = '1';
    assert.equal(Object.keys(values).length, 1 + s.tick.length, 'a checkbox for each attribute to tick');
    res = await browser.submit(res.url, form, values, { withSubmitButton: false });
  }
  assert.ok(res.status === 302 || res.status === 303, `a redirect to the service, got ${res.status}`);
  const tokens = await codeGrant(s.config, new URL(res.location), req);
  await client.fetchUserInfo(s.config, tokens.access_token, tokens.claims().sub);
  return tokens;
}
