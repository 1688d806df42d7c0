-- Demo rule: a failed delivery is escalated to the secondary on-call number, once per message.
local SECONDARY = "13900000003"

fms.on_report{
  state = "FAIL_*",
  handler = function(report)
    if report.mobile == SECONDARY then return end
    fms.log.warn("REPORT " .. report.state .. " for " .. report.mobile .. ": escalating to " .. SECONDARY)
    fms.send{ mobile = SECONDARY, template = report.template or "1001",
              vars = { what = "escalated (" .. report.state .. "): " .. ((report.vars or {}).what or "?") } }
  end,
}

fms.on_report{ state = "DELIVRD", handler = function(report)
  fms.log.info("REPORT delivered to " .. report.mobile)
end }
