-- Demo rule: ERROR lines appended to a log raise an alert, at most one per 8 seconds;
-- the repeats are counted and summed up ("and 3 more") when the window closes.
local dir = os.getenv("DEMO_DIR") or "/tmp/fms-demo"
-- The primary on-call number: the simulator fails every message to it (see on-call.lua).
local PRIMARY = "13900000002"

fms.tail{
  path = dir .. "/app.log", match = "ERROR",
  handler = function(line)
    local message, why = fms.send{
      mobile = PRIMARY, template = "1001", vars = { what = line },
      key = "app-errors", cooldown = "8s", summary = true,
    }
    if message then
      fms.log.info("ALERT  log error: " .. line .. " -> " .. PRIMARY)
    else
      fms.log.info("QUIET  " .. why .. " (" .. line .. ")")
    end
  end,
}
