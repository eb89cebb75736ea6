"""The ``pixcrawler`` command line.

argparse (standard library) rather than click: the CLI needs only subcommands, options and
exit codes, and the SDK stays at three runtime dependencies.

Exit codes: 0 ok, 1 API or other error (also a job that ended failed/cancelled), 2 usage,
3 authentication, 4 not found, 130 interrupted. ``--json`` prints one JSON document on stdout
(errors as ``{"error": {...}}`` on stderr) and no progress bars.

Example::

    pixcrawler login --api-key pxc_...
    pixcrawler crawl cat dog --source wikimedia --max-images 50 --min-width 256 --formats jpeg,png \
        --dataset pets --layout imagefolder --out data/pets
    pixcrawler jobs start|cancel|retry|resume|progress|logs|show|wait JOB_ID
    pixcrawler validate JOB_ID --level slow
    pixcrawler --json datasets list
"""

from __future__ import annotations

import argparse
import getpass
import json
import socket
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from pydantic import BaseModel

from pixcrawler._progress import completion
from pixcrawler._version import __version__
from pixcrawler.client import Client
from pixcrawler.config import save_config
from pixcrawler.download import wants_zip
from pixcrawler.exceptions import APIError, AuthenticationError, NotFoundError, PixCrawlerError
from pixcrawler.jobs import wait
from pixcrawler.models import LAYOUTS, DatasetInfo, Job, JobProgress

__all__ = ["EXIT_API", "EXIT_AUTH", "EXIT_INTERRUPTED", "EXIT_NOT_FOUND", "EXIT_OK",
           "EXIT_USAGE", "build_parser", "exit_code_for", "main"]

EXIT_OK = 0
EXIT_API = 1
EXIT_USAGE = 2
EXIT_AUTH = 3
EXIT_NOT_FOUND = 4
EXIT_INTERRUPTED = 130

LEVELS = ("fast", "medium", "slow")


class Output:
    """Prints results for people, or as one JSON document for scripts."""

    def __init__(self, as_json: bool, out: TextIO | None = None, err: TextIO | None = None) -> None:
        self.as_json = as_json
        self.out = out or sys.stdout
        self.err = err or sys.stderr

    def result(self, data: Any, human: Callable[[], str]) -> None:
        if self.as_json:
            self.out.write(json.dumps(_plain(data), indent=2, ensure_ascii=False) + "\n")
        else:
            self.out.write(human().rstrip("\n") + "\n")

    def note(self, text: str) -> None:
        """A line for people, on stderr (silent in --json mode)."""
        if not self.as_json:
            self.err.write(text + "\n")

    def error(self, exc: BaseException, hint: str = "") -> None:
        if self.as_json:
            data = exc.to_dict() if isinstance(exc, APIError) else {
                "type": type(exc).__name__, "message": str(exc)}
            self.err.write(json.dumps({"error": data}, ensure_ascii=False) + "\n")
        else:
            self.err.write(f"error: {exc}{' ' + hint if hint else ''}\n")


def _plain(data: Any) -> Any:
    if isinstance(data, BaseModel):
        return data.model_dump(mode="json")
    if isinstance(data, dict):
        return {k: _plain(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [_plain(v) for v in data]
    if isinstance(data, Path):
        return str(data)
    return data


def _table(headers: list[str], rows: list[list[Any]]) -> str:
    if not rows:
        return "(none)"
    cells = [headers] + [["" if v is None else str(v) for v in row] for row in rows]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return "\n".join(
        "  ".join(value.ljust(width) for value, width in zip(row, widths)).rstrip()
        for row in cells
    )


def _describe_dataset(info: DatasetInfo) -> str:
    lines = [
        f"{info.name} ({info.id})",
        f"  status     {info.status}" + (f": {info.error}" if info.error else ""),
        f"  job        {info.job_id}",
        f"  layout     {info.layout}",
        f"  images     {info.counts.total}",
        f"  size       {info.size_bytes if info.size_bytes is not None else '-'} bytes",
        f"  sha256     {info.sha256 or '-'}",
        "  splits     " + ", ".join(f"{k} {v:g}" for k, v in info.splits.items()),
    ]
    if info.counts.per_split:
        lines.append("  per split  " + ", ".join(f"{k} {v}" for k, v in info.counts.per_split.items()))
    if info.counts.per_label:
        lines.append("  per label  " + ", ".join(f"{k} {v}" for k, v in info.counts.per_label.items()))
    return "\n".join(lines)


def _describe_progress(progress: JobProgress) -> str:
    when = completion(progress)
    text = (
        f"  status     {progress.status} ({progress.phase}), {progress.progress}%"
        + (f", {when}" if when else "") + "\n"
        f"  chunks     {progress.completed_chunks} done, {progress.failed_chunks} failed, "
        f"{progress.active_chunks} active of {progress.total_chunks}\n"
        f"  images     {progress.stored_images} stored, {progress.valid_images} valid, "
        f"{progress.downloaded_images} downloaded, {progress.duplicate_images} duplicates, "
        f"{progress.failed_downloads} failed"
    )
    run = progress.validation
    if run:
        text += (
            f"\n  validation {run.get('level')}: {run.get('validated', 0)} of {run.get('images', 0)} "
            f"images checked, {run.get('rejected', 0)} set aside"
        )
    return text


def _describe_job(job: Job) -> str:
    return (
        f"{job.name} ({job.id})\n  status     {job.status}"
        + (f": {job.error}" if job.error else "")
        + f"\n  keywords   {', '.join(job.keywords)}"
        + f"\n  sources    {', '.join(str(s.get('type', s)) for s in job.sources)}"
    )


# --- commands ---------------------------------------------------------------------------


def cmd_login(args: argparse.Namespace, client_for: Callable[..., Client], out: Output) -> int:
    if args.token:
        with client_for(token=args.token, api_key=None) as client:
            created = client.create_api_key(args.key_name or f"cli on {socket.gethostname()}")
        key = created.key
    else:
        key = args.api_key or _prompt_key()
        if not key:
            out.error(ValueError("no API key given: pass --api-key KEY or type it when asked"))
            return EXIT_USAGE
        if not args.no_verify:
            with client_for(api_key=key, token=None) as client:
                client.list_datasets(size=1)
    path = save_config({"api_key": key, "base_url": args.base_url})
    out.result({"config": path, "base_url": args.base_url}, lambda: f"Saved your API key to {path}")
    return EXIT_OK


def _prompt_key() -> str:
    if sys.stdin.isatty():
        return getpass.getpass("PixCrawler API key: ").strip()
    return sys.stdin.readline().strip()


def _filters(args: argparse.Namespace) -> dict[str, Any]:
    """The crawl's optional fields, only those given (the service's defaults otherwise)."""
    given = {
        "variations": args.variation, "min_width": args.min_width,
        "min_height": args.min_height, "formats": args.formats,
    }
    return {name: value for name, value in given.items() if value is not None}


def cmd_crawl(args: argparse.Namespace, client: Client, out: Output) -> int:
    job = client.create_job(
        name=args.name or " ".join(args.keywords),
        keywords=args.keywords,
        sources=args.source or ["wikimedia"],
        max_images_per_keyword=args.max_images,
        validation_level=args.level,
        **_filters(args),
    )
    started = client.start_job(job.id)
    out.note(f"Started job {job.id}: {started.total_chunks} chunks")
    result: dict[str, Any] = {"job": job, "started": started}
    if not (args.wait or args.dataset):
        out.result(result, lambda: f"Job {job.id} is running; `pixcrawler jobs show {job.id}`")
        return EXIT_OK
    try:
        final = wait(job.id, not args.quiet, chunks=True, poll_interval=args.poll_interval,
                     timeout=args.timeout, client=client)
    except KeyboardInterrupt:
        out.note(f"The job keeps running; stop it with `pixcrawler jobs cancel {job.id}`.")
        raise
    result["progress"] = final
    if final.status != "completed":
        out.result(result, lambda: f"Job {job.id} ended {final.status}.\n" + _describe_progress(final))
        return EXIT_API
    out.note(f"Job {job.id} completed: {final.valid_images} valid images")
    if args.dataset:
        info = client.create_dataset(job.id, args.dataset, layout=args.layout)
        out.note(f"Building dataset {info.id}...")
        info = client.wait_for_dataset(info.id, poll_interval=args.poll_interval, timeout=args.timeout)
        result["dataset"] = info
        if info.status != "ready":
            out.result(result, lambda: f"Dataset {info.id} failed: {info.error or 'no reason given'}")
            return EXIT_API
        if args.out:
            result["path"] = client.download_dataset(info.id, args.out, progress=not args.quiet)
    out.result(result, lambda: _crawl_summary(result))
    return EXIT_OK


def _crawl_summary(result: dict[str, Any]) -> str:
    text = f"Job {result['job'].id} completed.\n" + _describe_progress(result["progress"])
    if "dataset" in result:
        text += "\n" + _describe_dataset(result["dataset"])
    if "path" in result:
        text += f"\nSaved to {result['path']}"
    return text


def cmd_jobs_list(args: argparse.Namespace, client: Client, out: Output) -> int:
    jobs = client.list_jobs(status=args.status, limit=args.limit)
    out.result(jobs, lambda: _table(
        ["ID", "NAME", "STATUS", "CHUNKS", "CREATED"],
        [[j.id, j.name, j.status, j.total_chunks, j.created_at] for j in jobs],
    ))
    return EXIT_OK


def cmd_jobs_show(args: argparse.Namespace, client: Client, out: Output) -> int:
    job = client.get_job(args.job_id)
    progress = client.job_progress(args.job_id)
    out.result({"job": job, "progress": progress},
               lambda: _describe_job(job) + "\n" + _describe_progress(progress))
    return EXIT_OK


def cmd_jobs_logs(args: argparse.Namespace, client: Client, out: Output) -> int:
    chunks = client.job_logs(args.job_id)
    out.result({"chunks": chunks}, lambda: _table(
        ["CHUNK", "LABEL", "QUERY", "SOURCE", "STATUS", "DOWNLOADED", "VALID", "LAST ERROR"],
        [[c.chunk_id, c.label, c.query, c.source, c.status, c.downloaded, c.valid, c.last_error]
         for c in chunks],
    ))
    return EXIT_OK


def cmd_jobs_progress(args: argparse.Namespace, client: Client, out: Output) -> int:
    progress = client.job_progress(args.job_id)
    out.result(progress, lambda: f"Job {progress.job_id}\n" + _describe_progress(progress))
    return EXIT_OK


def _job_action(act: Callable[[Client, str], Any]) -> Callable[[argparse.Namespace, Client, Output], int]:
    """A command that asks the service for one action on a job and prints its answer."""

    def handler(args: argparse.Namespace, client: Client, out: Output) -> int:
        done = act(client, args.job_id)
        out.result(done, lambda: done.message or f"Job {done.job_id} is {done.status}")
        return EXIT_OK

    return handler


cmd_jobs_start = _job_action(Client.start_job)
cmd_jobs_retry = _job_action(Client.retry_job)
cmd_jobs_cancel = _job_action(Client.cancel_job)


def cmd_jobs_resume(args: argparse.Namespace, client: Client, out: Output) -> int:
    done = client.resume_job(args.job_id)
    out.result(done, lambda: done.message or (
        f"Job {done.job_id} resumed: {done.chunks_to_resume} chunks to go, "
        f"{done.chunks_skipped} already done, {done.images_so_far} images so far"))
    return EXIT_OK


def cmd_jobs_wait(args: argparse.Namespace, client: Client, out: Output) -> int:
    final = wait(args.job_id, not args.quiet, chunks=True, poll_interval=args.poll_interval,
                 timeout=args.timeout, client=client)
    out.result(final, lambda: f"Job {final.job_id}\n" + _describe_progress(final))
    return EXIT_OK if final.status == "completed" else EXIT_API


def cmd_validate(args: argparse.Namespace, client: Client, out: Output) -> int:
    started = client.validate_job(args.job_id, args.level)
    out.result(started, lambda: (started.message or "Validation started.")
               + f"\nFollow it with `pixcrawler jobs progress {started.job_id}`.")
    return EXIT_OK


def cmd_datasets_list(args: argparse.Namespace, client: Client, out: Output) -> int:
    items = client.list_datasets(page=args.page, size=args.size)
    out.result(items, lambda: _table(
        ["ID", "NAME", "STATUS", "IMAGES", "SIZE", "JOB"],
        [[d.id, d.name, d.status, d.counts.total, d.size_bytes, d.job_id] for d in items],
    ))
    return EXIT_OK


def cmd_datasets_info(args: argparse.Namespace, client: Client, out: Output) -> int:
    info = client.get_dataset(args.dataset_id)
    out.result(info, lambda: _describe_dataset(info))
    return EXIT_OK


def cmd_datasets_download(args: argparse.Namespace, client: Client, out: Output) -> int:
    target = args.out if args.out is not None else Path(args.dataset_id)
    path = client.download_dataset(args.dataset_id, target, progress=not args.quiet)
    out.result({"dataset_id": args.dataset_id, "path": path}, lambda: f"Saved to {path}")
    return EXIT_OK


def cmd_datasets_create(args: argparse.Namespace, client: Client, out: Output) -> int:
    info = client.create_dataset(
        args.job_id, args.name, splits=dict(args.split) if args.split else None,
        include_duplicates=args.include_duplicates, min_level=args.min_level, layout=args.layout,
    )
    if args.wait:
        info = client.wait_for_dataset(info.id, poll_interval=args.poll_interval,
                                       timeout=args.timeout)
    out.result(info, lambda: _describe_dataset(info))
    return EXIT_OK if info.status != "failed" else EXIT_API


def cmd_datasets_delete(args: argparse.Namespace, client: Client, out: Output) -> int:
    client.delete_dataset(args.dataset_id)
    out.result({"deleted": args.dataset_id}, lambda: f"Deleted dataset {args.dataset_id}")
    return EXIT_OK


# --- parser -----------------------------------------------------------------------------


def _split_arg(text: str) -> tuple[str, float]:
    name, sep, fraction = text.partition("=")
    try:
        if not sep or not name:
            raise ValueError
        return name, float(fraction)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected NAME=FRACTION, like train=0.8, got {text!r}"
        ) from None


def _names(text: str) -> list[str]:
    """A comma-separated list (``jpeg,png``)."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if not names:
        raise argparse.ArgumentTypeError("expected names separated by commas, like jpeg,png")
    return names


def _pixels(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number of pixels, got {text!r}") from None
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _positive_float(text: str) -> float:
    value = float(text)
    if value < 0:
        raise argparse.ArgumentTypeError("must be >= 0")
    return value


def _common(defaults: bool) -> argparse.ArgumentParser:
    """Options accepted before and after the command (``pixcrawler --json jobs list`` and
    ``pixcrawler jobs list --json``)."""
    parent = argparse.ArgumentParser(add_help=False)
    keep = (lambda value: value) if defaults else (lambda value: argparse.SUPPRESS)
    parent.add_argument("--json", action="store_true", default=keep(False),
                        help="print JSON for scripts (no progress bars)")
    parent.add_argument("--quiet", "-q", action="store_true", default=keep(False),
                        help="no progress bars")
    parent.add_argument("--base-url", default=keep(None),
                        help="service URL (default: PIXCRAWLER_BASE_URL or the saved config)")
    parent.add_argument("--api-key", default=keep(None), help="API key for this call")
    parent.add_argument("--token", default=keep(None), help="bearer token for this call")
    return parent


def _waiting(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--poll-interval", type=_positive_float, default=2.0, metavar="SECONDS",
                        help="seconds between progress checks (default 2)")
    parser.add_argument("--timeout", type=_positive_float, default=None, metavar="SECONDS",
                        help="give up waiting after this long")


Handler = Callable[[argparse.Namespace, Client, Output], int]

_LAYOUT_HELP = (
    "zip (default): {label}/{sha256}.{ext}; imagefolder: {split}/{label}/... for torchvision's "
    "ImageFolder; webdataset: tar shards {split}-000000.tar"
)
_OUT_HELP = (
    "a folder gets the dataset unpacked (a webdataset's shards); NAME.zip gets the zip"
)


def _id_actions(
    group: argparse._SubParsersAction[argparse.ArgumentParser],
    common: argparse.ArgumentParser,
    id_name: str,
    entries: list[tuple[str, Handler, str]],
) -> dict[str, argparse.ArgumentParser]:
    """Actions that take one id (``jobs show JOB_ID``), by name."""
    parsers = {}
    for name, handler, text in entries:
        action = group.add_parser(name, parents=[common], help=text)
        action.add_argument(id_name, metavar=id_name.upper())
        action.set_defaults(handler=handler)
        parsers[name] = action
    return parsers


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``pixcrawler`` command."""
    parser = argparse.ArgumentParser(
        prog="pixcrawler", parents=[_common(True)],
        description="Build labelled image datasets with PixCrawler.",
        epilog="Exit codes: 0 ok, 1 API error, 2 usage, 3 authentication, 4 not found, "
               "130 interrupted.",
    )
    parser.add_argument("--version", action="version", version=f"pixcrawler {__version__}")
    common = _common(False)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    login = commands.add_parser("login", parents=[common], help="save an API key for later calls")
    login.add_argument("--key-name", help="with --token: name of the API key to create")
    login.add_argument("--no-verify", action="store_true", help="save without checking the key")
    login.set_defaults(handler=cmd_login, raw_client=True)

    crawl = commands.add_parser("crawl", parents=[common], help="crawl images for keywords")
    crawl.add_argument("keywords", nargs="+", metavar="KEYWORD")
    crawl.add_argument("--source", action="append", metavar="NAME",
                       help="wikimedia, openverse, flickr, ... (repeatable; default wikimedia)")
    crawl.add_argument("--max-images", type=int, default=100, metavar="N",
                       help="images per keyword and source (default 100)")
    crawl.add_argument("--level", choices=LEVELS, default="medium", help="validation level")
    crawl.add_argument("--name", help="job name (default: the keywords)")
    crawl.add_argument("--variation", action="append", metavar="TEMPLATE",
                       help="query template with {kw}, e.g. '{kw} photo' (repeatable)")
    crawl.add_argument("--min-width", type=_pixels, metavar="PX", help="skip narrower images")
    crawl.add_argument("--min-height", type=_pixels, metavar="PX", help="skip lower images")
    crawl.add_argument("--formats", type=_names, metavar="LIST",
                       help="accepted formats, e.g. jpeg,png (default jpeg,png,webp,gif)")
    crawl.add_argument("--wait", action="store_true", help="show live progress until it ends")
    crawl.add_argument("--dataset", metavar="NAME", help="then build a dataset (implies --wait)")
    crawl.add_argument("--layout", choices=LAYOUTS, default="zip", help=_LAYOUT_HELP)
    crawl.add_argument("--out", metavar="DIR|NAME.zip", help="with --dataset: " + _OUT_HELP)
    _waiting(crawl)
    crawl.set_defaults(handler=cmd_crawl)

    jobs = commands.add_parser("jobs", help="list and manage crawl jobs").add_subparsers(
        dest="jobs_command", required=True, metavar="ACTION")
    listing = jobs.add_parser("list", parents=[common], help="your jobs")
    listing.add_argument("--status", choices=["pending", "running", "completed", "failed",
                                              "cancelled"])
    listing.add_argument("--limit", type=int, default=20)
    listing.set_defaults(handler=cmd_jobs_list)
    by_id = _id_actions(jobs, common, "job_id", [
        ("show", cmd_jobs_show, "a job and its progress"),
        ("progress", cmd_jobs_progress, "a job's progress now"),
        ("logs", cmd_jobs_logs, "a job's chunks and their errors"),
        ("start", cmd_jobs_start, "start a pending job"),
        ("cancel", cmd_jobs_cancel, "stop a job"),
        ("retry", cmd_jobs_retry, "run a failed or cancelled job again from scratch"),
        ("resume", cmd_jobs_resume, "continue a job from its checkpoints"),
        ("wait", cmd_jobs_wait, "show live progress until a job ends"),
    ])
    _waiting(by_id["wait"])

    validate = commands.add_parser("validate", parents=[common],
                                   help="validate a job's images (near-duplicates, quality)")
    validate.add_argument("job_id", metavar="JOB_ID")
    validate.add_argument("--level", choices=LEVELS, default=None,
                          help="fast, medium (the service's default) or slow")
    validate.set_defaults(handler=cmd_validate)

    datasets = commands.add_parser("datasets", help="list, build and download datasets")
    actions = datasets.add_subparsers(dest="datasets_command", required=True, metavar="ACTION")
    listing = actions.add_parser("list", parents=[common], help="your datasets")
    listing.add_argument("--page", type=int, default=1)
    listing.add_argument("--size", type=int, default=20)
    listing.set_defaults(handler=cmd_datasets_list)
    by_id = _id_actions(actions, common, "dataset_id", [
        ("info", cmd_datasets_info, "a dataset's status and counts"),
        ("delete", cmd_datasets_delete, "delete a dataset"),
        ("download", cmd_datasets_download, "download a dataset as a folder or a zip (resumable, verified)"),
    ])
    by_id["download"].add_argument("--out", default=None, metavar="DIR|NAME.zip",
                                   help=_OUT_HELP + " (default: the folder ./DATASET_ID)")
    create = actions.add_parser("create", parents=[common], help="build a dataset from a job")
    create.add_argument("job_id", metavar="JOB_ID")
    create.add_argument("--name", required=True)
    create.add_argument("--split", action="append", type=_split_arg, metavar="NAME=FRACTION",
                        help="repeatable; default train=0.8 val=0.1 test=0.1")
    create.add_argument("--include-duplicates", action="store_true")
    create.add_argument("--min-level", choices=LEVELS, default="fast")
    create.add_argument("--layout", choices=LAYOUTS, default="zip", help=_LAYOUT_HELP)
    create.add_argument("--wait", action="store_true", help="wait until it is built")
    _waiting(create)
    create.set_defaults(handler=cmd_datasets_create)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    """Run the CLI; return its exit code."""
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.command == "crawl" and args.out and not args.dataset:
            parser.error("crawl: --out needs --dataset NAME")
        if args.command == "crawl" and args.out and args.layout == "webdataset" and wants_zip(args.out):
            parser.error("crawl: a webdataset is several tar shards, not a zip: give --out a folder")
    except SystemExit as exc:
        return int(exc.code or 0)
    out = Output(args.json)
    args.quiet = args.quiet or args.json

    def client_for(**overrides: Any) -> Client:
        options = {"api_key": args.api_key, "token": args.token, "base_url": args.base_url}
        return Client(**{**options, **overrides})

    try:
        if getattr(args, "raw_client", False):
            return int(args.handler(args, client_for, out))
        with client_for() as client:
            return int(args.handler(args, client, out))
    except KeyboardInterrupt:
        out.note("Interrupted.")
        return EXIT_INTERRUPTED
    except (PixCrawlerError, ValueError) as exc:
        out.error(exc)
        return exit_code_for(exc)


def exit_code_for(error: Exception) -> int:
    """The exit code for an error: 3 authentication, 4 not found, 2 bad input, else 1.

    >>> exit_code_for(ValueError("not a valid id"))
    2
    """
    if isinstance(error, AuthenticationError):
        return EXIT_AUTH
    if isinstance(error, NotFoundError):
        return EXIT_NOT_FOUND
    if isinstance(error, ValueError):
        return EXIT_USAGE
    return EXIT_API
