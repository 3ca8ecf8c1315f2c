"""Load test of the web app: throughput, latency, errors and the server's peak memory.

Usage: python -m bench.load [--model models/model.onnx] [--requests 3000] [--clients 1 20 100] [--runs 3]
                            [--out bench] [--quick]

Starts the real server (`python -m tools.serve --port 0 --model MODEL`) and drives `POST /api/predict` from
client threads on this machine, each with its own keep-alive connection (http.client), so the figures include
the clients' own CPU time on the same cores. For each --clients level it sends --requests uploads of a 28x28
PNG digit and measures requests per second, median and p99 latency, errors (any answer but 200, or a failed
connection), the server's peak resident memory (VmHWM in /proc/PID/status, reset before each level) and the
CPU time per request of the server and of the clients (the work a request costs, apart from waiting).
Then two floods, each of 20 concurrent uploads: 7000x7000 RGBA PNGs (49 megapixels, 196 MB each decoded: refused
from their header, 400) and images at the pixel limit (decoded one at a time); the peak memory of each.
Each level and flood is run --runs times on the same server and the median of each figure is reported.
Then a soak (20,000 uploads from 8 clients: errors, and the server's memory before and after), and a flood of
600 slow clients trickling header bytes for 20 s while a normal client's uploads are timed (each given 1 s):
against the server alone (waitress), then through `python -m tools.serve --public PORT` (nginx in front, when
installed).
Writes OUT/load.json and OUT/load.md, naming the CPU: the figures hold for this machine only. --quick sends
a handful of requests with small floods: it checks that the script works (the test suite uses it); its
figures mean nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import http.client
import io
import select
import socket
import statistics
import subprocess
import sys
import threading
import time
import uuid
from datetime import date
from pathlib import Path

import numpy as np
import psutil
from PIL import Image

from classifier import environment, files, paths, transform
from tools import serve

# Issue 21's targets for the server on the ONNX model (no TensorFlow in the process)
TARGETS = {
    "requests_per_s_at_20": 600,
    "p99_ms_at_20": 50,
    "errors": 0,
    "flood_peak_mb": 1536,
    "first_answer_s": 2.0,
    "idle_mb": 250,
}
FLOOD_CLIENTS = 20
TRICKLE_EVERY_S = 1.0  # a slow client's pause between two header bytes
NORMAL_TIMEOUT_S = 1.0  # what a normal request gets during the slow-client flood (issue 24: 99% within 1 s)
SLOW_CONNECTIONS = 600
SLOW_SECONDS = 20.0
SOAK_REQUESTS = 20_000
SOAK_CLIENTS = 8
HUGE_SIDE = 7000


def png(image: Image.Image) -> bytes:
    out = io.BytesIO()
    image.save(out, format="PNG")
    return out.getvalue()


def small_digit() -> bytes:
    """A 28x28 PNG of a "1", as a client that already scaled its drawing would send."""
    digit = np.zeros((28, 28), np.uint8)
    digit[4:24, 12:16] = 255
    return png(Image.fromarray(digit))


def square_rgba(side: int) -> bytes:
    """A side x side RGBA PNG: transparent with a dark bar, a few hundred KB on the wire, 4 bytes a pixel decoded."""
    image = Image.new("RGBA", (side, side))
    image.paste((0, 0, 0, 255), (side // 2 - side // 40, side // 5, side // 2 + side // 40, side * 4 // 5))
    return png(image)


def multipart(data: bytes) -> tuple[bytes, str]:
    """A multipart/form-data body with the file field `image`, and its Content-Type."""
    boundary = uuid.uuid4().hex
    body = (
        (
            f'--{boundary}\r\nContent-Disposition: form-data; name="image"; filename="digit.png"\r\n'
            f"Content-Type: image/png\r\n\r\n"
        ).encode()
        + data
        + f"\r\n--{boundary}--\r\n".encode()
    )
    return body, f"multipart/form-data; boundary={boundary}"


class Server:
    """`python -m tools.serve --port 0 --model MODEL` in a child process, ready once it prints its URL; with
    `public`, `--public PUBLIC` instead: the app behind nginx on that port."""

    def __init__(self, model: Path, public: int | None = None):
        started = time.perf_counter()
        where = ["--public", str(public)] if public else ["--port", "0"]
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tools.serve", *where, "--model", str(model)],
            cwd=paths.ROOT,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        ready, _, _ = select.select([self.process.stdout], [], [], 180)
        line = self.process.stdout.readline() if ready else ""
        if not line.startswith("serving on http://"):
            self.process.kill()
            raise SystemExit(f"the server did not start: {line or self.process.stderr.read()[-2000:]}")
        host, port = line.split()[2].removeprefix("http://").rstrip("/").split(":")
        self.host, self.port = "127.0.0.1" if host == "0.0.0.0" else host, int(port)
        body, content_type = multipart(small_digit())
        results: list = []
        client(self, body, content_type, 1, results)
        self.first_answer_s = round(time.perf_counter() - started, 2)  # from the command to its first answer

    def memory_mb(self, field: str = "VmHWM") -> float:
        status = Path(f"/proc/{self.process.pid}/status").read_text()
        return round(int(status.split(f"{field}:")[1].split()[0]) / 1024, 1)

    def cpu_s(self) -> float:
        """The server's CPU time so far, user and system, in seconds."""
        times = psutil.Process(self.process.pid).cpu_times()
        return times.user + times.system

    def reset_peak_memory(self) -> None:
        """Writing 5 to clear_refs resets VmHWM to the current resident size (Linux 4.0+)."""
        Path(f"/proc/{self.process.pid}/clear_refs").write_text("5")

    def stop(self) -> None:
        self.process.terminate()
        self.process.wait(timeout=30)


def upload(connection: http.client.HTTPConnection, body: bytes, content_type: str) -> int:
    """POST one upload to /api/predict; the answer's status, or 0 when the connection failed or timed out."""
    try:
        connection.request("POST", "/api/predict", body, {"Content-Type": content_type})
        response = connection.getresponse()
        response.read()
        return response.status
    except (OSError, http.client.HTTPException):
        return 0


def client(server: Server, body: bytes, content_type: str, count: int, results: list) -> None:
    """Send `count` uploads over one keep-alive connection (a new one after a failure); append (seconds, status)
    per request, status 0 for a failed connection."""
    connection = http.client.HTTPConnection(server.host, server.port, timeout=120)
    for _ in range(count):
        started = time.perf_counter()
        status = upload(connection, body, content_type)
        if not status:
            connection.close()
            connection = http.client.HTTPConnection(server.host, server.port, timeout=120)
        results.append((time.perf_counter() - started, status))
    connection.close()


def drive(server: Server, data: bytes, clients: int, total: int) -> tuple[list[tuple[float, int]], float]:
    """`total` uploads of `data` spread over `clients` threads started together; the results and the wall time."""
    body, content_type = multipart(data)
    results: list[tuple[float, int]] = []
    shares = [total // clients + (i < total % clients) for i in range(clients)]
    threads = [threading.Thread(target=client, args=(server, body, content_type, share, results)) for share in shares]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, time.perf_counter() - started


def level(server: Server, clients: int, total: int) -> dict:
    """One load level: warm the connections up, reset the peak memory, then time `total` small uploads."""
    drive(server, small_digit(), clients, clients)
    server.reset_peak_memory()
    server_cpu, client_cpu = server.cpu_s(), time.process_time()
    results, wall = drive(server, small_digit(), clients, total)
    server_cpu, client_cpu = server.cpu_s() - server_cpu, time.process_time() - client_cpu
    latencies = np.array([seconds for seconds, _ in results]) * 1000
    return {
        "clients": clients,
        "requests": len(results),
        "requests_per_s": round(len(results) / wall, 1),
        "median_ms": round(float(np.median(latencies)), 1),
        "p99_ms": round(float(np.percentile(latencies, 99)), 1),
        "errors": sum(status != 200 for _, status in results),
        "peak_mb": server.memory_mb(),
        "server_cpu_ms": round(1000 * server_cpu / len(results), 2),
        "client_cpu_ms": round(1000 * client_cpu / len(results), 2),
    }


def flood(server: Server, data: bytes, clients: int, expected: int) -> dict:
    """`clients` concurrent uploads of `data`; the answers that were not `expected`, and the peak memory."""
    server.reset_peak_memory()
    results, wall = drive(server, data, clients, clients)
    return {
        "uploads": len(results),
        "upload_kb": round(len(data) / 1024),
        "wall_s": round(wall, 2),
        "unexpected": sum(status != expected for _, status in results),
        "peak_mb": server.memory_mb(),
    }


def soak(server: Server, clients: int, total: int) -> dict:
    """`total` small uploads from `clients` threads: the errors, and the server's resident memory before and after
    (a leak shows as drift)."""
    drive(server, small_digit(), clients, clients)
    before = server.memory_mb("VmRSS")
    results, wall = drive(server, small_digit(), clients, total)
    return {
        "requests": len(results),
        "clients": clients,
        "wall_s": round(wall, 1),
        "errors": sum(status != 200 for _, status in results),
        "rss_before_mb": before,
        "rss_after_mb": server.memory_mb("VmRSS"),
    }


def slow_clients(host: str, port: int, connections: int, seconds: float) -> dict:
    """For `seconds`, `connections` clients that each send a request line, then one header byte every
    TRICKLE_EVERY_S and never the end of the headers (reconnecting when the server closes them, so that their
    number holds), while one normal client sends small uploads one after another, each given NORMAL_TIMEOUT_S.
    Loopback only. Returns the normal requests (how many, the share answered within NORMAL_TIMEOUT_S, the p99)
    and the trickling connections (how many were opened, the longest one stayed open)."""
    stop_at = time.monotonic() + seconds
    lifetimes: list[float] = []

    async def trickle(delay: float) -> None:
        await asyncio.sleep(delay)  # spread over a second, as clients that come one by one
        while time.monotonic() < stop_at:
            opened = time.monotonic()
            try:
                reader, writer = await asyncio.open_connection(host, port)
            except OSError:
                await asyncio.sleep(0.1)
                continue
            try:
                writer.write(b"POST /api/predict HTTP/1.1\r\nHost: localhost\r\nX-Slow: ")
                while time.monotonic() < stop_at:
                    writer.write(b"x")
                    await writer.drain()
                    with contextlib.suppress(TimeoutError):
                        if not await asyncio.wait_for(reader.read(1024), TRICKLE_EVERY_S):
                            break  # closed by the server
            except OSError:
                pass
            finally:
                lifetimes.append(time.monotonic() - opened)
                writer.close()

    async def flood() -> None:
        await asyncio.gather(*(trickle(i / connections) for i in range(connections)))

    flooding = threading.Thread(target=asyncio.run, args=(flood(),))
    flooding.start()
    time.sleep(min(1.0, seconds / 4))  # the trickling connections open first
    body, content_type = multipart(small_digit())
    answers: list[tuple[float, int]] = []
    while time.monotonic() < stop_at - NORMAL_TIMEOUT_S:
        connection = http.client.HTTPConnection(host, port, timeout=NORMAL_TIMEOUT_S)
        started = time.perf_counter()
        status = upload(connection, body, content_type)
        answers.append((time.perf_counter() - started, status))
        connection.close()
        time.sleep(0.05)
    flooding.join()
    answered = [seconds for seconds, status in answers if status == 200 and seconds <= NORMAL_TIMEOUT_S]
    return {
        "connections": connections,
        "seconds": seconds,
        "normal_requests": len(answers),
        "answered_share": round(len(answered) / max(len(answers), 1), 4),
        "p99_ms": round(float(np.percentile([s for s, _ in answers], 99)) * 1000, 1) if answers else None,
        "trickling_opened": len(lifetimes),
        "longest_trickle_s": round(max(lifetimes, default=0.0), 1),
    }


def medians(runs: list[dict]) -> dict:
    """Each figure's median over the runs (counts such as errors: their maximum, so none is hidden)."""
    worst = {"errors", "unexpected"}
    return {key: (max if key in worst else statistics.median)(run[key] for run in runs) for key in runs[0]}


def behind_nginx(model: Path, slow_flood: tuple[int, float]) -> dict:
    """The slow-client flood through `python -m tools.serve --public` (nginx in front), with its first answer
    and nginx's own peak memory; or why it was not run."""
    if not serve.nginx_path():
        return {"skipped": "nginx is not installed (Debian's package nginx; `make test-deps` installs it)"}
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    server = Server(model, public=port)
    try:
        figures = slow_clients(server.host, server.port, *slow_flood)
        nginx = [p for p in psutil.Process(server.process.pid).children(recursive=True) if p.name() == "nginx"]
        figures["nginx_rss_mb"] = round(sum(p.memory_info().rss for p in nginx) / 2**20, 1)
        return {**figures, "first_answer_s": server.first_answer_s}
    finally:
        server.stop()


def measure(model: Path, clients: list[int], total: int, runs: int, quick: bool) -> dict:
    slow_flood = (50, 4.0) if quick else (SLOW_CONNECTIONS, SLOW_SECONDS)
    server = Server(model)
    try:
        first_answer_s = server.first_answer_s
        idle_mb = server.memory_mb("VmRSS")
        flood_clients = 2 if quick else FLOOD_CLIENTS
        at_limit = square_rgba(transform.MAX_SIDE)
        levels = {str(n): [level(server, n, max(total, n)) for _ in range(runs)] for n in clients}
        floods = {
            "huge_7000": [flood(server, square_rgba(HUGE_SIDE), flood_clients, 400) for _ in range(runs)],
            "at_pixel_limit": [flood(server, at_limit, flood_clients, 200) for _ in range(runs)],
        }
        soaked = soak(server, SOAK_CLIENTS, 200 if quick else SOAK_REQUESTS)
        slow = {"waitress alone": slow_clients(server.host, server.port, *slow_flood)}
    finally:
        server.stop()
    slow["through nginx (--public)"] = behind_nginx(model, slow_flood)
    env = environment.describe()
    return {
        "date": date.today().isoformat(),
        "quick": quick,
        "machine": f"{environment.summary(env)}",
        "model": shown(model),
        "runs": runs,
        "idle_mb": idle_mb,
        "first_answer_s": first_answer_s,
        "targets": TARGETS,
        "server": {"threads": serve.THREADS, "max_pixels": transform.MAX_PIXELS},
        "levels": {n: {**medians(r), "runs": r} for n, r in levels.items()},
        "floods": {name: {**medians(r), "clients": flood_clients, "runs": r} for name, r in floods.items()},
        "soak": soaked,
        "slow_clients": slow,
    }


def shown(path: Path) -> str:
    """The path relative to the project when it is inside it (models/model.onnx), else as given."""
    resolved = path.resolve()
    return str(resolved.relative_to(paths.ROOT)) if resolved.is_relative_to(paths.ROOT) else str(path)


def verdict(ok: bool) -> str:
    return "meets" if ok else "MISSES"


def markdown(r: dict) -> str:
    t, twenty = r["targets"], r["levels"].get("20")
    lines = [
        f"Load test of {r['date']} on {r['machine']}: `python -m tools.serve --model {r['model']}` "
        f"({r['server']['threads']} worker thread{'s' if r['server']['threads'] > 1 else ''}), clients on the "
        f"same machine; median of {r['runs']} runs{' (quick: figures meaningless)' if r['quick'] else ''}.",
        "",
        "| clients | requests | requests/s | median (ms) | p99 (ms) | errors | peak memory (MB) "
        "| CPU per request: server, clients (ms) |",
        "|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for n, f in r["levels"].items():
        lines.append(
            f"| {n} | {f['requests']} | {f['requests_per_s']} | {f['median_ms']} | {f['p99_ms']} "
            f"| {f['errors']} | {f['peak_mb']:.0f} | {f['server_cpu_ms']}, {f['client_cpu_ms']} |"
        )
    lines += [
        "",
        f"| flood ({r['floods']['huge_7000']['clients']} concurrent uploads) | upload size | wall (s) "
        "| unexpected answers | peak memory (MB) |",
        "|---|---:|---:|---:|---:|",
    ]
    names = {
        "huge_7000": f"{HUGE_SIDE}x{HUGE_SIDE} RGBA PNG (refused: over the pixel limit)",
        "at_pixel_limit": f"{transform.MAX_SIDE}x{transform.MAX_SIDE} RGBA PNG (at the limit: decoded)",
    }
    for name, f in r["floods"].items():
        lines.append(
            f"| {names[name]} | {f['upload_kb']} KB | {f['wall_s']} | {f['unexpected']} | {f['peak_mb']:.0f} |"
        )
    lines += [
        "",
        f"From `python -m tools.serve` to its first answer: {r['first_answer_s']} s "
        f"(target <= {t['first_answer_s']} s: {verdict(r['first_answer_s'] <= t['first_answer_s'])}). "
        f"Idle server after start-up and one answer: {r['idle_mb']:.0f} MB resident "
        f"(target <= {t['idle_mb']} MB: {verdict(r['idle_mb'] <= t['idle_mb'])}).",
    ]
    k = r["soak"]
    lines += [
        "",
        f"Soak: {k['requests']:,} uploads from {k['clients']} clients in {k['wall_s']} s: {k['errors']} errors; "
        f"the server's resident memory {k['rss_before_mb']:.0f} MB before, {k['rss_after_mb']:.0f} MB after "
        f"({k['rss_after_mb'] - k['rss_before_mb']:+.0f} MB).",
        "",
        f"Slow clients: {TRICKLE_EVERY_S:g} header byte per second each, never ending their headers (reconnecting "
        f"when closed), while one normal client sends uploads one after another, each given {NORMAL_TIMEOUT_S:g} s "
        "(target: 99% answered within it, the whole time).",
        "",
        "| server | trickling connections | for (s) | normal requests | answered within 1 s | p99 (ms) "
        "| longest a trickle stayed open (s) |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, f in r["slow_clients"].items():
        if "skipped" in f:
            lines.append(f"| {name} | skipped: {f['skipped']} | | | | | |")
            continue
        lines.append(
            f"| {name} | {f['connections']} | {f['seconds']:g} | {f['normal_requests']} "
            f"| {f['answered_share']:.1%} ({verdict(f['answered_share'] >= 0.99)}) | {f['p99_ms']} "
            f"| {f['longest_trickle_s']} |"
        )
    nginx = r["slow_clients"].get("through nginx (--public)", {})
    if "nginx_rss_mb" in nginx:
        lines += [
            "",
            f"Through nginx: first answer {nginx['first_answer_s']} s after the command; nginx's own resident "
            f"memory at the end of the flood {nginx['nginx_rss_mb']:.0f} MB.",
        ]
    if twenty:
        flood_peak = max(f["peak_mb"] for f in r["floods"].values())
        lines += [
            "",
            f"Targets at 20 clients: >= {t['requests_per_s_at_20']} requests/s "
            f"({verdict(twenty['requests_per_s'] >= t['requests_per_s_at_20'])}), "
            f"p99 <= {t['p99_ms_at_20']} ms ({verdict(twenty['p99_ms'] <= t['p99_ms_at_20'])}), "
            f"0 errors ({verdict(twenty['errors'] == 0)}); flood peak <= {t['flood_peak_mb']} MB "
            f"({verdict(flood_peak <= t['flood_peak_mb'])}).",
        ]
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, default=paths.ONNX_PATH)
    parser.add_argument("--requests", type=int, default=3000, help="uploads per level (default 3000)")
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 20, 100])
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--out", type=Path, default=paths.ROOT / "bench")
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    total = 20 if args.quick else args.requests
    results = measure(args.model, args.clients, total, 1 if args.quick else args.runs, args.quick)
    files.write_json(args.out / "load.json", results)
    files.write_text(args.out / "load.md", markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
