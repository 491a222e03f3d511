-- wrk script for `make soak`: a mix of GraphQL bodies at a steady rate.
-- MIX_FILE: one request per line, "weight<TAB>json body"; "$ID" in a body is replaced by a
-- random id of IDS_FILE and "$N" by a number no other request of this run uses (so each update
-- really changes the lead). TOKEN: the bearer token. DELAY_MS: each connection waits this long
-- after an answer before its next request, which sets the rate.
-- A response is an error unless it is HTTP 200 with no `"errors":[{` and no `"code":"` (a
-- mutation payload's typed error).
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
  bodies, weights, total = {}, {}, 0
  for line in io.lines(os.getenv("MIX_FILE")) do
    local weight, body = line:match("^(%d+)\t(.*)$")
    total = total + tonumber(weight)
    bodies[#bodies + 1] = body
    weights[#weights + 1] = total
  end
  ids = {}
  for line in io.lines(os.getenv("IDS_FILE")) do ids[#ids + 1] = line end
  pause = tonumber(os.getenv("DELAY_MS") or "0")
  math.randomseed(os.time() + index * 7919)
  counter = index * 1000000000
  errors = 0
end

function delay()
  return pause
end

request = function()
  local pick = math.random(total)
  local body = bodies[#bodies]
  for i, limit in ipairs(weights) do
    if pick <= limit then body = bodies[i] break end
  end
  counter = counter + 1
  body = body:gsub("%$ID", ids[math.random(#ids)]):gsub("%$N", tostring(counter))
  return wrk.format(nil, nil, nil, body)
end

response = function(status, headers, resp)
  if status ~= 200 or resp:find('"errors":%[{') or resp:find('"code":"', 1, true) then
    errors = errors + 1
  end
end

done = function(summary, latency, requests)
  local errs = 0
  for _, thread in ipairs(threads) do errs = errs + (thread:get("errors") or 0) end
  io.write(string.format(
    "RESULT rps=%.2f p50_ms=%.3f p99_ms=%.3f requests=%d duration_s=%.3f errors=%d "
      .. "socket_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.duration / 1e6, errs + summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout))
end
