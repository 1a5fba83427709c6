"""The template reader: CloudFormation tags, SAM Globals, parameters, and local resource names."""

from pathlib import Path

import pytest

from eneo_local.intrinsics import TemplateError, load_yaml
from eneo_local.template import load_template, merge_globals

FIXTURE = Path(__file__).parent / "fixtures" / "template.yaml"
ROOT_TEMPLATE = Path(__file__).parents[2] / "template.yaml"


def read(**params: str):
    return load_template(FIXTURE, {"Secret": "s3cret-value", **params}, stack_name="t")


def test_short_tags_load_as_long_forms() -> None:
    data = load_yaml(FIXTURE)
    env = data["Globals"]["Function"]["Environment"]["Variables"]
    assert env["GREETING"] == {"Ref": "Greeting"}
    assert env["BUCKET_ARN"] == {"Fn::GetAtt": ["UploadsBucket", "Arn"]}
    assert env["STACK"] == {"Fn::Sub": "${AWS::StackName}/${AWS::Region}"}
    assert env["RELEASE"] == "2024-01-31", "CloudFormation has no dates: they stay strings"


def test_environment_merges_globals_and_resolves_intrinsics() -> None:
    env = read().functions["EchoFunction"].environment
    assert env == {
        "GREETING": "hello",  # parameter Default
        "SECRET": "s3cret-value",  # supplied parameter
        "MODE": "function",  # the function's value wins over Globals
        "STACK": "t/eu-north-1",  # !Sub with pseudo parameters
        "BUCKET": "t-uploadsbucket",  # !Ref of a bucket: the local bucket's name
        "BUCKET_ARN": "arn:aws:s3:::t-uploadsbucket",
        "JOINED": "a-DEV-c",
        "WHEN": "development",  # !If on a condition
        "RELEASE": "2024-01-31",
        "OWN": "hello, 123456789012",
        "OWN_LITERAL": "${NotAVar} world",  # ${!X} is a literal ${X}; variables from the Sub map
    }
    assert read().functions["SlowFunction"].environment["MODE"] == "global"


def test_function_settings_merge_globals() -> None:
    template = read()
    echo, slow = template.functions["EchoFunction"], template.functions["SlowFunction"]
    assert (echo.name, echo.timeout, echo.memory_size, echo.runtime) == ("t-echo", 10, 384, "python3.12")
    assert (slow.name, slow.timeout, slow.memory_size) == ("t-SlowFunction", 1, 256)
    assert slow.reserved_concurrency == 2
    assert echo.code_uri == (FIXTURE.parent / "echo").resolve()
    assert (echo.handler_module, echo.handler_function) == ("app", "handler")


def test_lists_append_maps_merge_scalars_override() -> None:
    merged = merge_globals({"Layers": ["g"], "Timeout": 3, "Environment": {"Variables": {"A": "1", "B": "1"}}},
                           {"Layers": ["f"], "Timeout": 9, "Environment": {"Variables": {"B": "2"}}})
    assert merged == {"Layers": ["g", "f"], "Timeout": 9, "Environment": {"Variables": {"A": "1", "B": "2"}}}


def test_http_routes_and_other_events() -> None:
    template = read()
    assert [r.route_key for r in template.routes if r.function == "EchoFunction"] == [
        "GET /items", "ANY /items", "GET /items/special", "ANY /items/{id}", "ANY /items/{proxy+}",
        "GET /items/{id}/parts/{part}", "ANY /{proxy+}"]
    assert {r.api for r in template.routes} == {"Api"}
    queue = next(e for e in template.functions["EchoFunction"].events if e.type == "SQS")
    assert queue.properties == {"Queue": "arn:aws:sqs:eu-north-1:123456789012:t-Jobs", "BatchSize": 5}


def test_http_api_cors_and_bucket() -> None:
    template = read()
    cors = template.http_apis["Api"].cors
    assert cors is not None
    assert cors.allow_origins == ("https://app.example.org",)
    assert cors.allow_methods == ("GET", "POST", "DELETE")
    assert cors.max_age == 600
    bucket = template.buckets["UploadsBucket"]
    assert bucket.name == "t-uploadsbucket"
    assert bucket.cors_rules == ({"AllowedMethods": ["PUT"], "AllowedOrigins": ["https://app.example.org"],
                                  "AllowedHeaders": ["*"], "ExposeHeaders": ["ETag"], "MaxAgeSeconds": 60},)


def test_conditions_select_resources() -> None:
    assert "ProdOnlyFunction" not in read().functions
    prod = read(Level="PROD")
    assert "ProdOnlyFunction" in prod.functions
    assert prod.functions["EchoFunction"].environment["WHEN"] == "production"


@pytest.mark.parametrize(("params", "message"), [
    ({"Secret": None}, "no value for parameter(s) Secret"),
    ({"Secret": "short"}, "Secret: shorter than its MinLength 8"),
    ({"Level": "TEST"}, "Level: 'TEST' is not one of"),
])
def test_parameters_are_checked(params: dict[str, str | None], message: str) -> None:
    supplied = {k: v for k, v in {"Secret": "s3cret-value", **params}.items() if v is not None}
    with pytest.raises(TemplateError, match=message.replace("(", r"\(").replace(")", r"\)")):
        load_template(FIXTURE, supplied)


def test_unknown_reference_names_the_place(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(FIXTURE.read_text().replace("!Ref Greeting", "!Ref Nothing"))
    with pytest.raises(TemplateError, match=r"Environment: Ref to unknown name 'Nothing'"):
        load_template(path, {"Secret": "s3cret-value"})


def test_the_project_template_reads_with_what_the_stack_supplies() -> None:
    template = load_template(ROOT_TEMPLATE, {
        "DatabaseUrl": "postgresql+psycopg://app@/eneo", "RedisUrl": "unix:///tmp/r.sock",
        "S3EndpointUrl": "http://127.0.0.1:9", "JwtSecret": "j" * 40, "SuperApiKey": "k" * 40,
        "EncryptionKey": "e" * 40})
    assert {"AuthFunction", "SpacesFunction"} <= set(template.functions)
    spaces = template.functions["SpacesFunction"]
    assert spaces.name == "eneo-local-spaces"
    assert spaces.environment["DATABASE_URL"] == "postgresql+psycopg://app@/eneo"
    assert spaces.environment["S3_ENDPOINT_URL"] == "http://127.0.0.1:9"
    assert spaces.timeout == 30
    assert "ANY /api/v1/spaces/{proxy+}" in {r.route_key for r in template.routes}
    bucket = template.buckets["DocumentsBucket"]
    assert bucket.name == "eneo-local-docs-123456789012-eu-north-1"


def test_the_project_template_wires_ingestion() -> None:
    """Queues with dead-letter queues, the bucket's notification, and the SQS event sources."""
    template = load_template(ROOT_TEMPLATE, {
        "DatabaseUrl": "postgresql+psycopg://app@/eneo", "RedisUrl": "unix:///tmp/r.sock",
        "S3EndpointUrl": "http://127.0.0.1:9", "JwtSecret": "j" * 40, "SuperApiKey": "k" * 40,
        "EncryptionKey": "e" * 40, "QueueVisibilityTimeoutSeconds": "5"}, sqs_endpoint_url="http://127.0.0.1:9")
    for queue, dead in (("IngestQueue", "IngestDeadLetterQueue"), ("EmbedQueue", "EmbedDeadLetterQueue")):
        spec = template.queues[queue]
        assert (spec.dead_letter_queue, spec.max_receive_count, spec.visibility_timeout) == (dead, 3, 5)
        assert template.queues[dead].attributes["MessageRetentionPeriod"] == str(14 * 24 * 3600)
    mappings = {m.function: m for m in template.sqs_event_sources}
    assert (mappings["IngestFunction"].queue, mappings["IngestFunction"].batch_size) == ("IngestQueue", 5)
    assert (mappings["EmbedFunction"].queue, mappings["EmbedFunction"].batch_size) == ("EmbedQueue", 1)
    assert all(m.report_batch_item_failures for m in mappings.values())
    (notification,) = template.buckets["DocumentsBucket"].notifications
    assert (notification.queue, notification.events) == ("IngestQueue", ("s3:ObjectCreated:*",))
    assert notification.filter == {"Key": {"FilterRules": [{"Name": "prefix", "Value": "tenants/"}]}}
    env = template.functions["KnowledgeFunction"].environment
    assert env["INGEST_QUEUE_URL"] == "http://127.0.0.1:9/123456789012/eneo-local-IngestQueue", "!Ref is the URL"
    assert env["EMBED_QUEUE_URL"] == "http://127.0.0.1:9/123456789012/eneo-local-EmbedQueue"
    assert env["DOCUMENTS_BUCKET"] == "eneo-local-docs-123456789012-eu-north-1"
    assert env["INGEST_MAX_ATTEMPTS"] == "3"
    ingest = template.functions["IngestFunction"]
    assert (ingest.timeout, ingest.memory_size) == (120, 1536)


def test_an_sqs_event_must_name_a_queue_of_the_template(tmp_path: Path) -> None:
    path = tmp_path / "template.yaml"
    path.write_text(FIXTURE.read_text().replace("Queue: !GetAtt Jobs.Arn",
                                                "Queue: arn:aws:sqs:eu-north-1:123456789012:elsewhere"))
    with pytest.raises(TemplateError, match=r"EchoFunction.Events.Queue.Queue: .* is not the ARN of an AWS::SQS"):
        load_template(path, {"Secret": "s3cret-value"})
