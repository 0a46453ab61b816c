"""Browser check: the Temporal Web UI shows episodes encrypted until an operator signs in.

Against a running `make run` stack, drives headless Debian Chromium over the DevTools
protocol: lists episodes filtered by a search attribute, opens one, screenshots it before
sign-in (payloads encrypted), signs in on the codec server's /login page, and screenshots
it again (payloads readable). Screenshots go to docs/.

    python scripts/ui_check.py [--ui http://127.0.0.1:8233] [--codec http://127.0.0.1:8081]
        [--token-file data/keys/operator-token] [--query "RiskFlag = true"]
        [--expect-text "Zyxwvut Qqqpatient"]

Needs `chromium` (apt-get install -y chromium) and the `websockets` package.
"""

from __future__ import annotations

import argparse
import asyncio
import base64
import contextlib
import itertools
import json
import os
import shutil
import sys
import tempfile
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import websockets

REPO = Path(__file__).resolve().parent.parent
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--remote-debugging-port=0",
    "--window-size=1440,1100",
)


class DevTools:
    """A minimal Chrome DevTools Protocol client for one page (flat session)."""

    def __init__(self, socket: Any) -> None:
        self._socket = socket
        self._ids = itertools.count(1)
        self._session: str | None = None

    async def call(self, method: str, **params: Any) -> dict[str, Any]:
        message_id = next(self._ids)
        message: dict[str, Any] = {"id": message_id, "method": method, "params": params}
        if self._session and not method.startswith("Target."):
            message["sessionId"] = self._session
        await self._socket.send(json.dumps(message))
        while True:
            reply = json.loads(await self._socket.recv())
            if reply.get("id") == message_id:
                if "error" in reply:
                    raise RuntimeError(f"{method}: {reply['error']}")
                result: dict[str, Any] = reply.get("result", {})
                return result

    async def open_page(self) -> None:
        target = await self.call("Target.createTarget", url="about:blank")
        attached = await self.call(
            "Target.attachToTarget", targetId=target["targetId"], flatten=True
        )
        self._session = attached["sessionId"]
        await self.call("Page.enable")
        await self.call("Runtime.enable")

    async def goto(self, url: str, settle_seconds: float = 1.0) -> None:
        await self.call("Page.navigate", url=url)
        await self.wait_for("document.readyState === 'complete'")
        await asyncio.sleep(settle_seconds)

    async def evaluate(self, expression: str) -> Any:
        result = await self.call(
            "Runtime.evaluate", expression=expression, returnByValue=True, awaitPromise=True
        )
        if "exceptionDetails" in result:
            raise RuntimeError(f"page script failed: {result['exceptionDetails']}")
        return result["result"].get("value")

    async def wait_for(self, expression: str, within_seconds: float = 20.0) -> bool:
        for _ in range(int(within_seconds / 0.25)):
            with contextlib.suppress(RuntimeError):
                if await self.evaluate(f"!!({expression})"):
                    return True
            await asyncio.sleep(0.25)
        return False

    async def screenshot(self, path: Path) -> None:
        shot = await self.call("Page.captureScreenshot", format="png", captureBeyondViewport=True)
        await asyncio.to_thread(path.write_bytes, base64.b64decode(shot["data"]))


@contextlib.asynccontextmanager
async def chromium() -> AsyncIterator[DevTools]:
    """Start headless Chromium with a fresh profile and connect to its DevTools socket."""
    binary = shutil.which("chromium") or shutil.which("chromium-browser")
    if binary is None:
        sys.exit("chromium not found: apt-get install -y chromium")
    with tempfile.TemporaryDirectory(prefix="carepath-ui-check-") as profile:
        proc = await asyncio.create_subprocess_exec(
            binary,
            *CHROMIUM_FLAGS,
            f"--user-data-dir={profile}",
            "about:blank",
            stdout=asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.DEVNULL,
        )
        try:
            port_file = Path(profile) / "DevToolsActivePort"
            for _ in range(100):
                if port_file.exists() and len(port_file.read_text().split()) >= 2:
                    break
                await asyncio.sleep(0.1)
            port, path = port_file.read_text().split()[:2]
            async with websockets.connect(
                f"ws://127.0.0.1:{port}{path}", max_size=64 * 1024 * 1024
            ) as socket:
                tools = DevTools(socket)
                await tools.open_page()
                yield tools
        finally:
            proc.terminate()
            await proc.wait()


def codec_settings_script(codec_url: str) -> str:
    """The UI keeps its browser codec settings in localStorage (JSON values)."""
    values = {
        "endpoint": json.dumps(codec_url),
        "overrideRemoteCodecConfiguration": "true",
        "includeCredentials": "true",
        "passAccessToken": "false",
    }
    return ";".join(
        f"localStorage.setItem({json.dumps(k)}, {json.dumps(v)})" for k, v in values.items()
    )


async def run_check(args: argparse.Namespace, token: str) -> list[str]:
    """Drive the browser; return the failed checks (empty = all good)."""
    out: Path = args.out
    failures: list[str] = []
    ns = args.namespace
    list_url = f"{args.ui}/namespaces/{ns}/workflows?query={quote(args.query)}"
    async with chromium() as page:
        await page.goto(f"{args.ui}/namespaces/{ns}/workflows")
        await page.evaluate(codec_settings_script(args.codec))

        await page.goto(list_url, settle_seconds=2)
        link = "document.querySelector('a[href*=\"/workflows/care-episode-\"]')"
        if not await page.wait_for(link):
            await page.screenshot(out / "ui-list.png")
            return [f"no episode listed for query {args.query!r} (see {out / 'ui-list.png'})"]
        await page.screenshot(out / "ui-list.png")
        episode_url = await page.evaluate(f"{link}.href")

        await page.goto(episode_url, settle_seconds=4)
        await page.screenshot(out / "ui-encrypted.png")
        before = await page.evaluate("document.body.innerText")
        if args.expect_text and args.expect_text in before:
            failures.append("patient text visible before sign-in")

        await page.goto(f"{args.codec}/login")
        await page.evaluate(
            "(() => { const f = document.querySelector('form[action=\"/login\"]');"
            f" f.token.value = {json.dumps(token)}; f.submit(); }})()"
        )
        if not await page.wait_for("document.body.innerText.includes('Signed in')"):
            failures.append("codec server sign-in failed")

        await page.goto(episode_url, settle_seconds=4)
        if args.expect_text:
            await page.wait_for(f"document.body.innerText.includes({json.dumps(args.expect_text)})")
        await page.screenshot(out / "ui-decoded.png")
        after = await page.evaluate("document.body.innerText")
        if args.expect_text and args.expect_text not in after:
            failures.append("patient text not readable after sign-in")
        if after == before:
            failures.append("the page did not change after sign-in")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--ui", default="http://127.0.0.1:8233")
    parser.add_argument("--codec", default="http://127.0.0.1:8081")
    parser.add_argument("--namespace", default="default")
    parser.add_argument("--token-file", type=Path, default=REPO / "data/keys/operator-token")
    parser.add_argument("--query", default="CarePhase = 'in_treatment'")
    parser.add_argument("--expect-text", default=None, help="text visible only when decoded")
    parser.add_argument("--out", type=Path, default=REPO / "docs")
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    token = os.environ.get("CAREPATH_OPERATOR_TOKEN") or args.token_file.read_text().strip()
    failures = asyncio.run(run_check(args, token.splitlines()[0].strip()))
    for failure in failures:
        print(f"FAIL: {failure}", file=sys.stderr)
    if not failures:
        print(f"ok: screenshots in {args.out} (ui-list, ui-encrypted, ui-decoded)")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
