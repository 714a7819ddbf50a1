-- lib.lua — what bench/wrk/*.lua share (loaded with dofile by them; wrk never runs it).
--
-- The benchmark needs requests whose images the daemon has NEVER seen, so that its
-- embedding cache (keyed by SHA-256 of the image bytes) misses on every request. It
-- builds the multipart body once, from real PGM files, and then, per request, overwrites
-- the first STAMP_BYTES pixel bytes of each image with a stamp that is unique per
-- (run salt, wrk thread, request counter): salt (1 byte) .. thread (1) .. counter (6).
-- The shell gives every wrk invocation against one daemon its own salt (FT_WRK_SALT,
-- 1..255); salt 0 means "no stamp": the same body every time (cache hits).
-- Everything is configured by environment variables, because wrk runs the script's top
-- level in every Lua state (its main state and each thread's) but hands "--" arguments
-- only to init() — and whether the request is static must be known at the top level.
local M = {}

M.STAMP_BYTES = 8
M.BOUNDARY = "----facetwin-bench-7d3e2a1c9b"
M.PGM_TYPE = "image/x-portable-graymap"

function M.env(name, default)
   local v = os.getenv(name)
   if v == nil or v == "" then
      if default == nil then error(name .. " is not set") end
      return default
   end
   return v
end

function M.read(path)
   local f = assert(io.open(path, "rb"))
   local data = f:read("*a")
   f:close()
   return data
end

-- 1-based index of the first pixel byte of an 8-bit binary PGM (P5, maxval < 256)
function M.pgm_first_pixel(data)
   local w, h, maxval = data:match("^P5%s+(%d+)%s+(%d+)%s+(%d+)%s")
   assert(w and tonumber(maxval) < 256, "not an 8-bit binary PGM")
   local pixels = tonumber(w) * tonumber(h)
   assert(pixels >= M.STAMP_BYTES and #data >= pixels, "PGM too small")
   return #data - pixels + 1
end

-- parts: list of {name = , data = , filename = (file parts only)}; returns the body and,
-- for every file part, the body index of its first pixel (where stamps go)
function M.multipart(parts)
   local out, stamp_at, len = {}, {}, 0
   local function add(s) out[#out + 1] = s; len = len + #s end
   for _, p in ipairs(parts) do
      add("--" .. M.BOUNDARY .. "\r\n")
      if p.filename then
         add('Content-Disposition: form-data; name="' .. p.name .. '"; filename="' .. p.filename .. '"\r\n')
         add("Content-Type: " .. M.PGM_TYPE .. "\r\n\r\n")
         stamp_at[#stamp_at + 1] = len + M.pgm_first_pixel(p.data)
      else
         add('Content-Disposition: form-data; name="' .. p.name .. '"\r\n\r\n')
      end
      add(p.data .. "\r\n")
   end
   add("--" .. M.BOUNDARY .. "--\r\n")
   return table.concat(out), stamp_at
end

function M.content_type()
   return "multipart/form-data; boundary=" .. M.BOUNDARY
end

-- STAMP_BYTES bytes: salt, thread, counter (48-bit big-endian)
function M.stamp(salt, thread, counter)
   local b = {}
   for i = 6, 1, -1 do
      b[i] = counter % 256
      counter = math.floor(counter / 256)
   end
   return string.char(salt % 256, thread % 256, unpack(b))
end

-- body with the same stamp written at every position of stamp_at (ascending)
function M.stamped(body, stamp_at, tag)
   local out, from = {}, 1
   for _, at in ipairs(stamp_at) do
      out[#out + 1] = body:sub(from, at - 1)
      out[#out + 1] = tag
      from = at + M.STAMP_BYTES
   end
   out[#out + 1] = body:sub(from)
   return table.concat(out)
end

-- Sets up wrk for POST path with this body: a static request when salt is 0, else a
-- request() that stamps every request. Call at the top level of a script.
function M.serve(path, body, stamp_at, salt)
   wrk.method = "POST"
   wrk.path = path
   wrk.headers["Content-Type"] = M.content_type()
   wrk.body = body
   local nthreads = 0
   setup = function(thread)
      nthreads = nthreads + 1
      thread:set("thread_no", nthreads)
   end
   if salt ~= 0 then
      local counter = 0
      request = function()
         counter = counter + 1
         local b = M.stamped(body, stamp_at, M.stamp(salt, thread_no or 0, counter))
         return wrk.format(nil, nil, nil, b)
      end
   end
   done = M.report
end

-- One machine-readable line (bench/run_server.sh parses it); latencies in microseconds.
function M.report(summary, latency, requests)
   local e = summary.errors
   io.write(string.format("WRK requests=%d duration_us=%d p50_us=%.0f p90_us=%.0f p99_us=%.0f max_us=%.0f "
                          .. "status_errors=%d connect_errors=%d read_errors=%d write_errors=%d timeouts=%d\n",
                          summary.requests, summary.duration, latency:percentile(50), latency:percentile(90),
                          latency:percentile(99), latency.max, e.status, e.connect, e.read, e.write, e.timeout))
end

return M
