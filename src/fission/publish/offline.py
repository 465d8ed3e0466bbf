"""Open a published HTML page in headless Chromium (Debian's ``chromium``) and record what it
asks of the network and what it logs as console errors: a report sent around an intranet or
by mail must load nothing from outside.

Chromium writes every request to a NetLog; the page's own requests are those whose network
isolation key is the file's origin (the browser's background services use none). Nothing
can leave the machine while checking: every host name resolves to nothing and every
request goes to a closed local port.
"""
from __future__ import annotations

import json
import re
import shutil
import subprocess
import tempfile
from pathlib import Path

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
    "--disable-default-apps", "--disable-domain-reliability",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    "--host-resolver-rules=MAP * ~NOTFOUND", "--proxy-server=127.0.0.1:9",
    "--enable-logging=stderr", "--v=0",
]
CONSOLE_RE = re.compile(r":(?:INFO|WARNING|ERROR):CONSOLE[^\]]*\]\s*(.*)")


def chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser")


def check_page(html: Path, timeout: int = 120) -> dict:
    """{"requests": [URLs the page asked for beyond itself], "console": [console messages]}."""
    exe = chromium()
    if not exe:
        raise FileNotFoundError("chromium is not installed (apt-get install chromium)")
    html = Path(html).resolve()
    with tempfile.TemporaryDirectory(prefix="fission-offline-") as tmp:
        netlog = Path(tmp) / "net.json"
        proc = subprocess.run([exe, *CHROMIUM_FLAGS, f"--user-data-dir={tmp}/profile",
                               f"--log-net-log={netlog}", "--dump-dom", html.as_uri()],
                              capture_output=True, text=True, timeout=timeout)
        events = json.loads(netlog.read_text(encoding="utf-8")).get("events", []) \
            if netlog.exists() else []
    urls_by_source: dict[int, str] = {}
    page_sources: set[int] = set()
    for e in events:
        p, src = e.get("params") or {}, (e.get("source") or {}).get("id")
        if "url" in p:
            urls_by_source.setdefault(src, p["url"])
        if "file://" in str(p.get("network_isolation_key", "")):
            page_sources.add(src)
    requests = sorted({u for s, u in urls_by_source.items() if s in page_sources
                       and not u.startswith(("file:", "data:", "blob:", "about:"))})
    console = [m.group(1) for line in proc.stderr.splitlines() if (m := CONSOLE_RE.search(line))]
    return {"requests": requests, "console": console}
