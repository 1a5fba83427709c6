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
  the POST -> first text frame. Per token: frame arrival minus the fake's send time. Like the page, it asks
  its follow-up questions in the session its first answer started (the server reads the conversation so
  far for each: the same work for both).

Where the first token's time goes is printed for both, p50 of each step: before the POST (the page's
keydown to the request's start, from Resource Timing), the POST, POST answered -> subscribe sent, subscribe
-> first text frame (a WebSocket message event's own timestamp), first frame -> painted.

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
  // the subscribe each answer sends, and its first text frame's arrival (the event's own time stamp)
  window.__marks = {};
  const send = WebSocket.prototype.send;
  WebSocket.prototype.send = function (data) {
    if (String(data).includes('"subscribe"') && !window.__marks.subscribe) window.__marks.subscribe = now();
    if (!this.__watched) {
      this.__watched = true;
      this.addEventListener('message', e => {
        if (window.__marks.frame) return;
        try { if (JSON.parse(e.data).type === 'text') window.__marks.frame = performance.timeOrigin + e.timeStamp; }
        catch (_) { /* not JSON */ }
      });
    }
    return send.call(this, data);
  };
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


STEPS = ("before POST", "POST", "to subscribe", "to first frame", "to paint")
# the browser's POST in Resource Timing's terms: fetch() to the request on the wire (a new connection's setup
# included), then the request sent to the response read
POST_PARTS = ("POST to wire", "POST on wire")


async def browser_round(page: Any, question: str, tokens: int
                        ) -> tuple[float, list[tuple[float, int]], dict[str, float]]:
    await page.evaluate("() => { window.__paints = []; window.__marks = {}; performance.clearResourceTimings(); }")
    box = page.locator("#question")
    await box.fill(question)
    await box.press("Enter")
    await page.wait_for_function(f"() => window.__paints.some(p => p[1] >= {tokens})", timeout=60_000,
                                 polling=100)
    await page.wait_for_function("() => [...document.querySelectorAll('[data-testid=answer]')].pop()"
                                 ".dataset.status === 'completed'", timeout=60_000, polling=100)
    keydown = await page.evaluate("() => window.__keydown") / 1000
    paints = [(at / 1000, n) for at, n in await page.evaluate("() => window.__paints") if n > 0]
    marks = await page.evaluate("""() => {
        const post = performance.getEntriesByType('resource').find(
            e => e.initiatorType === 'fetch' && e.name.includes('/sessions/'));
        return {start: performance.timeOrigin + post.startTime, end: performance.timeOrigin + post.responseEnd,
                wire: performance.timeOrigin + post.requestStart,
                subscribe: window.__marks.subscribe, frame: window.__marks.frame};
    }""")
    start, end, wire, subscribe, frame = (marks[k] / 1000 for k in ("start", "end", "wire", "subscribe", "frame"))
    steps = dict(zip(STEPS, (start - keydown, end - start, subscribe - end, frame - subscribe, paints[0][0] - frame),
                     strict=True)) | dict(zip(POST_PARTS, (wire - start, end - wire), strict=True))
    return paints[0][0] - keydown, paints, steps


async def bare_round(http: httpx.AsyncClient, ws: Any, path: str, token: str, question: str, *, keyed: bool
                     ) -> tuple[float, list[tuple[float, int]], dict[str, float], str]:
    """One answer; `path` is the sessions path, or a session's for a follow-up. Also returns the session.
    `keyed`: with an Idempotency-Key, as the page sends (a retried ask is then the same question)."""
    headers = {"Authorization": f"Bearer {token}"} | ({"Idempotency-Key": str(uuid.uuid4())} if keyed else {})
    start = time.time()
    r = await http.post(path, json={"question": question, "stream": True}, headers=headers)
    assert r.status_code in (201, 202), r.text
    end = time.time()
    await ws.send(json.dumps({"action": "subscribe", "question_id": r.json()["question"]["id"]}))
    subscribe = time.time()
    arrivals, text = [], ""
    while True:
        frame = json.loads(await asyncio.wait_for(ws.recv(), 60))
        if frame.get("type") == "text":
            text += frame["text"]
            arrivals.append((time.time(), text.count("tok")))
        elif frame.get("type") in ("done", "error"):
            steps = dict(zip(STEPS, (0.0, end - start, subscribe - end, arrivals[0][0] - subscribe, 0.0), strict=True))
            return arrivals[0][0] - start, arrivals, steps, str(r.json()["session_id"])


async def bench(args: argparse.Namespace, work: Path) -> None:
    fake = FakeProcess(args.tokens, args.delay_ms / 1000)
    try:
        with local_stack(work, {"ENEO_WEB_DIR": str(ROOT / "web" / "build")}) as stack:
            org = make_org(stack, fake.url)
            assistant = org.sessions_path.split("/")[4]
            results: dict[str, tuple[list[float], list[float]]] = {"browser": ([], []), "bare": ([], []),
                                                                   "bare+key": ([], [])}
            steps: dict[str, dict[str, list[float]]] = {k: {s: [] for s in STEPS + POST_PARTS} for k in results}
            # the bare clients': each a new session, then its follow-ups
            sessions = {"bare": org.sessions_path, "bare+key": org.sessions_path}
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
                        for kind in results:
                            question = f"{kind} {round_} {uuid.uuid4().hex[:8]}"
                            if kind == "browser":
                                first, arrivals, took = await browser_round(page, question, args.tokens)
                            else:
                                first, arrivals, took, made = await bare_round(
                                    http, ws, sessions[kind], org.token, question, keyed=kind == "bare+key")
                                sessions[kind] = f"{org.sessions_path}{made}/"
                            sent = fake.sent()[question]
                            if round_:  # round 0 warms up both
                                results[kind][0].append(first)
                                results[kind][1].extend(token_delays(arrivals, sent))
                                for step, value in took.items():
                                    steps[kind][step].append(value)
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
        print(f"{kind:9} {f50 * 1000:>15.1f} {f99 * 1000:>8.1f} {d50 * 1000:>14.1f} {d99 * 1000:>8.1f}")
    print("first token, p50 of each step (ms): " + ", ".join(STEPS))
    for kind, by_step in steps.items():
        print(f"{kind:9}" + " ".join(f"{percentiles(by_step[s])[0] * 1000:>8.1f}" for s in STEPS))
    wire = steps["browser"]
    print("the page's POST: " + ", ".join(f"{s} {percentiles(wire[s])[0] * 1000:.1f}" for s in POST_PARTS) + " ms")
    b, w = row["browser"], row["bare"]
    print(f"browser / bare: first token {b[0] / w[0]:.2f}x (aim <= 1.2x), per-token paint delay p50 "
          f"{b[1] / w[1]:.2f}x (+{(b[1] - w[1]) * 1000:.1f} ms), p99 {b[3] / w[3]:.2f}x")
    k = row["bare+key"]
    print(f"browser / bare with the page's Idempotency-Key: first token {b[0] / k[0]:.2f}x; the key's cost to the "
          f"bare client: {k[0] / w[0]:.2f}x (+{(k[0] - w[0]) * 1000:.1f} ms)")


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
