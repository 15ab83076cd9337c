"""Time served requests from inside one client: N GETs of the `vegas serve`
endpoint on one kept-alive connection, as an SDK refreshing credentials
makes them, without a process start per request.

Usage: serve_loop.py URL TOKEN_FILE N  →  prints "median_ms p90_ms N" and
fails unless every answer was 200 with the same credentials.
"""

import http.client
import statistics
import sys
import time
import urllib.parse


def main():
    url, token_file, runs = sys.argv[1], sys.argv[2], int(sys.argv[3])
    with open(token_file) as f:
        token = f.read().strip()
    parts = urllib.parse.urlsplit(url)
    conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    times, bodies = [], set()
    for _ in range(runs):
        started = time.perf_counter()
        conn.request("GET", parts.path, headers={"Authorization": token})
        answer = conn.getresponse()
        body = answer.read()
        times.append(time.perf_counter() - started)
        if answer.status != 200:
            sys.exit(f"serve_loop: status {answer.status}")
        bodies.add(body)
        # The server closes a connection idle longer than its header
        # timeout; back to back, one connection carries every request.
        if answer.getheader("connection", "").lower() == "close":
            conn.close()
            conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    if len(bodies) != 1:
        sys.exit("serve_loop: the answers differ")
    times.sort()
    p90 = times[int(len(times) * 0.9) - 1]
    print(f"{statistics.median(times) * 1000:.3f} {p90 * 1000:.3f} {runs}")


if __name__ == "__main__":
    main()
