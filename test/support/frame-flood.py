# Send `count` Ethernet frames to `dst_mac` out of `iface` as fast as one process can (a VM flooding the segment),
# from the interface's own MAC, EtherType 0x88b5 (local experimental), 46 bytes of payload. argv: iface dst_mac count
import socket, sys

iface, dst_mac, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
src = open(f"/sys/class/net/{iface}/address").read().strip()
frame = bytes.fromhex(dst_mac.replace(":", "")) + bytes.fromhex(src.replace(":", "")) + b"\x88\xb5" + b"\x00" * 46
s = socket.socket(socket.AF_PACKET, socket.SOCK_RAW)
s.bind((iface, 0))
sent = 0
while sent < count:
    try:
        s.send(frame)
        sent += 1
    except BlockingIOError:
        pass
print(sent)
