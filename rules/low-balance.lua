-- low-balance.lua: alert when the flash-push account is running out of messages.
--
-- What it does
--   Reads the account balance every CHECK_EVERY. When it falls below THRESHOLD, it sends one
--   message to each number in ONCALL. It does not alert again until the balance has been topped
--   up to REARM or more and then falls below THRESHOLD once more. Whether it has alerted is
--   kept in the state directory, so a restart or a reload does not alert twice.
--
-- What to edit
--   THRESHOLD, REARM, CHECK_EVERY and ONCALL below. Leave room: every message costs one, this
--   alert too, and at 0 the gateway still accepts messages but reports them FAIL_BALANCE.
--
-- The template (FMS_TEMPLATE_LOW_BALANCE, or write the id in TEMPLATE below) takes two variables:
--   balance    the messages left, such as "987"
--   threshold  THRESHOLD
-- for example:   fms template report '【余额】闪推余额只剩 {balance} 条，低于 {threshold} 条'

-- The template id: from the environment (see examples/fms.env.example), or written here.
local TEMPLATE = os.getenv("FMS_TEMPLATE_LOW_BALANCE") or ""
local ONCALL = { "13800138000" }   -- mainland mobile numbers, 11 digits
local THRESHOLD = 1000             -- alert when the balance is below this
local REARM = 1200                 -- alert again only after it was back at this or more (default: +10%)
local CHECK_EVERY = "10m"          -- each check is one getBalance request
local URGENT = false               -- a low balance can wait for the end of quiet hours

if TEMPLATE == "" then
    fms.log.warn("FMS_TEMPLATE_LOW_BALANCE is not set: the messages will be dead letters")
    TEMPLATE = "FMS_TEMPLATE_LOW_BALANCE-unset" -- unknown to the gateway; names the cause
end

fms.balance_below{
    threshold = THRESHOLD,
    rearm = REARM,
    every = CHECK_EVERY,
    handler = function(balance, threshold)
        fms.log.warn("balance", balance, "is below", threshold)
        for _, mobile in ipairs(ONCALL) do
            fms.send{
                mobile = mobile,
                template = TEMPLATE,
                vars = { balance = balance, threshold = threshold },
                -- The handler runs once per fall below the threshold; the cooldown only guards
                -- against a balance that hovers around REARM.
                key = "low-balance:" .. mobile,
                cooldown = "1h",
                urgent = URGENT,
            }
        end
    end,
}
