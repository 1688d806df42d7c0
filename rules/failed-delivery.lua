-- failed-delivery.lua: when an alert does not reach its phone, send it to a second number.
--
-- What it does
--   Watches the delivery reports of the messages the rules send. When a message is reported
--   failed (a state matching one of STATES: "FAIL_MOBILE", "FAIL_UNKNOW", "TIMEOUT"...), it
--   escalates: it sends the same message (same template and variables) to BACKUP, once per
--   original message (a cooldown key per message, kept for ONCE_PER; cooldowns live in the
--   watcher's memory, so a restart forgets them, but each report comes only once anyway).
--   With ESCALATE_FOREIGN = true it also escalates messages sent by something other than these
--   rules; when the outbox does not know such a message, it sends the ESCALATION template
--   instead, which names the number and the state.
--   Messages that could not be sent at all (dead letters: a wrong template id, a refused
--   number, the account's settings) have no report. fms watch logs each one; the fms.on_failure
--   handler below adds its template, key and attempts, and is the place to do more with it.
--   `fms outbox list --state dead` lists them, `fms outbox retry ID` sends one again.
--
-- What to edit
--   BACKUP, STATES, SKIP_STATES, ESCALATE_FOREIGN and ONCE_PER below.
--   Escalations are not escalated again: a failed escalation is only logged.
--
-- Templates
--   The escalation resends the original message, so its template needs nothing more.
--   ESCALATION (FMS_TEMPLATE_ESCALATION, or write the id in ESCALATION below) is used when
--   the original is not known, and takes three variables:
--     mobile  the number the message did not reach
--     state   the report's state, such as "FAIL_MOBILE"
--     desc    the gateway's description of it
--   for example:   fms template report '【转告】发给 {mobile} 的消息未送达：{state} {desc}'

-- The template id: from the environment (see examples/fms.env.example), or written here.
local ESCALATION = os.getenv("FMS_TEMPLATE_ESCALATION") or ""
local BACKUP = "13700137000"                    -- the second number (a team lead, a shared phone)
local STATES = { "FAIL_*", "TIMEOUT" }          -- report states that mean "not delivered" (globs)
local SKIP_STATES = { FAIL_BALANCE = true }     -- no balance left: a second message would fail too
local ESCALATE_FOREIGN = false                  -- also escalate messages these rules did not send
local ONCE_PER = "7d"                           -- how long an escalated message is remembered
local URGENT = true                             -- escalations ignore quiet hours

if ESCALATION == "" then
    fms.log.warn("FMS_TEMPLATE_ESCALATION is not set: the messages will be dead letters")
    ESCALATION = "FMS_TEMPLATE_ESCALATION-unset" -- unknown to the gateway; names the cause
end

local KEY_PREFIX = "escalate:"

local function escalate(report)
    if SKIP_STATES[report.state] then
        fms.log.warn("not escalated:", report.mobile, report.state,
                     report.customFmsId or report.fmsId)
        return
    end
    if report.mobile == BACKUP or (report.key and report.key:sub(1, #KEY_PREFIX) == KEY_PREFIX) then
        fms.log.error("an escalation failed too:", report.mobile, report.state, report.desc)
        return
    end
    if report.rule == nil and not ESCALATE_FOREIGN then return end

    -- A report is normally handed to the handler once; after a crash in the middle it may come
    -- again. The key, one per original message, keeps that from sending twice.
    local key = KEY_PREFIX .. (report.customFmsId or report.fmsId)
    local message
    if report.template and report.vars then
        message = { template = report.template, vars = report.vars }
    else
        message = { template = ESCALATION,
                    vars = { mobile = report.mobile, state = report.state, desc = report.desc or "" } }
    end
    local sent = fms.send{
        mobile = BACKUP,
        template = message.template,
        vars = message.vars,
        key = key,
        cooldown = ONCE_PER,
        urgent = URGENT,
    }
    if sent then
        fms.log.warn("not delivered to", report.mobile, report.state,
                     "rule", report.rule or "-", "; escalated to", BACKUP)
    end
end

-- One registration per state pattern; a report matches at most one of them unless the
-- patterns overlap.
for _, state in ipairs(STATES) do
    fms.on_report{ state = state, handler = escalate }
end

fms.on_failure(function(message, err)
    fms.log.error("dead letter", message.customFmsId, "to", message.mobile,
                  "template", message.template, "rule", message.rule or "-", "key", message.key or "-",
                  "after", message.attempts, "attempt(s):", err)
end)
