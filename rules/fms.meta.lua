---@meta fms
-- The `fms` Lua module, as a stub for lua-language-server (LuaLS): completion, hover help and
-- type checks in an editor. It declares types only; `fms run` and `fms check` provide the real
-- module. Reference: man/fms-lua.7 (`man ./man/fms-lua.7`).
--
-- Use: add this folder to "workspace.library" in .luarc.json, or keep the file open beside your
-- scripts. `fms check` skips files named *.meta.lua in folders.

---A duration: seconds as a number, or text such as "500ms", "30s", "5m", "1h30m", "1.5h", "2d".
---@alias fms.Duration number|string

---A value of a template variable: sent as text ("91" for 91.0, "true" for true).
---@alias fms.VarValue string|number|boolean

---Events of `fms.watch`.
---@alias fms.Event "create"|"modify"|"move"|"delete"|"attrib"

---A carrier's review of a template ("status N" for a code fms does not know).
---@alias fms.ReviewStatus "missing"|"pending"|"approved"|"rejected"|"unsupported"|string

---Options of `fms.send`.
---@class fms.SendOptions
---@field mobile string|integer A mainland mobile number: 11 digits starting with 1 (required).
---@field template string The template id, from `fms.template.report` (required).
---@field vars? table<string, fms.VarValue> The template's variables, by name.
---@field id? string|integer Your id for the message (customFmsId), at most 32 characters.
---@field key? string Names what the message is about, for `cooldown`.
---@field cooldown? fms.Duration With `key`: send nothing for the same key within this long.
---@field wait? boolean Wait until the gateway accepted the message (returns its fmsId) or it died (raises).
---@field urgent? boolean Reserved for the watcher; checked, otherwise ignored.

---A message accepted by `fms.send`/`fms.batch`: queued in the outbox, or (with `wait = true`,
---or under `fms run --direct`) accepted by the gateway.
---@class fms.Message
---@field mobile string The number, trimmed.
---@field customFmsId string Your id, or the one generated for the message (it stays the same across retries).
---@field queued? boolean True when the message is in the outbox and not yet known to be sent.
---@field fmsId? string The gateway's id of the message, once the gateway accepted it.

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
---@field rule? string The rule (script) that sent the message, from the outbox's records.
---@field key? string The key the message was sent under, from the outbox's records.

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
---@field path string A file or directory (required).
---@field match? string A file name pattern in `path`, such as "*.log".
---@field on? fms.Event|fms.Event[] The events (default create, modify, move, delete).
---@field recursive? boolean Also watch subdirectories (default false).
---@field debounce? fms.Duration Wait this long for changes to settle.
---@field handler fun(event: table) Called with an event table when files change (required).

---Options of `fms.tail`.
---@class fms.TailOptions
---@field path string The file (required).
---@field match? string Only lines that match.
---@field handler fun(line: string) Called for each line appended (required).

---Options of `fms.balance_below`.
---@class fms.BalanceBelowOptions
---@field threshold integer The balance below which to call the handler (required).
---@field every? fms.Duration How often to read the balance; positive (default "10m").
---@field handler fun(balance: integer) Called with the balance (required).

---Options of `fms.on_report`.
---@class fms.OnReportOptions
---@field state? string Only reports in this state; a pattern such as "FAIL_*".
---@field mobile? string Only reports for this number.
---@field handler fun(report: fms.Report) Called with each report (required).

---What a registration function returns.
---@class fms.Handle
---@field kind "watch"|"tail"|"every"|"cron"|"balance_below"|"on_report"|"on_failure" The registering function.
---@field id integer Its place among the file's registrations, from 1.
local Handle = {}

---Ends the registration (under the watcher; today it does nothing). Call it as `handle:stop()`.
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

---Checks and stores policies; the watcher applies them, `fms run` only checks them.
---@param options fms.ConfigOptions
function fms.config(options) end

---Seconds in a duration: `fms.duration("1h30m") == 5400.0`. Raises an error if `text` is not one.
---@param text string|number
---@return number seconds
function fms.duration(text) end

---Registers a handler for file changes (`fms check` lists it; `fms run` refuses it).
---@param options fms.WatchOptions
---@return fms.Handle
function fms.watch(options) end

---Registers a handler for lines appended to a file (`fms check` lists it; `fms run` refuses it).
---@param options fms.TailOptions
---@return fms.Handle
function fms.tail(options) end

---Registers a handler to call every `interval` (`fms check` lists it; `fms run` refuses it).
---@param interval fms.Duration A positive duration.
---@param handler fun()
---@return fms.Handle
function fms.every(interval, handler) end

---Registers a handler on a cron schedule, "minute hour day-of-month month day-of-week",
---such as "0 9 * * mon-fri" (`fms check` lists it; `fms run` refuses it).
---@param expression string Five fields: *, n, a-b, */n, a-b/n, lists; jan…dec, sun…sat; 0 and 7 are Sunday.
---@param handler fun()
---@return fms.Handle
function fms.cron(expression, handler) end

---Registers a handler for a balance below a threshold (`fms check` lists it; `fms run` refuses it).
---@param options fms.BalanceBelowOptions
---@return fms.Handle
function fms.balance_below(options) end

---Registers a handler for delivery reports (`fms check` lists it; `fms run` refuses it).
---@param options fms.OnReportOptions
---@return fms.Handle
function fms.on_report(options) end

---Registers a handler for sends that failed for good (`fms check` lists it; `fms run` refuses it).
---@param handler fun(message: table, err: string) Called with the message and the error.
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

fms.log = {}

---Logs the values, joined by tabs (`fms run`: "fms: info: file:line: …" on stderr).
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
