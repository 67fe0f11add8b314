-- wrk: userinfo with a bearer access token (CID_TOKEN) at a set rate:
-- CID_RATE requests/s in all, shared by wrk's CID_THREADS threads (its -t).
-- Each thread gives its connections slots CID_THREADS / CID_RATE seconds
-- apart (wrk's delay(): a connection's next request waits for the thread's
-- next free slot). wrk times a request from when it is sent, so a server
-- that falls behind the slots is not charged for the wait (wrk2, which is,
-- is not in Debian): the summary's rate says whether the server kept up,
-- and its p99 is that of the answers at that rate.
local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } cid_timespec;
int clock_gettime(int clock, cid_timespec *ts);
]]
local ts = ffi.new("cid_timespec")
local CLOCK_MONOTONIC = 1

local function now_ms()
	ffi.C.clock_gettime(CLOCK_MONOTONIC, ts)
	return tonumber(ts.tv_sec) * 1000 + tonumber(ts.tv_nsec) / 1e6
end

wrk.headers["Authorization"] = "Bearer " .. os.getenv("CID_TOKEN")
local gap = 1000 * tonumber(os.getenv("CID_THREADS") or "2") / tonumber(os.getenv("CID_RATE"))
local slot = nil

function delay()
	local now = now_ms()
	-- a second behind (the server could not keep up): no burst to catch up
	if slot == nil or slot < now - 1000 then
		slot = now
	end
	local wait = slot - now
	slot = slot + gap
	return wait > 0 and wait or 0
end

dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "report.lua")
