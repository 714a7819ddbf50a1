-- identify.lua — wrk script for POST /v1/identify (1:N search), multipart.
--   FT_WRK_IMAGE  PGM file for image (required)
--   FT_WRK_K      k, the number of subjects asked for (default: the daemon's, 5)
--   FT_WRK_SALT   1..255: a never-seen image per request (lib.lua); 0: the same image
local lib = dofile((debug.getinfo(1, "S").source:match("^@(.*/)") or "./") .. "lib.lua")

local parts = {{name = "image", filename = "probe.pgm", data = lib.read(lib.env("FT_WRK_IMAGE"))}}
local k = os.getenv("FT_WRK_K")
if k and k ~= "" then parts[2] = {name = "k", data = k} end
local body, stamp_at = lib.multipart(parts)
lib.serve("/v1/identify", body, stamp_at, tonumber(lib.env("FT_WRK_SALT")))
