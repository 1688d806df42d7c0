-- Demo rule: the balance crossing its threshold, and a timer.
local OPS = "13800000009"

fms.balance_below{
  threshold = 5, every = "2s",
  handler = function(balance, threshold)
    fms.log.warn("ALERT  balance " .. balance .. " is below " .. threshold .. " -> " .. OPS)
    fms.send{ mobile = OPS, template = "1001", vars = { what = "balance " .. balance .. " below " .. threshold },
              urgent = true }
  end,
}

local ticks = 0
fms.every("6s", function(info)
  ticks = ticks + 1
  fms.log.info("TIMER  every 6s, run " .. ticks .. (info.skipped > 0 and (" (" .. info.skipped .. " missed)") or ""))
end)
