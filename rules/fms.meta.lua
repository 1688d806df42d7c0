---@meta fms
-- The `fms` Lua module, as a stub for lua-language-server (LuaLS): completion, hover help and
-- type checks in an editor. It declares types only; `fms run`, `fms check` and `fms watch`
-- provide the real module. Reference: man/fms-lua.7 (`man ./man/fms-lua.7`) and, for the
-- watcher, man/fms-watch.1.
--
-- Use: add this folder to "workspace.library" in .luarc.json, or keep the file open beside your
-- scripts. `fms check` skips files named *.meta.lua in folders.

---A duration: seconds as a number, or text such as "500ms", "30s", "5m", "1h30m", "1.5h", "2d".
---@alias fms.Duration number|string

---A value of a template variable: sent as text ("91" for 91.0, "true" for true).
---@alias fms.VarValue string|number|boolean

---The events a watch may ask for with `on`.
---@alias fms.Event "create"|"modify"|"move"|"delete"|"attrib"

---The kinds of event a watch handler gets: those asked for, and always "overflow" (the kernel
---dropped events) followed by "rescan" (one per matching path that exists now).
---@alias fms.EventKind fms.Event|"overflow"|"rescan"

---A carrier's review of a template ("status N" for a code fms does not know).
---@alias fms.ReviewStatus "missing"|"pending"|"approved"|"rejected"|"unsupported"|string

---Options of `fms.send`.
---@class fms.SendOptions
---@field mobile string|integer A mainland mobile number: 11 digits starting with 1 (required).
---@field template string The template id, from `fms.template.report` (required).
---@field vars? table<string, fms.VarValue> The template's variables, by name.
---@field id? string|integer Your id for the message (customFmsId), at most 32 characters.
---@field key? string Names what the message is about, for `cooldown`; stored with the message, and in its report.
---@field cooldown? fms.Duration With `key`: a repeat of the key within this long is suppressed (returns nil, "suppressed: …").
---@field summary? boolean Needs `key` and `cooldown`. Under `fms watch`: when the cooldown ends and N > 0 repeats were suppressed, the last one is sent with the extra variables `suppressed` ("N") and `summary` ("and N more").
---@field urgent? boolean Under `fms watch`: send during the quiet hours of `fms.config` instead of deferring to their end.
---@field wait? boolean Wait until the gateway accepted the message (returns its fmsId) or it died (raises).

---A message accepted by `fms.send`/`fms.batch`: queued in the outbox, or (with `wait = true`,
---or under `fms run --direct`) accepted by the gateway.
---@class fms.Message
---@field mobile string The number, trimmed.
---@field customFmsId string Your id, or the one generated for the message (it stays the same across retries).
---@field queued? boolean True when the message is in the outbox and not yet known to be sent.
---@field fmsId? string The gateway's id of the message, once the gateway accepted it.
---@field dryRun? boolean True under `fms watch --dry-run`: nothing was queued.

---One message of `fms.batch`.
---@class fms.BatchMessage
---@field mobile string|integer A mainland mobile number (required).
---@field vars? table<string, fms.VarValue> The template's variables.
---@field id? string|integer Your id for the message, at most 32 characters.

---Options of `fms.batch`.
---@class fms.BatchOptions
---@field template string The template id (required).
---@field messages fms.BatchMessage[] A non-empty list; any length, sent in requests of at most 300.

---Options of `fms.reports`.
---@class fms.ReportsOptions
---@field max? integer The most reports to fetch, 1 to 1000000 (default 500).

---A delivery report.
---@class fms.Report
---@field mobile string The number.
---@field fmsId string The gateway's id of the message.
---@field customFmsId? string Your id, absent when the message had none.
---@field state string "DELIVRD", "TIMEOUT", "FAIL_MOBILE", "FAIL_BALANCE", "FAIL_UNKNOW"…
---@field delivered boolean Whether `state` is "DELIVRD".
---@field desc string The gateway's description of the state.
---@field submitTime string Beijing time, "yyyy-MM-dd HH:mm:ss".
---@field receiveTime string Beijing time, "yyyy-MM-dd HH:mm:ss".
---@field rule? string The rule file (or script) that sent the message, from the outbox's records.
---@field key? string The key the message was sent under, from the outbox's records.
---@field template? string The template of the message, when the outbox knows the message (`fms.on_report`).
---@field vars? table<string, string> The message's variables, when the outbox knows the message (`fms.on_report`).

---A message that could not be sent, as `fms.on_failure` hands it over (a dead letter).
---@class fms.FailedMessage
---@field customFmsId string The message's custom id (`fms outbox show ID` shows it).
---@field mobile string The number.
---@field template string The template id.
---@field vars table<string, string> The variables.
---@field rule? string The rule file that sent it.
---@field key? string The key it was sent under.
---@field attempts integer How many times it was tried.

---What a handler of `fms.watch` gets.
---@class fms.WatchEvent
---@field kind fms.EventKind What happened.
---@field path string The absolute path it happened to (for "move", the new path).
---@field name string The last part of `path`.
---@field old_path? string For "move": where the entry was; for a "modify" by a rename over the file: the renamed file's former path.
---@field is_dir boolean Whether the path is a folder.
---@field time number When fms noticed the change: seconds since 1970, with fractions.

---The second argument of a handler of `fms.tail`.
---@class fms.TailInfo
---@field path string The file's path, as given.
---@field time number When fms read the line: seconds since 1970, with fractions.

---What a handler of `fms.every` or `fms.cron` gets.
---@class fms.TimerInfo
---@field time number When it fired: seconds since 1970, with fractions.
---@field skipped integer Windows missed (a suspended machine, a handler that ran long) and folded into this one; usually 0.

---What `fms.fs.usage` returns: as statvfs(3) and df(1) count, in bytes.
---@class fms.FsUsage
---@field total integer The file system's size.
---@field used integer Bytes in use.
---@field free integer Bytes free, including those kept for root.
---@field available integer Bytes free for unprivileged users.
---@field percent number used / (used + available) * 100, rounded up to a tenth, as df's Use%.

---The carriers' review of a template.
---@class fms.TemplateStatus
---@field templateId string The template id.
---@field cmcc fms.ReviewStatus China Mobile's review.
---@field cucc fms.ReviewStatus China Unicom's review.
---@field ctcc fms.ReviewStatus China Telecom's review.
---@field approved boolean Whether all three carriers approved.

---Options of `fms.config`; each is optional and keeps its earlier value when left out.
---@class fms.ConfigOptions
---@field rate? string The most sends per period: "30/min", "5/s", "100/h", "10/30s".
---@field quiet? string Quiet hours, "HH:MM-HH:MM", possibly over midnight: "23:00-07:00".
---@field timezone? string An IANA time zone for quiet hours and cron: "Asia/Shanghai", "UTC".

---Options of `fms.watch`.
---@class fms.WatchOptions
---@field path string A file or directory (required); it need not exist yet.
---@field match? string A shell pattern for the names of entries below `path`, such as "*.log".
---@field on? fms.Event|fms.Event[] The events (default create, modify, move, delete: all but attrib).
---@field recursive? boolean Also watch subdirectories, at any depth (default false).
---@field debounce? fms.Duration Combine the changes to one path within this long of each other into one event (default 0: none).
---@field handler fun(event: fms.WatchEvent) Called with each event, in order, one at a time (required).

---Options of `fms.tail`.
---@class fms.TailOptions
---@field path string The file (required); it need not exist yet.
---@field match? string Only lines containing this text: a plain substring, not a Lua pattern (nil: every line).
---@field handler fun(line: string, info: fms.TailInfo) Called for each new line, without its line break (required).

---Options of `fms.balance_below`.
---@class fms.BalanceBelowOptions
---@field threshold integer The balance below which to call the handler (required).
---@field every? fms.Duration How often to read the balance; positive (default "10m").
---@field rearm? integer Call again only after the balance was back at this or more; not below the threshold (default threshold + 10%, at least threshold + 1).
---@field handler fun(balance: integer, threshold: integer) Called once per fall below the threshold (required).

---Options of `fms.on_report`.
---@class fms.OnReportOptions
---@field state? string Only reports whose state matches this shell pattern, such as "FAIL_*" (default: any).
---@field mobile? string Only reports for this number.
---@field handler fun(report: fms.Report) Called with each report, in the order they came (required).

---What a registration function returns.
---@class fms.Handle
---@field kind "watch"|"tail"|"every"|"cron"|"balance_below"|"on_report"|"on_failure" The registering function.
---@field id integer Its place among the file's registrations, from 1.
local Handle = {}

---Ends the registration: its source stops and no new event reaches the handler (a run under way,
---and the events already queued, still finish). Calling it again does nothing. Call it as
---`handle:stop()`. Under `fms check` it does nothing.
function Handle:stop() end

---@class fms
---@field version string The module's version, such as "0.1.0".
fms = {}

---Sends one message: stores it durably in the outbox and returns at once (the sender delivers it),
---or with `wait = true` waits until the gateway accepted it. Under `fms run --direct` it is sent now.
---
---With `key` and `cooldown`, a repeat of the same key within the cooldown sends nothing and
---returns `nil, "suppressed: key 'K' is cooling down for Ns more"`.
---Raises an error for a bad argument (sending nothing) or a failed gateway call.
---@param options fms.SendOptions
---@return fms.Message|nil message The accepted message, or nil when suppressed.
---@return string? reason Why nothing was sent (a cooldown).
function fms.send(options) end

---Sends many messages of one template: every message is checked first, then all are stored in the
---outbox (sent in requests of at most 300). Under `fms run --direct` they are sent now and a partial
---failure raises an error naming the messages not accepted.
---@param options fms.BatchOptions
---@return fms.Message[] sent The messages, in the order given.
function fms.batch(options) end

---Fetches delivery reports (each is handed out once by the gateway); they are stored in the outbox's
---journal before they are returned.
---@param options? fms.ReportsOptions
---@return fms.Report[] reports
function fms.reports(options) end

---Reads the account balance: the messages left.
---@return integer balance
function fms.balance() end

---Checks and stores policies; `fms watch` applies them to every rule, `fms run` only checks them.
---@param options fms.ConfigOptions
function fms.config(options) end

---The time now: seconds since 1970, with fractions (the wall clock).
---@return number seconds
function fms.now() end

---Waits without holding up other handlers: only the calling coroutine sleeps. `fms check` does not wait.
---@param seconds number|string seconds, or a duration such as "500ms"
function fms.sleep(seconds) end

---`text` with white space runs made one space, cut to at most `n` characters (not bytes), ending in "…" when cut.
---@param text string
---@param n integer
---@return string
function fms.truncate(text, n) end

---This machine's name (gethostname).
---@type string
fms.host = ""

---Seconds in a duration: `fms.duration("1h30m") == 5400.0`. Raises an error if `text` is not one.
---@param text string|number
---@return number seconds
function fms.duration(text) end

---Registers a handler for file changes (`fms watch` runs it; `fms check` lists it; `fms run` refuses it).
---@param options fms.WatchOptions
---@return fms.Handle
function fms.watch(options) end

---Registers a handler for lines appended to a file, as `tail -F` follows it: new lines only, through
---rotation and truncation, resuming after a restart where it stopped (`fms check` lists it; `fms run` refuses it).
---@param options fms.TailOptions
---@return fms.Handle
function fms.tail(options) end

---Registers a handler to call every `interval`, on a monotonic clock; after a suspend it fires
---once, with `info.skipped` counting the rest (`fms check` lists it; `fms run` refuses it).
---@param interval fms.Duration A positive duration.
---@param handler fun(info: fms.TimerInfo)
---@return fms.Handle
function fms.every(interval, handler) end

---Registers a handler on a cron schedule, "minute hour day-of-month month day-of-week",
---such as "0 9 * * mon-fri", in local time (the zone of `fms.config`, else TZ, else the system's)
---(`fms check` lists it; `fms run` refuses it).
---@param expression string Five fields: *, n, a-b, */n, a-b/n, lists; jan…dec, sun…sat; 0 and 7 are Sunday.
---@param handler fun(info: fms.TimerInfo)
---@return fms.Handle
function fms.cron(expression, handler) end

---Registers a handler for a balance below a threshold: called once when the balance falls below
---it, again only after it was back at `rearm`; kept across restarts (`fms check` lists it; `fms run` refuses it).
---@param options fms.BalanceBelowOptions
---@return fms.Handle
function fms.balance_below(options) end

---Registers a handler for delivery reports, which `fms watch` fetches and journals before it hands them
---over (`fms check` lists it; `fms run` refuses it).
---@param options fms.OnReportOptions
---@return fms.Handle
function fms.on_report(options) end

---Registers a handler for queued sends that failed for good: dead letters (`fms check` lists it;
---`fms run` refuses it).
---@param handler fun(message: fms.FailedMessage, err: string) Called with the message and the error, "CODE: text".
---@return fms.Handle
function fms.on_failure(handler) end

fms.template = {}

---Registers a content template; variables are written {name} or ${name}.
---At most 70 characters and 3 variables, each named once.
---@param text string
---@return string templateId
---@return string[] variables The variable names, in order.
function fms.template.report(text) end

---Reads the carriers' review of a template.
---@param templateId string
---@return fms.TemplateStatus status
function fms.template.query(templateId) end

fms.fs = {}

---The usage of the file system holding `path` (statvfs(3)). Raises an error if `path` cannot be read.
---@param path string
---@return fms.FsUsage usage
function fms.fs.usage(path) end

fms.log = {}

---Logs the values, joined by tabs (`fms run`: "fms: info: file:line: …" on stderr; `fms watch`: its
---log, text or JSON, see --log-format).
---@param ... any Strings, numbers, booleans, nil or tables (shown as "table").
function fms.log.info(...) end

---Logs the values as a warning.
---@param ... any
function fms.log.warn(...) end

---Logs the values as an error.
---@param ... any
function fms.log.error(...) end

---The script's name (`arg[0]`) and its arguments (`arg[1]`…), all strings; also the main chunk's `...`.
---@type { [integer]: string }
arg = {}

return fms
