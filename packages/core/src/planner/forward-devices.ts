/**
 * The host devices a libvirt network's <forward> names (any tool's network): the PFs of a hostdev pool
 * (<pf dev>), the interfaces of a macvtap/bridge pool (<forward dev>, <interface dev>) and the PCI
 * addresses of a hostdev pool given VF by VF (<address type='pci'>). netforge reads them to leave what
 * another tool's network holds alone; it never parses netforge's own metadata here.
 */
import { XMLParser } from "fast-xml-parser";

export interface ForwardDevices {
  /** <pf dev='...'>. */
  pfs: string[];
  /** <forward dev='...'> and <interface dev='...'>. */
  interfaces: string[];
  /** <address type='pci' .../> as sysfs names a PCI device: "0000:03:10.1". */
  pciAddresses: string[];
}

const parser = new XMLParser({
  ignoreAttributes: false,
  attributeNamePrefix: "@",
  removeNSPrefix: true,
  parseTagValue: false,
  parseAttributeValue: false,
  isArray: (name) => name === "pf" || name === "interface" || name === "address",
});

type Node = Record<string, unknown>;
const attr = (n: unknown, name: string): string | null =>
  n && typeof n === "object" && typeof (n as Node)[`@${name}`] === "string" ? ((n as Node)[`@${name}`] as string) : null;

/** "0x0000","0x03","0x10","0x1" -> "0000:03:10.1"; null when a part is not a number. */
function pciName(a: unknown): string | null {
  const parts = ["domain", "bus", "slot", "function"].map((k) => Number.parseInt(attr(a, k) ?? "", attr(a, k)?.startsWith("0x") ? 16 : 10));
  if (parts.some((p) => !Number.isInteger(p) || p < 0)) return null;
  const [d, b, s, f] = parts as [number, number, number, number];
  return `${d.toString(16).padStart(4, "0")}:${b.toString(16).padStart(2, "0")}:${s.toString(16).padStart(2, "0")}.${f.toString(16)}`;
}

/** What `xml` (a `virsh net-dumpxml`) forwards over; empty lists for an unparsable definition. */
export function forwardDevices(xml: string): ForwardDevices {
  let forward: unknown;
  try {
    forward = ((parser.parse(xml) as Node).network as Node | undefined)?.forward;
  } catch {
    forward = undefined;
  }
  const out: ForwardDevices = { pfs: [], interfaces: [], pciAddresses: [] };
  if (!forward || typeof forward !== "object") return out;
  const f = forward as Node;
  for (const p of (f.pf as unknown[] | undefined) ?? []) {
    const dev = attr(p, "dev");
    if (dev) out.pfs.push(dev);
  }
  const dev = attr(f, "dev");
  if (dev) out.interfaces.push(dev);
  for (const i of (f.interface as unknown[] | undefined) ?? []) {
    const d = attr(i, "dev");
    if (d) out.interfaces.push(d);
  }
  for (const a of (f.address as unknown[] | undefined) ?? []) {
    if ((attr(a, "type") ?? "pci") !== "pci") continue;
    const n = pciName(a);
    if (n) out.pciAddresses.push(n);
  }
  return out;
}
