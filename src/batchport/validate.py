"""Validate a batch input file the way the provider will, before uploading it.

:func:`validate_file` reads the file once, line by line, and reports every problem with
its 1-based line number and the code the chosen provider uses for it (see
:mod:`batchport.limits`). The report also carries what a planner needs: counts, bytes,
endpoint, model and token estimates. Memory stays flat: only the custom_ids seen so far
are kept (to find duplicates), never the lines.
"""

from __future__ import annotations

import os
from typing import Any

from batchport._scan import Problem, Scan, ValidationReport
from batchport.errors import ConfigError
from batchport.jsonl import UTF8_BOM, open_for_reading
from batchport.limits import ProviderProfile, get_profile
from batchport.requests import Endpoint, Request

__all__ = ["Problem", "RequestChecker", "ValidationReport", "validate_file"]


def validate_file(
    path: str | os.PathLike[str],
    *,
    provider: str | ProviderProfile = "openai",
    endpoint: Endpoint | str | None = None,
    max_problems: int | None = None,
    as_provider_file: bool = True,
) -> ValidationReport:
    """Check a batch input file against ``provider``'s rules, reading it once.

    By default the file is judged as one provider batch file: mixed endpoints or
    models, and more requests or bytes than one batch takes, are problems. With
    ``as_provider_file=False`` it is judged as batchport's input, which batchport
    splits by endpoint, model and those limits: only what a split cannot fix counts.

    Lines for one of the provider's ``translated_endpoints`` are accepted: batchport
    rewrites them for the provider when it runs them (chat and responses requests become
    Anthropic Messages requests). A custom_id outside the provider's pattern is reported
    (rule ``custom_id_pattern``) even though a batchport run maps it to a safe id, since
    the file itself could not be sent as it is.

    ``endpoint`` is the endpoint the batch will be created with; when omitted, the
    first line with a valid url sets it. (Azure takes the endpoint from the lines, so
    there only the lines' agreement with each other is checked.) ``max_problems``
    bounds how many problems are kept (all are counted); ``None`` keeps every one, so
    on hostile input of millions of bad lines pass a bound.

    Raises:
        InputError: the file is missing or unreadable.
        ConfigError: ``provider`` is unknown, or ``endpoint`` is not a batch endpoint.
    """
    profile = get_profile(provider)
    name = os.fspath(path)
    scan = Scan(name, profile, _expected_endpoint(endpoint, profile), max_problems)
    scan.splittable = not as_provider_file
    scan.accept_translated = True
    try:
        size = os.stat(path).st_size
    except OSError:
        size = 0  # open_for_reading raises the clear error for a missing or unreadable file
    scan.start(size)
    with open_for_reading(path) as handle:
        first = handle.readline()
        if first:
            if first.startswith(UTF8_BOM):
                scan.bom()
                first = first[len(UTF8_BOM) :]
            scan.line(1, first)
        # Lines go to orjson with their line ending: it ignores trailing whitespace, and
        # not slicing it off saves a copy of every line.
        line = scan.line
        for number, raw in enumerate(handle, 2):
            line(number, raw)
    return scan.finish()


def _expected_endpoint(
    endpoint: Endpoint | str | None, profile: ProviderProfile
) -> Endpoint | None:
    if endpoint is None:
        return None
    found = Endpoint.from_url(endpoint, allow_unversioned=True)
    if found is None:
        raise ConfigError(f"{endpoint!r} is not a batch endpoint")
    if not profile.supports(found):
        raise ConfigError(f"{profile.title} batches do not support {found.value}")
    return None if profile.endpoint_from_file else found


class RequestChecker:
    """The rules of :func:`validate_file`, applied to requests one at a time.

    For callers that already hold each request (the runner checks every shard as it
    writes it, instead of reading the file back). One checker stands for one batch
    file: mixed urls or models within it are reported as they would be in a file.
    Token estimates are left at 0 (the caller counts them).

    The requests checked are the ones sent, already rewritten for the provider: the
    profile's ``translated_endpoints`` are refused here. ``ids_mapped=True`` says the
    backend sends every custom_id the provider's pattern refuses under a provider-safe id
    of its own (the Anthropic backend does), so the pattern is not checked; duplicates
    still are.
    """

    def __init__(
        self,
        label: str,
        provider: str | ProviderProfile = "openai",
        *,
        ids_mapped: bool = False,
    ) -> None:
        profile = get_profile(provider)
        self._scan = Scan(label, profile, None, None)
        self._scan.count_tokens = False
        if ids_mapped:
            self._scan.id_pattern = None

    def check(self, number: int, line: bytes, request: Request | dict[str, Any]) -> None:
        """Check the request on 1-based line ``number``: a :class:`Request` or the line's
        parsed object (``line`` is its JSON)."""
        scan = self._scan
        scan.lines = number
        scan.size += len(line) + 1
        if len(line) > scan.max_line:
            scan.max_line = len(line)
        scan.requests += 1
        if isinstance(request, Request):  # the runner's: no dict to build and read back
            scan.check_fields(number, request.custom_id, request.method, request.url, request.body)
        else:
            scan.check_request(number, request)

    def report(self) -> ValidationReport:
        """The problems found so far, and file-level checks (count, size, inputs)."""
        scan = self._scan
        if scan.size > scan.profile.max_file_bytes:
            scan.start(scan.size)
        return scan.finish()
