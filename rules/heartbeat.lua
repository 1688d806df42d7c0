-- heartbeat.lua: a dead man's switch. Alert when a job stops showing signs of life.
--
-- What it does
--   A job you want to know is alive (a backup, a queue worker, a cron script) touches
--   HEARTBEAT_FILE each time it runs or succeeds:   touch /var/lib/backup/heartbeat
--   This rule watches the file and notes when it last changed. Every CHECK_EVERY it looks at
--   how long ago that was; past MAX_AGE it sends an alert to each number in ONCALL (repeated
--   every REMIND while the silence lasts), and when the file changes again it sends a recovery
--   message once.
--
-- What to edit
--   HEARTBEAT_FILE, JOB, MAX_AGE (a little more than the job's interval), CHECK_EVERY, REMIND
--   and ONCALL below. The fms service must be able to read the folder holding the file (see
--   ReadOnlyPaths= in examples/systemd/fms-watch.service).
--
--   The time of the last change lives in the Lua state: at start and after each reload the job
--   gets a full MAX_AGE of grace before it is called silent. So the alert comes at most MAX_AGE
--   after a silence starts, or after fms (re)starts or reloads, whichever is later; and a
--   silence reported before a reload ends without a recovery message.
--
-- The template (FMS_TEMPLATE_HEARTBEAT, or write the id in TEMPLATE below) takes three variables:
--   host    this machine's name
--   job     JOB below
--   status  what happened, such as "已 35 分钟无心跳" or "已恢复（中断 41 分钟）"
-- for example:   fms template report '【心跳】{host} 上的 {job}：{status}'

-- The template id: from the environment (see examples/fms.env.example), or written here.
local TEMPLATE = os.getenv("FMS_TEMPLATE_HEARTBEAT") or ""
local ONCALL = { "13800138000", "13900139000" } -- mainland mobile numbers, 11 digits
local HEARTBEAT_FILE = "/var/lib/backup/heartbeat"
local JOB = "backup"                             -- the job's name, as the message shows it
local MAX_AGE = "15m"                            -- silent for longer than this: alert
local CHECK_EVERY = "1m"
local REMIND = "6h"                              -- repeat the alert this often while silent
local URGENT = true                              -- send during quiet hours too

if TEMPLATE == "" then
    fms.log.warn("FMS_TEMPLATE_HEARTBEAT is not set: the messages will be dead letters")
    TEMPLATE = "FMS_TEMPLATE_HEARTBEAT-unset" -- unknown to the gateway; names the cause
end

local HOST = fms.host                            -- this machine's name

local max_age = fms.duration(MAX_AGE)
-- The grace period starts now: plain Lua cannot read a file's modification time.
local last_seen = fms.now()
local silent_since = nil    -- while silent: the time of the last sign of life

local function tell_everyone(status, key, cooldown)
    for _, mobile in ipairs(ONCALL) do
        fms.send{
            mobile = mobile,
            template = TEMPLATE,
            vars = { host = HOST, job = JOB, status = status },
            key = key and (key .. ":" .. mobile) or nil,
            cooldown = cooldown,
            urgent = URGENT,
        }
    end
end

-- `touch` on an existing file changes only its times, an "attrib" event; writing to it is
-- "modify", creating it "create", and an editor's write-then-rename "modify" too. A "delete" is
-- no sign of life, and neither are the "overflow" and "rescan" events that every watch may get
-- (they say events were lost, not that the job ran): those are ignored.
local SIGN_OF_LIFE = { create = true, modify = true, attrib = true, move = true }

fms.watch{
    path = HEARTBEAT_FILE,
    on = { "create", "modify", "attrib", "move" },
    handler = function(event)
        if not SIGN_OF_LIFE[event.kind] then return end
        last_seen = event.time
        if silent_since then
            local minutes = math.floor((event.time - silent_since) / 60 + 0.5)
            silent_since = nil
            tell_everyone(string.format("已恢复（中断 %d 分钟）", minutes))
        end
    end,
}

fms.every(CHECK_EVERY, function(info)
    local age = fms.now() - last_seen
    if age <= max_age then return end
    silent_since = silent_since or last_seen
    -- One key per silence and number, named by when the silence began: the cooldown spaces the
    -- reminders, and a new silence soon after a recovery is not hidden by the last one's
    -- cooldown (cooldowns outlive reloads; this file's variables do not).
    tell_everyone(string.format("已 %d 分钟无心跳", math.floor(age / 60)),
                  string.format("heartbeat:%s:%d", HEARTBEAT_FILE, math.floor(silent_since)), REMIND)
end)
