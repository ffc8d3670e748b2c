/**
 * libvirt refusing a definition we hand it is a permanent failure, proven with
 * the real virsh and libvirt's own XML parser: the `test:///default` driver
 * runs inside the virsh process, so no daemon, sandbox host or lock is needed.
 * The XML is written by hand here, because the API and the renderer now refuse
 * what would produce it: this is the last line of defence, for a definition
 * that gets past both (an old record, a renderer bug).
 */
import { AppError } from "@netforge/core/contract";
import { renderNetworkXml } from "@netforge/core/model";
import { afterAll, describe, expect, it } from "vitest";
import { ExecaRunner } from "@netforge/worker";
import { Virsh } from "@netforge/worker/testing";

const virsh = new Virsh(new ExecaRunner(), "test:///default");
afterAll(() => virsh.close());

const xml = (name: string, description: string, prefix = 24) =>
  `<network>
  <name>${name}</name>
  <metadata><nf:network xmlns:nf="https://netforge.dev/xmlns/network/1"><nf:description>${description}</nf:description></nf:network></metadata>
  <bridge name="nf-${name}"/>
  <ip address="10.77.0.1" prefix="${prefix}"/>
</network>
`;

async function defineError(doc: string): Promise<AppError> {
  try {
    await virsh.define(doc);
  } catch (e) {
    return e as AppError;
  }
  throw new Error("expected net-define to fail");
}

describe("virsh net-define refusing our XML", () => {
  it("a character XML cannot carry: permanent, with libxml2's reason", async () => {
    const e = await defineError(xml("bad-char", "a\uFFFFb"));
    expect(e).toBeInstanceOf(AppError);
    expect(e.code).toBe("HOST_COMMAND_FAILED");
    expect(e.retryable).toBe(false);
    expect(e.message).toMatch(/^libvirt refused the network definition: \(network_definition\):\d+: Char 0xFFFF out of allowed range$/);
    expect(e.details).toMatchObject({ permanent: true });
  });

  it("a value libvirt's own checks refuse: permanent", async () => {
    const e = await defineError(xml("bad-prefix", "ok", 99));
    expect(e.retryable).toBe(false);
    expect(e.message).toContain("unsupported configuration: Invalid IPv4 prefix '99'");
  });

  it("what the renderer writes is defined (the control case)", async () => {
    await virsh.define(
      renderNetworkXml({
        name: "good",
        type: "nat",
        uuid: "3e3fce45-4f53-4fa7-bb32-11f34168329c",
        description: "frontend VMs — 東京 😀",
        cidr: "10.77.0.0/24",
        gateway: "10.77.0.1",
        dhcp: { enabled: true, start: "10.77.0.128", end: "10.77.0.254", leaseTime: 3600 },
        bridge: "nf-good",
        createdAt: "2026-11-28T00:00:00.000Z",
        reservations: [],
      }),
    );
  });
});
