"""A closed-loop HTTP/1.1 load generator, run as a process of its own by
`benchmarks/authorize_http.py` (no wrk, oha or hey on the machine).

Reads its plan as JSON on stdin: host, port, the request's raw bytes (latin-1), connections,
warm-up and measured seconds, the server's pid and a byte string every answer's body must
hold. Each connection sends the same request, waits for the whole answer, and sends it again
(keep-alive, one request in flight per connection). Only answers completed inside the
measured window count. Writes JSON to stdout: answers per second, latency percentiles, the
answers that were not 200 or lacked the expected bytes, and the CPU seconds the server, this
process and the whole machine used in the window (what bounds the figure).

Raw asyncio protocols on uvloop: parsing an answer here costs a fraction of what producing it
costs a server, so one core of this keeps one core of a server busy.
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

import uvloop


@dataclass
class Tally:
    """What the connections share: whether to record, and what they recorded."""

    expect: bytes
    recording: bool = False
    stopping: bool = False
    latencies: list[float] = field(default_factory=list)
    failures: int = 0


class Connection(asyncio.Protocol):
    def __init__(self, request: bytes, tally: Tally) -> None:
        self.request = request
        self.tally = tally
        self.buffer = b""
        self.answer_length: int | None = None
        self.started = 0.0
        self.transport: asyncio.Transport | None = None
        self.closed = asyncio.get_running_loop().create_future()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is not a subclass
        self.send()

    def send(self) -> None:
        assert self.transport is not None
        self.started = time.perf_counter()
        self.transport.write(self.request)

    def data_received(self, data: bytes) -> None:
        self.buffer += data
        if self.answer_length is None:
            head_end = self.buffer.find(b"\r\n\r\n")
            if head_end < 0:
                return
            self.answer_length = head_end + 4 + content_length(self.buffer[:head_end])
        if len(self.buffer) < self.answer_length:
            return
        answer, self.buffer = self.buffer[: self.answer_length], self.buffer[self.answer_length :]
        self.answer_length = None
        self.record(answer, time.perf_counter() - self.started)
        if not self.tally.stopping:
            self.send()

    def record(self, answer: bytes, seconds: float) -> None:
        if not self.tally.recording:
            return
        self.tally.latencies.append(seconds)
        if not answer.startswith(b"HTTP/1.1 200 ") or self.tally.expect not in answer:
            self.tally.failures += 1

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.closed.done():
            self.closed.set_result(None)


def content_length(head: bytes) -> int:
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            return int(value)
    raise ValueError("an answer without Content-Length (this generator reads no chunks)")


def cpu_seconds_of(pid: int) -> float:
    """User + system CPU seconds of a process, all its threads."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def machine_busy_seconds() -> float:
    """Busy CPU seconds of the whole machine so far, summed over its cores."""
    user, nice, system, _idle, _iowait, irq, softirq, steal = (
        int(x) for x in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:9]
    )
    return (user + nice + system + irq + softirq + steal) / os.sysconf("SC_CLK_TCK")


def cpu_now(server_pid: int) -> tuple[float, float, float]:
    return cpu_seconds_of(server_pid), time.process_time(), machine_busy_seconds()


async def load(plan: dict[str, Any]) -> dict[str, Any]:
    loop = asyncio.get_running_loop()
    tally = Tally(expect=plan["expect"].encode())
    request = plan["request"].encode("latin-1")
    connections = []
    for _ in range(plan["connections"]):
        _, connection = await loop.create_connection(
            lambda: Connection(request, tally), plan["host"], plan["port"]
        )
        connections.append(connection)
    await asyncio.sleep(plan["warmup_seconds"])
    before, started = cpu_now(plan["server_pid"]), time.perf_counter()
    tally.recording = True
    await asyncio.sleep(plan["seconds"])
    tally.recording = False
    elapsed, after = time.perf_counter() - started, cpu_now(plan["server_pid"])
    tally.stopping = True
    for connection in connections:
        assert connection.transport is not None
        connection.transport.close()
    await asyncio.gather(*(c.closed for c in connections))
    return summary(tally, elapsed, [b - a for a, b in zip(before, after, strict=True)])


def summary(tally: Tally, elapsed: float, cpu: list[float]) -> dict[str, Any]:
    latencies = sorted(tally.latencies)
    percentiles = statistics.quantiles(latencies, n=100, method="inclusive")
    server, generator, machine = cpu
    return {
        "answers": len(latencies),
        "per_second": len(latencies) / elapsed,
        "p50_ms": percentiles[49] * 1e3,
        "p99_ms": percentiles[98] * 1e3,
        "max_ms": latencies[-1] * 1e3,
        "failures": tally.failures,
        # Cores each kept busy on average over the window.
        "server_cores": server / elapsed,
        "generator_cores": generator / elapsed,
        "others_cores": max(machine - server - generator, 0.0) / elapsed,
    }


def main() -> None:
    plan = json.load(sys.stdin)
    json.dump(uvloop.run(load(plan)), sys.stdout)


if __name__ == "__main__":
    main()
