-- wrk script: POST one GraphQL body (from BODY_FILE) with a bearer token (TOKEN).
-- With IDS_FILE, "$ID" in the body is replaced round-robin by the ids listed there.
local body = io.open(os.getenv("BODY_FILE")):read("*a")
local token = os.getenv("TOKEN")
local ids = {}
local ids_file = os.getenv("IDS_FILE")
if ids_file and ids_file ~= "" then
  for line in io.lines(ids_file) do ids[#ids + 1] = line end
end
local counter = 0
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer " .. token

request = function()
  if #ids > 0 then
    counter = counter + 1
    local id = ids[(counter % #ids) + 1]
    return wrk.format(nil, "/graphql", nil, (body:gsub("%$ID", id)))
  end
  return wrk.format(nil, "/graphql", nil, body)
end

local errors = 0
response = function(status, headers, resp)
  if status ~= 200 or resp:find('"errors":%[{') then errors = errors + 1 end
end

done = function(summary, latency, requests)
  io.write(string.format("RESULT rps=%.1f p50_ms=%.2f p90_ms=%.2f p99_ms=%.2f requests=%d non2xx_or_errors=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.errors.status + errors))
end
