// Start to first served discovery, for the benchmark (run.sh): starts the
// server command, asks URL (its discovery document) every millisecond from
// the moment of the start until one answer is a 200 with a body, stops the
// server (SIGTERM) and waits for it to exit; RUNS times.
//   node first_discovery.mjs RUNS URL COMMAND [ARGS...]
// Prints "ms=MEDIAN runs=A,B,C" (milliseconds); exits 1 if a start took more
// than 20 s or the server exited first.
import { spawn } from 'node:child_process';
import http from 'node:http';

const LIMIT_MS = 20000;
const [runsArg, url, command, ...args] = process.argv.slice(2);
const runs = Number(runsArg);
if (!(runs >= 1) || !url || !command) {
	console.error('usage: node first_discovery.mjs RUNS URL COMMAND [ARGS...]');
	process.exit(2);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// true if URL answered 200 with a body, false if nothing listens yet
function served() {
	return new Promise((resolve) => {
		const req = http.get(url, { agent: false }, (res) => {
			let n = 0;
			res.on('data', (d) => { n += d.length; });
			res.on('end', () => resolve(res.statusCode === 200 && n > 0));
			res.on('error', () => resolve(false));
		});
		req.on('error', () => resolve(false));
	});
}

async function once() {
	const start = process.hrtime.bigint();
	const child = spawn(command, args, { stdio: ['ignore', 'ignore', 'inherit'] });
	const exited = new Promise((resolve) => child.on('exit', (code, signal) => resolve(signal ?? code)));
	let early;
	exited.then((how) => { early = how; });
	let ms;
	for (;;) {
		if (await served()) {
			ms = Number(process.hrtime.bigint() - start) / 1e6;
			break;
		}
		if (early !== undefined)
			throw new Error(`${command} exited (${early}) before serving ${url}`);
		if (Number(process.hrtime.bigint() - start) / 1e6 > LIMIT_MS) {
			child.kill('SIGKILL');
			throw new Error(`${command} did not serve ${url} within ${LIMIT_MS} ms`);
		}
		await sleep(1);
	}
	child.kill('SIGTERM');
	await exited;
	return ms;
}

const times = [];
try {
	for (let i = 0; i < runs; i++)
		times.push(await once());
} catch (err) {
	console.error(`first_discovery.mjs: ${err.message}`);
	process.exit(1);
}
const sorted = [...times].sort((a, b) => a - b);
console.log(`ms=${sorted[Math.floor(sorted.length / 2)].toFixed(1)} runs=${times.map((t) => t.toFixed(1)).join(',')}`);
