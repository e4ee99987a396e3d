#!/usr/bin/env python3
"""relay.py - a TCP relay for test_curve_wire.sh and test_worker_churn.sh: it listens on
127.0.0.1 (on PORT, or a free port; written to PORT_FILE once listening), forwards every
connection to TARGET (host:port) and appends every byte it forwards, in both directions, to
RECORD. It runs until it is killed; killed and started again on its old PORT, it makes an
endpoint that was briefly unreachable.

usage: relay.py PORT_FILE TARGET RECORD [PORT]
"""
import os
import socket
import sys
import threading


def pump(src, dst, record, lock):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            with lock:
                record.write(data)
                record.flush()
            dst.sendall(data)
    except OSError:
        pass
    finally:
        for s in (src, dst):
            try:
                s.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass


def main():
    port_file, target, record_path = sys.argv[1:4]
    own_port = int(sys.argv[4]) if len(sys.argv) > 4 else 0
    host, port = target.rsplit(":", 1)
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    # the old relay's connections may linger in TIME_WAIT on the port taken again
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", own_port))
    listener.listen(16)
    record = open(record_path, "ab")
    lock = threading.Lock()
    with open(port_file + ".tmp", "w", encoding="ascii") as f:
        f.write("%d\n" % listener.getsockname()[1])
    os.rename(port_file + ".tmp", port_file)
    while True:
        client, _ = listener.accept()
        try:
            upstream = socket.create_connection((host, int(port)))
        except OSError:
            client.close()
            continue
        for a, b in ((client, upstream), (upstream, client)):
            threading.Thread(target=pump, args=(a, b, record, lock), daemon=True).start()


if __name__ == "__main__":
    main()
