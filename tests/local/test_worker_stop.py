"""A worker told to stop exits by itself at once, as a Lambda environment ends, even when its handler left a
thread running: every stop of `eneo-local up` waits for its workers, and one killed after the grace period
made each stop seconds slower (the whole stack's took 14 s, 9 of them in the workers, on a loaded machine)."""

import json
from pathlib import Path

from eneo_local.template import load_template
from eneo_local.workers import Worker, function_environment

FIXTURES = Path(__file__).parent / "fixtures"


async def test_a_stopped_worker_exits_by_itself_though_a_thread_of_its_handler_still_runs() -> None:
    template = load_template(FIXTURES / "template.yaml", {"Secret": "s3cret-value"}, stack_name="t")
    spec = template.functions["EchoFunction"]
    env = function_environment(spec, template.region, template.account_id)
    worker = Worker(spec, env, f"arn:aws:lambda:{template.region}:{template.account_id}:function:{spec.name}")
    await worker.start(60)
    try:
        outcome = await worker.invoke(json.dumps({"rawPath": "/linger"}).encode(), "linger-1", 30)
        assert outcome.status == "ok", outcome.error
    finally:
        code = await worker.stop(grace=30)
    assert code == 0, f"the worker did not exit by itself (exit code {code}): killed after the grace period"
    assert not worker.alive
