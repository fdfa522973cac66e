"""Downloading pages with threads: the waits for the network overlap.

Scenario
    A local http.server.ThreadingHTTPServer on 127.0.0.1 (random free port)
    stands in for a slow web site: its handler sleeps a known delay before
    answering.  Four "downloader-N" threads fetch 12 pages with urllib and
    put them on a queue.Queue; one "display" thread takes them off the queue
    and prints their sizes.  A Python learner is taught the classic
    producer/consumer pattern and that threads make I/O-bound programs
    faster: 12 delays of 0.3 s take about 3 x 0.3 s, not 12 x 0.3 s.

What a correct trace shows
    Downloaders spend almost all their time off CPU blocked in recv() on
    their socket (GIL released), four at a time; each server "handler-N"
    thread sleeps delay_s; "display" blocks in queue.get() (a lock wait)
    between pages; "server" wakes from select() every 0.5 s (the
    serve_forever poll interval).  Little CPU and no meaningful GIL contention; elapsed_s
    is far below sum_delays_s.

Usage
    /usr/bin/python3 web_fetch.py [SIZE]

    SIZE (float, default 1.0) scales the server delay: 0.3 s x SIZE per
    request.  Always 12 requests, 4 downloaders, only 127.0.0.1; the
    server is shut down at the end and the program exits by itself.

Last stdout line: WORKLOAD-FACTS {json} with delay per request, pages,
elapsed vs. sum of delays, each request's measured time, and the tids.
"""
import http.server
import json
import os
import queue
import sys
import threading
import time
import urllib.request

PAGES = 12
DOWNLOADERS = 4


def main():
    size = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    delay = round(0.3 * size, 6)
    tids = {}
    lock = threading.Lock()          # guards tids and the handler counter
    handler_count = 0

    def remember_tid():
        with lock:  # waits: Lock
            tids[threading.current_thread().name] = threading.get_native_id()

    class SlowHandler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            nonlocal handler_count
            with lock:               # ThreadingHTTPServer: one thread per request (waits: Lock)
                handler_count += 1
                threading.current_thread().name = f"handler-{handler_count}"
            remember_tid()
            time.sleep(delay)        # the "slow network"
            page = int(self.path.strip("/"))
            body = b"x" * (1000 * page)
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args):  # keep stderr quiet
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), SlowHandler)
    server_thread = threading.Thread(target=server.serve_forever, name="server")
    server_thread.start()  # waits: Event
    base = f"http://127.0.0.1:{server.server_address[1]}/"
    opener = urllib.request.build_opener(urllib.request.ProxyHandler({}))  # no proxies

    pages = queue.Queue()
    request_s = {}

    def downloader(my_pages):
        remember_tid()
        for page in my_pages:
            t0 = time.perf_counter()
            with opener.open(base + str(page), timeout=30) as response:
                body = response.read()
            request_s[page] = time.perf_counter() - t0
            pages.put((page, len(body)))

    def display():
        remember_tid()
        for _ in range(PAGES):
            page, nbytes = pages.get()  # waits: Queue
            print(f"page {page:2d}: {nbytes} bytes", flush=True)

    workers = [threading.Thread(target=downloader, name=f"downloader-{i}",
                                args=(range(i + 1, PAGES + 1, DOWNLOADERS),))
               for i in range(DOWNLOADERS)]
    workers.append(threading.Thread(target=display, name="display"))
    start = time.perf_counter()
    for t in workers:
        t.start()  # waits: Event
    for t in workers:
        t.join()  # waits: join
    elapsed = time.perf_counter() - start
    server.shutdown()  # waits: Event
    server.server_close()  # waits: join
    server_thread.join()  # waits: join
    tids["server"] = server_thread.native_id
    print(f"{PAGES} pages in {elapsed:.2f} s (sum of delays {PAGES * delay:.2f} s)")

    facts = {
        "workload": "web_fetch",
        "pid": os.getpid(),
        "main_tid": threading.get_native_id(),
        "size": size,
        "port": server.server_address[1],
        "pages": PAGES,
        "downloaders": DOWNLOADERS,
        "delay_s": delay,
        "sum_delays_s": round(PAGES * delay, 6),
        "elapsed_s": elapsed,
        "request_s": {str(p): request_s[p] for p in sorted(request_s)},
        "tids": tids,
    }
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    import wait_sites  # what the workload says about its own waits
    wait_sites.announce()
    main()
