-- balance-report.lua: print the account balance, and when it is below a threshold, send it to a
-- mobile as a flash-push message. For cron, once a day or once an hour:
--
--   fms run examples/balance-report.lua MOBILE THRESHOLD [TEMPLATE]
--
--   0 9 * * *  set -a; . /etc/fms/fms.env; set +a; fms run /usr/local/share/fms/balance-report.lua 13800138000 1000
--
-- MOBILE is who to tell, THRESHOLD a number of messages. TEMPLATE is a template id with the
-- variables {balance} and {threshold} (default: $FMS_BALANCE_TEMPLATE); when neither is given,
-- the script registers the template below (the same text always gets the same id), which a
-- production account should do once beforehand, since carriers must approve a new template:
--
--   fms template report '【闪推】余额不足：剩余 {balance} 条，低于 {threshold} 条'
--
-- The account comes from the environment (FMS_URL, FMS_APP_ID, FMS_SECRET_KEY_FILE).
-- Prints "balance N" and, when it sent the message, "sent to MOBILE: FMSID". Exit status: 0;
-- 64 for wrong arguments; otherwise fms run's (see fms-lua(7)).

local TEMPLATE_TEXT = "【闪推】余额不足：剩余 {balance} 条，低于 {threshold} 条"

local function usage(problem)
  io.stderr:write("balance-report.lua: ", problem, "\n",
                  "usage: fms run balance-report.lua MOBILE THRESHOLD [TEMPLATE]\n")
  os.exit(64)
end

local mobile, thresholdText, template = ...
if not mobile or not mobile:match("^%s*1%d%d%d%d%d%d%d%d%d%d%s*$") then
  usage("MOBILE must be a mainland mobile number (11 digits starting with 1), got '" .. tostring(mobile) .. "'")
end
local threshold = math.tointeger(tonumber(thresholdText or ""))
if not threshold or threshold < 0 then
  usage("THRESHOLD must be a whole number of messages, got '" .. tostring(thresholdText) .. "'")
end

local balance = fms.balance()
print("balance " .. balance)
if balance >= threshold then return end

template = template or os.getenv("FMS_BALANCE_TEMPLATE")
if not template or template == "" then template = fms.template.report(TEMPLATE_TEXT) end
local message = fms.send{
  mobile = mobile, template = template,
  vars = { balance = balance, threshold = threshold },
  wait = true,  -- the report says what happened, so wait for the gateway's answer
}
print("sent to " .. message.mobile .. ": " .. message.fmsId)
