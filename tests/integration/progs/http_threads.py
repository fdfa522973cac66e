"""A thread-per-request server under load: http.server's ThreadingHTTPServer
answers a local client (four "client-N" threads, keep-alive off) for
REQUESTS requests; every request gets a short-lived handler thread
"Thread-N (process_request_thread)".

Usage: http_threads.py [REQUESTS]  (default 300)
Last stdout line: WORKLOAD-FACTS {json}: requests served, threads seen.
"""
import http.client
import http.server
import json
import os
import sys
import threading
import time

REQUESTS = int(sys.argv[1]) if len(sys.argv) > 1 else 300
CLIENTS = 4
served = []


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        body = b"x" * 512
        served.append(threading.current_thread().name)
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


def client(port, n):
    for _ in range(n):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
        conn.request("GET", "/")
        conn.getresponse().read()
        conn.close()


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    port = server.server_address[1]
    loop = threading.Thread(target=server.serve_forever, name="server")
    loop.start()
    start = time.perf_counter()
    clients = [threading.Thread(target=client, args=(port, REQUESTS // CLIENTS),
                                name=f"client-{i}") for i in range(CLIENTS)]
    for t in clients:
        t.start()
    for t in clients:
        t.join()
    elapsed = time.perf_counter() - start
    server.shutdown()
    loop.join()
    server.server_close()
    facts = {"workload": "http_threads", "pid": os.getpid(),
             "main_tid": threading.get_native_id(),
             "requests": CLIENTS * (REQUESTS // CLIENTS), "served": len(served),
             "handler_names": len(set(served)), "elapsed_s": elapsed}
    print("WORKLOAD-FACTS " + json.dumps(facts), flush=True)


if __name__ == "__main__":
    main()
