"""Time from "ask" to the first token painted in the web client, and each token's paint delay, against a bare
WebSocket client reading the same kind of answer from the same stack in the same run (ratio; aim <= 1.2x).

The stack (`eneo-local up`, web/build served by it) answers from the fake OpenAI-compatible server in its own
process (bench/streaming_latency.FakeProcess), which records when each token left (CLOCK_MONOTONIC,
converted to wall time, which Chromium's performance.timeOrigin also counts in).

* browser: headless Chromium (/usr/bin/chromium, Playwright) on the chat page, signed in; the question is
  typed and Enter pressed. In the page, a MutationObserver on the answer notes the time and the text
  length when the client's per-frame update changes it (the frame is painted right after). First token:
  keydown -> first change with text. Per token: the change that first shows a token minus the time the
  fake sent it. This includes everything the client does:
  the POST, the page's one WebSocket (opened as the question is typed), markdown, Svelte.
* bare: Python websockets on a connection opened beforehand; POST then subscribe. First token: before
  the POST -> first text frame. Per token: frame arrival minus the fake's send time.

Rounds alternate browser and bare so load drift hits both alike; one warm-up round each is not counted.
Run after `make web`:  .venv/bin/python bench/web_paint.py [--rounds 10] [--tokens 60] [--delay-ms 20]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import httpx
from playwright.async_api import async_playwright
from websockets.asyncio.client import connect

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from bench.localstack import local_stack  # noqa: E402
from bench.streaming_latency import FakeProcess, make_org, percentiles  # noqa: E402
from bench.web_bundle import sign_in_by_refresh  # noqa: E402

WALL_MINUS_MONOTONIC = time.time() - time.monotonic()
OBSERVE = """() => {
  window.__paints = []; window.__keydown = null;
  const now = () => performance.timeOrigin + performance.now();
  document.addEventListener('keydown', e => { if (e.key === 'Enter') window.__keydown = now(); }, true);
  new MutationObserver(() => {
    const a = [...document.querySelectorAll('[data-testid=answer-body]')].pop();
    if (!a) return;
    const len = (a.innerText.match(/tok\\d+/g) || []).length;
    window.__paints.push([now(), len]);  // DOM changed in this frame's update: painted at its end
  }).observe(document.body, {subtree: true, childList: true, characterData: true});
}"""


def token_delays(arrivals: list[tuple[float, int]], sent: list[float]) -> list[float]:
    """Seconds from each token's send to the first arrival (wall time) that shows it; arrivals hold how many
    tokens were visible."""
    delays, shown = [], 0
    for at, count in arrivals:
        while shown < min(count, len(sent)):
            delays.append(at - (sent[shown] + WALL_MINUS_MONOTONIC))
            shown += 1
    return delays


async def browser_round(page: Any, question: str, tokens: int) -> tuple[float, list[tuple[float, int]]]:
    await page.evaluate("() => { window.__paints = []; }")
    box = page.locator("#question")
    await box.fill(question)
    await box.press("Enter")
    await page.wait_for_function(f"() => window.__paints.some(p => p[1] >= {tokens})", timeout=60_000,
                                 polling=100)
    await page.wait_for_function("() => [...document.querySelectorAll('[data-testid=answer]')].pop()"
                                 ".dataset.status === 'completed'", timeout=60_000, polling=100)
    keydown = await page.evaluate("() => window.__keydown") / 1000
    paints = [(at / 1000, n) for at, n in await page.evaluate("() => window.__paints") if n > 0]
    return paints[0][0] - keydown, paints


async def bare_round(http: httpx.AsyncClient, ws: Any, path: str, token: str,
                     question: str) -> tuple[float, list[tuple[float, int]]]:
    start = time.time()
    r = await http.post(path, json={"question": question, "stream": True}, headers={"Authorization": f"Bearer {token}"})
    assert r.status_code == 202, r.text
    await ws.send(json.dumps({"action": "subscribe", "question_id": r.json()["question"]["id"]}))
    arrivals, text = [], ""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if frame.get("type") == "text":
            text += frame["text"]
            arrivals.append((time.time(), text.count("tok")))
        elif frame.get("type") in ("done", "error"):
            return arrivals[0][0] - start, arrivals


async def bench(args: argparse.Namespace, work: Path) -> None:
    fake = FakeProcess(args.tokens, args.delay_ms / 1000)
    try:
        with local_stack(work, {"ENEO_WEB_DIR": str(ROOT / "web" / "build")}) as stack:
            org = make_org(stack, fake.url)
            assistant = org.sessions_path.split("/")[4]
            results: dict[str, tuple[list[float], list[float]]] = {"browser": ([], []), "bare": ([], [])}
            async with async_playwright() as p, httpx.AsyncClient(base_url=stack.url, timeout=60) as http:
                browser = await p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                context = await browser.new_context()
                await sign_in_by_refresh(context, org.token)
                page = await context.new_page()
                await page.goto(f"{stack.url}/?assistant={assistant}")
                await page.locator("#question").wait_for()
                await page.evaluate(OBSERVE)
                async with connect(f"{stack.ws_url}?token={org.token}") as ws:
                    for round_ in range(args.rounds + 1):
                        for kind in ("browser", "bare"):
                            question = f"{kind} {round_} {uuid.uuid4().hex[:8]}"
                            if kind == "browser":
                                first, arrivals = await browser_round(page, question, args.tokens)
                            else:
                                first, arrivals = await bare_round(http, ws, org.sessions_path, org.token, question)
                            sent = fake.sent()[question]
                            if round_:  # round 0 warms up both
                                results[kind][0].append(first)
                                results[kind][1].extend(token_delays(arrivals, sent))
                await browser.close()
    finally:
        fake.stop()
    print(f"{args.rounds} answers each, {args.tokens} tokens {args.delay_ms} ms apart")
    print(f"{'':8} {'first token p50':>16} {'p99':>8} {'per token p50':>14} {'p99':>8}   (ms)")
    row = {}
    for kind, (firsts, delays) in results.items():
        f50, f99 = percentiles(firsts)
        d50, d99 = percentiles(delays)
        row[kind] = (f50, d50, f99, d99)
        print(f"{kind:8} {f50 * 1000:>16.1f} {f99 * 1000:>8.1f} {d50 * 1000:>14.1f} {d99 * 1000:>8.1f}")
    b, w = row["browser"], row["bare"]
    print(f"browser / bare: first token {b[0] / w[0]:.2f}x (aim <= 1.2x), per-token paint delay p50 "
          f"{b[1] / w[1]:.2f}x (+{(b[1] - w[1]) * 1000:.1f} ms), p99 {b[3] / w[3]:.2f}x")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--tokens", type=int, default=60)
    parser.add_argument("--delay-ms", type=float, default=20)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="eneo-web-paint-") as work:
        asyncio.run(bench(args, Path(work)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
