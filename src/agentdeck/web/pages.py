"""Small server-rendered HTML pages (login by code, approval links): no script, no data
beyond what the page needs, never framed, never cached, no referrer sent to another site
(``same-origin``, not ``no-referrer``: with that, Chromium sends ``Origin: null`` on the
page's own form POSTs, which the Origin check refuses)."""

from __future__ import annotations

from html import escape

from starlette.requests import Request
from starlette.responses import HTMLResponse

HEADERS = {
    "Cache-Control": "no-store",
    "Referrer-Policy": "same-origin",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; "
        "frame-ancestors 'none'; base-uri 'none'"
    ),
}

_STYLE = """
body{font:16px/1.5 system-ui,sans-serif;margin:0 auto;max-width:32rem;padding:1rem;color:#222}
h1{font-size:1.3rem}.muted{color:#666}.box{border:1px solid #ccc;border-radius:8px;padding:.8rem}
code,pre{font:14px ui-monospace,monospace;white-space:pre-wrap;word-break:break-word}
button{font-size:1.1rem;padding:.7rem 1.4rem;margin:.4rem .4rem .4rem 0;border-radius:8px;
border:1px solid #888;cursor:pointer}.allow{background:#1f7a3a;color:#fff}
.deny{background:#a32020;color:#fff}textarea,input{width:100%;box-sizing:border-box;
font-size:1rem;padding:.5rem;margin:.3rem 0}
"""


def page(title: str, body: str, status: int = 200) -> HTMLResponse:
    """A full page; ``body`` is HTML the caller built with `escape`d values."""
    html = (
        "<!doctype html><html lang=en><head><meta charset=utf-8>"
        '<meta name=viewport content="width=device-width,initial-scale=1">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>"
        f"<body><h1>{escape(title)}</h1>{body}</body></html>"
    )
    return HTMLResponse(html, status_code=status, headers=HEADERS)


def message(title: str, text: str, status: int) -> HTMLResponse:
    return page(title, f"<p>{escape(text)}</p><p><a href='/'>Open the dashboard</a></p>", status)


def cross_site(request: Request) -> str | None:
    """Why a browser request is refused as cross-site (None: it is not): a
    ``Sec-Fetch-Site`` other than same-origin / none, or an ``Origin`` of another host."""
    site = request.headers.get("sec-fetch-site")
    if site is not None and site not in ("same-origin", "none"):
        return f"a {site} request is refused here: send it from agentdeck's own pages"
    origin = request.headers.get("origin")
    if origin is not None:
        own = request.headers.get("host", "")
        host = origin.split("://", 1)[-1].rstrip("/")
        if origin == "null" or host.lower() != own.lower():
            return f"requests from the origin {origin!r} are refused; only {own!r} is accepted"
    return None
