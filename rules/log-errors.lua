-- log-errors.lua: alert the people on call when an application log gets an "ERROR" line.
--
-- What it does
--   Follows LOG_FILE as `tail -F` does (new lines only; it survives rotation by rename and by
--   truncation, and remembers how far it read across restarts). For every line that contains
--   MATCH, it sends one message to each number in ONCALL, at most one per COOLDOWN and number.
--   Lines that come while the cooldown runs are not sent; when it ends, the last of them is sent
--   once more with a count ("and 12 more"), so that a burst of errors is two messages, not two
--   hundred.
--
-- What to edit
--   LOG_FILE, MATCH, ONCALL and COOLDOWN below. To follow several logs, copy the fms.tail{}
--   block once per file (each keeps its own cooldown key, which names the file).
--
-- The template (FMS_TEMPLATE_LOG_ERRORS, or write the id in TEMPLATE below) takes three variables:
--   host     this machine's name
--   line     the log line, shortened to LINE_CHARS characters
--   summary  empty on the first message; "and N more" on the summary sent when a cooldown ends
--            (fms adds it, with `suppressed` = N, which this template does not use)
-- for example:   fms template report '【日志】{host} 报错：{line} {summary}'

-- The template id: from the environment (see examples/fms.env.example), or written here.
local TEMPLATE = os.getenv("FMS_TEMPLATE_LOG_ERRORS") or ""
local ONCALL = { "13800138000", "13900139000" } -- mainland mobile numbers, 11 digits
local LOG_FILE = "/var/log/app/app.log"          -- need not exist yet
local MATCH = "ERROR"                            -- plain text, not a Lua pattern; nil: every line
local COOLDOWN = "15m"                           -- per number: one message, then one summary
local LINE_CHARS = 40                            -- carriers limit a variable's length
local URGENT = false                             -- true: send during quiet hours too (see fms.config)

if TEMPLATE == "" then
    fms.log.warn("FMS_TEMPLATE_LOG_ERRORS is not set: the messages will be dead letters")
    TEMPLATE = "FMS_TEMPLATE_LOG_ERRORS-unset" -- unknown to the gateway; names the cause
end

local HOST = fms.host                            -- this machine's name

fms.tail{
    path = LOG_FILE,
    match = MATCH,
    handler = function(line, info)
        for _, mobile in ipairs(ONCALL) do
            -- The key names the file AND the number: with one key for everyone, the send to the
            -- second number would be suppressed by the first one's cooldown.
            -- A repeat within the cooldown returns nil, "suppressed: ..."; it is counted in the
            -- metrics and summed up when the cooldown ends, so there is nothing to do about it here.
            fms.send{
                mobile = mobile,
                template = TEMPLATE,
                vars = { host = HOST, line = fms.truncate(line, LINE_CHARS), summary = "" },
                key = "log-errors:" .. info.path .. ":" .. mobile,
                cooldown = COOLDOWN,
                summary = true,
                urgent = URGENT,
            }
        end
    end,
}
