"""One measurement in a fresh interpreter, as Lambda runs a handler: `python -I -S -B probe.py ...`.

Standard library only, and nothing imported before the clock starts but `sys` and `time`
(both loaded with the interpreter): the handler module's import pays for everything it
needs, as in Lambda. `-I -S` keeps site-packages, the user's directories and PYTHON*
variables out; `-B` keeps it from writing bytecode into the asset (Lambda's /var/task is
read-only). Arguments, plain strings so that nothing needs parsing before the import:

    init MODULE ATTRIBUTE PATH[:PATH...] [EVENT_FILE]
    warm MODULE ATTRIBUTE PATH[:PATH...] SPEC_JSON

PATH: the directories put first on sys.path (the asset, the case's own directory). `init`
reports the import's wall and CPU time (ms), the peak RSS after it (KiB) and, given an
event, the time of the first call (ms). The calls run with logging as Lambda's runtime sets
it up for the template's JSON log format (the root logger at INFO, stdout flushed on each
write, into /dev/null here). `warm` loads more handlers into the same process
(SPEC: {"more_modules": [...], "targets": [{"key", "module", "event"}], "warmup",
"batches", "batch_size"}), calls each target `warmup` times, then interleaves batches of
calls and reports the median time of one call per target (µs). One JSON line on stdout.
"""

import sys
import time

started_wall = time.perf_counter()
started_cpu = time.process_time()

mode, module_name, attribute, paths = sys.argv[1:5]
sys.path[:0] = paths.split(":")
handler = getattr(__import__(module_name, fromlist=[attribute]), attribute)
init_wall_ms = (time.perf_counter() - started_wall) * 1000
init_cpu_ms = (time.process_time() - started_cpu) * 1000

# Only after the clock stopped.
import json  # noqa: E402
import resource  # noqa: E402
import statistics  # noqa: E402
from typing import Any  # noqa: E402


def peak_rss_kib() -> int:
    """This process's peak resident set size.

    `ru_maxrss` survives exec on Linux: a child forked from a larger parent reports the
    parent's peak. The kernel's high-water mark of this process's own memory does not.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def load_event(path: str) -> dict[str, Any]:
    with open(path) as file:
        event: dict[str, Any] = json.load(file)
    return event


result: dict[str, Any] = {"init_wall_ms": init_wall_ms, "init_cpu_ms": init_cpu_ms, "rss_init_kib": peak_rss_kib()}


class Unbuffered:
    """stdout as Lambda's runtime interface client (awslambdaric) replaces it: flushed on every write."""

    def __init__(self, stream: Any) -> None:
        self.stream = stream

    def write(self, text: str) -> int:
        written: int = self.stream.write(text)
        self.stream.flush()
        return written

    def flush(self) -> None:
        self.stream.flush()


# Logging as Lambda's runtime sets it up before it imports the handler, for a function with the
# JSON log format at ApplicationLogLevel INFO (the template's): the root logger at INFO, stdout
# unbuffered. So the calls pay for what the functions write to their log, as in Lambda; here it
# goes to /dev/null. Only after the clock stopped: the runtime's own setup is not the init's.
import logging  # noqa: E402
import os  # noqa: E402

logging.getLogger().setLevel(logging.INFO)
result_stdout = sys.stdout
sys.stdout = Unbuffered(open(os.devnull, "w"))  # noqa: SIM115 - for the process's life

if mode == "init" and len(sys.argv) > 5:
    event = load_event(sys.argv[5])
    begun = time.perf_counter()
    answer = handler(event, None)
    result["first_call_ms"] = (time.perf_counter() - begun) * 1000
    result["first_call_status"] = answer.get("statusCode")

if mode == "warm":
    # The handlers share this process and their calls are interleaved in batches, so that
    # whatever else the machine does slows each of them alike.
    spec = json.loads(sys.argv[5])
    handlers = {module_name: handler}
    for extra in spec.get("more_modules", []):
        handlers[extra] = getattr(__import__(extra, fromlist=[attribute]), attribute)
    targets = []
    for target in spec["targets"]:
        event = load_event(target["event"])
        call = handlers[target["module"]]
        answer = call(event, None)
        if answer.get("statusCode") != 200:
            raise SystemExit(f"{target['key']} answered {answer.get('statusCode')}: {answer.get('body')}")
        for _ in range(spec["warmup"]):
            call(event, None)
        targets.append((target["key"], call, event))
    clock = time.perf_counter_ns
    times: dict[str, list[int]] = {key: [] for key, _, _ in targets}
    for _ in range(spec["batches"]):
        for key, call, event in targets:
            batch = times[key]
            for _ in range(spec["batch_size"]):
                begun_ns = clock()
                call(event, None)
                batch.append(clock() - begun_ns)
    result["per_call_us"] = {key: statistics.median(values) / 1000 for key, values in times.items()}
    result["rss_warm_kib"] = peak_rss_kib()

sys.stdout = result_stdout
print(json.dumps(result))
