-- wrk script for `cargo xtask bench`.
--
-- TOUCHSTONE_BENCH_MODE=collect: every request is a collect batch with one new visitor and one
-- new answer (fresh random UUIDs), so every acknowledged request stores a new event.
-- TOUCHSTONE_BENCH_MODE=get: the URL given to wrk, with TOUCHSTONE_BENCH_AUTHORIZATION as the
-- Authorization header.
-- TOUCHSTONE_BENCH_DELAY_MS > 0 makes each connection wait that long between requests, to hold
-- the load below saturation (wrk has no fixed-rate mode).
-- At the end one line `WRK_RESULT {json}` carries the figures xtask reads.

local mode = os.getenv("TOUCHSTONE_BENCH_MODE") or "collect"
local site = os.getenv("TOUCHSTONE_BENCH_SITE") or "bench"
local pause = tonumber(os.getenv("TOUCHSTONE_BENCH_DELAY_MS") or "0")
local threads = 0

function setup(thread)
  threads = threads + 1
  thread:set("thread_number", threads)
end

function init(args)
  -- Different streams per thread and per run: no two requests share an id.
  math.randomseed(os.time() * 1000 + (thread_number or 0) * 7919)
end

local function hex(digits)
  return string.format("%0" .. digits .. "x", math.random(0, 16 ^ digits - 1))
end

-- A random (version 4) UUID.
local function uuid()
  return hex(4) .. hex(4) .. "-" .. hex(4) .. "-4" .. hex(3) .. "-"
    .. string.format("%x", math.random(8, 11)) .. hex(3) .. "-" .. hex(4) .. hex(4) .. hex(4)
end

if mode == "collect" then
  local headers = { ["Content-Type"] = "text/plain;charset=UTF-8" }
  function request()
    local body = string.format(
      '{"site":"%s","visitor":"%s","events":[{"type":"response","id":"%s","at":%d,"score":%d}]}',
      site, uuid(), uuid(), os.time() * 1000, math.random(0, 10))
    return wrk.format("POST", "/v1/collect", headers, body)
  end
else
  wrk.headers["Authorization"] = os.getenv("TOUCHSTONE_BENCH_AUTHORIZATION")
end

if pause > 0 then
  function delay()
    return pause
  end
end

function done(summary, latency, requests)
  local errors = summary.errors
  io.write(string.format(
    'WRK_RESULT {"requests":%d,"duration_us":%d,"non_2xx":%d,"socket_errors":%d,'
      .. '"p50_us":%d,"p99_us":%d}\n',
    summary.requests, summary.duration, errors.status,
    errors.connect + errors.read + errors.write + errors.timeout,
    latency:percentile(50), latency:percentile(99)))
end
