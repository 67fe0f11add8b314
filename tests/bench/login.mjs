// Full logins for the benchmark (run.sh), each one a new browser with no
// cookie: authorize → login form → code → token, with the account run.sh
// creates on civicid and nodeop/server.mjs has built in.
//   node login.mjs civicid|nodeop ISSUER CLIENT-ID SECRET SECONDS CONCURRENCY
//     runs CONCURRENCY logins at once, one after another, for SECONDS and
//     prints "logins=N failures=F seconds=S rate=R/s"; a login fails on any
//     answer that is not the one the flow expects (the first is on stderr)
//   node login.mjs civicid|nodeop ISSUER CLIENT-ID SECRET once
//     prints the access token of one login
import { randomBytes } from 'node:crypto';
import http from 'node:http';

const USER = 'bench';
const PASSWORD = 'bench-password-1';
const REDIRECT_URI = 'http://127.0.0.1:9/cb';
const SCOPE = 'openid profile city';
const TIMEOUT_MS = 30000;

const [flavour, issuer, clientId, secret, secsArg, concArg] = process.argv.slice(2);
if (!['civicid', 'nodeop'].includes(flavour) || !issuer || !clientId || !secret || !secsArg) {
	console.error('usage: node login.mjs civicid|nodeop ISSUER CLIENT-ID SECRET SECONDS|once [CONCURRENCY]');
	process.exit(2);
}
const concurrency = Number(concArg ?? 1);
// fifo: every connection stays in use, none idles until the server closes it
const agent = new http.Agent({ keepAlive: true, maxSockets: Math.max(concurrency, 1), scheduling: 'fifo' });
const basic = `Basic ${Buffer.from(`${clientId}:${secret}`).toString('base64')}`;

// one HTTP exchange on the shared keep-alive agent; jar: Map of cookies
function fetchRaw(jar, method, url, form, headers = {}) {
	return new Promise((resolve, reject) => {
		const body = form ? new URLSearchParams(form).toString() : undefined;
		const h = { ...headers };
		if (jar.size > 0)
			h.Cookie = [...jar].map(([k, v]) => `${k}=${v}`).join('; ');
		if (body !== undefined) {
			h['Content-Type'] = 'application/x-www-form-urlencoded';
			h['Content-Length'] = Buffer.byteLength(body);
		}
		const req = http.request(url, { method, agent, headers: h, timeout: TIMEOUT_MS }, (res) => {
			for (const c of res.headers['set-cookie'] ?? []) {
				const [pair, ...attrs] = c.split(';');
				const eq = pair.indexOf('=');
				const name = pair.slice(0, eq).trim();
				const gone = attrs.some((a) => /^\s*(max-age=0|expires=.*1970)/i.test(a));
				if (gone)
					jar.delete(name);
				else
					jar.set(name, pair.slice(eq + 1).trim());
			}
			const chunks = [];
			res.on('data', (d) => chunks.push(d));
			res.on('end', () => resolve({
				status: res.statusCode,
				location: res.headers.location ? new URL(res.headers.location, url).href : undefined,
				body: Buffer.concat(chunks).toString('utf8'),
			}));
			res.on('error', reject);
		});
		req.on('timeout', () => req.destroy(new Error(`${method} ${url}: no answer in ${TIMEOUT_MS} ms`)));
		req.on('error', reject);
		req.end(body);
	});
}

function expect(r, what, ok) {
	if (!ok(r))
		throw new Error(`${what}: HTTP ${r.status} ${r.location ?? r.body.slice(0, 200)}`);
	return r;
}

const isRedirect = (r) => r.status >= 301 && r.status <= 303 && r.location !== undefined;

const unescapeHtml = (s) => s.replace(/&#(\d+);/g, (_, n) => String.fromCharCode(Number(n)))
	.replace(/&quot;/g, '"').replace(/&lt;/g, '<').replace(/&gt;/g, '>').replace(/&amp;/g, '&');

function hidden(html, name) {
	const m = html.match(new RegExp(`name="${name}" value="([^"]*)"`));
	if (!m)
		throw new Error(`login page without a ${name} field`);
	return unescapeHtml(m[1]);
}

function authorizeUrl(path, state) {
	const q = new URLSearchParams({ response_type: 'code', client_id: clientId, redirect_uri: REDIRECT_URI, scope: SCOPE, state });
	return `${issuer}${path}?${q}`;
}

// the authorization code from the redirect back to the client
function codeOf(r, state) {
	expect(r, 'redirect to the client', (x) => isRedirect(x) && x.location.startsWith(`${REDIRECT_URI}?`));
	const q = new URL(r.location).searchParams;
	if (q.get('state') !== state || !q.get('code'))
		throw new Error(`redirect to the client without code or state: ${r.location}`);
	return q.get('code');
}

// civicid: the authorize page is the login form; its POST answers with the code
async function civicidCode(jar, state) {
	const page = expect(await fetchRaw(jar, 'GET', authorizeUrl('/authorize', state)), 'authorize', (r) => r.status === 200);
	const form = { req: hidden(page.body, 'req'), csrf: hidden(page.body, 'csrf'), username: USER, password: PASSWORD };
	return codeOf(await fetchRaw(jar, 'POST', `${issuer}/login`, form), state);
}

// node-oidc-provider: authorize redirects to the interaction (the login form),
// whose POST redirects back to authorize, which redirects with the code
async function nodeopCode(jar, state) {
	const auth = expect(await fetchRaw(jar, 'GET', authorizeUrl('/auth', state)), 'authorize', isRedirect);
	const page = expect(await fetchRaw(jar, 'GET', auth.location), 'login form', (r) => r.status === 200);
	const action = page.body.match(/action="([^"]*)"/);
	if (!action)
		throw new Error('login form without an action');
	const posted = expect(await fetchRaw(jar, 'POST', new URL(unescapeHtml(action[1]), auth.location).href,
		{ login: USER, password: PASSWORD }), 'login', isRedirect);
	return codeOf(await fetchRaw(jar, 'GET', posted.location), state);
}

async function login() {
	const jar = new Map();
	const state = randomBytes(12).toString('base64url');
	const code = await (flavour === 'civicid' ? civicidCode(jar, state) : nodeopCode(jar, state));
	const r = expect(await fetchRaw(new Map(), 'POST', `${issuer}/token`,
		{ grant_type: 'authorization_code', code, redirect_uri: REDIRECT_URI }, { Authorization: basic }),
	'token', (x) => x.status === 200);
	const token = JSON.parse(r.body).access_token;
	if (typeof token !== 'string' || token === '')
		throw new Error(`token answer without access_token: ${r.body.slice(0, 200)}`);
	return token;
}

if (secsArg === 'once') {
	console.log(await login());
	agent.destroy();
	process.exit(0);
}

const seconds = Number(secsArg);
if (!(seconds > 0) || !(concurrency >= 1)) {
	console.error('login.mjs: SECONDS and CONCURRENCY must be positive');
	process.exit(2);
}
let logins = 0;
let failures = 0;
let firstFailure;
const start = process.hrtime.bigint();
const deadline = Date.now() + seconds * 1000;
await Promise.all(Array.from({ length: concurrency }, async () => {
	while (Date.now() < deadline) {
		try {
			await login();
			logins++;
		} catch (err) {
			failures++;
			firstFailure ??= err.message;
		}
	}
}));
const elapsed = Number(process.hrtime.bigint() - start) / 1e9;
agent.destroy();
if (firstFailure)
	console.error(`login.mjs: first failure: ${firstFailure}`);
console.log(`logins=${logins} failures=${failures} seconds=${elapsed.toFixed(2)} rate=${(logins / elapsed).toFixed(1)}`);
