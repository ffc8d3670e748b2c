#!/usr/bin/env python3
"""One ICMP echo request with Don't Fragment set (IP_PMTUDISC_DO), `size` data bytes, to `dst`: what ping -M do -s
does (busybox ping has no -M). Exit 0 and "reply <bytes>" when the echo reply came back within 2 s; 3 and "EMSGSIZE"
when the kernel refused to send it (larger than the path MTU it knows: the interface's); 2 and "timeout" otherwise."""
import errno
import os
import socket
import struct
import sys
import time

IP_MTU_DISCOVER = 10
IP_PMTUDISC_DO = 2


def checksum(b: bytes) -> int:
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack(f"!{len(b) // 2}H", b))
    s = (s >> 16) + (s & 0xFFFF)
    s += s >> 16
    return ~s & 0xFFFF


dst, size = sys.argv[1], int(sys.argv[2])
sock = socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP)
sock.setsockopt(socket.IPPROTO_IP, IP_MTU_DISCOVER, IP_PMTUDISC_DO)
ident = os.getpid() & 0xFFFF
payload = bytes((i & 0xFF for i in range(size)))
header = struct.pack("!BBHHH", 8, 0, 0, ident, 1)
packet = struct.pack("!BBHHH", 8, 0, checksum(header + payload), ident, 1) + payload
try:
    sock.sendto(packet, (dst, 0))
except OSError as e:
    if e.errno == errno.EMSGSIZE:
        print("EMSGSIZE")
        sys.exit(3)
    raise
deadline = time.monotonic() + 2
while time.monotonic() < deadline:
    sock.settimeout(max(0.01, deadline - time.monotonic()))
    try:
        data, addr = sock.recvfrom(65535)
    except socket.timeout:
        break
    ihl = (data[0] & 0x0F) * 4
    icmp = data[ihl:]
    if addr[0] == dst and icmp[0] == 0 and struct.unpack("!H", icmp[4:6])[0] == ident:
        print(f"reply {len(data)}")
        sys.exit(0)
print("timeout")
sys.exit(2)
