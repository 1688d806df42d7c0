-- bulk-from-csv.lua: send one message per row of a CSV file with fms.batch, after checking every
-- row, and print a summary. A Lua version of `fms batch`, to adapt (more checks, filters,
-- computed variables):
--
--   fms run examples/bulk-from-csv.lua FILE.csv [TEMPLATE]
--
-- TEMPLATE is the template id (default: $FMS_TEMPLATE). The file is UTF-8 CSV with a header row:
-- a column `mobile` (required), optionally `id` (your own id for the message, at most 32
-- characters, may be left empty), and one column per template variable, as in
-- examples/oncall.csv. A field may be quoted with " to hold a comma, with "" for a quote inside;
-- here a quoted field cannot span lines (`fms batch` allows that). Blank lines are skipped.
--
-- Every row is checked before anything is sent. Bad rows are reported on stderr with their line
-- numbers, then nothing is sent and the exit status is 65:
--
--   oncall.csv:4: mobile '1380013800' is not a mainland mobile number (11 digits starting with 1)
--
-- Otherwise it sends them all (in requests of at most 300) and prints
-- "sent N messages from FILE with template T". The account comes from the environment
-- (FMS_URL, FMS_APP_ID, FMS_SECRET_KEY_FILE). Exit status: 0 when every message was accepted;
-- 64 for wrong arguments; 65 for bad rows; 66 for a file that cannot be read; otherwise
-- fms run's (see fms-lua(7)).

local path, template = ...
template = template or os.getenv("FMS_TEMPLATE")
if not path or not template or template == "" then
  io.stderr:write("usage: fms run bulk-from-csv.lua FILE.csv [TEMPLATE]  (or set FMS_TEMPLATE)\n")
  os.exit(64)
end

-- Splits one CSV line into fields; nil and a reason when a quote is unbalanced.
local function split(line)
  local fields, position = {}, 1
  while true do
    if line:sub(position, position) == '"' then
      local value, cursor = {}, position + 1
      while true do
        local quote = line:find('"', cursor, true)
        if not quote then return nil, "a quoted field is not closed" end
        value[#value + 1] = line:sub(cursor, quote - 1)
        if line:sub(quote + 1, quote + 1) == '"' then
          value[#value + 1] = '"'
          cursor = quote + 2
        else
          position = quote + 1
          break
        end
      end
      fields[#fields + 1] = table.concat(value)
      local after = line:sub(position, position)
      if after == "" then return fields end
      if after ~= "," then return nil, "text after a quoted field" end
      position = position + 1
    else
      local comma = line:find(",", position, true)
      fields[#fields + 1] = line:sub(position, (comma or 0) - 1)
      if not comma then return fields end
      position = comma + 1
    end
  end
end

local function trim(text) return (text:gsub("^%s+", ""):gsub("%s+$", "")) end

local readable = io.open(path, "r")
if not readable then
  io.stderr:write("bulk-from-csv.lua: ", path, ": cannot read it\n")
  os.exit(66)
end
readable:close()

local header, messages, problems = nil, {}, {}
local lineNumber = 0
for line in io.lines(path) do
  lineNumber = lineNumber + 1
  line = line:gsub("\r$", "")
  if lineNumber == 1 then line = line:gsub("^\239\187\191", "") end -- a UTF-8 byte-order mark
  local function bad(reason) problems[#problems + 1] = ("%s:%d: %s"):format(path, lineNumber, reason) end
  if line:match("^%s*$") then
    -- blank: skipped
  elseif not header then
    local names, reason = split(line)
    if not names then bad(reason) break end
    header = {}
    for index, name in ipairs(names) do header[index] = trim(name) end
    local hasMobile = false
    for _, name in ipairs(header) do hasMobile = hasMobile or name == "mobile" end
    if not hasMobile then bad("the header has no 'mobile' column") break end
  else
    local fields, reason = split(line)
    if not fields then
      bad(reason)
    elseif #fields ~= #header then
      bad(("%d fields, but the header has %d"):format(#fields, #header))
    else
      local message = { vars = {} }
      for index, name in ipairs(header) do
        local value = fields[index]
        if name == "mobile" then
          message.mobile = trim(value)
        elseif name == "id" then
          if trim(value) ~= "" then message.id = trim(value) end
        else
          message.vars[name] = value
        end
      end
      if not message.mobile:match("^1%d%d%d%d%d%d%d%d%d%d$") then
        bad(("mobile '%s' is not a mainland mobile number (11 digits starting with 1)"):format(message.mobile))
      elseif message.id and (utf8.len(message.id) or #message.id) > 32 then
        bad(("id '%s' is longer than 32 characters"):format(message.id))
      else
        messages[#messages + 1] = message
      end
    end
  end
end

if not header and #problems == 0 then problems[1] = path .. ": empty file: no header row" end
if #problems == 0 and #messages == 0 then problems[1] = path .. ": no rows after the header" end
if #problems > 0 then
  for _, problem in ipairs(problems) do io.stderr:write(problem, "\n") end
  io.stderr:write(("bulk-from-csv.lua: %d bad line(s); nothing sent\n"):format(#problems))
  os.exit(65)
end

local sent = fms.batch{ template = template, messages = messages }
print(("sent %d messages from %s with template %s"):format(#sent, path, template))
