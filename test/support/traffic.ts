/**
 * Real traffic helpers: a web server in a host's outside namespace that answers with the client address it sees,
 * and a TCP service (for a VM) that does the same, with its client.
 */
import { chmod, mkdir, writeFile } from "node:fs/promises";
import { join } from "node:path";
import type { NamespaceVm, SandboxHost } from "@netforge/sandbox";

const started = new WeakSet<SandboxHost>();

/** Start (once per host) busybox httpd on outsideAddress:8080 with /cgi-bin/ip printing REMOTE_ADDR. */
export async function startOutsideEcho(h: SandboxHost): Promise<string> {
  const url = `http://${h.outsideAddress}:8080/cgi-bin/ip`;
  if (started.has(h)) return url;
  const www = join(h.dir, "www-outside");
  await mkdir(join(www, "cgi-bin"), { recursive: true });
  await writeFile(join(www, "cgi-bin", "ip"), '#!/bin/sh\nprintf "Content-Type: text/plain\\r\\n\\r\\n%s\\n" "$REMOTE_ADDR"\n');
  await chmod(join(www, "cgi-bin", "ip"), 0o755);
  await h.execOutside(["busybox", "httpd", "-p", `${h.outsideAddress}:8080`, "-h", www]); // daemonizes; killed with the sandbox
  started.add(h);
  return url;
}

/** From a VM, ask the outside which source address it saw; null when unreachable. */
export async function sourceSeenOutside(h: SandboxHost, vm: NamespaceVm, timeoutMs = 5000): Promise<string | null> {
  const url = await startOutsideEcho(h);
  // No `wget -T`: Debian's busybox-static wget crashes with it; the exec timeout bounds the call instead.
  const r = await vm.exec(["busybox", "wget", "-q", "-O", "-", url], { reject: false, timeoutMs });
  return r.exitCode === 0 ? r.stdout.trim() : null;
}

const TCP_HELLO_SERVICE = `import socket, threading
t = socket.socket(); t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); t.bind(("0.0.0.0", 7000)); t.listen(16)
def serve(c, a):
    c.sendall(("tcp hello " + a[0] + "\\n").encode()); c.close()
while True:
    c, a = t.accept(); threading.Thread(target=serve, args=(c, a), daemon=True).start()
`;
const TCP_HELLO_CLIENT = `import socket, sys
s = socket.create_connection((sys.argv[1], int(sys.argv[2])), timeout=2); print(s.recv(1024).decode().strip())
`;

/**
 * Write into `dir` svc.py (a TCP service on port 7000 answering "tcp hello <client address>") and client.py
 * (`python3 client.py <address> <port>` prints the answer).
 */
export async function writeTcpHello(dir: string): Promise<void> {
  await mkdir(dir, { recursive: true });
  await writeFile(join(dir, "svc.py"), TCP_HELLO_SERVICE);
  await writeFile(join(dir, "client.py"), TCP_HELLO_CLIENT);
}

/**
 * A client of forwarded services (python3, IPv4 or IPv6): "tcp HOST PORT" prints the service's greeting, "udp HOST
 * PORT" its answer to a datagram; any other mode "MODE HOST PORT SECONDS [FILE]" keeps a connection busy for
 * SECONDS (touching FILE once connected) and prints "alive", or "cut" when the connection ends early.
 */
export const FORWARD_CLIENT_PY = `import socket, sys, time
mode, host, port = sys.argv[1], sys.argv[2], int(sys.argv[3])
if mode == "tcp":
    s = socket.create_connection((host, port), timeout=2); print(s.recv(1024).decode().strip())
elif mode == "udp":
    s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(2); s.sendto(b"ping", (host, port)); print(s.recv(1024).decode())
else:
    s = socket.create_connection((host, port), timeout=2); s.recv(1024); s.settimeout(2)
    if len(sys.argv) > 5: open(sys.argv[5], "w").close()
    end = time.time() + float(sys.argv[4])
    try:
        while time.time() < end:
            s.sendall(b"x"); d = s.recv(16)
            if not d: raise ConnectionError("closed")
            time.sleep(0.2)
        print("alive")
    except OSError:
        print("cut")
`;

/**
 * A TCP peer for counting a known amount (`python3 -c COUNTED_SERVER_PY <bind address> <port> <amount>`): a
 * connection that starts with "S" sends it bytes until EOF and gets their count back; one that starts with "R"
 * gets <amount> bytes, then EOF. Start it in the background (its pid to stop it by).
 */
export const COUNTED_SERVER_PY = `
import socket, sys, threading
amount = int(sys.argv[3])
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1); s.bind((sys.argv[1], int(sys.argv[2]))); s.listen(8)
def serve(c):
    mode = c.recv(1)
    if mode == b"S":
        n = 0
        while True:
            d = c.recv(65536)
            if not d: break
            n += len(d)
        c.sendall(str(n).encode())
    else:
        c.sendall(b"x" * amount)
    c.close()
while True:
    c, _ = s.accept(); threading.Thread(target=serve, args=(c,), daemon=True).start()
`;

/**
 * Its client (`python3 -c COUNTED_CLIENT_PY <address> <port> outbound|inbound <amount>`): sends <amount> bytes
 * (outbound) or reads until EOF (inbound); prints the bytes the receiver read.
 */
export const COUNTED_CLIENT_PY = `
import socket, sys
c = socket.create_connection((sys.argv[1], int(sys.argv[2])))
if sys.argv[3] == "outbound":
    c.sendall(b"S"); c.sendall(b"x" * int(sys.argv[4])); c.shutdown(socket.SHUT_WR)
    print(c.recv(64).decode())
else:
    c.sendall(b"R"); n = 0
    while True:
        d = c.recv(65536)
        if not d: break
        n += len(d)
    print(n)
`;

/** Start a counted-amount peer in the background by `run` (a namespace's exec); returns its pid. */
export async function startCountedServer(
  run: (argv: string[]) => Promise<{ stdout: string }>,
  bind: string,
  port: number,
  amount: number,
): Promise<string> {
  const r = await run([
    "sh",
    "-c",
    'python3 -c "$0" "$1" "$2" "$3" >/dev/null 2>&1 & echo $!',
    COUNTED_SERVER_PY,
    bind,
    String(port),
    String(amount),
  ]);
  return r.stdout.trim();
}

/**
 * The IP bytes an interface sent and received so far, from its own statistics (`ip -s -j link`): its bytes less
 * 14 (the Ethernet header) per packet. On a veth the statistics count each skb once, a GSO aggregate as one packet,
 * as nft's counters see them: the reference a traffic counter is held to (retransmissions and headers included).
 */
export async function interfaceIpBytes(
  run: (argv: string[]) => Promise<{ stdout: string }>,
  dev: string,
): Promise<{ tx: number; rx: number }> {
  type Stats = { bytes: number; packets: number };
  const [l] = JSON.parse((await run(["ip", "-s", "-j", "link", "show", "dev", dev])).stdout) as { stats64: { rx: Stats; tx: Stats } }[];
  if (!l) throw new Error(`no interface ${dev}`);
  return { tx: l.stats64.tx.bytes - 14 * l.stats64.tx.packets, rx: l.stats64.rx.bytes - 14 * l.stats64.rx.packets };
}
