-- new-files.lua: tell someone when files arrive in a drop folder.
--
-- What it does
--   Watches DROP_FOLDER for new files whose name matches PATTERN: created there, moved in from
--   elsewhere, or renamed there to a matching name (an upload written as "x.csv.part" and then
--   renamed to "x.csv"). It waits until a file has been quiet for SETTLE (an upload that is
--   still being written keeps changing), then sends its name to each number in ONCALL.
--   When many files come at once, the first one is sent at once and the others within COOLDOWN
--   are summed up in one more message when it ends ("x.csv ... and 41 more").
--
-- What to edit
--   DROP_FOLDER, PATTERN, SETTLE, COOLDOWN and ONCALL below. The folder need not exist yet: it
--   is watched from its parent until it appears. Set RECURSIVE to watch the folders below it
--   too (the files already in a new sub-folder then count as new).
--
-- The template (FMS_TEMPLATE_NEW_FILES, or write the id in TEMPLATE below) takes three variables:
--   folder   DROP_FOLDER's last part, such as "incoming"
--   name     the file's name, shortened to NAME_CHARS characters
--   summary  empty on the first message; "and N more" on the summary sent when a cooldown ends
-- for example:   fms template report '【文件】{folder} 收到 {name} {summary}'

-- The template id: from the environment (see examples/fms.env.example), or written here.
local TEMPLATE = os.getenv("FMS_TEMPLATE_NEW_FILES") or ""
local ONCALL = { "13800138000" }  -- mainland mobile numbers, 11 digits
local DROP_FOLDER = "/srv/incoming"
local PATTERN = "*.csv"           -- a shell pattern for the file's name; nil: every file
local SETTLE = "5s"               -- how long a file must be left alone before it counts
local COOLDOWN = "10m"            -- per number: one message, then one summary, per 10 minutes
local RECURSIVE = false
local NAME_CHARS = 30

if TEMPLATE == "" then
    fms.log.warn("FMS_TEMPLATE_NEW_FILES is not set: the messages will be dead letters")
    TEMPLATE = "FMS_TEMPLATE_NEW_FILES-unset" -- unknown to the gateway; names the cause
end

local FOLDER_NAME = DROP_FOLDER:match("([^/]+)/*$") or DROP_FOLDER

fms.watch{
    path = DROP_FOLDER,
    match = PATTERN,
    recursive = RECURSIVE,
    -- "create": a new file, or one moved in from outside; "move": renamed inside the folder
    -- (to a name that matches). Changes to a file within SETTLE of each other are combined:
    -- create then modify is still one "create", and create then delete is nothing at all.
    on = { "create", "move" },
    debounce = SETTLE,
    handler = function(event)
        if event.kind == "overflow" then
            -- Too many changes at once: the kernel dropped some. "rescan" events for every
            -- matching file follow; they are not new, so they are not sent.
            fms.log.warn("events were lost in", event.path, "- some new files may go unreported")
            return
        end
        if event.is_dir or event.kind == "rescan" then return end
        fms.log.info(event.kind, event.path)
        for _, mobile in ipairs(ONCALL) do
            fms.send{
                mobile = mobile,
                template = TEMPLATE,
                vars = { folder = FOLDER_NAME, name = fms.truncate(event.name, NAME_CHARS), summary = "" },
                key = "new-files:" .. DROP_FOLDER .. ":" .. mobile,
                cooldown = COOLDOWN,
                summary = true,
            }
        end
    end,
}
