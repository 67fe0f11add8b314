-- wrk: the summary line run.sh reads, printed once at the end of a run. A
-- request failed if it got no answer (connect, read, write errors, timeouts)
-- or an HTTP status above 399.
function done(summary, latency, requests)
	local e = summary.errors
	local failed = e.connect + e.read + e.write + e.status + e.timeout
	io.write(string.format(
		"wrk: requests=%d rps=%.1f p50_ms=%.3f p99_ms=%.3f failed=%d " ..
		"(connect %d, read %d, write %d, status %d, timeout %d)\n",
		summary.requests, summary.requests / (summary.duration / 1e6),
		latency:percentile(50) / 1000, latency:percentile(99) / 1000, failed,
		e.connect, e.read, e.write, e.status, e.timeout))
end
