// node-oidc-provider, the benchmark's comparison server (tests/bench/run.sh).
// One process, everything in memory (nothing durable, no audit), one ES256
// key, one confidential client, one account whose password is compared as
// plain text (no password hashing), and a minimal login route in place of
// devInteractions: the form posts once and the grant covers every scope asked.
// Client credentials issue ES256 JWT access tokens (RFC 9068 at+jwt) for one
// resource server, named with the resource parameter (RFC 8707).
//   node server.mjs PORT KEY-FILE
// The key is generated into KEY-FILE on the first start and read afterwards,
// so later starts are starts "with keys existing", as civicid's are.
import { generateKeyPairSync } from 'node:crypto';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:http';

import Provider, { errors } from 'oidc-provider';

// what run.sh logs in with; keep the two in step
const CLIENT = { id: 'bench-rp', secret: 'bench-rp-secret-0123456789abcdef' };
const ACCOUNT = { login: 'bench', password: 'bench-password-1' };
const REDIRECT_URI = 'http://127.0.0.1:9/cb';
const RESOURCE = 'urn:civicid:bench:rs';

function signingKey(file) {
	if (existsSync(file))
		return JSON.parse(readFileSync(file, 'utf8'));
	const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
	const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'bench-es256', alg: 'ES256', use: 'sig' };
	writeFileSync(file, JSON.stringify(jwk), { mode: 0o600 });
	return jwk;
}

function formBody(req) {
	return new Promise((resolve, reject) => {
		let body = '';
		req.setEncoding('utf8');
		req.on('data', (chunk) => {
			body += chunk;
			if (body.length > 4096)
				reject(new Error('form too large'));
		});
		req.on('end', () => resolve(new URLSearchParams(body)));
		req.on('error', reject);
	});
}

const escapeHtml = (s) => s.replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function loginPage(uid, error) {
	return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Log in</title></head>
<body><h1>Log in</h1>${error ? `<p role="alert">${escapeHtml(error)}</p>` : ''}
<form method="post" action="/interaction/${escapeHtml(uid)}/login">
<label>User <input name="login" autocomplete="username"></label>
<label>Password <input name="password" type="password" autocomplete="current-password"></label>
<button>Log in</button></form></body></html>`;
}

function send(res, status, type, body) {
	res.writeHead(status, { 'Content-Type': type, 'Cache-Control': 'no-store' });
	res.end(body);
}

// GET /interaction/UID: the login form; POST /interaction/UID/login: check
// the password and finish the interaction with login and consent at once
async function interaction(provider, req, res) {
	const details = await provider.interactionDetails(req, res);
	if (req.method === 'GET') {
		send(res, 200, 'text/html; charset=utf-8', loginPage(details.uid));
		return;
	}
	if (req.method !== 'POST' || req.url !== `/interaction/${details.uid}/login`) {
		send(res, 405, 'text/plain', 'method not allowed\n');
		return;
	}
	const form = await formBody(req);
	if (form.get('login') !== ACCOUNT.login || form.get('password') !== ACCOUNT.password) {
		send(res, 200, 'text/html; charset=utf-8', loginPage(details.uid, 'Wrong user or password.'));
		return;
	}
	const grant = new provider.Grant({ accountId: ACCOUNT.login, clientId: details.params.client_id });
	grant.addOIDCScope(details.params.scope);
	const grantId = await grant.save();
	await provider.interactionFinished(req, res,
		{ login: { accountId: ACCOUNT.login }, consent: { grantId } },
		{ mergeWithLastSubmission: false });
}

const [port, keyFile] = process.argv.slice(2);
if (!/^[0-9]+$/.test(port ?? '') || !keyFile) {
	console.error('usage: node server.mjs PORT KEY-FILE');
	process.exit(2);
}
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
	clients: [{
		client_id: CLIENT.id,
		client_secret: CLIENT.secret,
		redirect_uris: [REDIRECT_URI],
		grant_types: ['authorization_code', 'client_credentials'],
		response_types: ['code'],
		token_endpoint_auth_method: 'client_secret_basic',
		id_token_signed_response_alg: 'ES256',
		scope: 'openid profile city',
	}],
	jwks: { keys: [signingKey(keyFile)] },
	cookies: { keys: ['bench-cookie-key-not-a-secret'] },
	claims: { openid: ['sub'], profile: ['given_name'], city: ['resident_district'] },
	async findAccount(ctx, id) {
		if (id !== ACCOUNT.login)
			return undefined;
		return {
			accountId: id,
			async claims() {
				return { sub: id, given_name: 'Hanako', resident_district: 'Aoi' };
			},
		};
	},
	interactions: { url: (ctx, details) => `/interaction/${details.uid}` },
	pkce: { required: () => false },
	// civicid's access_token_ttl default
	ttl: { AccessToken: 300, ClientCredentials: 300 },
	features: {
		devInteractions: { enabled: false },
		introspection: { enabled: true },
		clientCredentials: { enabled: true },
		resourceIndicators: {
			enabled: true,
			async getResourceServerInfo(ctx, indicator) {
				if (indicator !== RESOURCE)
					throw new errors.InvalidTarget();
				return {
					scope: 'city',
					audience: RESOURCE,
					accessTokenTTL: 300,
					accessTokenFormat: 'jwt',
					jwt: { sign: { alg: 'ES256' } },
				};
			},
		},
	},
});

const callback = provider.callback();
const server = createServer((req, res) => {
	if (!req.url.startsWith('/interaction/')) {
		callback(req, res);
		return;
	}
	interaction(provider, req, res).catch((err) => {
		if (!res.headersSent)
			send(res, 400, 'text/plain', `${err.message}\n`);
		else
			res.end();
	});
});
// idle keep-alive connections are kept 15 s, as civicid's connection_timeout
// does (node's own default, 5 s, races with clients reusing a connection)
server.keepAliveTimeout = 15000;
server.listen(Number(port), '127.0.0.1', () => console.log(`listening on ${issuer}`));
