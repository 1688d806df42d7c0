-- disk-usage.lua: alert when a file system is nearly full.
--
-- What it does
--   Every CHECK_EVERY it reads the usage of each mount point in MOUNTS with fms.fs.usage (as df
--   does: used / (used + available), so the blocks kept for root count as full). When one is at
--   THRESHOLD percent or more, it sends a message to each number in ONCALL, and again every
--   REMIND while it stays that full: each mount point has a cooldown key of its own, so a full
--   /var does not hide a full /srv. When a mount point that was reported full is below the
--   threshold again, it logs so (no message).
--
-- What to edit
--   MOUNTS, THRESHOLD, CHECK_EVERY, REMIND and ONCALL below. A mount point that cannot be read
--   (missing, permission denied) is logged at each check and otherwise skipped.
--
-- The template (FMS_TEMPLATE_DISK_USAGE, or write the id in TEMPLATE below) takes three variables:
--   host     this machine's name
--   mount    the mount point, such as "/var"
--   percent  the usage, a whole number such as "93"
-- for example:   fms template report '【磁盘】{host} 的 {mount} 已用 {percent}%'

-- The template id: from the environment (see examples/fms.env.example), or written here.
local TEMPLATE = os.getenv("FMS_TEMPLATE_DISK_USAGE") or ""
local ONCALL = { "13800138000", "13900139000" } -- mainland mobile numbers, 11 digits
local MOUNTS = { "/", "/var", "/srv" }           -- mount points (any path on the file system works)
local THRESHOLD = 90                             -- percent
local CHECK_EVERY = "5m"
local REMIND = "4h"                              -- per mount point and number, while it stays full
local URGENT = true                              -- a full disk does not wait for the end of quiet hours

if TEMPLATE == "" then
    fms.log.warn("FMS_TEMPLATE_DISK_USAGE is not set: the messages will be dead letters")
    TEMPLATE = "FMS_TEMPLATE_DISK_USAGE-unset" -- unknown to the gateway; names the cause
end

local HOST = fms.host                            -- this machine's name

-- The mount points reported full, so that their recovery is logged once. It lives in this Lua
-- state: after a reload or a restart a mount point that is still full is reported again, unless
-- its cooldown (which outlives reloads) still runs.
local full = {}

fms.every(CHECK_EVERY, function(info)
    for _, mount in ipairs(MOUNTS) do
        local ok, usage, err = pcall(fms.fs.usage, mount)
        if not ok or usage == nil then
            fms.log.warn("cannot read", mount, err or usage)
        elseif usage.percent >= THRESHOLD then
            full[mount] = true
            local percent = string.format("%.0f", usage.percent)
            for _, mobile in ipairs(ONCALL) do
                -- nil, "suppressed: ..." while REMIND runs for this mount point and number.
                fms.send{
                    mobile = mobile,
                    template = TEMPLATE,
                    vars = { host = HOST, mount = mount, percent = percent },
                    key = "disk-usage:" .. mount .. ":" .. mobile,
                    cooldown = REMIND,
                    urgent = URGENT,
                }
            end
        elseif full[mount] then
            full[mount] = nil
            fms.log.info(string.format("%s is below %d%% again (%.1f%%)", mount, THRESHOLD,
                                       usage.percent))
        end
    end
end)
