#!/usr/bin/env python3
"""Writes tests/data/corpus/*.http: one hostile request per file, the exact bytes sent on a
fresh TCP connection (see tests/data/corpus/README.md). Run from the crate root:

    python3 tests/data/make_corpus.py

The files are committed; this script only documents how the large ones were made. Expected
outcomes live in the table in tests/integration/corpus.rs, which also checks that every file
here has a row there and vice versa.
"""
import gzip
import json
import os
from urllib.parse import quote

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")

TASK = "WT0123456789abcdef0123456789abcdef"
RES = "WR0123456789abcdef0123456789abcdef"
WORKER = "WK0123456789abcdef0123456789abcdef"
WS = "WS0123456789abcdef0123456789abcdef"
AC = "AC0123456789abcdef0123456789abcdef"


def js(marker):
    """What every payload tries to run: detectable as window.__xss, the title, or a dialog."""
    return f"window.__xss='{marker}';document.title='XSS-{marker}';alert('{marker}')"


def img(marker):
    return f'<img src=x onerror="{js(marker)}">'


def script(marker):
    return f"<script>{js(marker)}</script>"


def form(pairs):
    """application/x-www-form-urlencoded, the way TaskRouter encodes (spaces as +)."""
    out = []
    for k, v in pairs:
        k = k if isinstance(k, bytes) else k.encode()
        v = v if isinstance(v, bytes) else v.encode()
        out.append(quote(k, safe="").replace("%20", "+") + "=" + quote(v, safe="").replace("%20", "+"))
    return "&".join(out).encode()


def request(method, target, headers=(), body=b"", length=True, close=True, host=b"corpus.test"):
    lines = [method + b" " + target + b" HTTP/1.1", b"Host: " + host]
    lines += list(headers)
    if length and body:
        lines.append(b"Content-Length: " + str(len(body)).encode())
    if close:
        lines.append(b"Connection: close")
    return b"\r\n".join(lines) + b"\r\n\r\n" + body


FORM = b"Content-Type: application/x-www-form-urlencoded; charset=utf-8"
JSON = b"Content-Type: application/json"


def inspector(method, target, headers=(), body=b"", host=b"127.0.0.1:@@PORT@@", auth=True):
    h = []
    if host is not None:
        h.append(b"Host: " + host)
    if auth:
        h.append(b"Authorization: Bearer @@TOKEN@@")
    h += list(headers)
    if body:
        h += [JSON, b"Content-Length: " + str(len(body)).encode()]
    h.append(b"Connection: close")
    return method + b" " + target + b" HTTP/1.1\r\n" + b"\r\n".join(h) + b"\r\n\r\n" + body


CASES = {}


def case(name, data):
    assert name not in CASES, name
    CASES[name] = data


# ---- capture listener: markup in every rendered field (classes 1-5, 7) ----------------------
case("c01-script-in-form-fields", request(b"POST", b"/assignment", [FORM], form([
    ("TaskSid", TASK), ("ReservationSid", RES), ("WorkspaceSid", WS), ("AccountSid", AC),
    ("WorkerSid", WORKER), ("WorkerName", script("c01")),
    ("TaskAttributes", '{"name":"</script>' + script("c01") + '","html":"' + img("c01").replace('"', '\\"') + '"}'),
    ("WorkerAttributes", '{"x":"</pre>' + img("c01").replace('"', '\\"') + '"}'),
    (img("c01"), "</textarea><svg onload=\"" + js("c01") + "\">"),
])))
case("c02-markup-in-event-type-and-worker", request(b"POST", b"/events", [FORM], form([
    ("EventType", "</span>" + img("c02")), ("TaskSid", TASK), ("ReservationSid", RES),
    ("WorkerName", '"><svg onload="' + js("c02") + '">'), ("ResourceSid", "'><b onmouseover=" + js("c02") + ">"),
])))
case("c03-textarea-and-pre-breakout-body", request(b"POST", b"/raw", [b"Content-Type: text/plain"],
    ("</textarea></pre></code><svg onload=\"" + js("c03") + "\">" + script("c03") + "\n").encode()))
case("c04-header-value-attribute-breakout", request(b"GET", b"/headers", [
    b'X-Evil: "><img src=x onerror="' + js("c04").encode() + b'">',
    b"X-Single: '><svg onload='" + js("c04").replace("'", "`").encode() + b"'>",
    b"User-Agent: " + script("c04").encode(),
    b"Cookie: a=" + script("c04").encode(),
]))
case("c05-header-name-every-tchar", request(b"GET", b"/header-name", [
    b"X-!#$%&'*+-.^_`|~: " + img("c05").encode(),
]))
case("c06-header-name-markup", request(b"GET", b"/header-name", [
    b"<img src=x onerror=alert(1)>: v",
]))
case("c07-path-and-query-markup-encoded", request(b"POST",
    b"/cb/%3Cimg%20src%3Dx%20onerror%3D%22window.__xss%3D%27c07%27%3Balert(1)%22%3E"
    b"?q=%3Csvg%2Fonload%3Dwindow.__xss%3D%27c07%27%3E&TaskSid=%22%3E%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    [FORM], b"a=b"))
case("c08-path-markup-raw", request(b"GET", b"/cb/<svg/onload=alert('c08')>", []))
case("c09-query-markup-raw", request(b"GET", b"/cb?q=<svg/onload=alert('c09')>", []))
case("c10-quotes-in-path", request(b"GET", b"/cb/\"'onmouseover='window.__xss=1'/\"", []))
case("c11-javascript-and-data-urls", request(b"POST", b"/links", [
    FORM, b"Referer: javascript:" + js("c11").encode(), b"Origin: javascript:alert(1)",
], form([
    ("TaskAttributes", '{"url":"javascript:' + js("c11").replace("'", "\\u0027") + '","img":"data:text/html,<script>alert(1)</script>"}'),
    ("CallbackUrl", "javascript:" + js("c11")),
    ("Link", "data:text/html;base64,PHNjcmlwdD5hbGVydCgxKTwvc2NyaXB0Pg=="),
])))
case("c12-json-closes-script-block", request(b"POST", b"/json", [JSON],
    ('{"EventType":"task.created","TaskSid":"' + TASK + '","a":"</script><script>' + js("c12")
     + '</script>","b":"<!--<script>","c":"\\u003c/script\\u003e"}').encode()))
case("c13-html-content-type", request(b"POST", b"/html", [b"Content-Type: text/html; charset=utf-8"],
    ("<!doctype html><html><head><title>XSS-c13</title>" + script("c13") + "</head><body>"
     + img("c13") + "<iframe src=\"javascript:" + js("c13") + "\"></iframe></body></html>").encode()))
case("c14-svg-content-type", request(b"POST", b"/svg", [b"Content-Type: image/svg+xml"],
    ('<svg xmlns="http://www.w3.org/2000/svg" onload="' + js("c14") + '"><script>' + js("c14")
     + "</script></svg>").encode()))

# ---- bytes that are not text (8-10) ----------------------------------------------------------
case("c15-invalid-utf8-form", request(b"POST", b"/utf8", [FORM],
    b"Bad=\xc3\x28&Overlong=\xc0\xaf&Surrogate=\xed\xa0\x80&TaskSid=\xff" + TASK[2:].encode()
    + b"&WorkerName=%C3%28&\xfe\xff=\x80"))
case("c16-lone-surrogate-json", request(b"POST", b"/json-surrogate", [JSON],
    b'{"EventType":"task.created","TaskAttributes":"\\ud800","WorkerName":"\\udfff\\ud800x"}'))
case("c17-obs-text-header-values", request(b"GET", b"/obs-text", [
    b"X-Latin1: caf\xe9 \xff\xfe", b"X-Utf8-Bidi: \xe2\x80\xaegnp.exe", b"X-High: \x80\x81\x9b[31m",
]))
case("c18-control-characters-in-body", request(b"POST", b"/ctl", [FORM],
    b"WorkerName=a%00b%07c%1B%5B31mred%1B%5B0m&Raw=\x00\x07\x1b[2J\x1b]0;XSS-c18\x07&EventType=task.created%00"))
case("c19-control-character-in-header-value", request(b"GET", b"/ctl-header", [
    b"X-Ansi: \x1b[31mred\x1b[0m",
]))
case("c20-bidi-and-zero-width", request(b"POST", b"/%E2%80%AEfdp.exe", [FORM, b"X-Rtl: \xe2\x80\xae\xe2\x81\xa6"],
    form([("WorkerName", "\u202egnp.exe\u200d\u200b\u2066\u2069\u200e\u200f"),
          ("\u202aName", "\u202b\u202c\u202d"), ("TaskAttributes", '{"n":"\u202e\u0000\u001b"}')])))

# ---- framing and size (11-17) ----------------------------------------------------------------
big = b"x" * (300 * 1024)
case("c21-body-over-limit-honest-length", request(b"POST", b"/big",
    [b"Content-Type: application/octet-stream", b"Content-Length: 10485760"], big, length=False))
chunk = b"1000\r\n" + b"e" * 0x1000 + b"\r\n"
case("c22-endless-chunked", request(b"POST", b"/endless", [b"Transfer-Encoding: chunked"],
    chunk * 4, length=False, close=False))
case("c23-content-length-short-stall", request(b"POST", b"/short",
    [b"Content-Length: 100"], b"0123456789", length=False, close=False))
case("c24-content-length-10mib-stall", request(b"POST", b"/short-big",
    [b"Content-Length: 10485760"], b"0123456789", length=False, close=False))
case("c25-content-length-long", request(b"POST", b"/long", [b"Content-Length: 10"],
    b"0123456789" + b"GET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n" + b"y" * 2000, length=False))
case("c26-content-length-then-chunked", request(b"POST", b"/cl-te",
    [b"Content-Length: 4", b"Transfer-Encoding: chunked"],
    b"5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", length=False, close=False))
case("c27-chunked-then-content-length", request(b"POST", b"/te-cl",
    [b"Transfer-Encoding: chunked", b"Content-Length: 4"],
    b"5\r\nhello\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", length=False, close=False))
case("c28-two-content-lengths", request(b"POST", b"/two-cl",
    [b"Content-Length: 5", b"Content-Length: 6"], b"hello!", length=False))
case("c29-content-length-plus", request(b"POST", b"/plus", [b"Content-Length: +10"],
    b"0123456789", length=False))
case("c30-chunked-then-identity", request(b"POST", b"/te-identity",
    [b"Transfer-Encoding: chunked, identity"], b"5\r\nhello\r\n0\r\n\r\n", length=False))
case("c31-huge-chunk-size", request(b"POST", b"/huge-chunk", [b"Transfer-Encoding: chunked"],
    b"ffffffffffffffffff\r\nabc", length=False, close=False))
case("c32-chunk-extension-64kib", request(b"POST", b"/chunk-ext", [b"Transfer-Encoding: chunked"],
    b"5;" + b"e" * 65536 + b"\r\nhello\r\n0\r\n\r\n", length=False, close=False))
case("c33-one-header-of-1mib", request(b"GET", b"/big-header", [b"X-Big: " + b"h" * (1024 * 1024)], close=False))
case("c34-uri-of-100kb", request(b"GET", b"/" + b"u" * 100_000, [], close=False))
case("c35-101-headers", request(b"GET", b"/101", [b"X-H%d: v" % i for i in range(100)], close=False))
case("c36-10000-headers", request(b"GET", b"/10000", [b"X-H%d: v" % i for i in range(10_000)], close=False))
case("c37-slowloris-head", request(b"POST", b"/slow-head", [FORM], b"EventType=task.created"))
case("c38-slowloris-body", request(b"POST", b"/slow-body", [FORM], b"EventType=task.created&WorkerName=slow"))

# ---- encodings and parameters (18-21) --------------------------------------------------------
case("c39-malformed-percent-encoding", request(b"POST", b"/pct?%zz=%&&&=a=b=c&q=%FF", [FORM],
    b"%zz=%&&&=a=b=c&+=%20&x=%FF%FE&TaskSid=%&ReservationSid=%5" + RES[2:].encode()
    + b"&%E2%82=half&k=%u0041"))
case("c40-duplicate-and-odd-keys", request(b"POST", b"/dup", [FORM],
    form([("TaskSid", TASK), ("TaskSid", "WTffffffffffffffffffffffffffffffff"),
          ("ReservationSid", RES), ("ReservationSid", "WRffffffffffffffffffffffffffffffff"),
          ("a[b]", "c"), ("", "empty-name"), ("", ""), ("TaskAttributes", '{"a":1,"a":2}')])))
case("c41-100000-parameters", request(b"POST", b"/many-params", [FORM], b"a&" * 100_000))
case("c42-json-nested-100000", request(b"POST", b"/nested", [JSON], b"[" * 100_000))
case("c43-json-huge-number-and-duplicate-keys", request(b"POST", b"/json-odd", [JSON],
    b'{"EventType":"task.created","EventType":"task.canceled","n":1e999999,"m":-1e-999999,'
    b'"TaskSid":"' + TASK.encode() + b'","TaskSid":"x"}'))
case("c44-gzip-bomb", request(b"POST", b"/gzip",
    [b"Content-Type: application/json", b"Content-Encoding: gzip"],
    gzip.compress(b"\0" * (100 * 1024 * 1024), compresslevel=9, mtime=0)))

# ---- paths, proxies, headers for replay (22-25) ---------------------------------------------
case("c45-traversal-dotdot", request(b"GET", b"/../../etc/passwd", []))
case("c46-traversal-encoded", request(b"GET", b"/%2e%2e%2f%2e%2e%2fetc%2fpasswd", []))
case("c47-traversal-mixed", request(b"GET", b"/..%2f..%2f..%2fetc/passwd?file=../../x", []))
case("c48-traversal-double-encoded", request(b"GET", b"/%252e%252e%252f%252e%252e%252f", []))
case("c49-traversal-backslash", request(b"GET", b"/..\\..\\windows\\win.ini", []))
case("c50-absolute-form", request(b"POST", b"http://127.0.0.1:4040/api/reservations/" + RES.encode() + b"/accept",
    [JSON], b"{}", host=b"127.0.0.1:4040"))
case("c51-connect", request(b"CONNECT", b"127.0.0.1:4040", [], host=b"127.0.0.1:4040"))
case("c52-inspector-route-on-capture-port", request(b"GET", b"/api/requests",
    [b"Authorization: Bearer test-token-0123456789abcdef"], host=b"localhost:4040"))
case("c53-crlf-encoded-in-path", request(b"GET", b"/cb%0d%0aX-Injected:%201?x=%0d%0aSet-Cookie:%20a=b", []))
case("c54-header-name-with-space", request(b"GET", b"/space", [b"Bad Name: x"]))
case("c55-obs-fold", request(b"GET", b"/fold", [b"X-A: a", b" folded"]))
case("c56-nul-in-header-value", request(b"GET", b"/nul", [b"X-A: a\x00b"]))
case("c57-hop-by-hop-headers", request(b"POST", b"/hop", [
    FORM, b"Keep-Alive: timeout=5", b"Proxy-Authorization: Basic c2VjcmV0OnNlY3JldA==",
    b"X-Secret: hop", b"TE: trailers", b"Proxy-Connection: keep-alive",
], form([("EventType", "task.created"), ("TaskSid", TASK)]), close=False)
    .replace(b"Content-Length:", b"Connection: close, X-Secret\r\nContent-Length:"))

# ---- SIDs and signatures (26-27) -------------------------------------------------------------
case("c58-wrong-format-sids", request(b"POST", b"/assignment", [FORM], form([
    ("ReservationSid", "WR../../Accounts/" + AC), ("TaskSid", TASK[:-1]),
    ("WorkerSid", "wk" + WORKER[2:]), ("WorkspaceSid", WS[:-2] + "%2F"),
    ("AccountSid", "AC0123456789abcdef0123456789abcde\u0663"), ("TaskQueueSid", TASK + "0"),
])))
case("c59-forged-signature", request(b"POST", b"/assignment",
    [FORM, b"X-Twilio-Signature: AAAAAAAAAAAAAAAAAAAAAAAAAAA="],
    form([("TaskSid", TASK), ("ReservationSid", RES), ("AccountSid", "ACffffffffffffffffffffffffffffffff")])))

case("c63-arabic-letter-mark", request(b"POST", b"/alm", [FORM],
    form([("WorkerName", "a\u061cb"), ("EventType", "task.created")])))

# ---- odd but legal request lines -------------------------------------------------------------
# ---- Event Streams CloudEvents batches (issue 15) ----------------------------------------------
CE_BATCH = b"Content-Type: application/cloudevents-batch+json"


def ce(ce_type, ce_id, payload):
    return {"specversion": "1.0", "type": ce_type, "id": ce_id, "source": "/corpus",
            "time": "2026-01-01T10:00:00Z", "data": {"payload": payload}}


case("c64-cloudevents-markup-in-fields", request(b"POST", b"/events", [JSON], json.dumps([
    ce("com.twilio.taskrouter.reservation.accepted" + script("c64t"), img("c64i"),
       {"task_sid": TASK, "reservation_sid": RES, "worker_name": script("c64w"),
        "task_attributes": img("c64a")}),
    ce(script("c64o"), "EZc64other", {"x": img("c64x")}),
]).encode()))
case("c65-cloudevents-invalid-json", request(b"POST", b"/events", [CE_BATCH],
    b'[{"specversion":"1.0","type":"com.twilio.taskrouter.task.created",' + script("c65").encode()))
case("c66-cloudevents-not-objects", request(b"POST", b"/events", [CE_BATCH],
    json.dumps([1, script("c66"), None, [img("c66")]]).encode()))
case("c67-cloudevents-missing-type", request(b"POST", b"/events", [JSON],
    json.dumps([{"specversion": "1.0", "id": img("c67"), "data": {"payload": {"task_sid": TASK}}}]).encode()))
case("c68-cloudevents-nested-100000", request(b"POST", b"/events", [JSON],
    b'[{"specversion":"1.0","type":"com.twilio.taskrouter.task.created","data":{"payload":'
    + b"[" * 100000 + b"]" * 100000 + b"}}]"))
# 10,000 items inside the corpus's 256 KiB body limit: 1,500 events (past the 1,000 indexed),
# then 8,500 bare zeros.
case("c69-cloudevents-10000-events", request(b"POST", b"/events", [CE_BATCH],
    ("[" + ",".join(['{"specversion":"1.0","type":"com.twilio.taskrouter.task.updated","id":"EZ%d"}' % i
                     for i in range(1500)] + ["0"] * 8500) + "]").encode()))
case("c60-quote-and-backtick-in-method", request(b"J'AVA`SCRIPT", b"/method", []))
case("c61-bare-lf-line-endings", b"POST /bare-lf HTTP/1.1\nHost: corpus.test\nContent-Length: 3\nConnection: close\n\na=b")
case("c62-http10-without-host", b"GET /http10?x=" + quote(script("c62")).encode() + b" HTTP/1.0\r\n\r\n")

# ---- inspector listener (placeholders @@PORT@@, @@TOKEN@@, @@ID:case@@, @@EVIL@@) -------------
HOSTS = [
    ("i01-host-evil-example", b"evil.example"),
    ("i02-host-localhost-suffix", b"localhost.evil.example:@@PORT@@"),
    ("i03-host-nip-io", b"127.0.0.1.nip.io:@@PORT@@"),
    ("i04-host-userinfo-at-evil", b"localhost:@@PORT@@@evil.example"),
    ("i05-host-uppercase", b"LOCALHOST:@@PORT@@"),
    ("i06-host-trailing-dot", b"localhost.:@@PORT@@"),
    ("i07-host-zero-address", b"0.0.0.0:@@PORT@@"),
    ("i08-host-decimal-ip", b"2130706433:@@PORT@@"),
    ("i09-host-other-port", b"127.0.0.1:1"),
    ("i10-host-latin1-bytes", b"caf\xe9:@@PORT@@"),
]
for name, host in HOSTS:
    case(name, inspector(b"GET", b"/api/requests", host=host))
case("i11-host-ipv6-loopback-allowed", inspector(b"GET", b"/api/requests?limit=1", host=b"[::1]:@@PORT@@"))
case("i12-host-twice", inspector(b"GET", b"/api/requests", [b"Host: evil.example"]))
case("i13-no-host-http10", b"GET /api/requests HTTP/1.0\r\nAuthorization: Bearer @@TOKEN@@\r\n\r\n")
ORIGINS = [
    ("i14-origin-null", b"null"),
    ("i15-origin-localhost-other-port", b"http://localhost:3000"),
    ("i16-origin-127-other-port", b"http://127.0.0.1:1"),
    ("i17-origin-lan", b"http://192.168.1.5"),
    ("i18-origin-https-same-host", b"https://127.0.0.1:@@PORT@@"),
]
for name, origin in ORIGINS:
    case(name, inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [b"Origin: " + origin], b"{}"))
case("i19-sec-fetch-site-cross-site", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay",
    [b"Sec-Fetch-Site: cross-site", b"Sec-Fetch-Mode: no-cors"], b"{}"))
case("i20-no-token", inspector(b"GET", b"/api/requests", auth=False))
case("i21-replay-crlf-in-header-value", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [],
    b'{"headers":[{"name":"X","value":"a\\r\\nb"}]}'))
case("i22-replay-crlf-injected-header", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [],
    b'{"headers":[{"name":"X-A","value":"a\\r\\nX-Injected: 1"}]}'))
case("i23-replay-nul-in-header-value", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [],
    b'{"headers":[{"name":"X-A","value":"a\\u0000b"}]}'))
case("i24-replay-space-in-header-name", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [],
    b'{"headers":[{"name":"Bad Name","value":"x"}]}'))
case("i25-replay-crlf-in-path", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [],
    b'{"path":"/a\\r\\nX-Injected: 1"}'))
case("i26-replay-to-metadata-address", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [],
    b'{"to":"http://169.254.169.254/latest/meta-data/"}'))
case("i27-replay-to-file-url", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [],
    b'{"to":"file:///etc/passwd"}'))
case("i28-replay-to-ipv4-mapped", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [],
    b'{"to":"http://[::ffff:127.0.0.1]:1/"}'))
case("i29-replay-to-hostile-server", inspector(b"POST", b"/api/requests/@@ID:c01@@/replay", [],
    b'{"to":"@@EVIL@@"}'))
case("i30-replay-drops-hop-by-hop", inspector(b"POST", b"/api/requests/@@ID:c57@@/replay", [], b"{}"))
case("i31-action-sid-traversal", inspector(b"POST",
    b"/api/reservations/WR..%2F..%2FAccounts%2F" + AC.encode() + b"/accept", [], b"{}"))
case("i32-action-sid-31-hex", inspector(b"POST", b"/api/reservations/" + RES[:-1].encode() + b"/accept", [], b"{}"))
case("i33-action-sid-lowercase-prefix", inspector(b"POST", b"/api/reservations/wr" + RES[2:].encode() + b"/reject", [], b"{}"))
case("i34-action-sid-arabic-digit", inspector(b"POST",
    b"/api/reservations/" + quote(RES[:-1] + "\u0663").encode() + b"/accept", [], b"{}"))
case("i35-task-sid-encoded-slash", inspector(b"POST", b"/api/tasks/WT..%2F..%2Fx/complete", [], b'{"reason":"x"}'))
case("i36-export-file-name", inspector(b"GET",
    b"/api/export?format=har&path=%22..%2F..%2Fx%22%0d%0aX-Injected:%201&q=%22%3B%20filename%3Devil"))
case("i37-token-redirect-protocol-relative", inspector(b"GET", b"//evil.example/x?token=@@TOKEN@@", auth=False))
case("i38-token-redirect-backslash", inspector(b"GET", b"/\\evil.example/x?token=@@TOKEN@@", auth=False))
case("i39-search-with-nul-api", inspector(b"GET", b"/api/requests?q=a%00b"))
case("i40-search-with-nul-page", inspector(b"GET", b"/?q=%22%00"))

os.makedirs(OUT, exist_ok=True)
for old in os.listdir(OUT):
    if old.endswith(".http"):
        os.remove(os.path.join(OUT, old))
for name, data in CASES.items():
    with open(os.path.join(OUT, name + ".http"), "wb") as f:
        f.write(data)
print(len(CASES), "cases,", sum(len(d) for d in CASES.values()), "bytes")
