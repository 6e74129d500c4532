"""SIGTERM under load: readiness drops, the daemon answers what it accepted and exits 0."""
import json
import signal
import threading
import time
import urllib.error
import urllib.request

from daemon_util import Daemon

BODY = json.dumps({"inputs": [{"name": n, "shape": [1, 16], "datatype": "INT32", "data": list(range(16))}
                              for n in ("INPUT0", "INPUT1")]}).encode()


def test_sigterm_under_load_exits_cleanly(repo):
    d = Daemon(repo, ["--exit-timeout-secs", "10"])
    url = f"http://{d.http_url}/v2/models/simple/infer"
    stop = threading.Event()
    results = {"ok": 0, "refused": 0, "bad": []}
    lock = threading.Lock()

    def client():
        while not stop.is_set():
            try:
                with urllib.request.urlopen(urllib.request.Request(url, data=BODY, method="POST"), timeout=10) as r:
                    body = json.loads(r.read())
                    ok = body["outputs"][0]["data"] == [2 * v for v in range(16)]
                    with lock:
                        if ok:
                            results["ok"] += 1
                        else:
                            results["bad"].append(body)
            except urllib.error.HTTPError as e:
                with lock:
                    if e.code == 503:
                        results["refused"] += 1
                    else:
                        results["bad"].append(e.code)
            except (urllib.error.URLError, ConnectionError, OSError):
                # After the listener closes, connections are refused: nothing was accepted.
                time.sleep(0.01)

    threads = [threading.Thread(target=client) for _ in range(4)]
    for t in threads:
        t.start()
    time.sleep(1.0)
    t0 = time.time()
    d.proc.send_signal(signal.SIGTERM)
    rc = d.proc.wait(timeout=30)
    stop.set()
    for t in threads:
        t.join()
    assert rc == 0, "".join(d.stderr_lines[-20:])
    assert time.time() - t0 < 10
    assert results["ok"] > 0
    assert results["bad"] == []
