-- daily-summary.lua: one message a day on how the messages fared.
--
-- What it does
--   Counts, as they come, the delivery reports by state (fms.on_report) and the messages that
--   could not be sent at all (fms.on_failure). Every day at 09:00 (SCHEDULE; local time, or the
--   zone of fms.config) it sends the counts since the last summary and the account balance to
--   each number in ONCALL, then starts counting afresh.
--
--   The counts live in this file's Lua table: a reload (SIGHUP, an edited rule file) or a
--   restart starts them over, and the next summary says since when it counted. For exact
--   figures over any period, ask the outbox:
--     sqlite3 /var/lib/fms/outbox.db "SELECT state, COUNT(*) FROM reports GROUP BY state"
--
-- What to edit
--   SCHEDULE and ONCALL below.
--
-- The template (FMS_TEMPLATE_DAILY_SUMMARY, or write the id in TEMPLATE below) takes three variables:
--   delivered  the reports DELIVRD, such as "132"
--   other      the rest, such as "FAIL_MOBILE 2, TIMEOUT 1; 1 dead; since 11-25 09:00"
--   balance    the messages left on the account ("?" when the gateway could not be asked)
-- for example:   fms template report '【日报】送达 {delivered} 条；{other}；余额 {balance}'

-- The template id: from the environment (see examples/fms.env.example), or written here.
local TEMPLATE = os.getenv("FMS_TEMPLATE_DAILY_SUMMARY") or ""
local ONCALL = { "13800138000" }  -- mainland mobile numbers, 11 digits
local SCHEDULE = "0 9 * * *"      -- minute hour day-of-month month day-of-week
local OTHER_CHARS = 60            -- keep the variable short; the most frequent states come first

if TEMPLATE == "" then
    fms.log.warn("FMS_TEMPLATE_DAILY_SUMMARY is not set: the messages will be dead letters")
    TEMPLATE = "FMS_TEMPLATE_DAILY_SUMMARY-unset" -- unknown to the gateway; names the cause
end

-- The counts since `since`: reports by state, and dead letters.
local counts = { since = fms.now(), reports = {}, dead = 0 }

fms.on_report{
    handler = function(report)
        counts.reports[report.state] = (counts.reports[report.state] or 0) + 1
    end,
}

fms.on_failure(function(message, err)
    counts.dead = counts.dead + 1
end)

-- "FAIL_MOBILE 2, TIMEOUT 1; 1 dead; since 11-25 09:00", most frequent state first.
local function describe_others()
    local states = {}
    for state, n in pairs(counts.reports) do
        if state ~= "DELIVRD" then states[#states + 1] = { state = state, n = n } end
    end
    table.sort(states, function(a, b) return a.n > b.n or (a.n == b.n and a.state < b.state) end)
    local parts = {}
    for i, entry in ipairs(states) do parts[i] = entry.state .. " " .. entry.n end
    local text = #parts > 0 and table.concat(parts, ", ") or "no failures"
    local since = os.date("%m-%d %H:%M", math.floor(counts.since))
    text = text .. "; " .. counts.dead .. " dead; since " .. since
    -- All ASCII, so bytes are characters and cutting anywhere is safe.
    if #text > OTHER_CHARS then text = text:sub(1, OTHER_CHARS - 3) .. "..." end
    return text
end

fms.cron(SCHEDULE, function(info)
    if info.skipped > 0 then
        fms.log.info("slept through", info.skipped, "summaries; this one covers them")
    end
    local ok, balance = pcall(fms.balance)  -- waits for the gateway (only this handler waits)
    if not ok then
        fms.log.warn("no balance:", balance)
        balance = "?"
    end
    local vars = { delivered = counts.reports.DELIVRD or 0, other = describe_others(),
                   balance = balance }
    -- Start afresh before sending, so that reports coming in meanwhile count for tomorrow.
    counts = { since = info.time, reports = {}, dead = 0 }
    for _, mobile in ipairs(ONCALL) do
        fms.send{ mobile = mobile, template = TEMPLATE, vars = vars }
    end
end)
