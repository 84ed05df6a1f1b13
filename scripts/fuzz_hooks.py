"""Schemathesis hooks for scripts/fuzz-api: a check that no response shows
another tenant's data. EVENTFLOW_FUZZ_FORBIDDEN lists, comma-separated,
strings only the other tenant's objects contain (its namespace, a function
name, an env value)."""

import os

import schemathesis

FORBIDDEN = [s for s in os.environ.get("EVENTFLOW_FUZZ_FORBIDDEN", "").split(",") if s]


@schemathesis.check
def no_other_tenant_data(ctx, response, case):
    text = response.text or ""
    for marker in FORBIDDEN:
        if marker in text:
            raise AssertionError(
                f"{case.method} {case.formatted_path} answered with another tenant's data ({marker!r})"
            )


# Deliberate, documented refusals above 499: no cluster behind the server
# (`unavailable`), a function without a ready replica, or one that does not
# answer. Anything else at 5xx, and every 500, is a failure.
DELIBERATE_5XX = {"unavailable", "no_ready_replicas", "bad_gateway", "gateway_timeout"}


@schemathesis.check
def no_server_failure(ctx, response, case):
    if response.status_code < 500:
        return
    code = response.headers.get("x-eventflow-error", [""])
    code = code[0] if isinstance(code, list) else code
    if response.status_code == 500 or code not in DELIBERATE_5XX:
        raise AssertionError(
            f"{case.method} {case.formatted_path} answered {response.status_code} ({code or 'no platform error code'})"
        )
