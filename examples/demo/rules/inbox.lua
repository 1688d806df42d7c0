-- Demo rule: a file dropped into the inbox folder raises an alert.
-- DEMO_DIR is set by examples/demo/watch-demo.sh; in your own rules, write the path.
local dir = os.getenv("DEMO_DIR") or "/tmp/fms-demo"
local ONCALL = "13800000001"

fms.watch{
  path = dir .. "/inbox", match = "*.csv", on = { "create", "move" }, debounce = "200ms",
  handler = function(ev)
    local message = fms.send{ mobile = ONCALL, template = "1001", vars = { what = "new file " .. ev.name } }
    fms.log.info("ALERT  file dropped: " .. ev.name .. " -> " .. ONCALL .. " (" .. message.customFmsId .. ")")
  end,
}
