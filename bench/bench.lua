-- wrk script for `make bench`: POST one GraphQL body (BODY_FILE) with a bearer token (TOKEN).
-- With IDS_FILE, "$ID" in the body is replaced by the ids listed there: thread i of n takes
-- ids i, i+n, i+2n, ... so no two threads send the same id. IDS_ONCE=1 sends each id once and
-- stops the thread when its share is used up (M1: a lead is accepted once); otherwise threads
-- go round their share again (Q3).
-- A response is an error unless it is HTTP 200 with no `"errors":[{` and, with ERROR_MARK set,
-- without that text either (e.g. a mutation payload's non-empty errors list).
local threads = {}

function setup(thread)
  thread:set("index", #threads)
  table.insert(threads, thread)
end

function init(args)
  body = io.open(os.getenv("BODY_FILE")):read("*a")
  wrk.method = "POST"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Authorization"] = "Bearer " .. os.getenv("TOKEN")
  once = os.getenv("IDS_ONCE") == "1"
  mark = os.getenv("ERROR_MARK") or ""
  local nthreads = tonumber(os.getenv("THREADS"))
  ids = {}
  local ids_file = os.getenv("IDS_FILE") or ""
  if ids_file ~= "" then
    local n = 0
    for line in io.lines(ids_file) do
      if n % nthreads == index then ids[#ids + 1] = line end
      n = n + 1
    end
  end
  next_id = 1
  errors = 0
  sent_after_end = 0
end

request = function()
  if #ids == 0 then
    return wrk.format(nil, nil, nil, body)
  end
  if next_id > #ids then
    if once then
      -- This thread's ids are used up: stop (this last request repeats an id; counted apart).
      sent_after_end = sent_after_end + 1
      wrk.thread:stop()
      return wrk.format(nil, nil, nil, (body:gsub("%$ID", ids[#ids])))
    end
    next_id = 1
  end
  local id = ids[next_id]
  next_id = next_id + 1
  return wrk.format(nil, nil, nil, (body:gsub("%$ID", id)))
end

response = function(status, headers, resp)
  if status ~= 200 or resp:find('"errors":%[{') or (mark ~= "" and resp:find(mark, 1, true)) then
    errors = errors + 1
  end
end

done = function(summary, latency, requests)
  local errs, extra = 0, 0
  for _, thread in ipairs(threads) do
    errs = errs + (thread:get("errors") or 0)
    extra = extra + (thread:get("sent_after_end") or 0)
  end
  io.write(string.format(
    "RESULT rps=%.2f p50_ms=%.3f p90_ms=%.3f p99_ms=%.3f requests=%d duration_s=%.3f "
      .. "errors=%d socket_errors=%d after_end=%d\n",
    summary.requests / (summary.duration / 1e6),
    latency:percentile(50) / 1000, latency:percentile(90) / 1000, latency:percentile(99) / 1000,
    summary.requests, summary.duration / 1e6, errs + summary.errors.status,
    summary.errors.connect + summary.errors.read + summary.errors.write + summary.errors.timeout,
    extra))
end
