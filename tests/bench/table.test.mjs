// table.mjs fails the benchmark when it should: a full set of results prints
// the table and exits 0; each way a run can go wrong (a row without its
// number, a failed request, a failed login, a heap over its bound, an audit
// log that did not verify) exits 1 and names what went wrong.
//   node --test tests/bench/table.test.mjs
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'node:test';

const table = join(import.meta.dirname, 'table.mjs');

const complete = () => {
	const r = new Map();
	for (const server of ['civicid', 'nodeop']) {
		for (const row of ['userinfo', 'introspect', 'cc', 'discovery']) {
			r.set(`${server}.${row}.requests`, '50000');
			r.set(`${server}.${row}.rps`, '5000.5');
			r.set(`${server}.${row}.p99_ms`, '9.5');
			r.set(`${server}.${row}.failed`, '0');
		}
		r.set(`${server}.login.logins`, '900');
		r.set(`${server}.login.failures`, '0');
		r.set(`${server}.login.seconds`, '10.01');
		r.set(`${server}.login.rate`, '90.0');
		for (const row of ['rss_idle', 'rss_after']) {
			r.set(`${server}.${row}.VmRSS`, '10240');
			r.set(`${server}.${row}.RssAnon`, '4096');
			r.set(`${server}.${row}.RssFile`, '6144');
			r.set(`${server}.${row}.RssShmem`, '0');
		}
		r.set(`${server}.start.ms`, '11.2');
	}
	r.set('run.logins_at_once', '4');
	r.set('run.starts', '5');
	r.set('ceiling.threads', '2');
	r.set('ceiling.rate', '100.0');
	r.set('ceiling.m_kib', '19456');
	r.set('ceiling.t', '2');
	r.set('civicid.audit.verify', 'intact: 1000 entries, 1 signed checkpoints');
	for (const [k, v] of Object.entries({ commits_per_s: '180.5', appends_per_commit: '16.2',
		max_appends: '31', entries_per_commit: '16.2', commit_ms: '5.48', commit_cpu_ms: '2.10', failed: '0',
		groups: '1:3,2-3:14,4-7:16,8-15:215,16-31:266,32-63:0,64-127:0,128+:0' }))
		r.set(`civicid.userinfo_audit.${k}`, v);
	return r;
};

function run(results) {
	const dir = mkdtempSync(join(tmpdir(), 'cid-table-'));
	try {
		const file = join(dir, 'results');
		writeFileSync(file, [...results].map(([k, v]) => `${k}=${v}\n`).join(''));
		return spawnSync(process.execPath, [table, file], { encoding: 'utf8' });
	} finally {
		rmSync(dir, { recursive: true });
	}
}

test('a full set of results prints every row and passes', () => {
	const r = run(complete());
	assert.equal(r.status, 0, r.stderr);
	for (const row of ['GET /userinfo', 'POST /introspect', 'client_credentials, ES256 at+jwt', 'discovery',
		'full login, 4 at once', 'RSS idle', 'RSS after the runs', 'start to first discovery'])
		assert.match(r.stdout, new RegExp(`^\\| ${row.replace(/[/()+]/g, '\\$&')}.*\\|.*[0-9]`, 'm'));
	assert.match(r.stdout, /90\.0\/s, 0 failures; 90% of the argon2id ceiling of 2 cores/);
	assert.match(r.stdout, /10\.0 MiB \(RssAnon 4\.0, RssFile 6\.0\)/);
	assert.match(r.stdout, /group commit during userinfo: 180\.5 durable commits\/s .* 16\.2 requests per commit \(max 31\), 16\.2 audit entries per commit, 5\.48 ms per commit \(2\.10 ms of the writer's CPU\); requests per commit: 1:3,2-3:14,/);
	assert.equal(r.stderr, '');
});

test('a heap at its bound passes', () => {
	const results = complete();
	results.set('run.rss_anon_bound_kib', '4096');
	const r = run(results);
	assert.equal(r.status, 0, r.stderr);
});

const broken = [
	{ name: 'a wrk row without its number', edit: (r) => r.delete('nodeop.cc.rps'), says: /nodeop\.cc\.rps: no number/ },
	{ name: 'failed requests', edit: (r) => r.set('civicid.userinfo.failed', '3'), says: /civicid userinfo: 3 requests failed/ },
	{ name: 'a failed login', edit: (r) => r.set('civicid.login.failures', '1'), says: /civicid full login: 1 login failed/ },
	{ name: 'no login at all', edit: (r) => r.set('nodeop.login.logins', '0'), says: /nodeop full login: no login completed/ },
	{ name: 'no argon2id ceiling', edit: (r) => r.delete('ceiling.rate'), says: /ceiling\.rate: no number/ },
	{ name: 'no memory reading', edit: (r) => r.delete('civicid.rss_after.RssAnon'), says: /civicid\.rss_after\.RssAnon: no number/ },
	{ name: 'a heap over its bound', edit: (r) => r.set('run.rss_anon_bound_kib', '4095'), says: /civicid: RssAnon after the runs 4\.0 MiB, over the bound of 4\.0 MiB/ },
	{ name: 'no count of starts', edit: (r) => r.delete('run.starts'), says: /run\.starts: no number/ },
	{ name: 'no start time', edit: (r) => r.set('nodeop.start.ms', ''), says: /nodeop\.start\.ms: no number/ },
	{ name: 'an audit log that did not verify', edit: (r) => r.set('civicid.audit.verify', 'FAILED'), says: /audit log did not verify/ },
	{ name: 'no audit verification', edit: (r) => r.delete('civicid.audit.verify'), says: /audit log did not verify/ },
	{ name: 'no group-commit counters', edit: (r) => r.delete('civicid.userinfo_audit.appends_per_commit'), says: /civicid\.userinfo_audit\.appends_per_commit: no number/ },
	{ name: 'no group histogram', edit: (r) => r.delete('civicid.userinfo_audit.groups'), says: /userinfo_audit\.groups: no histogram/ },
	{ name: 'a failed audit commit', edit: (r) => r.set('civicid.userinfo_audit.failed', '1'), says: /civicid userinfo: 1 audit commit failed/ },
];

for (const b of broken) {
	test(`${b.name} fails the run`, () => {
		const results = complete();
		b.edit(results);
		const r = run(results);
		assert.equal(r.status, 1);
		assert.match(r.stderr, b.says);
	});
}
