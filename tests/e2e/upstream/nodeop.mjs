// node-oidc-provider as civicid's upstream identity provider in the e2e tests
// (issue 15): a stand-in for the national card service. In-process, on a free
// loopback port, everything in memory. Its login form takes any user name with
// the password PASSWORD and an acr to report (the test picks the assurance the
// upstream claims). setMode(m) makes the token endpoint, as a man in the
// middle would, hand back an altered ID token: 'wrong-nonce' and 'wrong-iss'
// re-sign it with the provider's own key, 'wrong-signature' with a key of
// the same kid never published, 'alg-none' unsigns it, 'rotated' signs it
// with a key published only from then on (TAMPER below), 'rotated-unusable'
// with another, while its JWKS holds only that key without its kid, kept for a day; 'wrong-aud'
// re-signs it for another client, 'expired' with an exp an hour past, and 'token-error' makes
// the token endpoint refuse the code (400 invalid_grant, RFC 6749 §5.2). hits(path) counts
// the requests that reached a path. The form also takes the amr to report
// (space-separated). With idTokenClaims the ID token carries the scopes'
// claims (as the card service does), and verified(accountId), if given,
// makes the OIDC4IDA verified_claims of scope "verified". tokenAuth is the
// one client authentication its token endpoint takes (and its discovery lists).
import { generateKeyPairSync } from 'node:crypto';
import { createServer } from 'node:http';

import { SignJWT, decodeJwt, decodeProtectedHeader, importJWK } from 'jose';
import Provider from 'oidc-provider';

export const PASSWORD = 'upstream-pass-1';

function formBody(req) {
	return new Promise((resolve, reject) => {
		let body = '';
		req.setEncoding('utf8');
		req.on('data', (c) => { body += c; });
		req.on('end', () => resolve(new URLSearchParams(body)));
		req.on('error', reject);
	});
}

const loginPage = (uid) => `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Card login</title></head>
<body><form method="post" action="/interaction/${uid}/login">
<input name="login"><input name="password" type="password"><input name="acr" value=""><input name="amr" value="">
<button>Log in</button></form></body></html>`;

async function interaction(provider, req, res) {
	const details = await provider.interactionDetails(req, res);
	if (req.method === 'GET') {
		res.writeHead(200, { 'Content-Type': 'text/html; charset=utf-8' });
		res.end(loginPage(details.uid));
		return;
	}
	const form = await formBody(req);
	if (form.get('password') !== PASSWORD) {
		res.writeHead(403, { 'Content-Type': 'text/plain' });
		res.end('wrong password\n');
		return;
	}
	const grant = new provider.Grant({ accountId: form.get('login'), clientId: details.params.client_id });
	grant.addOIDCScope(details.params.scope);
	const grantId = await grant.save();
	const login = { accountId: form.get('login') };
	if (form.get('acr')) login.acr = form.get('acr');
	if (form.get('amr')) login.amr = form.get('amr').split(' ');
	await provider.interactionFinished(req, res, { login, consent: { grantId } }, { mergeWithLastSubmission: false });
}

const b64url = (o) => Buffer.from(JSON.stringify(o)).toString('base64url');

// re-sign the ID token's claims (altered by change) under header, with signer
function resign(idToken, signer, change) {
	const claims = { ...decodeJwt(idToken), ...change };
	return new SignJWT(claims).setProtectedHeader(decodeProtectedHeader(idToken)).sign(signer);
}

// how each mode alters the ID token the token endpoint hands back
const TAMPER = {
	// a genuine signature over a token for another request
	'wrong-nonce': (t, key) => resign(t, key, { nonce: 'not-the-nonce-sent' }),
	// the same claims and kid, signed with a key the upstream never published
	'wrong-signature': (t, key, otherKey) => resign(t, otherKey, {}),
	// a genuine signature over a token naming another issuer
	'wrong-iss': (t, key) => resign(t, key, { iss: 'https://impostor.example' }),
	// a genuine signature over a token for another client of the upstream
	'wrong-aud': (t, key) => resign(t, key, { aud: 'another-client' }),
	// a genuine signature over a token that expired an hour ago
	'expired': (t, key) => resign(t, key, { exp: Math.floor(Date.now() / 1000) - 3600 }),
	// a key rotated in (published with the old one, see startUpstream) signs it
	'rotated': (t, key, otherKey, next) => new SignJWT(decodeJwt(t))
		.setProtectedHeader({ ...decodeProtectedHeader(t), kid: 'card-es256-next' }).sign(next),
	// a key of its own signs it, published only without its kid (see startUpstream)
	'rotated-unusable': (t, key, otherKey, next, third) => new SignJWT(decodeJwt(t))
		.setProtectedHeader({ ...decodeProtectedHeader(t), kid: 'card-es256-third' }).sign(third),
	// a genuine signature over a large token (identity assurance evidence makes them so)
	'large': (t, key) => resign(t, key, { filler: 'x'.repeat(6000) }),
	// a genuine signature over a login an hour old, whatever max_age asked
	'old-login': (t, key) => resign(t, key, { auth_time: Math.floor(Date.now() / 1000) - 3600 }),
	// the claims unsigned, the kid kept: alg "none" and an empty signature (RFC 7519 §6)
	'alg-none': async (t) => `${b64url({ alg: 'none', typ: 'JWT', kid: decodeProtectedHeader(t).kid })}.${b64url(decodeJwt(t))}.`,
};

/** Starts the upstream for one client; { issuer, setMode(m), close() }. */
export async function startUpstream({ clientId, secret, redirectUri, idTokenClaims = false, verified = null, tokenAuth = 'client_secret_post' }) {
	const { privateKey } = generateKeyPairSync('ec', { namedCurve: 'P-256' });
	const jwk = { ...privateKey.export({ format: 'jwk' }), kid: 'card-es256', alg: 'ES256', use: 'sig' };
	const server = createServer();
	await new Promise((resolve) => server.listen(0, '127.0.0.1', resolve));
	const issuer = `http://127.0.0.1:${server.address().port}`;
	const provider = new Provider(issuer, {
		clients: [{
			client_id: clientId,
			client_secret: secret,
			redirect_uris: [redirectUri],
			grant_types: ['authorization_code'],
			response_types: ['code'],
			token_endpoint_auth_method: tokenAuth,
			id_token_signed_response_alg: 'ES256',
		}],
		jwks: { keys: [jwk] },
		cookies: { keys: ['e2e-upstream-cookie-key'] },
		claims: { openid: ['sub', 'acr', 'amr'], profile: ['given_name', 'family_name', 'birthdate'], verified: ['verified_claims'] },
		acrValues: ['urn:card:low', 'urn:card:high'],
		conformIdTokenClaims: !idTokenClaims,
		// what its discovery offers: the one method its client is registered with
		clientAuthMethods: [tokenAuth],
		async findAccount(ctx, id) {
			return {
				accountId: id,
				async claims() {
					return { sub: id, given_name: `Given-${id}`, family_name: 'Card', birthdate: '1990-04-01', ...(verified ? { verified_claims: verified(id) } : {}) };
				},
			};
		},
		interactions: { url: (ctx, details) => `/interaction/${details.uid}` },
		features: { devInteractions: { enabled: false } },
	});
	const key = await importJWK(jwk, 'ES256');
	// a key of the same kind the upstream never published, for a forged signature
	const other = generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' });
	const otherKey = await importJWK({ ...other, alg: 'ES256' }, 'ES256');
	// the key a 'rotated' upstream signs with, published beside the first one
	const nextJwk = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'card-es256-next', alg: 'ES256', use: 'sig' };
	const nextKey = await importJWK(nextJwk, 'ES256');
	// the key a 'rotated-unusable' upstream signs with, published alone and without its kid
	const thirdJwk = { ...generateKeyPairSync('ec', { namedCurve: 'P-256' }).privateKey.export({ format: 'jwk' }), kid: 'card-es256-third', alg: 'ES256', use: 'sig' };
	const thirdKey = await importJWK(thirdJwk, 'ES256');
	const pub = ({ d, ...rest }) => rest;
	const hits = {};
	let mode = 'normal';
	const callback = provider.callback();
	server.on('request', (req, res) => {
		if (req.url.startsWith('/interaction/')) {
			interaction(provider, req, res).catch((err) => { res.writeHead(400); res.end(`${err.message}\n`); });
			return;
		}
		const path = req.url.split('?')[0];
		hits[path] = (hits[path] ?? 0) + 1;
		if (mode === 'rotated' && req.method === 'GET' && path === '/jwks') {
			res.writeHead(200, { 'Content-Type': 'application/jwk-set+json' });
			res.end(JSON.stringify({ keys: [pub(jwk), pub(nextJwk)] }));
			return;
		}
		if (mode === 'rotated-unusable' && req.method === 'GET' && path === '/jwks') {
			// the new key without its kid, to be kept for a day: nothing in it can verify
			const { kid, ...bare } = pub(thirdJwk);
			res.writeHead(200, { 'Content-Type': 'application/jwk-set+json', 'Cache-Control': 'max-age=86400' });
			res.end(JSON.stringify({ keys: [bare] }));
			return;
		}
		if (mode === 'token-error' && req.method === 'POST' && path === '/token') {
			res.writeHead(400, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
			res.end(JSON.stringify({ error: 'invalid_grant', error_description: 'grant request is invalid' }));
			return;
		}
		const tamper = TAMPER[mode];
		if (tamper && req.method === 'POST' && req.url.startsWith('/token')) {
			const end = res.end.bind(res);
			res.setHeader = ((orig) => (n, v) => (n.toLowerCase() === 'content-length' ? undefined : orig(n, v)))(res.setHeader.bind(res));
			res.end = (chunk, ...rest) => {
				const body = JSON.parse(String(chunk));
				tamper(body.id_token, key, otherKey, nextKey, thirdKey).then((jwt) => {
					end(JSON.stringify({ ...body, id_token: jwt }), ...rest);
				});
				return res;
			};
		}
		callback(req, res);
	});
	return {
		issuer,
		setMode(m) { mode = m; },
		/** How many requests reached path so far. */
		hits(path) { return hits[path] ?? 0; },
		close() { server.closeAllConnections?.(); return new Promise((r) => server.close(r)); },
	};
}
