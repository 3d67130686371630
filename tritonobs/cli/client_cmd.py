"""`tritonobs client`: the seed's triton-client.py as a command, with real per-request timings."""

from __future__ import annotations

import asyncio
from pathlib import Path

import typer
from rich.console import Console

from tritonobs.cli.load_cmd import MAX_CONCURRENCY
from tritonobs.cli.options import LabDirOpt, LabOpt
from tritonobs.core.errors import ExternalError, UsageError
from tritonobs.core.inputs import INT32_MAX, count, host_port, output_file, seconds
from tritonobs.lab.daemon import running_lab
from tritonobs.load.client import (
    MAX_REQUESTS,
    ClientOptions,
    ClientResult,
    format_request_line,
    format_summary,
    results_file_text,
    run_client,
)

out = Console(highlight=False, soft_wrap=True)


def register(app: typer.Typer) -> None:
    @app.command()
    def client(
        model_name: str = typer.Option(..., "--model-name", help="model to query, e.g. llama2 or mistral7b"),
        input_prompts: Path = typer.Option(
            Path("prompts.txt"), "--input-prompts", help="one prompt per line"
        ),
        results_file: Path = typer.Option(
            Path("results.txt"), "--results-file", help="prompt + generated text per request"
        ),
        iterations: int = typer.Option(1, "--iterations", help="passes through the prompts file"),
        offset: int = typer.Option(0, "--offset", help="added to the request ids"),
        url: str | None = typer.Option(None, "-u", "--url", help="Triton gRPC endpoint host:port (default localhost:8001)"),
        lab: bool = LabOpt,
        lab_dir: Path = LabDirOpt,
        verbose: bool = typer.Option(
            False, "-v", "--verbose", help="print raw gRPC responses and the results file"
        ),
        concurrency: int = typer.Option(
            0, "--concurrency", help="requests in flight at once (0: all, as the seed)"
        ),
        max_tokens: int | None = typer.Option(
            None, "--max-tokens", help="override the seed's max_tokens 512"
        ),
        stream_timeout: str | None = typer.Option(
            None, "--stream-timeout", help="per-request limit, e.g. 120s"
        ),
    ) -> None:
        """Stream every prompt to a Triton vLLM model and print time to first token, latency and tokens/s.

        Each request is wrapped in the seed's Llama-2 chat template with its sampling parameters (temperature 0.01, top_p 1.0, top_k 20, max_tokens 512) and streamed over gRPC, every request in flight at once like the seed (see --concurrency).

        Exit 3 when Triton is unreachable or requests fail, 2 on bad input.
        """
        if lab and url is not None:
            raise UsageError("--url and --lab both say where to send: give one")
        if not lab:
            url = url or "localhost:8001"
            host_port("--url", url)
        count("--iterations", iterations, 1, MAX_REQUESTS)
        count("--offset", offset, 0, 2**63 - 1)
        count("--concurrency", concurrency, 0, MAX_CONCURRENCY, " (0: every request at once)")
        if max_tokens is not None:
            count("--max-tokens", max_tokens, 1, INT32_MAX)
        output_file("--results-file", results_file)
        timeout_s = seconds("--stream-timeout", stream_timeout) if stream_timeout is not None else None
        target = running_lab(lab_dir).grpc[0] if lab else (url or "localhost:8001")
        opts = ClientOptions(
            model_name=model_name,
            url=target,
            input_prompts=input_prompts,
            results_file=results_file,
            iterations=iterations,
            offset=offset,
            verbose=verbose,
            concurrency=concurrency,
            max_tokens=max_tokens,
            stream_timeout_s=timeout_s,
        )
        out.print(f"Loading inputs from `{input_prompts}`...", markup=False)

        def show(result: ClientResult) -> None:
            out.print(format_request_line(model_name, result.request.request_id, result.record), markup=False)

        run = asyncio.run(run_client(opts, on_result=show))
        text = results_file_text(run.results)
        results_file.parent.mkdir(parents=True, exist_ok=True)
        results_file.write_text(text, encoding="utf-8")
        out.print(f"Storing results into `{results_file}`...", markup=False)
        if verbose:
            out.print(f"\nContents of `{results_file}` ===>", markup=False)
            out.print(text, markup=False)
        for line in format_summary(run):
            out.print(line, markup=False)
        failed = [r for r in run.results if not r.record.ok]
        if failed:
            raise ExternalError(
                target, f"{len(failed)} of {len(run.results)} requests failed; first: {failed[0].record.error}"
            )
