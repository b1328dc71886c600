#!/usr/bin/env python3
"""A VICI event listener written from strongSwan's VICI README (the packet and
message layout), for the daemon lab: registers for the events named on the
command line and prints each one as `EVENT name {json}` until SECONDS pass.

usage: vici-listen.py SOCKET SECONDS EVENT...
"""
import json
import socket
import struct
import sys
import time

CMD_REQUEST, CMD_RESPONSE, CMD_UNKNOWN = 0, 1, 2
EVENT_REGISTER, EVENT_UNREGISTER, EVENT_CONFIRM, EVENT_UNKNOWN, EVENT = 3, 4, 5, 6, 7
SECTION_START, SECTION_END, KEY_VALUE, LIST_START, LIST_ITEM, LIST_END = 1, 2, 3, 4, 5, 6


def read_exact(s, n):
    b = b""
    while len(b) < n:
        c = s.recv(n - len(b))
        if not c:
            raise EOFError
        b += c
    return b


def read_packet(s):
    (n,) = struct.unpack("!I", read_exact(s, 4))
    return read_exact(s, n)


def send_packet(s, body):
    s.sendall(struct.pack("!I", len(body)) + body)


def decode(b):
    """A message as nested dicts (sections), lists and strings."""
    root = {}
    stack = [root]
    lst = None
    i = 0
    while i < len(b):
        t = b[i]
        i += 1
        if t in (SECTION_START, KEY_VALUE, LIST_START):
            k = b[i + 1:i + 1 + b[i]].decode()
            i += 1 + b[i]
        if t == SECTION_START:
            d = {}
            stack[-1][k] = d
            stack.append(d)
        elif t == SECTION_END:
            stack.pop()
        elif t == KEY_VALUE:
            (n,) = struct.unpack("!H", b[i:i + 2])
            stack[-1][k] = b[i + 2:i + 2 + n].decode(errors="replace")
            i += 2 + n
        elif t == LIST_START:
            lst = []
            stack[-1][k] = lst
        elif t == LIST_ITEM:
            (n,) = struct.unpack("!H", b[i:i + 2])
            lst.append(b[i + 2:i + 2 + n].decode(errors="replace"))
            i += 2 + n
        elif t == LIST_END:
            lst = None
        else:
            raise ValueError("element type %d" % t)
    return root


def main():
    path, seconds, names = sys.argv[1], float(sys.argv[2]), sys.argv[3:]
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.connect(path)
    for n in names:
        send_packet(s, bytes([EVENT_REGISTER, len(n)]) + n.encode())
        p = read_packet(s)
        if p[0] != EVENT_CONFIRM:
            print("REGISTER %s refused (packet type %d)" % (n, p[0]), flush=True)
            return 1
    print("LISTENING %s" % " ".join(names), flush=True)
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        s.settimeout(max(0.1, deadline - time.monotonic()))
        try:
            p = read_packet(s)
        except socket.timeout:
            break
        if p[0] != EVENT:
            print("UNEXPECTED packet type %d" % p[0], flush=True)
            continue
        name = p[2:2 + p[1]].decode()
        msg = decode(p[2 + p[1]:])
        print("EVENT %s %s" % (name, json.dumps(msg, sort_keys=False)), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
