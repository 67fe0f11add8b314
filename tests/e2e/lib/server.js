// Helpers for the end-to-end tests: a fresh LMDB store, the civicid CLI, the
// real `civicid serve` on a loopback port, and a small cookie-keeping browser
// that drives the HTML side (login form, logout confirmation) without
// following redirects to the relying parties.
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request as httpRequest } from 'node:http';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

/** Lines in a sanitizer build's stderr that mean the server misbehaved. */
const SANITIZER = /ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer)|runtime error:/;

export function civicidBin() {
  const bin = process.env.CIVICID_BIN;
  if (!bin) throw new Error('CIVICID_BIN must name the civicid binary');
  return bin;
}

/** The environment for every civicid process (sanitizer options unless set). */
function childEnv() {
  return {
    ...process.env,
    ASAN_OPTIONS: process.env.ASAN_OPTIONS ?? 'detect_leaks=1:abort_on_error=1',
    UBSAN_OPTIONS: process.env.UBSAN_OPTIONS ?? 'print_stacktrace=1:halt_on_error=1',
  };
}

/**
 * A fresh temporary directory holding a store (not yet created: civicid
 * creates it on first use) and the release policies the server loads
 * (policies/, empty until writePolicy: every attribute is withheld).
 * remove() deletes it unless CIVICID_E2E_KEEP is set.
 */
export function freshStore(label = 'store') {
  const root = mkdtempSync(join(tmpdir(), `civicid-e2e-${label}-`));
  const policies = join(root, 'policies');
  mkdirSync(policies, { mode: 0o700 });
  return {
    root,
    dir: join(root, 'store'),
    policies,
    /** Writes policies/NAME (e.g. 'rp.policy') and returns its path. */
    writePolicy(name, text) {
      const path = join(policies, name);
      writeFileSync(path, text);
      return path;
    },
    /** Writes a config file under root and returns its path. */
    writeConfig(text, name = 'civicid.conf') {
      const path = join(root, name);
      writeFileSync(path, text, { mode: 0o600 });
      return path;
    },
    remove() {
      if (process.env.CIVICID_E2E_KEEP) {
        console.error(`# kept ${root}`);
        return;
      }
      rmSync(root, { recursive: true, force: true });
    },
  };
}

/** Runs `civicid ARGS...` synchronously; throws with its stderr unless it exits 0. */
export function cli(args, { input } = {}) {
  const r = spawnSync(civicidBin(), args, {
    input: input ?? '',
    encoding: 'utf8',
    env: childEnv(),
    timeout: 120_000,
  });
  const where = `civicid ${args.join(' ')}`;
  if (r.error) throw new Error(`${where}: ${r.error.message}`);
  if (SANITIZER.test(r.stderr)) throw new Error(`${where}: sanitizer report:\n${r.stderr}`);
  if (r.status !== 0)
    throw new Error(`${where}: exit ${r.status ?? r.signal}\n${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * The text of a release policy under which service receives attributes
 * without the citizen's consent (a statute basis): for tests of the protocol
 * that need claims but not the consent screen.
 */
export function statutePolicy(service, attributes) {
  return [
    `service ${service}`,
    `name.ja ${service}`,
    `name.en ${service}`,
    'purpose e2e',
    '  text.ja 試験のため',
    '  text.en For the end-to-end test',
    '  basis statute e2e test act, art. 1',
    '  retention 1d',
    ...attributes.map((a) => `  permit ${a}`),
    '',
  ].join('\n');
}

/** `civicid user add NAME --password-stdin --claim k=v...` */
export function addUser(store, username, password, claims = {}) {
  const args = ['user', 'add', username, '--store', store.dir, '--password-stdin'];
  for (const [k, v] of Object.entries(claims)) args.push('--claim', `${k}=${v}`);
  cli(args, { input: password });
}

/**
 * A service that a citizen's attributes are released to by statute, as the
 * audit tests use it: its policy (statutePolicy over the names of claims),
 * the citizen (username, password, claims) and its confidential client
 * (clientId service, redirectUri, scope openid profile email). Returns the
 * client's secret.
 */
export function addStatuteService(store, { service, name, redirectUri, username, password, claims }) {
  store.writePolicy(`${service}.policy`, statutePolicy(service, Object.keys(claims)));
  addUser(store, username, password, claims);
  return addClient(store, {
    clientId: service,
    name,
    redirectUris: [redirectUri],
    scope: 'openid profile email',
  }).client_secret;
}

/**
 * `civicid client add --json ...`; returns {client_id, client_secret?}.
 * spec: {clientId, name, redirectUris[], postLogoutRedirectUris[], public,
 *        scope, grantTypes, idTokenAlg, subjectType, sectorIdentifierUri,
 *        backchannelLogoutUri, backchannelLogoutSessionRequired,
 *        frontchannelLogoutUri, frontchannelLogoutSessionRequired}
 */
export function addClient(store, spec) {
  const args = ['client', 'add', '--store', store.dir, '--json'];
  if (spec.clientId) args.push('--client-id', spec.clientId);
  args.push('--name', spec.name ?? spec.clientId ?? 'e2e client');
  if (spec.public) args.push('--public');
  for (const u of spec.redirectUris ?? []) args.push('--redirect-uri', u);
  for (const u of spec.postLogoutRedirectUris ?? []) args.push('--post-logout-redirect-uri', u);
  if (spec.scope) args.push('--scope', spec.scope);
  if (spec.grantTypes) args.push('--grant-types', spec.grantTypes);
  if (spec.idTokenAlg) args.push('--id-token-alg', spec.idTokenAlg);
  if (spec.subjectType) args.push('--subject-type', spec.subjectType);
  if (spec.sectorIdentifierUri) args.push('--sector-identifier-uri', spec.sectorIdentifierUri);
  if (spec.backchannelLogoutUri) args.push('--backchannel-logout-uri', spec.backchannelLogoutUri);
  if (spec.backchannelLogoutSessionRequired) args.push('--backchannel-logout-session-required');
  if (spec.frontchannelLogoutUri) args.push('--frontchannel-logout-uri', spec.frontchannelLogoutUri);
  if (spec.frontchannelLogoutSessionRequired) args.push('--frontchannel-logout-session-required');
  const out = cli(args);
  let json;
  try {
    json = JSON.parse(out);
  } catch {
    throw new Error(`civicid client add --json printed no JSON: ${out}`);
  }
  if (typeof json.client_id !== 'string') throw new Error(`client add: no client_id in ${out}`);
  if (!spec.public && typeof json.client_secret !== 'string')
    throw new Error(`client add: a confidential client got no client_secret: ${out}`);
  return json;
}

/** A TCP port that was free a moment ago on 127.0.0.1. */
export function freePort() {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address();
      srv.close(() => resolve(port));
    });
  });
}

/**
 * The environment that preloads library into `civicid serve` (startServer's
 * env), with more variables; a sanitized binary's runtime then comes after
 * the preloaded library, which ASan must be told to accept.
 */
export function preloadEnv(library, more = {}) {
  return {
    LD_PRELOAD: library,
    ASAN_OPTIONS: `${process.env.ASAN_OPTIONS ?? 'detect_leaks=1:abort_on_error=1'}:verify_asan_link_order=0`,
    ...more,
  };
}

/** The fault_sync library (tools/fault_sync.c) ctest names in CID_FAULT_SYNC; throws when missing. */
export function faultSyncLibrary() {
  const shim = process.env.CID_FAULT_SYNC;
  if (!shim || !existsSync(shim))
    throw new Error(`CID_FAULT_SYNC must name the fault_sync library (build/asan/tests/e2e/libfault_sync.so): ${shim}`);
  return shim;
}

/**
 * Starts `civicid serve` on a free loopback port with the issuer
 * http://127.0.0.1:PORT and waits for its "listening" line.
 * Returns {issuer, port, stop(), crash(), exited()}; stop() sends SIGTERM, waits for the
 * exit and throws if the exit status is not 0 or the sanitizers reported
 * anything; crash() kills it with SIGKILL. port: this port instead of a free one
 * (to restart a server under the same issuer). env: variables added to the
 * server's environment (e.g. LD_PRELOAD).
 */
export async function startServer(store, { configFile, startTimeoutMs = 60_000, attempts = 3, port, env } = {}) {
  let lastError;
  for (let i = 0; i < attempts; i++) {
    try {
      return await startOnce(store, port ?? (await freePort()), { configFile, startTimeoutMs, env });
    } catch (e) {
      lastError = e;
      // another process may have taken the port between the probe and the bind
      if (!/cannot listen|Address already in use/i.test(String(e.message))) throw e;
    }
  }
  throw lastError;
}

function startOnce(store, port, { configFile, startTimeoutMs, env }) {
  const issuer = `http://127.0.0.1:${port}`;
  const args = ['serve', '--store', store.dir, '--port', String(port), '--issuer', issuer,
    '--policies', store.policies];
  if (configFile) args.push('--config', configFile);
  if (process.env.CIVICID_WEB_DIR) args.push('--web-dir', process.env.CIVICID_WEB_DIR);
  const child = spawn(civicidBin(), args, { env: { ...childEnv(), ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  const exited = new Promise((resolve) => {
    child.on('exit', (code, signal) => resolve({ code, signal }));
  });
  child.stdout.setEncoding('utf8');
  child.stderr.setEncoding('utf8');
  child.stderr.on('data', (d) => {
    stderr += d;
  });

  return new Promise((resolve, reject) => {
    const want = `civicid: listening on 127.0.0.1 port ${port}`;
    let settled = false;
    const fail = (msg) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      child.kill('SIGKILL');
      reject(new Error(`${msg}\n--- civicid ${args.join(' ')}\n--- stdout:\n${stdout}\n--- stderr:\n${stderr}`));
    };
    const timer = setTimeout(() => fail(`civicid serve did not print "${want}" in ${startTimeoutMs} ms`), startTimeoutMs);
    child.on('error', (e) => fail(`cannot start civicid: ${e.message}`));
    exited.then(({ code, signal }) => fail(`civicid serve exited early (${code ?? signal})`));
    child.stdout.on('data', (d) => {
      stdout += d;
      if (settled || !stdout.split('\n').some((l) => l.trim() === want)) return;
      settled = true;
      clearTimeout(timer);
      let stopped = null;
      // a server that dies under the tests makes every later request fail
      // with "fetch failed": say why, once, where the test output shows it
      exited.then(({ code, signal }) => {
        if (!stopped)
          console.error(`# civicid serve (${issuer}) died: ${code ?? signal}\n${stderr}`);
      });
      resolve({
        issuer,
        port,
        url: (path) => new URL(path, issuer),
        output: () => ({ stdout, stderr }),
        /** Waits for the server to exit by itself: {code, signal}. */
        exited() {
          stopped = exited;
          return exited;
        },
        /** Sends the server signal sig (e.g. 'SIGUSR1': print its counters). */
        signal(sig) {
          child.kill(sig);
        },
        /** Kills the server with SIGKILL (a crash) and waits until it is gone. */
        async crash() {
          stopped = exited;
          child.kill('SIGKILL');
          return exited;
        },
        async stop({ timeoutMs = 30_000 } = {}) {
          if (stopped) return stopped;
          stopped = (async () => {
            if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
            let killTimer;
            const timeout = new Promise((r) => {
              killTimer = setTimeout(() => r(null), timeoutMs);
            });
            const result = await Promise.race([exited, timeout]);
            clearTimeout(killTimer);
            if (result === null) {
              child.kill('SIGKILL');
              throw new Error(`civicid serve did not stop within ${timeoutMs} ms of SIGTERM\n${stderr}`);
            }
            if (SANITIZER.test(stderr)) throw new Error(`civicid serve: sanitizer report:\n${stderr}`);
            if (result.code !== 0)
              throw new Error(`civicid serve exited with ${result.code ?? result.signal}\n${stderr}`);
            return { stdout, stderr };
          })();
          return stopped;
        },
      });
    });
  });
}

// ---------------------------------------------------------------------------
// HTML
// ---------------------------------------------------------------------------

/** Decodes the HTML character references a template engine may emit. */
export function htmlDecode(s) {
  return s.replace(/&(#x[0-9a-f]+|#[0-9]+|amp|lt|gt|quot|apos);/gi, (m, ent) => {
    const e = ent.toLowerCase();
    if (e === 'amp') return '&';
    if (e === 'lt') return '<';
    if (e === 'gt') return '>';
    if (e === 'quot') return '"';
    if (e === 'apos') return "'";
    if (e.startsWith('#x')) return String.fromCodePoint(parseInt(e.slice(2), 16));
    return String.fromCodePoint(parseInt(e.slice(1), 10));
  });
}

function attrs(tag) {
  const out = {};
  const re = /([a-zA-Z_:][-a-zA-Z0-9_:.]*)(?:\s*=\s*(?:"([^"]*)"|'([^']*)'|([^\s"'=<>`]+)))?/g;
  const inner = tag.replace(/^<\s*[a-zA-Z]+/, '').replace(/\/?>$/, '');
  let m;
  while ((m = re.exec(inner)) !== null) out[m[1].toLowerCase()] = htmlDecode(m[2] ?? m[3] ?? m[4] ?? '');
  return out;
}

/**
 * The forms of a page: [{action, method, fields: {name: value}, submit: {name: value}|null}].
 * Hidden and text inputs are fields; the first named submit button is submit.
 */
export function parseForms(html) {
  const forms = [];
  const formRe = /<form\b[^>]*>([\s\S]*?)<\/form>/gi;
  let m;
  while ((m = formRe.exec(html)) !== null) {
    const open = m[0].match(/^<form\b[^>]*>/i)[0];
    const a = attrs(open);
    const fields = {};
    let submit = null;
    for (const tag of m[1].match(/<input\b[^>]*>/gi) ?? []) {
      const t = attrs(tag);
      if (!t.name) continue;
      const type = (t.type ?? 'text').toLowerCase();
      if (type === 'submit') {
        if (!submit) submit = { [t.name]: t.value ?? '' };
      } else if (type !== 'checkbox' && type !== 'radio') {
        fields[t.name] = t.value ?? '';
      }
    }
    for (const tag of m[1].match(/<button\b[^>]*>/gi) ?? []) {
      const t = attrs(tag);
      if (t.name && !submit && (t.type ?? 'submit').toLowerCase() === 'submit') submit = { [t.name]: t.value ?? '' };
    }
    forms.push({ action: a.action ?? '', method: (a.method ?? 'get').toLowerCase(), fields, submit });
  }
  return forms;
}

// ---------------------------------------------------------------------------
// A browser: cookies, manual redirects
// ---------------------------------------------------------------------------

/**
 * One plain-http request from a chosen local (source) address, answered like
 * fetch: {status, headers: Headers, text()}. Any 127.0.0.0/8 address reaches
 * a server on 127.0.0.1, so a test can act as another client address.
 */
function fetchFrom(localAddress, url, { method, headers, body }) {
  return new Promise((resolve, reject) => {
    const req = httpRequest(url, { method, headers, localAddress, agent: false }, (res) => {
      const chunks = [];
      res.on('data', (c) => chunks.push(c));
      res.on('error', reject);
      res.on('end', () => {
        const h = new Headers();
        for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) h.append(res.rawHeaders[i], res.rawHeaders[i + 1]);
        const text = Buffer.concat(chunks).toString('utf8');
        resolve({ status: res.statusCode, headers: h, text: async () => text });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

/**
 * A fetch for a tenant served at a host of its own (`tenant add --set
 * host=`), whose name resolves nowhere in a test: a request for a URL of
 * origin (e.g. 'http://c.example') goes to the server at serverUrl (its
 * loopback origin) with that URL's host in its Host header, as a reverse
 * proxy passes it; any other URL is fetched as it is. It answers a real
 * Response (openid-client takes nothing else) and never follows redirects.
 */
export function hostFetch(origin, serverUrl) {
  const host = new URL(origin).host;
  return (url, { method = 'GET', headers = {}, body } = {}) => {
    const u = new URL(url);
    if (u.origin !== new URL(origin).origin) return fetch(url, { method, headers, body, redirect: 'manual' });
    const h = Object.fromEntries(new Headers(headers));
    h.host = host;
    const target = new URL(`${u.pathname}${u.search}`, serverUrl);
    return new Promise((resolve, reject) => {
      const req = httpRequest(target, { method, headers: h, agent: false }, (res) => {
        const chunks = [];
        res.on('data', (c) => chunks.push(c));
        res.on('error', reject);
        res.on('end', () => {
          const list = [];
          for (let i = 0; i + 1 < res.rawHeaders.length; i += 2) list.push([res.rawHeaders[i], res.rawHeaders[i + 1]]);
          const data = Buffer.concat(chunks);
          const empty = [204, 304].includes(res.statusCode) || data.length === 0;
          resolve(new Response(empty ? null : data, { status: res.statusCode, headers: list }));
        });
      });
      req.on('error', reject);
      req.end(body === undefined || body === null ? undefined : typeof body === 'string' ? body : Buffer.from(body.toString()));
    });
  };
}

/**
 * A cookie-keeping user agent over fetch. It never follows a redirect by
 * itself: follow() walks redirects only while they stay on the issuer's
 * origin, and stops at the first one that leaves it (a relying party's
 * redirect_uri, which nothing listens on), returning that URL.
 * With {localAddress} (e.g. '127.0.0.2') it connects from that address, so
 * per-address state on the server (login throttling) is its own; with
 * {fetch} (hostFetch) it makes its requests with that.
 */
export class Browser {
  constructor(origin, { localAddress, fetch: fetchFn } = {}) {
    this.origin = new URL(origin).origin;
    this.jar = new Map();
    this.localAddress = localAddress;
    this.fetch = fetchFn ?? fetch;
  }

  cookieHeader() {
    return [...this.jar].map(([k, v]) => `${k}=${v}`).join('; ');
  }

  /** The value of a cookie, or undefined. */
  cookie(name) {
    return this.jar.get(name);
  }

  /** The raw Set-Cookie lines of the last response. */
  get lastSetCookies() {
    return this._lastSetCookies ?? [];
  }

  store(res) {
    const lines = typeof res.headers.getSetCookie === 'function' ? res.headers.getSetCookie() : [];
    this._lastSetCookies = lines;
    for (const line of lines) {
      const [pair, ...attrsList] = line.split(';').map((s) => s.trim());
      const eq = pair.indexOf('=');
      if (eq <= 0) continue;
      const name = pair.slice(0, eq);
      const value = pair.slice(eq + 1);
      const maxAge = attrsList.find((a) => /^max-age=/i.test(a));
      const expires = attrsList.find((a) => /^expires=/i.test(a));
      const gone =
        (maxAge && Number(maxAge.split('=')[1]) <= 0) ||
        (expires && Date.parse(expires.slice(8)) <= Date.now()) ||
        value === '';
      if (gone) this.jar.delete(name);
      else this.jar.set(name, value);
    }
  }

  async request(url, { method = 'GET', form, headers = {} } = {}) {
    const u = new URL(url, this.origin);
    const h = { ...headers };
    if (u.origin === this.origin && this.jar.size > 0) h.cookie = this.cookieHeader();
    let body;
    if (form !== undefined) {
      h['content-type'] = 'application/x-www-form-urlencoded';
      body = new URLSearchParams(form).toString();
    }
    const res = this.localAddress
      ? await fetchFrom(this.localAddress, u, { method, headers: h, body })
      : await this.fetch(u, { method, headers: h, body, redirect: 'manual' });
    if (u.origin === this.origin) this.store(res);
    const text = await res.text();
    const location = res.headers.get('location');
    return {
      status: res.status,
      headers: res.headers,
      location: location === null ? null : new URL(location, u).href,
      text,
      url: u.href,
      setCookies: this.lastSetCookies,
    };
  }

  get(url, opts = {}) {
    return this.request(url, { ...opts, method: 'GET' });
  }

  post(url, form, opts = {}) {
    return this.request(url, { ...opts, method: 'POST', form });
  }

  /**
   * Requests url and follows redirects on the issuer's origin. Returns the
   * last response; when a redirect leaves the origin, that response has
   * `left` set to the URL it points at (not fetched).
   */
  async follow(url, opts = {}, max = 10) {
    let res = await this.request(url, opts);
    for (let i = 0; i < max; i++) {
      if (res.status < 300 || res.status > 399 || !res.location) return res;
      if (new URL(res.location).origin !== this.origin) return { ...res, left: res.location };
      res = await this.get(res.location);
    }
    throw new Error(`too many redirects from ${url}`);
  }

  /** Submits a form parsed from a page, with overrides for its fields. */
  submit(pageUrl, form, values = {}, { withSubmitButton = true } = {}) {
    const data = { ...form.fields, ...(withSubmitButton && form.submit ? form.submit : {}), ...values };
    const action = new URL(form.action || pageUrl, pageUrl);
    return form.method === 'post' ? this.post(action, data) : this.get(`${action.href.split('?')[0]}?${new URLSearchParams(data)}`);
  }
}

/**
 * Opens authUrl in browser, expects the login form, fills it in and posts it.
 * Returns {form, page, response}: response is the answer to the POST.
 */
export async function submitLogin(browser, authUrl, username, password) {
  const page = await browser.get(authUrl);
  if (page.status !== 200) {
    throw new Error(`GET ${authUrl}: expected the login page (200), got ${page.status} ` +
      `location=${page.location}\n${page.text.slice(0, 500)}`);
  }
  const form = loginForm(page.text);
  if (!form) throw new Error(`GET ${authUrl}: no login form in the page:\n${page.text.slice(0, 1000)}`);
  const response = await browser.submit(page.url, form, { username, password });
  return { page, form, response };
}

/** The login form of a page (posts to /login with req and csrf), or null. */
export function loginForm(html) {
  return (
    parseForms(html).find(
      (f) => f.method === 'post' && /\/login$/.test(f.action) && 'req' in f.fields && 'csrf' in f.fields,
    ) ?? null
  );
}

/**
 * Logs in through the real form and returns the URL the server redirected to
 * (the client's redirect_uri with code, state and iss) as a URL object.
 */
export async function loginAndGetCallback(browser, authUrl, username, password) {
  const { response } = await submitLogin(browser, authUrl, username, password);
  if (response.status < 300 || response.status > 399 || !response.location) {
    throw new Error(`POST /login: expected a redirect, got ${response.status}\n${response.text.slice(0, 1000)}`);
  }
  return new URL(response.location);
}
