-- POST /sign with a PEM CSR and its HMAC header, on every request of every connection.
-- WRK_BODY_FILE: the CSR file; WRK_AUTH: the Authentication header value ("hmac name=sha256, hash=<hex>").
local dir = debug.getinfo(1, "S").source:match("^@(.*/)") or "./"
dofile(dir .. "report.lua")

local file = assert(io.open(assert(os.getenv("WRK_BODY_FILE"), "WRK_BODY_FILE is not set"), "rb"))
wrk.method = "POST"
wrk.body = file:read("*a")
file:close()
wrk.headers["Content-Type"] = "application/pkcs10"
wrk.headers["Authentication"] = assert(os.getenv("WRK_AUTH"), "WRK_AUTH is not set")
