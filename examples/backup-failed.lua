-- backup-failed.lua: send one flash-push alert when a backup (or any job) has failed, and print
-- the message's fmsId. Meant to be called from the wrapper script that runs the backup:
--
--   fms run examples/backup-failed.lua JOB EXITCODE
--
--   status=0
--   /usr/local/bin/backup-db || status=$?
--   [ "$status" -eq 0 ] || fms run /usr/local/share/fms/backup-failed.lua backup-db "$status"
--   exit "$status"
--
-- Settings, from the environment:
--   FMS_URL, FMS_APP_ID, FMS_SECRET_KEY_FILE  the account, as for every fms command
--   FMS_ALERT_MOBILE    who to alert (required): a mainland mobile number
--   FMS_ALERT_TEMPLATE  the template id; when unset, the script registers the template below
--                       (the same text always gets the same id) and uses that. Registering takes
--                       one of the account's one-per-second template calls, and a new template
--                       must be approved by the carriers before messages get through, so
--                       register it once beforehand and set this in production:
--                         fms template report '【备份】{host} 上的 {job} 失败，退出码 {code}'
--   FMS_ALERT_COOLDOWN  a duration (default "1h"): the alert is sent with key "backup:JOB" and
--                       this cooldown. With `fms run` a cooldown lasts for the one run only, so
--                       each call sends; under the coming watcher (`fms watch`) the same key keeps
--                       repeats of the same job's alert quiet for that long.
--
-- Prints the fmsId on stdout (or, if the cooldown suppressed it, why on stderr). Exit status:
-- 0 when sent; 64 for wrong arguments or settings; otherwise fms run's (65 refused by the
-- gateway, 69 unreachable, 75 try again later, 78 configuration...; see fms-lua(7)).

local TEMPLATE_TEXT = "【备份】{host} 上的 {job} 失败，退出码 {code}"

local function usage(problem)
  io.stderr:write("backup-failed.lua: ", problem, "\n",
                  "usage: fms run backup-failed.lua JOB EXITCODE  (with FMS_ALERT_MOBILE set)\n")
  os.exit(64)
end

local job, code = ...
if not job or job == "" then usage("missing JOB") end
if not code or not code:match("^%d+$") then usage("EXITCODE must be a number, got '" .. tostring(code) .. "'") end
local mobile = os.getenv("FMS_ALERT_MOBILE")
if not mobile or mobile == "" then usage("set FMS_ALERT_MOBILE to the number to alert") end
local cooldown = os.getenv("FMS_ALERT_COOLDOWN") or "1h"
if not pcall(fms.duration, cooldown) then usage("FMS_ALERT_COOLDOWN '" .. cooldown .. "' is not a duration such as 30m or 1h") end

-- This machine's name, for the message.
local function hostname()
  local file = io.open("/proc/sys/kernel/hostname") or io.open("/etc/hostname")
  if not file then return os.getenv("HOSTNAME") or "unknown" end
  local name = file:read("l")
  file:close()
  return name and name ~= "" and name or "unknown"
end

local template = os.getenv("FMS_ALERT_TEMPLATE")
if not template or template == "" then
  template = fms.template.report(TEMPLATE_TEXT)
  local review = fms.template.query(template)
  if not review.approved then
    fms.log.warn("template " .. template .. " is not approved by every carrier yet (cmcc " .. review.cmcc
                 .. ", cucc " .. review.cucc .. ", ctcc " .. review.ctcc .. "); sending anyway")
  end
end

local message, why = fms.send{
  mobile = mobile, template = template,
  vars = { host = hostname(), job = job, code = code },
  key = "backup:" .. job, cooldown = cooldown,
  wait = true,  -- print the gateway's fmsId (the message is in the outbox either way)
}
if message then
  print(message.fmsId)
else
  io.stderr:write("backup-failed.lua: not sent: ", why, "\n")
end
