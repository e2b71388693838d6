"""`python -m ops smoke`: run one job or Data Factory pipeline of a deployed stage and wait for its result.

    python -m ops smoke --outputs outputs.json --job <name> [--timeout 3600] [--cancel-on-timeout]
    python -m ops smoke --outputs outputs.json --pipeline <name> [...]

``outputs.json`` is `pulumi stack output --json` of the stage. The command authenticates as the deploying
identity through azure-identity (never a PAT) and uses databricks-sdk and azure-mgmt-datafactory. It prints
the run's URL, then one UTC-timestamped line per state change, and exits 0 on success, 1 on any other
result (with the failing task's or activity's own error), 2 on a usage or outputs-file problem, 3 when
--timeout passes first.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Mapping
from dataclasses import replace
from pathlib import Path
from typing import Any

from clients.identity import CREDENTIAL_KINDS, CredentialError, DeployerCredential, deployer_credential
from core.messages import shown
from ops.credential import CountingCredential
from ops.deadline import Deadline
from ops.outputs import JobTarget, PipelineTarget, job_target, pipeline_target, read_outputs
from ops.usage import FAILED, USAGE, Invalid, Parser, UsageError, lenient, one_line_problem, one_of, positive_seconds
from ops.watch import GRACE_SECONDS, Reporter, Watch, WatchOptions, one_line

PROG = "python -m ops smoke"
DEFAULT_TIMEOUT = 3600.0
DEFAULT_POLL_INTERVAL = 10.0
MAX_TIMEOUT = 7 * 24 * 3600.0
"""A week: longer than Databricks keeps a run queued (48 h)."""
MAX_POLL_INTERVAL = 3600.0
CREDENTIAL_VARIABLE = "DEPLOYER_CREDENTIAL"
"""Environment variable choosing the credential kind when --credential is not given."""
ARM_ENDPOINT_VARIABLE = "AZURE_RESOURCE_MANAGER_ENDPOINT"
"""Environment variable replacing the ARM endpoint derived from the authority host (private clouds, tests)."""
READ_TIMEOUT = 30
"""Seconds one HTTP request may wait for an answer before the SDK's own retry takes over."""
CONNECT_TIMEOUT = 10
MAX_USAGE_LINE = 4000
"""The usage error line is cut here, whatever the number of problems (each is cut at 1,000 characters)."""
# Types of the options with a value to check: a bad one is kept (ops.usage.Invalid), so all are reported.
TIMEOUT_TYPE = lenient(positive_seconds(MAX_TIMEOUT))
POLL_INTERVAL_TYPE = lenient(positive_seconds(MAX_POLL_INTERVAL))
CREDENTIAL_TYPE = lenient(one_of(CREDENTIAL_KINDS))
CREDENTIAL_METAVAR = "{" + ",".join(CREDENTIAL_KINDS) + "}"


def parser() -> Parser:
    p = Parser(
        prog=PROG,
        description="Run one job or Data Factory pipeline of a deployed stage and wait for its result. Exit "
        "status: 0 success, 1 any other result, 2 usage or outputs-file problem, 3 --timeout passed.",
    )
    p.add_argument("--outputs", required=True, type=Path, metavar="FILE",
                   help="the stage's `pulumi stack output --json`")
    what = p.add_mutually_exclusive_group(required=True)
    what.add_argument("--job", metavar="NAME", help="a job name from the job_ids output")
    what.add_argument("--pipeline", metavar="NAME", help="a pipeline name from the data_factory_pipelines output")
    p.add_argument("--timeout", type=TIMEOUT_TYPE, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                   help=f"give up (exit 3) after this long (default {DEFAULT_TIMEOUT:g}); cancelling or fetching "
                   f"errors adds at most {GRACE_SECONDS:g}s more")
    p.add_argument("--cancel-on-timeout", action="store_true", help="also cancel the run when --timeout passes")
    p.add_argument("--allow-success-with-failures", action="store_true",
                   help="exit 0 on SUCCESS_WITH_FAILURES (some tasks failed, the job's result says success)")
    p.add_argument("--poll-interval", type=POLL_INTERVAL_TYPE, default=DEFAULT_POLL_INTERVAL,
                   metavar="SECONDS",
                   help=f"seconds between two readings of the run's state (default {DEFAULT_POLL_INTERVAL:g})")
    p.add_argument("--credential", type=CREDENTIAL_TYPE, default=None, metavar=CREDENTIAL_METAVAR,
                   help=f"how the deploying identity authenticates (default ${CREDENTIAL_VARIABLE} or environment)")
    p.add_argument("--tenant-id", help="the deploying identity's tenant (default $AZURE_TENANT_ID)")
    p.add_argument("--client-id", help="the deploying identity's client id (default $AZURE_CLIENT_ID)")
    p.add_argument("--arm-endpoint", metavar="URL",
                   help=f"Azure Resource Manager endpoint for --pipeline (default ${ARM_ENDPOINT_VARIABLE}, else "
                   "the endpoint of the stack's cloud)")
    return p


def credential_from(args: Any, authority_host: str | None, environ: Mapping[str, str]) -> DeployerCredential:
    """The deploying identity's azure-identity credential; UsageError for anything missing or wrong."""
    kind = args.credential or environ.get(CREDENTIAL_VARIABLE) or "environment"
    if kind not in CREDENTIAL_KINDS:
        raise UsageError(f"{CREDENTIAL_VARIABLE}={shown(kind)} is not a credential kind; expected one of "
                         f"{', '.join(CREDENTIAL_KINDS)}")
    tenant_id = args.tenant_id or environ.get("AZURE_TENANT_ID") or ""
    client_id = args.client_id or environ.get("AZURE_CLIENT_ID") or None
    if kind == "environment" and not (tenant_id and client_id):
        missing = [name for name, value in (("--tenant-id or AZURE_TENANT_ID", tenant_id),
                                            ("--client-id or AZURE_CLIENT_ID", client_id)) if not value]
        raise UsageError(f"credential 'environment' needs the deploying identity's {' and '.join(missing)}")
    try:
        deployer = deployer_credential(
            kind,
            tenant_id=tenant_id,
            client_id=client_id,
            authority_host=authority_host,
            environ=environ,
            connection_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
        )
    except CredentialError as error:
        raise UsageError(one_line_problem(str(error))) from None
    # The SDK clients get it through CountingCredential: a failure names the credential and where it asked.
    return replace(deployer, credential=CountingCredential(deployer, kind, authority_host))


def job_runner(target: JobTarget, credential: DeployerCredential, deadline: Deadline, timeout: float):
    from clients.databricks import workspace_client
    from ops.job_run import JobRun, watch_clock

    def connect():
        return workspace_client(
            target.workspace_url,
            credential,
            workspace_resource_id=target.workspace_resource_id,
            authority_host=target.authority_host,
            http_timeout_seconds=min(READ_TIMEOUT, timeout),
            # The SDK retries 429/503 and dropped connections for up to this long; our deadline ends it sooner.
            retry_timeout_seconds=int(timeout) + 1,
            # Its pauses between those retries (Retry-After, backoff) are cut to the time left.
            clock=watch_clock(deadline),
            # The SDK also reads DATABRICKS_* variables and ~/.databrickscfg; naming the auth in use keeps a PAT
            # or OAuth secret found there from being refused as a second authorization method.
            auth_type="azure-identity",
        )

    return JobRun(connect, target, tokens=credential.credential)


def pipeline_runner(target: PipelineTarget, credential: DeployerCredential, deadline: Deadline,
                    arm_endpoint: str | None):
    from clients.datafactory import datafactory_client
    from clients.transport import RetryAfterPolicy
    from ops.pipeline_run import PipelineRun

    def connect():
        return datafactory_client(
            credential,
            target.factory.subscription_id,
            authority_host=target.authority_host,
            arm_endpoint=arm_endpoint,
            connection_timeout=CONNECT_TIMEOUT,
            read_timeout=READ_TIMEOUT,
            # azure-core's retries pause for Retry-After or a backoff: never past the time left.
            retry_policy=RetryAfterPolicy(longest=deadline.longest_retry_pause),
        )

    return PipelineRun(connect, target, tokens=credential.credential)


def _quiet_sdk_loggers() -> None:
    # The SDKs log warnings (a failed host-metadata probe, a failed token request) that, with no logging
    # configured, Python prints to stderr. This command reports every failure itself, once.
    for name in ("databricks", "azure"):
        logger = logging.getLogger(name)
        if not any(isinstance(handler, logging.NullHandler) for handler in logger.handlers):
            logger.addHandler(logging.NullHandler())


def _as_written(argv: list[str]) -> argparse.Namespace:
    """The options as written, read leniently (none required, none exclusive, unknown ones skipped) once the
    command line was refused, so that the outputs file, the name and every option's value are still checked
    and every problem is reported at once."""
    as_written = Parser(prog=PROG, add_help=False, allow_abbrev=False)
    options = (("--outputs", Path), ("--job", str), ("--pipeline", str), ("--timeout", TIMEOUT_TYPE),
               ("--poll-interval", POLL_INTERVAL_TYPE), ("--credential", CREDENTIAL_TYPE), ("--tenant-id", str),
               ("--client-id", str))
    for option, kind in options:
        as_written.add_argument(option, type=kind)
    try:
        return as_written.parse_known_args(argv)[0]
    except UsageError:  # an option without its value: only the environment is left to check
        return argparse.Namespace(**{option[2:].replace("-", "_"): None for option, _kind in options})


def prepare(argv: list[str], environ: Mapping[str, str]) -> tuple[Any, JobTarget | PipelineTarget, DeployerCredential]:
    """(arguments, what to run, credential); one UsageError listing every problem of the command line, the
    outputs file and the credential set-up that can be found before anything starts."""
    args, wanted, problems = parser().parse_every_problem(argv, _as_written)
    target: JobTarget | PipelineTarget | None = None
    if wanted.outputs is not None:
        outputs = read_outputs(wanted.outputs, problems)
        if outputs is not None:
            if wanted.job is not None:
                target = job_target(wanted.outputs, outputs, wanted.job, problems)
            if wanted.pipeline is not None:
                target = pipeline_target(wanted.outputs, outputs, wanted.pipeline, problems) or target
    # The stack's own cloud first; AZURE_AUTHORITY_HOST for stacks that do not say.
    authority = (target.authority_host if target else None) or environ.get("AZURE_AUTHORITY_HOST") or None
    credential = None
    if not isinstance(wanted.credential, Invalid):  # a bad --credential was reported already
        try:
            credential = credential_from(wanted, authority, environ)
        except UsageError as error:
            problems.append(str(error))
    if problems:
        raise UsageError("; ".join(problems))
    assert args is not None and target is not None and credential is not None
    return args, replace(target, authority_host=authority), credential


def main(argv: list[str], environ: Mapping[str, str] | None = None) -> int:
    environ = os.environ if environ is None else environ
    _quiet_sdk_loggers()
    reporter = Reporter()
    try:
        args, target, credential = prepare(argv, environ)
        reporter = Reporter(secrets=credential.secrets)
        deadline = Deadline(args.timeout)
        if isinstance(target, JobTarget):
            runner = job_runner(target, credential, deadline, args.timeout)
        else:
            arm_endpoint = args.arm_endpoint or environ.get(ARM_ENDPOINT_VARIABLE) or None
            runner = pipeline_runner(target, credential, deadline, arm_endpoint)
        # --timeout counts from here: importing an SDK above takes about a second.
        deadline.restart()
        options = WatchOptions(
            timeout=args.timeout,
            poll_interval=args.poll_interval,
            allow_success_with_failures=args.allow_success_with_failures,
            cancel_on_timeout=args.cancel_on_timeout,
        )
        return Watch(runner, options, reporter, deadline=deadline).run()
    except UsageError as error:
        print(reporter.redact(f"{PROG}: error: {one_line_problem(str(error), MAX_USAGE_LINE)}"), file=sys.stderr)
        return USAGE
    except SystemExit as done:  # --help
        return done.code if isinstance(done.code, int) else USAGE
    except KeyboardInterrupt:
        reporter.error(["interrupted; a run that was started goes on"])
        return 130
    except Exception as error:  # noqa: BLE001 - never a traceback: one redacted line
        reporter.error([f"unexpected {type(error).__name__}: {one_line(str(error))}"])
        return FAILED


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
