import { describe, expect, it } from "vitest";
import { forwardDevices } from "./forward-devices";

describe("forwardDevices: what another tool's network forwards over", () => {
  it("a hostdev pool's PF, a macvtap pool's interfaces, VFs by PCI address", () => {
    expect(forwardDevices("<network><name>p</name><forward mode='hostdev' managed='yes'><pf dev='enp3s0f0'/></forward></network>")).toEqual(
      {
        pfs: ["enp3s0f0"],
        interfaces: [],
        pciAddresses: [],
      },
    );
    expect(
      forwardDevices("<network><forward mode='passthrough' dev='eth1'><interface dev='eth1'/><interface dev='eth2'/></forward></network>")
        .interfaces,
    ).toEqual(["eth1", "eth1", "eth2"]);
    expect(
      forwardDevices(
        "<network><forward mode='hostdev'><address type='pci' domain='0x0000' bus='0x03' slot='0x10' function='0x1'/><address type='pci' domain='0' bus='0x4' slot='0x0' function='0x7'/></forward></network>",
      ).pciAddresses,
    ).toEqual(["0000:03:10.1", "0000:04:00.7"]);
  });
  it("nothing for a network without <forward> devices, or unparsable text", () => {
    expect(forwardDevices("<network><forward mode='nat'/></network>")).toEqual({ pfs: [], interfaces: [], pciAddresses: [] });
    expect(forwardDevices("<network>")).toEqual({ pfs: [], interfaces: [], pciAddresses: [] });
  });
});

describe("forwardDevices: edges of another tool's definition", () => {
  const devices = (forward: string) => forwardDevices(`<network><name>x</name><forward mode='hostdev'>${forward}</forward></network>`);
  it("one <interface> or one <address> alone is still read (not only lists of them)", () => {
    expect(devices("<interface dev='eth3'/>").interfaces).toEqual(["eth3"]);
    expect(devices("<address type='pci' domain='0x0000' bus='0x05' slot='0x00' function='0x2'/>").pciAddresses).toEqual(["0000:05:00.2"]);
  });
  it("elements without dev, and addresses of other buses, incomplete or negative, are skipped", () => {
    expect(devices("<pf/><interface/>")).toEqual({ pfs: [], interfaces: [], pciAddresses: [] });
    expect(
      devices(
        "<address type='usb' domain='0' bus='1' slot='2' function='3'/><address type='pci' domain='0' bus='1' slot='2'/><address type='pci' domain='0' bus='-1' slot='2' function='3'/>",
      ).pciAddresses,
    ).toEqual([]);
  });
  it("an address without a type is PCI; decimal parts are read as decimal, 0x parts as hex", () => {
    expect(devices("<address domain='0' bus='10' slot='0x1f' function='7'/>").pciAddresses).toEqual(["0000:0a:1f.7"]);
  });
});
