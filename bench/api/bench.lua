-- bench.lua — wrk script: optional bearer token and POST body from the environment, and a
-- method (BENCH_METHOD, e.g. POST with no body for .../trigger), optional rotation over many
-- tenants (BENCH_PAIRS: a file of "TOKEN PATH" lines; each request takes the next line's token
-- and path, so the load is spread over the tenants in the file), and a
-- machine-readable summary line (requests/s, p50/p99 latency, HTTP >= 400 count (no per-response Lua hook, so wrk stays fast)).
local token = os.getenv("BENCH_TOKEN")
local body_file = os.getenv("BENCH_BODY")
if token and #token > 0 then wrk.headers["Authorization"] = "Bearer " .. token end
local method = os.getenv("BENCH_METHOD")
if method and #method > 0 then wrk.method = method end
if body_file and #body_file > 0 then
    local f = assert(io.open(body_file, "rb"))
    wrk.method = "POST"
    wrk.body = f:read("*a")
    f:close()
    wrk.headers["Content-Type"] = "application/json"
end

local pairs_file = os.getenv("BENCH_PAIRS")
if pairs_file and #pairs_file > 0 then
    local reqs, next_req = {}, 1
    function init(args)
        for line in io.lines(pairs_file) do
            local tok, path = line:match("^(%S+)%s+(%S+)$")
            local headers = {Authorization = "Bearer " .. tok}
            if wrk.body then headers["Content-Type"] = "application/json" end
            reqs[#reqs + 1] = wrk.format(wrk.method, path, headers, wrk.body)
        end
        -- each wrk thread starts at another line, so threads do not move in lockstep
        math.randomseed(os.time() + tonumber(tostring(reqs):match("0x(%x+)") or "0", 16))
        next_req = math.random(#reqs)
    end
    function request()
        local r = reqs[next_req]
        next_req = next_req % #reqs + 1
        return r
    end
end

function done(summary, latency, requests)
    local secs = summary.duration / 1e6
    io.write(string.format("RESULT rps=%.0f p50_ms=%.2f p99_ms=%.2f requests=%d http_errors=%d errors=%d\n",
        summary.requests / secs, latency:percentile(50) / 1000, latency:percentile(99) / 1000,
        summary.requests, summary.errors.status,
        summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
