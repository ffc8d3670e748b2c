# Send one VXLAN datagram by hand, as a stranger on the underlay would: VXLAN header (flags 0x08, VNI) around an
# Ethernet frame to `dst_mac` carrying IPv4/UDP from 10.250.0.99 to `dst_ip`:9999. argv: underlay_dst vni dst_mac dst_ip
import socket, struct, sys

underlay_dst, vni, dst_mac, dst_ip = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]

def csum(b):
    if len(b) % 2:
        b += b"\0"
    s = sum(struct.unpack("!%dH" % (len(b) // 2), b))
    while s >> 16:
        s = (s & 0xFFFF) + (s >> 16)
    return ~s & 0xFFFF

payload = b"injected"
udp = struct.pack("!HHHH", 40000, 9999, 8 + len(payload), 0) + payload
src = socket.inet_aton("10.250.0.99")
dst = socket.inet_aton(dst_ip)
hdr = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0, src, dst)
hdr = hdr[:10] + struct.pack("!H", csum(hdr)) + hdr[12:]
eth = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex("024e46ffff99") + b"\x08\x00"
vxlan = struct.pack("!B3sI", 0x08, b"\0\0\0", vni << 8)
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.sendto(vxlan + eth + hdr + udp, (underlay_dst, 4789))
