-- Parses and compiles each file named on the command line without running it, as `luac -p`
-- does: the peer of `fms check` in bench/run.sh when luac5.4 cannot take several files.
-- usage: lua5.4 bench/parse-only.lua FILE...
for i = 1, #arg do
  local chunk, message = loadfile(arg[i], "t")
  if not chunk then
    io.stderr:write(message, "\n")
    os.exit(1)
  end
end
