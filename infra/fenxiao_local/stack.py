"""The whole stack in one process, driven by template.yaml.

1. moto in server mode on a free loopback port stands in for DynamoDB, SQS, KMS, Secrets Manager and
   CloudFormation;
2. CloudFormation ``create_stack`` on moto with template.yaml as it is creates every table, index, queue
   (with its redrive policy) and key (moto skips the ``AWS::Serverless::*`` resources: this module plays
   their part; and the secrets: secret_store.py creates them);
3. the handlers' environment is the template's ``Globals.Function.Environment``, resolved against the
   created stack; the process gets it plus ``AWS_ENDPOINT_URL`` and fake credentials, so the handlers
   reach moto through the standard endpoint variables, the same code path as in AWS;
4. the handler module (``CodeUri`` + ``Handler``, i.e. functions/app.py) is imported once and serves the
   HTTP API, one poller per ``Type: SQS`` event and the timers of the ``Type: Schedule`` events;
5. the WeChat Pay stand-in answers on its own loopback port.
"""

from __future__ import annotations

import functools
import gc
import inspect
import logging
import os
import re
import threading
import time
import warnings
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from fenxiao_local.template import SERVERLESS_API, Function, Intrinsics, Template, TemplateError

log = logging.getLogger("fenxiao_local.stack")

REPO_ROOT = Path(__file__).resolve().parents[2]
DEFAULT_TEMPLATE = REPO_ROOT / "template.yaml"
REGION = "us-east-1"
ACCOUNT_ID = "123456789012"
STACK_NAME = "fenxiao-local"
DEFAULT_RETRY_SECONDS = 2
# moto holds every table as Python objects, which the default (700, 10, 10) re-walked every 70 000 allocations
GC_THRESHOLDS = (10_000, 10, 100)
RETRY_SECONDS_ENV = "FENXIAO_LOCAL_RETRY_SECONDS"

FAKE_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_SESSION_TOKEN": "testing",
}
# Variables that would send a client elsewhere than AWS_ENDPOINT_URL or to another account's settings.
_CLEARED_ENV_PREFIXES = ("AWS_ENDPOINT_URL_",)
_CLEARED_ENV = ("AWS_PROFILE", "AWS_DEFAULT_PROFILE", "AWS_IGNORE_CONFIGURED_ENDPOINT_URLS")


class _SkipServerless(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        return "AWS::Serverless::" not in message and "AWS::SecretsManager::Secret" not in message


def quiet_moto() -> None:
    """moto warns once per resource it skips (AWS::Serverless::*, secrets: this module plays them), and
    werkzeug logs every request."""
    warnings.filterwarnings(
        "ignore", message="Tried to parse AWS::(Serverless|SecretsManager::Secret)", category=UserWarning
    )
    moto_log = logging.getLogger("moto")
    if not any(isinstance(f, _SkipServerless) for f in moto_log.filters):
        moto_log.addFilter(_SkipServerless())
    logging.getLogger("werkzeug").setLevel(logging.WARNING)


class _Recorded(logging.Filter):
    """Inside the block, the records of a logger (and its children) are kept, not printed."""

    def __init__(self, name: str) -> None:
        super().__init__()
        self.logger = logging.getLogger(name)
        self.messages: list[str] = []

    def filter(self, record: logging.LogRecord) -> bool:
        self.messages.append(record.getMessage())
        return False

    def __enter__(self) -> _Recorded:
        self._children = [self.logger] + [
            logging.getLogger(n)
            for n in list(logging.root.manager.loggerDict)
            if n.startswith(self.logger.name + ".")
        ]
        for one in self._children:
            one.addFilter(self)
        return self

    def __exit__(self, *exc: object) -> None:
        for one in self._children:
            one.removeFilter(self)


def summarise_warnings(messages: Any, template: Template) -> str:
    """moto warns once or more per resource it does not model (the template's CloudWatch alarms, the
    Serverless resources the local stack plays): one line naming them, counted from the template."""
    kinds, other = set(), 0
    for message in messages:
        found = re.search(r"AWS::[A-Za-z0-9]+::[A-Za-z0-9]+", message)
        if found:
            kinds.add(found.group(0))
        else:
            other += 1
    in_template: dict[str, int] = {}
    for resource in template.resources.values():
        kind = str(resource.get("Type", ""))
        in_template[kind] = in_template.get(kind, 0) + 1
    parts = [f"{in_template.get(kind, 0)} {kind}" for kind in sorted(kinds)]
    if other:
        parts.append(f"{other} other warning{'s' if other > 1 else ''}")
    return (
        f"moto's CloudFormation skipped (not modelled, or played locally): {', '.join(parts)}"
        if parts
        else ""
    )


# ---------------------------------------------------------------- moto


class Moto:
    """moto's ThreadedMotoServer on a free loopback port, its DynamoDB on the engine of fast_moto.py."""

    def __init__(self, port: int = 0) -> None:
        from fenxiao_local import fast_moto

        fast_moto.check_moto()  # before moto's server is imported: a clear refusal, not a misbehaving stack
        from moto.server import ThreadedMotoServer

        quiet_moto()
        serialize_moto_dynamodb()
        remember_backends()
        fast_moto.install()
        self._engine = True
        self.server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        self.shortcut: Any = None

    def start(self) -> str:
        from fenxiao_local import in_process

        self.server.start()
        host, port = self.server.get_host_and_port()
        self.endpoint = f"http://{host}:{port}"
        # this process's clients call the server's WSGI app directly; other processes use the socket
        self.shortcut = in_process.install(self.endpoint, self.server._server.app)
        return self.endpoint

    def stop(self) -> None:
        from fenxiao_local import fast_moto, in_process

        if self.shortcut is not None:
            in_process.uninstall(self.shortcut)
            self.shortcut = None
        self.server.stop()
        drop_moto_data()
        if self._engine:
            self._engine = False
            fast_moto.uninstall()


def drop_moto_data() -> None:
    """Forget what the stopped server stored, as mock_aws does on exit: moto keeps it in process-wide
    backends, where an in-process stack's data outlived it (10 000 settled commissions: 2.6 M objects that
    every later full garbage collection walked, 1.6 s each). Not while a mock_aws of this process is
    active: the backends hold its data too."""
    from moto.core.base_backend import BackendDict
    from moto.core.models import MockAWS

    if MockAWS._nested_count == 0:
        BackendDict.reset()


def remember_backends() -> None:
    """moto's server finds the backend of every request anew, under one lock shared by all requests,
    listing moto's modules on disk each time (a fifth of the local stack's CPU per order): the answer for a
    host never changes, so it is looked up once. Idempotent."""
    from moto.moto_server.werkzeug_app import DomainDispatcherApplication

    original = DomainDispatcherApplication.get_backend_for_host
    if getattr(original, "_fenxiao_remembered", False):
        return
    known: dict[str | None, Any] = {}

    def get_backend_for_host(self: Any, host: str | None) -> Any:
        if host not in known:
            known[host] = original(self, host)
        return known[host]

    get_backend_for_host._fenxiao_remembered = True  # type: ignore[attr-defined]
    DomainDispatcherApplication.get_backend_for_host = get_backend_for_host  # type: ignore[method-assign]


_moto_dynamodb_lock = threading.RLock()
# DynamoHandler's public functions that are moto's request plumbing, not DynamoDB operations: outside the
# lock (call_action authenticates, finds the operation's method and checksums its answer)
_PLUMBING = frozenset({"call_action", "get_endpoint_name"})


def serialize_moto_dynamodb() -> None:
    """One DynamoDB request at a time in moto, as DynamoDB executes each request atomically. moto is not
    thread-safe: concurrent TransactWriteItems can both pass a condition (50 concurrent withdrawals of one
    balance overdrew it, tests/e2e/test_withdrawal_concurrency_e2e.py). The lock covers an action's
    backend call and the writing of its answer from the stored items, nothing else (not the HTTP exchange,
    the request's authentication or the answer's checksum). Requests still interleave freely between each
    other, where the service's races live. Idempotent; the in-process tests' lock is this one too."""
    from moto.core.responses import ActionResult
    from moto.dynamodb.responses import DynamoHandler

    if DynamoHandler.__dict__.get("_fenxiao_serialized"):
        return

    def locked(action: Callable[[Any], Any]) -> Callable[[Any], Any]:
        @functools.wraps(action)
        def run(self: Any) -> Any:
            with _moto_dynamodb_lock:
                answer = action(self)
                return self.serialized(answer) if isinstance(answer, ActionResult) else answer

        return run

    for name, value in list(DynamoHandler.__dict__.items()):
        if not name.startswith("_") and name not in _PLUMBING and inspect.isfunction(value):
            setattr(DynamoHandler, name, locked(value))
    DynamoHandler._fenxiao_serialized = True  # type: ignore[attr-defined]


def aws_environment(endpoint: str, region: str = REGION) -> dict[str, str]:
    return {
        "AWS_ENDPOINT_URL": endpoint,
        "AWS_DEFAULT_REGION": region,
        "AWS_REGION": region,
        **FAKE_CREDENTIALS,
    }


def point_process_at(endpoint: str, region: str = REGION, environ: Any = None) -> None:
    """Make every AWS client of this process (boto3, PynamoDB) talk to ``endpoint`` with fake credentials."""
    env = os.environ if environ is None else environ
    for name in list(env):
        if name.startswith(_CLEARED_ENV_PREFIXES) or name in _CLEARED_ENV:
            del env[name]
    env.update(aws_environment(endpoint, region))
    env["AWS_CONFIG_FILE"] = os.devnull  # a developer's ~/.aws/config must not redirect anything
    env["AWS_SHARED_CREDENTIALS_FILE"] = os.devnull


def boto_client(service: str, region: str = REGION) -> Any:
    from fenxiao.adapters.aws import boto3_session

    return boto3_session(region).client(service)


# ---------------------------------------------------------------- CloudFormation


@dataclass
class CreatedStack:
    """A stack created on moto from the template: physical ids and attributes of its resources."""

    template: Template
    name: str
    parameters: dict[str, str]
    physical_ids: dict[str, str]
    resource_types: dict[str, str]
    region: str = REGION
    _attributes: dict[tuple[str, str], str] = field(default_factory=dict)
    # AWS::Serverless::Api logical id -> the local URL that plays it (set once the local API is bound)
    local_api_urls: dict[str, str] = field(default_factory=dict)

    @classmethod
    def create(
        cls,
        template: Template,
        parameters: dict[str, str],
        name: str = STACK_NAME,
        region: str = REGION,
        secrets: dict[str, str] | None = None,
    ) -> CreatedStack:
        """``secrets``: values of AWS::SecretsManager::Secret resources by logical id (others are generated)."""
        values = template.parameter_values(parameters)
        cf = boto_client("cloudformation", region)
        cf.create_stack(
            StackName=name,
            TemplateBody=template.path.read_text(encoding="utf-8"),
            Parameters=[{"ParameterKey": k, "ParameterValue": v} for k, v in values.items()],
            Capabilities=["CAPABILITY_IAM", "CAPABILITY_AUTO_EXPAND"],
        )
        status = cf.describe_stacks(StackName=name)["Stacks"][0]["StackStatus"]
        if status != "CREATE_COMPLETE":
            raise TemplateError(f"stack {name}: {status}")
        physical, types = {}, {}
        for resource in cf.describe_stack_resources(StackName=name)["StackResources"]:
            logical_id = resource.get("LogicalResourceId")  # moto lists skipped resources without one
            if logical_id and resource.get("PhysicalResourceId"):
                physical[logical_id] = resource["PhysicalResourceId"]
                types[logical_id] = resource["ResourceType"]
        from fenxiao_local.secret_store import SECRET, create_secrets

        for logical_id, arn in create_secrets(
            template, name, secrets or {}, boto_client("secretsmanager", region)
        ).items():
            physical[logical_id], types[logical_id] = arn, SECRET
        return cls(template, name, values, physical, types, region)

    def counts(self) -> dict[str, int]:
        out: dict[str, int] = {}
        for kind in self.resource_types.values():
            out[kind] = out.get(kind, 0) + 1
        return out

    # ------------------------------------------------------------ intrinsic functions

    def ref(self, name: str) -> str:
        pseudo = {
            "AWS::Region": self.region,
            "AWS::AccountId": ACCOUNT_ID,
            "AWS::Partition": "aws",
            "AWS::URLSuffix": "amazonaws.com",
            "AWS::StackName": self.name,
            "AWS::StackId": f"arn:aws:cloudformation:{self.region}:{ACCOUNT_ID}:stack/{self.name}/local",
            "AWS::NoValue": "",
        }
        if name in pseudo:
            return pseudo[name]
        if name in self.parameters:
            return self.parameters[name]
        if name in self.physical_ids:
            return self.physical_ids[name]
        if name in self._serverless_apis():
            return self.rest_api_id(name)
        raise TemplateError(f"!Ref {name}: no such parameter or created resource")

    def _serverless_apis(self) -> dict[str, str]:
        """AWS::Serverless::Api logical id -> its StageName (moto skips these; the local API plays them)."""
        return {
            logical_id: str((resource.get("Properties") or {}).get("StageName", "Prod"))
            for logical_id, resource in self.template.resources.items()
            if resource.get("Type") == SERVERLESS_API
        }

    @staticmethod
    def rest_api_id(logical_id: str) -> str:
        return f"local{logical_id.lower()}"

    def localize(self, value: str) -> str:
        """The execute-api URL of a Serverless::Api (with or without its stage) -> the local API's URL."""
        for logical_id, stage in self._serverless_apis().items():
            local = self.local_api_urls.get(logical_id)
            if local is None:
                continue
            base = f"https://{self.rest_api_id(logical_id)}.execute-api.{self.region}.amazonaws.com"
            value = re.sub(re.escape(base) + f"(/{re.escape(stage)})?(?=/|$)", local, value)
        return value

    def get_att(self, logical_id: str, attribute: str) -> str:
        key = (logical_id, attribute)
        if key not in self._attributes:
            self._attributes[key] = self._fetch_attribute(logical_id, attribute)
        return self._attributes[key]

    def _fetch_attribute(self, logical_id: str, attribute: str) -> str:
        kind = self.resource_types.get(logical_id)
        physical = self.physical_ids.get(logical_id)
        if kind is None or physical is None:
            raise TemplateError(f"!GetAtt {logical_id}.{attribute}: not a created resource")
        if kind == "AWS::SQS::Queue":
            if attribute == "QueueUrl":
                return physical
            if attribute == "QueueName":
                return physical.rstrip("/").rsplit("/", 1)[-1]
            if attribute == "Arn":
                attrs = boto_client("sqs", self.region).get_queue_attributes(
                    QueueUrl=physical, AttributeNames=["QueueArn"]
                )
                return str(attrs["Attributes"]["QueueArn"])
        if kind == "AWS::DynamoDB::Table" and attribute in {"Arn", "StreamArn"}:
            table = boto_client("dynamodb", self.region).describe_table(TableName=physical)["Table"]
            return str(table["TableArn" if attribute == "Arn" else "LatestStreamArn"])
        if kind == "AWS::KMS::Key" and attribute in {"Arn", "KeyId"}:
            metadata = boto_client("kms", self.region).describe_key(KeyId=physical)["KeyMetadata"]
            return str(metadata["Arn"] if attribute == "Arn" else metadata["KeyId"])
        raise TemplateError(f"!GetAtt {logical_id}.{attribute}: the local stack does not know this attribute")

    def intrinsics(self) -> Intrinsics:
        return Intrinsics(ref=self.ref, get_att=self.get_att)

    def handler_environment(self, overrides: dict[str, str] | None = None) -> dict[str, str]:
        """``Globals.Function.Environment.Variables`` (and each function's own), resolved, then overrides.

        The functions share one process here, so a variable two functions set differently is an error.
        """
        intrinsics = self.intrinsics()

        def resolve(value: Any) -> str:
            return self.localize(str(intrinsics.resolve(value)))

        env = {name: resolve(value) for name, value in self.template.global_environment().items()}
        own: dict[str, tuple[str, str]] = {}
        for function in self.template.functions():
            for name, value in function.environment.items():
                resolved = resolve(value)
                if name in own and own[name][1] != resolved:
                    raise TemplateError(
                        f"{name} differs between {own[name][0]} and {function.logical_id}: "
                        "the local stack runs every function in one process"
                    )
                own[name] = (function.logical_id, resolved)
                env[name] = resolved
        env.update(overrides or {})
        return env


# ---------------------------------------------------------------- the whole stack


@dataclass
class StackOptions:
    host: str = "127.0.0.1"
    port: int = 8000
    standin_port: int | None = None  # None: port + 1 (0 when port is 0)
    operator_token: str = ""
    allow_clock_override: bool = False
    retry_seconds: int | None = DEFAULT_RETRY_SECONDS
    log_level: str = "INFO"
    template: Path = DEFAULT_TEMPLATE
    standin_keys_file: Path | None = None


def default_retry_seconds() -> int | None:
    value = os.environ.get(RETRY_SECONDS_ENV)
    if value is None or value == "":
        return DEFAULT_RETRY_SECONDS
    return None if value.lower() in {"none", "off"} else int(value)


def display_host(host: str) -> str:
    return {"0.0.0.0": "127.0.0.1", "": "127.0.0.1", "::": "[::1]"}.get(host, host)


def _load_standin_keys(path: Path | None) -> Any:
    from fenxiao_local.wechatpay_keys import StandinKeys

    if path is not None and path.exists():
        return StandinKeys.from_json(path.read_text(encoding="utf-8"))
    keys = StandinKeys.generate()
    if path is not None:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(keys.to_json(), encoding="utf-8")
        path.chmod(0o600)
    return keys


class LocalStack:
    """Start with ``start()``; ``stop()`` stops every thread and server it started, in reverse order."""

    def __init__(self, options: StackOptions, progress: Callable[[str], None] | None = None) -> None:
        self.options = options
        self.progress = progress or (lambda line: log.info("%s", line))
        self.template = Template.load(options.template)
        self.moto: Moto | None = None
        self.stack: CreatedStack | None = None
        self.modules: dict[str, ModuleType] = {}
        self.standin: Any = None
        self.api: Any = None
        self.pollers: list[Any] = []
        self.timers: Any = None
        self.environment: dict[str, str] = {}
        self._keys: Future[Any] | None = None
        self._gc_thresholds: tuple[int, int, int] | None = None
        self._started = time.monotonic()

    # ------------------------------------------------------------ phases

    def _phase(self, text: str) -> None:
        self.progress(f"[local] {text} ({time.monotonic() - self._started:.1f} s)")

    def start(self) -> LocalStack:
        try:
            self._start()
        except BaseException:
            self.stop()
            raise
        return self

    def _start(self) -> None:
        from fenxiao_local.http_api import HttpApi
        from fenxiao_local.standin import Standin

        opts = self.options
        self._gc_thresholds = gc.get_threshold()
        gc.set_threshold(*GC_THRESHOLDS)
        keys_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="standin-keys")
        self._keys = keys_pool.submit(_load_standin_keys, opts.standin_keys_file)
        keys_pool.shutdown(wait=False)

        self.moto = Moto()
        endpoint = self.moto.start()
        point_process_at(endpoint, REGION)
        self._phase(f"moto (DynamoDB, SQS, KMS, CloudFormation) on {endpoint}")

        standin_port = (
            opts.standin_port if opts.standin_port is not None else (opts.port + 1 if opts.port else 0)
        )
        keys = self._keys
        try:
            self.standin = Standin(lambda: keys.result(), "127.0.0.1", standin_port)
        except OSError as exc:
            raise OSError(
                exc.errno,
                f"the WeChat Pay stand-in cannot listen on 127.0.0.1:{standin_port} ({exc.strerror}); "
                "see --standin-port",
            ) from None
        self.standin.start()

        from fenxiao_local.secret_store import OPERATOR_TOKEN_SECRET

        with warnings.catch_warnings(record=True) as skipped, _Recorded("moto") as logged:
            warnings.simplefilter("always")
            self.stack = CreatedStack.create(
                self.template,
                {"WechatPayBaseUrl": self.standin.url, "LogLevel": opts.log_level},
                secrets={OPERATOR_TOKEN_SECRET: opts.operator_token} if opts.operator_token else None,
            )
        summary = summarise_warnings([*(str(w.message) for w in skipped), *logged.messages], self.template)
        if summary:
            self._phase(summary)
        counts = self.stack.counts()
        self._phase(
            f"stack {self.stack.name} created from {opts.template.name}: "
            f"{counts.get('AWS::DynamoDB::Table', 0)} tables, {counts.get('AWS::SQS::Queue', 0)} queues, "
            f"{counts.get('AWS::KMS::Key', 0)} KMS key"
        )

        self.api = HttpApi(opts.host, opts.port)  # bound now, served once everything else runs
        api_function = self.template.api_function()
        for route in self.template.api_routes():
            self.stack.local_api_urls[route.api_logical_id] = self.api_url
        self.environment = self.stack.handler_environment(
            {
                "FENXIAO_ALLOW_CLOCK_OVERRIDE": "true" if opts.allow_clock_override else "false",
                "FENXIAO_WECHATPAY_BASE_URL": self.standin.url,
                "FENXIAO_WECHAT_API_BASE_URL": self.standin.url,
                "FENXIAO_ALLOW_LOOPBACK_IMAGES": "true",  # the stand-in's test backgrounds
            }
        )
        os.environ.update(self.environment)
        from fenxiao import bootstrap

        bootstrap.reset()
        bootstrap.container()  # validate the environment now, as a cold start would
        bootstrap.container().operator_token()  # and the token, as the first operator request would
        self.modules = self._load_modules()
        self._phase(
            f"handlers: {', '.join(sorted({f.handler for f in self.template.functions()}))} "
            f"({len(self.environment)} environment variables from the template)"
        )

        self._start_pollers()
        self._start_timers()
        self._start_api(api_function)
        self._keys.result()
        self.standin.api_url = self.api_url

    def _load_modules(self) -> dict[str, ModuleType]:
        from fenxiao_local.runtime import load_module

        modules: dict[str, ModuleType] = {}
        for function in self.template.functions():
            if function.module_name not in modules:
                modules[function.module_name] = load_module(
                    self.template.handler_file(function), function.module_name
                )
        return modules

    def handler(self, function: Function) -> Any:
        from fenxiao_local.runtime import module_lookup

        return module_lookup(self.modules)(function)

    def _start_pollers(self) -> None:
        from fenxiao_local.pollers import SqsPoller

        assert self.stack is not None
        sqs = boto_client("sqs", REGION)
        lines = []
        for source in self.template.sqs_sources():
            if not source.enabled:
                continue
            poller = SqsPoller(
                source,
                self.handler(source.function),
                sqs,
                self.stack.ref(source.queue_logical_id),
                self.stack.get_att(source.queue_logical_id, "Arn"),
                region=REGION,
                stack_name=self.stack.name,
                retry_seconds=self.options.retry_seconds,
            )
            poller.start()
            self.pollers.append(poller)
            lines.append(f"{source.queue_logical_id}→{source.function.handler}")
        retry = self.options.retry_seconds
        self._phase(
            f"pollers: {', '.join(lines)}; failed messages retry after "
            f"{f'{retry} s' if retry is not None else 'the queue visibility timeout'}"
        )

    def _start_timers(self) -> None:
        from fenxiao_local.timers import Timers

        assert self.stack is not None
        sources = [(s, self.handler(s.function)) for s in self.template.schedule_sources() if s.enabled]
        self.timers = Timers(sources, region=REGION, stack_name=self.stack.name)
        self.timers.start()
        described = ", ".join(
            f"{t.source.event_name} {t.source.expression} next {t.next_due:%Y-%m-%d %H:%M}Z"
            for t in self.timers.timers
        )
        self._phase(f"timers: {described}")

    def _start_api(self, function: Function | None) -> None:
        from fenxiao_local.http_api import DEFAULT_NOT_FOUND, GatewaySettings

        assert self.stack is not None
        routes = self.template.api_routes()
        if function is None or not routes:
            raise TemplateError("no function has Type: Api events")
        body = self.template.gateway_response_body("MISSING_AUTHENTICATION_TOKEN", 403)
        settings = GatewaySettings(
            function=function,
            routes=frozenset((r.path, r.method) for r in routes),
            not_found_body=body.encode() if body else DEFAULT_NOT_FOUND,
            stack_name=self.stack.name,
            region=REGION,
        )
        self.api.start(getattr(self.modules[function.module_name], function.attribute), settings)
        self._phase(f"HTTP API: {len(routes)} routes of {function.logical_id}")

    # ------------------------------------------------------------ addresses

    @property
    def api_url(self) -> str:
        return f"http://{display_host(self.options.host)}:{self.api.port}"

    @property
    def standin_url(self) -> str:
        return str(self.standin.url)

    # ------------------------------------------------------------ stopping

    def stop(self) -> None:
        """Stop in reverse order; each part is stopped even if another one fails."""
        for poller in self.pollers:  # let their long polls end while the servers shut down
            poller.stop()
        if self.timers is not None:
            self.timers.stop()
        steps: list[tuple[str, Callable[[], None]]] = []
        if self.api is not None:
            steps.append(("HTTP API", self.api.stop))
        if self.timers is not None:
            steps.append(("timers", self._stop_timers))
        if self.pollers:
            steps.append(("pollers", self._stop_pollers))
        if self.standin is not None:
            steps.append(("stand-in", self.standin.stop))
        if self.moto is not None:
            steps.append(("moto", self.moto.stop))
        for name, stop in steps:
            try:
                stop()
            except Exception:
                log.exception("stopping %s failed", name)
        self.api = self.timers = self.standin = self.moto = None
        self.pollers = []
        if self._gc_thresholds is not None:  # the process's own setting again (a stack run in-process)
            gc.set_threshold(*self._gc_thresholds)
            self._gc_thresholds = None

    def _stop_timers(self) -> None:
        self.timers.stop()
        self.timers.join(timeout=10)

    def _stop_pollers(self) -> None:
        for poller in self.pollers:
            poller.stop()
        for poller in self.pollers:
            poller.join(timeout=10)
            if poller.is_alive():
                log.warning("poller %s did not stop within 10 s", poller.name)
