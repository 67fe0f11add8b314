// The benchmark's table (run.sh): reads the SERVER.ROW.FIELD=VALUE lines
// run.sh gathered and prints one Markdown table, civicid beside
// node-oidc-provider. A row without its number, a failed request or login,
// civicid's RssAnon after the runs over run.rss_anon_bound_kib (when run.sh
// gives one), an audit log that did not verify, or no group-commit counters
// of the userinfo run (civicid.userinfo_audit.*, what civicid serve printed
// on SIGUSR1) is marked in the table, listed on stderr, and makes the exit
// status 1.
//   node table.mjs RESULTS-FILE
import { readFileSync } from 'node:fs';

const results = new Map();
for (const line of readFileSync(process.argv[2], 'utf8').split('\n')) {
	const eq = line.indexOf('=');
	if (eq > 0)
		results.set(line.slice(0, eq), line.slice(eq + 1));
}
const problems = [];

// the number under KEY, or undefined (and a problem) when the run gave none
function num(key) {
	const v = results.get(key);
	if (v === undefined || v === '' || !Number.isFinite(Number(v))) {
		problems.push(`${key}: no number`);
		return undefined;
	}
	return Number(v);
}

const grouped = (x) => Math.round(x).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
const plural = (n, word) => `${n} ${word}${n === 1 ? '' : 's'}`;
const MISSING = '**missing**';

// a wrk row: requests/s and p99, and the failed requests if any
function rate(server, row) {
	const rps = num(`${server}.${row}.rps`);
	const p99 = num(`${server}.${row}.p99_ms`);
	const failed = num(`${server}.${row}.failed`);
	if (failed > 0)
		problems.push(`${server} ${row}: ${plural(failed, 'request')} failed`);
	if (rps === undefined || p99 === undefined)
		return { cell: MISSING };
	const bad = failed === 0 ? '' : `, **${failed ?? '?'} failed**`;
	return { value: rps, cell: `${grouped(rps)}/s, p99 ${p99.toFixed(1)} ms${bad}` };
}

function login(server) {
	const r = num(`${server}.login.rate`);
	const failures = num(`${server}.login.failures`);
	const n = num(`${server}.login.logins`);
	if (failures > 0)
		problems.push(`${server} full login: ${plural(failures, 'login')} failed`);
	if (n === 0)
		problems.push(`${server} full login: no login completed`);
	if (r === undefined || failures === undefined)
		return { cell: MISSING };
	const f = failures === 0 ? '0 failures' : `**${plural(failures, 'failure')}**`;
	return { value: r, cell: `${r.toFixed(1)}/s, ${f}` };
}

const mib = (kb) => (kb / 1024).toFixed(1);

function rss(server, row) {
	const total = num(`${server}.${row}.VmRSS`);
	const anon = num(`${server}.${row}.RssAnon`);
	const file = num(`${server}.${row}.RssFile`);
	const shmem = num(`${server}.${row}.RssShmem`);
	if ([total, anon, file, shmem].includes(undefined))
		return { cell: MISSING };
	const sh = shmem > 0 ? `, RssShmem ${mib(shmem)}` : '';
	return { cell: `${mib(total)} MiB (RssAnon ${mib(anon)}, RssFile ${mib(file)}${sh})` };
}

function start(server) {
	const ms = num(`${server}.start.ms`);
	return ms === undefined ? { cell: MISSING } : { cell: `${ms.toFixed(1)} ms` };
}

const ratio = (a, b) => (a.value !== undefined && b.value > 0 ? `${(a.value / b.value).toFixed(2)}x` : '');

const cLogin = login('civicid');
const ceiling = num('ceiling.rate');
const cores = num('ceiling.threads');
const cost = `m=${num('ceiling.m_kib')} KiB t=${num('ceiling.t')}`;
if (cLogin.value !== undefined && ceiling !== undefined)
	cLogin.cell += `; ${(100 * cLogin.value / ceiling).toFixed(0)}% of the argon2id ceiling of ${cores} cores (${ceiling.toFixed(1)}/s, argon2id ${cost})`;
else
	cLogin.cell += '; argon2id ceiling **missing**';
const nLogin = login('nodeop');
nLogin.cell += '; no password hashing';

const rows = [];
const add = (measure, c, n, r = ratio(c, n)) => rows.push([measure, c.cell, n.cell, r]);
const cUser = rate('civicid', 'userinfo');
const nUser = rate('nodeop', 'userinfo');
cUser.cell += '; every release audited, durable before the answer';
nUser.cell += '; no audit';
add('GET /userinfo', cUser, nUser);
add('POST /introspect', rate('civicid', 'introspect'), rate('nodeop', 'introspect'));
add('client_credentials, ES256 at+jwt', rate('civicid', 'cc'), rate('nodeop', 'cc'));
add('discovery', rate('civicid', 'discovery'), rate('nodeop', 'discovery'));
add(`full login, ${num('run.logins_at_once')} at once`, cLogin, nLogin);
add('RSS idle', rss('civicid', 'rss_idle'), rss('nodeop', 'rss_idle'), '');
const cAfter = rss('civicid', 'rss_after');
// civicid's heap and stacks after every run stay under the bound run.sh names
// (none for a sanitized build, whose allocator is not glibc's)
const bound = results.get('run.rss_anon_bound_kib');
const anonAfter = results.get('civicid.rss_after.RssAnon');
if (bound !== undefined && Number(anonAfter) > Number(bound)) {
	problems.push(`civicid: RssAnon after the runs ${mib(anonAfter)} MiB, over the bound of ${mib(bound)} MiB`);
	cAfter.cell += ` **over ${mib(bound)} MiB**`;
}
add('RSS after the runs', cAfter, rss('nodeop', 'rss_after'), '');
add(`start to first discovery (keys exist, median of ${num('run.starts')})`, start('civicid'), start('nodeop'), '');

console.log('| measure | civicid | node-oidc-provider | civicid ÷ node |');
console.log('|---|---|---|---|');
for (const r of rows)
	console.log(`| ${r.join(' | ')} |`);
console.log('\nnode-oidc-provider: one process, everything in memory (nothing durable, no audit log),');
console.log('a login form of its own that compares the password as plain text.');

const verify = results.get('civicid.audit.verify');
if (verify === undefined || verify === 'FAILED')
	problems.push('civicid: the audit log did not verify after the runs');
console.log(`civicid audit log after the runs: ${verify ?? 'not verified'}`);

// how civicid's group commit grouped during its userinfo row: each commit is
// one LMDB transaction made durable (fdatasync of the data, then a
// synchronous write of the meta page)
const ga = (name) => num(`civicid.userinfo_audit.${name}`);
const perS = ga('commits_per_s');
const perCommit = ga('appends_per_commit');
const maxAppends = ga('max_appends');
const commitMs = ga('commit_ms');
const commitCpuMs = ga('commit_cpu_ms');
const entriesPerCommit = ga('entries_per_commit');
const failedCommits = ga('failed');
const groups = results.get('civicid.userinfo_audit.groups');
if (groups === undefined)
	problems.push('civicid.userinfo_audit.groups: no histogram');
if (failedCommits > 0)
	problems.push(`civicid userinfo: ${plural(failedCommits, 'audit commit')} failed`);
console.log(`civicid group commit during userinfo: ${perS?.toFixed(1) ?? MISSING} durable commits/s ` +
	`(each an fdatasync and a synchronous meta write), ${perCommit?.toFixed(1) ?? MISSING} requests ` +
	`per commit (max ${maxAppends ?? MISSING}), ${entriesPerCommit?.toFixed(1) ?? MISSING} audit entries per commit, ` +
	`${commitMs?.toFixed(2) ?? MISSING} ms per commit (${commitCpuMs?.toFixed(2) ?? MISSING} ms of the writer's CPU); ` +
	`requests per commit: ${groups ?? MISSING}`);

if (problems.length > 0) {
	console.error(`\nrun.sh: the benchmark did not work:\n  ${problems.join('\n  ')}`);
	process.exit(1);
}
