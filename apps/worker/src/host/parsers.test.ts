import { describe, expect, it } from "vitest";
import { occupiedByLinksAndRoutes, parseIpAddrJson } from "./ip";
import { classifyVirshError, parseNetList } from "./virsh";

describe("parseNetList", () => {
  it("reads name, state, autostart, persistent (names with spaces too)", () => {
    const out = parseNetList(
      " default   inactive   no          yes\n web       active     yes         yes\n my net    active     no          no\n\n",
    );
    expect(out).toEqual([
      { name: "default", active: false, autostart: false, persistent: true },
      { name: "web", active: true, autostart: true, persistent: true },
      { name: "my net", active: true, autostart: false, persistent: false },
    ]);
  });
});

describe("ip -j parsing", () => {
  const json = JSON.stringify([
    { ifname: "lo", link_type: "loopback", operstate: "UNKNOWN", addr_info: [{ family: "inet", local: "127.0.0.1", prefixlen: 8 }] },
    {
      ifname: "uplink0",
      address: "aa:bb:cc:dd:ee:ff",
      operstate: "UP",
      linkinfo: { info_kind: "veth" },
      addr_info: [
        { family: "inet", local: "198.51.100.2", prefixlen: 24 },
        { family: "inet6", local: "fe80::1", prefixlen: 64 },
      ],
    },
    {
      ifname: "nf-web",
      operstate: "UP",
      linkinfo: { info_kind: "bridge" },
      addr_info: [{ family: "inet", local: "10.9.0.1", prefixlen: 24 }],
    },
    { ifname: "vnet0", master: "nf-web", operstate: "UP", linkinfo: { info_kind: "tun" } },
    { ifname: "bond0.100", link: "bond0", operstate: "UP", linkinfo: { info_kind: "vlan" } },
  ]);
  it("keeps IPv4 addresses, kind and master", () => {
    const links = parseIpAddrJson(json);
    expect(links[1]).toEqual({
      name: "uplink0",
      kind: "veth",
      mac: "aa:bb:cc:dd:ee:ff",
      state: "up",
      master: null,
      addresses: ["198.51.100.2/24"],
      addresses6: [],
      mtu: null,
      adminUp: false,
      link: null,
    });
    expect(links[3]?.master).toBe("nf-web");
    // A VLAN's parent (its lower device), for the upper-device check of bridge networks.
    expect(links[4]?.link).toBe("bond0");
  });
  it("occupied subnets: interface subnets and routes, minus network bridges", () => {
    const occ = occupiedByLinksAndRoutes(
      parseIpAddrJson(json),
      [
        { dst: "203.0.113.0/24", dev: "uplink0" },
        { dst: "10.9.0.0/24", dev: "nf-web" },
      ],
      new Set(["nf-web"]),
    );
    expect(occ).toEqual([
      { owner: "interface lo", cidr: "127.0.0.0/8" },
      { owner: "interface uplink0", cidr: "198.51.100.0/24" },
      { owner: "route via uplink0", cidr: "203.0.113.0/24" },
    ]);
  });
});

describe("classifyVirshError", () => {
  const r = (stderr: string) => ({ stdout: "", stderr, exitCode: 1 });
  it("maps libvirt's messages to the error model", () => {
    expect(classifyVirshError(["net-info", "x"], r("error: Network not found: no network with matching name 'x'")).code).toBe("NOT_FOUND");
    expect(classifyVirshError(["net-define"], r("error: operation failed: network 'web' already exists with uuid 1")).code).toBe(
      "NAME_TAKEN",
    );
    expect(classifyVirshError(["net-start"], r("error: internal error: Network is already in use by interface eth0")).code).toBe(
      "CIDR_CONFLICT",
    );
    const other = classifyVirshError(["net-start", "web"], r("error: Failed to connect socket"));
    expect(other.code).toBe("HOST_COMMAND_FAILED");
    expect(other.retryable).toBe(true);
    expect(other.details.stderr).toContain("Failed to connect socket");
  });

  // Real stderr of `LC_ALL=C virsh net-define` (libvirt 9.0) for definitions libvirt itself refuses.
  it.each([
    [
      "a character XML 1.0 cannot carry (libxml2)",
      "error: Failed to define network from /tmp/nf-web.xml\nerror: (network_definition):7: Char 0xFFFF out of allowed range\n      <nf:description>a\uFFFFb</nf:description>\n---------------------^\n",
      "(network_definition):7: Char 0xFFFF out of allowed range",
    ],
    [
      "malformed XML (libxml2)",
      "error: Failed to define network from /tmp/nf-web.xml\nerror: (network_definition):1: Opening and ending tag mismatch: ip line 1 and network\n",
      "(network_definition):1: Opening and ending tag mismatch: ip line 1 and network",
    ],
    [
      "RNG validation",
      "error: Failed to define network from /tmp/nf-web.xml\nerror: XML document failed to validate against schema: Unable to validate doc against /usr/share/libvirt/schemas/network.rng\nElement network has extra content: bogus\n",
      "XML document failed to validate against schema: Unable to validate doc against /usr/share/libvirt/schemas/network.rng",
    ],
    [
      "libvirt's own config check",
      "error: Failed to define network from /tmp/nf-web.xml\nerror: unsupported configuration: Invalid IPv4 prefix '99' in network 'x'\n",
      "unsupported configuration: Invalid IPv4 prefix '99' in network 'x'",
    ],
    [
      "a malformed element",
      "error: Failed to define network from /tmp/nf-web.xml\nerror: internal error: malformed uuid element\n",
      "internal error: malformed uuid element",
    ],
  ])("libvirt refusing our XML (%s) is a permanent failure that names the reason", (_what, stderr, reason) => {
    const e = classifyVirshError(["net-define", "/tmp/nf-web.xml"], r(stderr));
    expect(e.code).toBe("HOST_COMMAND_FAILED");
    expect(e.retryable).toBe(false);
    expect(e.message).toBe(`libvirt refused the network definition: ${reason}`);
    expect(e.details).toMatchObject({ permanent: true, stderr: stderr.trim() });
  });

  it("keeps other net-define failures and the same words from other commands retryable", () => {
    const socket = classifyVirshError(
      ["net-define", "/tmp/x.xml"],
      r("error: failed to connect to the hypervisor\nerror: Failed to connect socket"),
    );
    expect(socket.retryable).toBe(true);
    const start = classifyVirshError(["net-start", "web"], r("error: Failed to start network web\nerror: unsupported configuration: x"));
    expect(start.retryable).toBe(true);
  });

  it("libvirt finding no usable VFs on a PF at start is SRIOV_UNAVAILABLE, not retried, with libvirt's reason", () => {
    const e = classifyVirshError(
      ["net-start", "fast"],
      r("error: Failed to start network fast\nerror: internal error: No usable Vf's present on SRIOV PF sr0"),
    );
    expect(e.code).toBe("SRIOV_UNAVAILABLE");
    expect(e.retryable).toBe(false);
    expect(e.message).toBe("libvirt could not start the SR-IOV pool: internal error: No usable Vf's present on SRIOV PF sr0");
    // The same words from another command stay what they were.
    expect(classifyVirshError(["net-define", "/tmp/x.xml"], r("error: No usable Vf's present on SRIOV PF sr0")).code).toBe(
      "HOST_COMMAND_FAILED",
    );
  });
});
