-- verify.lua — wrk script for POST /v1/verify, multipart, as bench/run_server.sh sends it.
--   FT_WRK_IMAGE1   PGM file for image1 (required)
--   FT_WRK_IMAGE2   PGM file for image2, or
--   FT_WRK_SUBJECT2 an enrolled subject id for subject_id2 (image against subject)
--   FT_WRK_SALT     1..255: stamp every image with a unique tag (never-seen images,
--                   cache misses; see lib.lua); 0: the same body every time (cache hits)
-- The same body (salt 0) is what bench_bare_mhd is sent.
local lib = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "lib.lua")

local parts = {{name = "image1", filename = "image1.pgm", data = lib.read(lib.env("FT_WRK_IMAGE1"))}}
local subject = os.getenv("FT_WRK_SUBJECT2")
if subject and subject ~= "" then
   parts[2] = {name = "subject_id2", data = subject}
else
   parts[2] = {name = "image2", filename = "image2.pgm", data = lib.read(lib.env("FT_WRK_IMAGE2"))}
end
local body, stamp_at = lib.multipart(parts)
lib.serve("/v1/verify", body, stamp_at, tonumber(lib.env("FT_WRK_SALT")))
