"""A pod's workload: answers any HTTP request on port 80 like the seed's nettool image,

    PodName: evescn-qff5p | PodIP: eth0 10.0.2.210/32

With --world it is the lab's outside world instead, and says who it saw:

    World: 198.51.100.1 | ClientIP: 172.18.0.3

Standard library only: it runs inside the node (a Debian container or a namespace on the
host) and is copied there as one file. Usage:

    python3 responder.py cnilab-responder --name POD --ip 10.0.2.210/32 [--port 80] [--pidfile F] [--world]
"""

from __future__ import annotations

import os
import signal
import socket
import sys
import threading


def _response(body: bytes) -> bytes:
    return (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nConnection: close\r\n"
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def serve(name: str, ip: str, port: int, pidfile: str | None, world: bool = False) -> None:
    response = _response(f"PodName: {name} | PodIP: eth0 {ip}\n".encode())
    srv = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    srv.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    srv.bind(("0.0.0.0", port))
    srv.listen(128)
    # The pid file appears only once the port is bound: its presence means "ready".
    if pidfile:
        tmp = f"{pidfile}.tmp"
        with open(tmp, "w") as f:
            f.write(str(os.getpid()))
        os.rename(tmp, pidfile)

    def answer(conn: socket.socket, peer: str) -> None:
        reply = _response(f"World: {ip.split('/')[0]} | ClientIP: {peer}\n".encode()) if world else response
        with conn:
            conn.settimeout(5)
            try:
                data = b""
                while b"\r\n\r\n" not in data and b"\n\n" not in data and len(data) < 65536:
                    chunk = conn.recv(4096)
                    if not chunk:
                        break
                    data += chunk
                conn.sendall(reply)
            except OSError:
                pass

    signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    while True:
        conn, peer = srv.accept()
        threading.Thread(target=answer, args=(conn, peer[0]), daemon=True).start()


USAGE = "usage: responder.py cnilab-responder --name NAME --ip IP/LEN [--port 80] [--pidfile FILE] [--world]"


def parse(argv: list[str]) -> dict:
    """The command line, without argparse: a node starts one of these per pod, and argparse
    (with re, gettext, shutil) is most of a responder's start-up time."""
    opts: dict = {"mark": None, "name": None, "ip": None, "port": "80", "pidfile": None, "world": False}
    args = list(argv)
    while args:
        a = args.pop(0)
        if a == "--world":
            opts["world"] = True
        elif a.startswith("--") and "=" in a and a[2:].split("=", 1)[0] in ("name", "ip", "port", "pidfile"):
            key, value = a[2:].split("=", 1)
            opts[key] = value
        elif a in ("--name", "--ip", "--port", "--pidfile") and args:
            opts[a[2:]] = args.pop(0)
        elif not a.startswith("--") and opts["mark"] is None:
            opts["mark"] = a
        else:
            raise SystemExit(f"{USAGE}\nresponder.py: unexpected argument {a!r}")
    if not (opts["mark"] and opts["name"] and opts["ip"]) or not opts["port"].isdigit():
        raise SystemExit(USAGE)
    opts["port"] = int(opts["port"])
    return opts


def main() -> None:
    if any(a in ("-h", "--help") for a in sys.argv[1:]):
        print(USAGE)
        return
    a = parse(sys.argv[1:])
    serve(a["name"], a["ip"], a["port"], a["pidfile"], a["world"])


if __name__ == "__main__":
    main()
