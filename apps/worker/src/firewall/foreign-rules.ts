/**
 * Drop and reject RULES of other firewalls that hit netforge's traffic (pure).
 *
 * nft evaluates every base chain of a hook, so a drop in another table (or in
 * iptables, nft- or legacy-backed) wins over our accept. Policies are found by
 * nftables.ts; this finds explicit rules: in every foreign base chain on the
 * `forward` or `input` hook (and the chains it jumps to), each drop/reject
 * rule is matched against "probes" standing for netforge's traffic:
 * - forward, per nat network: from its VMs (in: its bridge, source in its
 *   subnet, out: any other interface) and to them (out: its bridge,
 *   destination in its subnet: port forwards and replies);
 * - input, per nat/isolated network: DHCP/DNS from its bridge (udp 53, 67, tcp 53).
 * A rule hits a probe unless one of its matches excludes it (another
 * interface, a disjoint address range, other ports, `ct state invalid`).
 * Matches we cannot read (iptables extensions shown as `xt`) are assumed to
 * match: a warning too many beats a silent drop. An earlier `accept` that
 * takes all of a probe's traffic (it matches only on interfaces and addresses
 * that every such packet has: `iifname "nf-*" accept`) takes the probe out of
 * the rest of the chain, so a host firewall that already lets netforge's
 * bridges through is not reported.
 *
 * Input comes from two parsers into one model: `nft -j list ruleset`
 * (rulesFromNftJson) and `iptables-legacy-save -t filter` (rulesFromIptablesSave).
 */
import { parseIPv4, prefixToMask } from "@netforge/core/contract";
import { NFT_FAMILY, NFT_TABLE } from "@netforge/core/model";

export interface NameMatch {
  neg: boolean;
  /** Interface names; a trailing `*` is a prefix wildcard. */
  names: string[];
}
export interface AddrMatch {
  neg: boolean;
  /** Addresses and CIDRs; null when some element could not be read (then the match is assumed to hit). */
  cidrs: string[] | null;
}
export interface PortMatch {
  neg: boolean;
  proto: "tcp" | "udp" | null;
  ranges: [number, number][];
}
export type Verdict = "drop" | "reject" | "accept" | "return" | "continue" | { jump: string } | { goto: string };

export interface FwRule {
  iif?: NameMatch;
  oif?: NameMatch;
  saddr?: AddrMatch;
  daddr?: AddrMatch;
  proto?: { neg: boolean; protos: string[] };
  dport?: PortMatch;
  /** `ct state invalid` (and nothing else of ct state): never a packet of an allowed connection. */
  ctInvalidOnly?: boolean;
  /** Matches or statements beyond the ones above (read or not): the rule is not a pure interface accept. */
  other: string[];
  verdict: Verdict;
}
export interface FwChain {
  name: string;
  hook?: string;
  policy?: string;
  rules: FwRule[];
}
export interface FwTable {
  /** How the warning names it: `table ip filter`, `iptables-legacy table filter`. */
  label: string;
  chains: Map<string, FwChain>;
}
/** What the probes need of a netforge network. */
export interface ProbeNetwork {
  name: string;
  /** Its VMs reach beyond their bridge (FirewallNetwork.reachOutside): the forward hook must let them. */
  reachOutside: boolean;
  bridge: string;
  cidr: string;
  /** Still on libvirt's own NAT rules (legacy-nat.ts): libvirt's chains (LIBVIRT_*) are its firewall, not a foreign one. */
  libvirtNat?: boolean;
}

type Iface = { bridge: string } | "other" | "none";
/** An address side of a probe: in a subnet, outside it (`not`), or anything (null). */
type Side = { in: string } | { not: string } | null;
interface Probe {
  net: string;
  libvirtNat: boolean;
  what: string;
  iif: Iface;
  oif: Iface;
  saddr: Side;
  daddr: Side;
  flows: { proto: string; port: number }[] | null;
}

function probesFor(hook: string, nets: readonly ProbeNetwork[]): Probe[] {
  const out: Probe[] = [];
  for (const n of nets) {
    const of = { net: n.name, libvirtNat: n.libvirtNat === true };
    if (hook === "forward" && n.reachOutside) {
      out.push({
        ...of,
        what: "traffic from its VMs",
        iif: { bridge: n.bridge },
        oif: "other",
        saddr: { in: n.cidr },
        daddr: { not: n.cidr },
        flows: null,
      });
      out.push({
        ...of,
        what: "traffic to its VMs (port forwards, replies)",
        iif: "other",
        oif: { bridge: n.bridge },
        saddr: { not: n.cidr },
        daddr: { in: n.cidr },
        flows: null,
      });
    } else if (hook === "input") {
      out.push({
        ...of,
        what: "DHCP/DNS from its VMs to the host",
        iif: { bridge: n.bridge },
        oif: "none",
        saddr: null,
        daddr: null,
        flows: [
          { proto: "udp", port: 53 },
          { proto: "udp", port: 67 },
          { proto: "tcp", port: 53 },
        ],
      });
    }
  }
  return out;
}

const glob = (pattern: string, name: string) => (pattern.endsWith("*") ? name.startsWith(pattern.slice(0, -1)) : pattern === name);

function nameAdmits(m: NameMatch | undefined, v: Iface): boolean {
  if (!m) return true;
  if (v === "none") return m.neg; // no such interface (oifname in the input hook is empty)
  // "other": the host's way out. Not a netforge bridge, and not one of libvirt's own networks (virbr*: libvirt's
  // rejects for them, in LIBVIRT_FWI/FWO, are about those networks, and every host with `default` has them).
  if (v === "other") return m.neg || m.names.some((p) => !p.startsWith("nf-") && !p.startsWith("virbr"));
  const hit = m.names.some((p) => glob(p, v.bridge));
  return m.neg ? !hit : hit;
}

/** [first, last] of "a.b.c.d" or "a.b.c.d/n" (host bits ignored), null when it is neither. */
function range(s: string): [number, number] | null {
  const m = /^([0-9.]{7,15})(?:\/(\d{1,2}))?$/.exec(s);
  const addr = m ? parseIPv4(m[1] as string) : null;
  const prefix = m?.[2] !== undefined ? Number(m[2]) : 32;
  if (addr === null || prefix > 32) return null;
  const mask = prefixToMask(prefix);
  const lo = (addr & mask) >>> 0;
  return [lo, (lo | (~mask >>> 0)) >>> 0];
}

function addrAdmits(m: AddrMatch | undefined, side: Side): boolean {
  if (!m || side === null || m.cidrs === null) return true;
  const mine = range("in" in side ? side.in : side.not);
  const ranges = m.cidrs.map(range);
  if (!mine || ranges.some((r) => r === null)) return true;
  const [lo, hi] = mine;
  const rs = ranges as [number, number][];
  if ("not" in side) {
    // Addresses outside the subnet: a positive match hits unless all its ranges lie inside the subnet; a negated
    // one would have to exclude the whole rest of the address space.
    return m.neg ? true : rs.some(([a, b]) => a < lo || b > hi);
  }
  // Negated: excluded only when the whole subnet is inside one of the ranges. Otherwise: any overlap hits.
  return m.neg ? !rs.some(([a, b]) => a <= lo && b >= hi) : rs.some(([a, b]) => a <= hi && b >= lo);
}

function flowAdmits(r: FwRule, flows: Probe["flows"]): boolean {
  if (flows === null) return true;
  return flows.some((f) => {
    if (r.proto && r.proto.protos.includes(f.proto) === r.proto.neg) return false;
    if (r.dport) {
      if (r.dport.proto !== null && r.dport.proto !== f.proto) return false;
      const inside = r.dport.ranges.some(([a, b]) => f.port >= a && f.port <= b);
      if (inside === r.dport.neg) return false;
    }
    return true;
  });
}

function admits(r: FwRule, p: Probe): boolean {
  return (
    !r.ctInvalidOnly &&
    nameAdmits(r.iif, p.iif) &&
    nameAdmits(r.oif, p.oif) &&
    addrAdmits(r.saddr, p.saddr) &&
    addrAdmits(r.daddr, p.daddr) &&
    flowAdmits(r, p.flows)
  );
}

/** A rule as nft would print it (near enough to find it in a listing). */
export function describeRule(r: FwRule): string {
  const parts: string[] = [];
  const names = (k: string, m?: NameMatch) => {
    if (m)
      parts.push(
        `${k} ${m.neg ? "!= " : ""}${m.names.length === 1 ? `"${m.names[0]}"` : `{ ${m.names.map((n) => `"${n}"`).join(", ")} }`}`,
      );
  };
  const addrs = (k: string, m?: AddrMatch) => {
    if (m)
      parts.push(
        `ip ${k} ${m.neg ? "!= " : ""}${m.cidrs === null ? "(...)" : m.cidrs.length === 1 ? m.cidrs[0] : `{ ${m.cidrs.join(", ")} }`}`,
      );
  };
  names("iifname", r.iif);
  names("oifname", r.oif);
  addrs("saddr", r.saddr);
  addrs("daddr", r.daddr);
  if (r.proto) parts.push(`meta l4proto ${r.proto.neg ? "!= " : ""}${r.proto.protos.join(",")}`);
  if (r.dport) {
    const ports = r.dport.ranges.map(([a, b]) => (a === b ? `${a}` : `${a}-${b}`));
    parts.push(`${r.dport.proto ?? "th"} dport ${r.dport.neg ? "!= " : ""}${ports.length === 1 ? ports[0] : `{ ${ports.join(", ")} }`}`);
  }
  if (r.ctInvalidOnly) parts.push("ct state invalid");
  parts.push(...r.other);
  const v = r.verdict;
  parts.push(typeof v === "string" ? v : "jump" in v ? `jump ${v.jump}` : `goto ${v.goto}`);
  return parts.join(" ");
}

/**
 * Whether an accept rule takes all of a probe's traffic: it matches only on interfaces and addresses, each of
 * which holds for every packet of the probe (`iifname "nf-web" ip saddr 10.70.0.0/24 accept`, as libvirt's own
 * LIBVIRT_FWO has it, or `iifname "nf-*" accept`).
 */
function covers(r: FwRule, p: Probe): boolean {
  if (r.proto || r.dport || r.ctInvalidOnly || r.other.length > 0) return false;
  const name = (m: NameMatch | undefined, v: Iface) => !m || (!m.neg && typeof v === "object" && m.names.some((n) => glob(n, v.bridge)));
  const addr = (m: AddrMatch | undefined, side: Side) => {
    if (!m) return true;
    if (m.neg || m.cidrs === null || side === null || !("in" in side)) return false;
    const mine = range(side.in);
    return mine !== null && m.cidrs.map(range).some((x) => x !== null && x[0] <= mine[0] && x[1] >= mine[1]);
  };
  return name(r.iif, p.iif) && name(r.oif, p.oif) && addr(r.saddr, p.saddr) && addr(r.daddr, p.daddr);
}

/** Warnings for every drop/reject rule of `tables` that hits traffic of `nets`. */
export function droppingRules(tables: readonly FwTable[], nets: readonly ProbeNetwork[]): string[] {
  const out: string[] = [];
  for (const t of tables) {
    for (const base of t.chains.values()) {
      if (base.hook !== "forward" && base.hook !== "input") continue;
      const open = probesFor(base.hook, nets);
      if (open.length === 0) continue;
      const accepted = new Set<Probe>();
      const walk = (chain: FwChain, context: FwRule[], path: string[]) => {
        const libvirts = chain.name.startsWith("LIBVIRT_");
        for (const r of chain.rules) {
          const hit = open.filter(
            (p) => !(libvirts && p.libvirtNat) && !accepted.has(p) && context.every((c) => admits(c, p)) && admits(r, p),
          );
          if (hit.length === 0) continue;
          const v = r.verdict;
          if (v === "drop" || v === "reject") {
            const where =
              chain === base
                ? `chain '${base.name}' of ${t.label} (hook ${base.hook})`
                : `chain '${chain.name}' of ${t.label} (reached from '${path.join("' -> '")}', hook ${base.hook})`;
            const whom = [...new Set(hit.map((p) => `${p.what} of network '${p.net}'`))].join("; ");
            out.push(
              `host firewall: rule "${describeRule(r)}" in ${where} ${v === "drop" ? "drops" : "rejects"} ${whom}; it wins over netforge's accepts unless an earlier rule there accepts that traffic`,
            );
          } else if (v === "accept") {
            for (const p of hit) if (covers(r, p) && context.every((c) => covers(c, p))) accepted.add(p);
          } else if (typeof v === "object") {
            const target = "jump" in v ? v.jump : v.goto;
            const next = t.chains.get(target);
            if (next && !path.includes(target) && path.length < 16) walk(next, [...context, r], [...path, target]);
          }
        }
      };
      walk(base, [], [base.name]);
    }
  }
  return out;
}

// ---------------------------------------------------------------------------------------------------------
// nft -j list ruleset

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
type Obj = { [k: string]: Json };
const isObj = (v: Json | undefined): v is Obj => typeof v === "object" && v !== null && !Array.isArray(v);

/** The elements of a match's right-hand side: an anonymous set's, else the value itself. */
const setItems = (right: Json): Json[] => (isObj(right) && Array.isArray(right.set) ? right.set : [right]);

/** Elements of a match's right-hand side as addresses ("a.b.c.d" or "a.b.c.d/n"); null when one is not one. */
function addrList(right: Json): string[] | null {
  const one = (v: Json): string | null => {
    if (typeof v === "string") return v;
    if (isObj(v) && isObj(v.prefix) && typeof v.prefix.addr === "string" && typeof v.prefix.len === "number")
      return `${v.prefix.addr}/${v.prefix.len}`;
    return null;
  };
  const out = setItems(right).map(one);
  return out.every((x): x is string => x !== null && !x.startsWith("@")) ? out : null;
}
function portList(right: Json): [number, number][] | null {
  const one = (v: Json): [number, number] | null => {
    if (typeof v === "number") return [v, v];
    if (isObj(v) && Array.isArray(v.range) && typeof v.range[0] === "number" && typeof v.range[1] === "number")
      return [v.range[0], v.range[1]];
    return null;
  };
  const out = setItems(right).map(one);
  return out.every((x): x is [number, number] => x !== null) ? out : null;
}
function stringList(right: Json): string[] | null {
  const items = isObj(right) && Array.isArray(right.set) ? right.set : Array.isArray(right) ? right : [right];
  return items.every((x): x is string => typeof x === "string") ? items : null;
}

/** One rule's expressions (nft JSON) in the model; statements that only count or log are left out. */
export function ruleFromNftExpr(expr: Json[]): FwRule {
  const r: FwRule = { other: [], verdict: "continue" };
  for (const e of expr) {
    if (!isObj(e)) continue;
    const key = Object.keys(e)[0] ?? "";
    const v = e[key];
    if (key === "match" && isObj(v)) {
      const op = v.op;
      const neg = op === "!=";
      const left = v.left;
      const right = v.right as Json;
      if (op !== "==" && op !== "!=" && op !== "in") {
        r.other.push(`(${String(op)} match)`);
        continue;
      }
      const meta = isObj(left) && isObj(left.meta) ? left.meta.key : null;
      const payload = isObj(left) && isObj(left.payload) ? left.payload : null;
      const ct = isObj(left) && isObj(left.ct) ? left.ct.key : null;
      if (meta === "iifname" || meta === "oifname" || meta === "iif" || meta === "oif") {
        const names = stringList(right);
        // A named set (`@ifs`) is not listed with the rule: unknown, so assumed to match.
        if (names && !names.some((n) => n.startsWith("@"))) r[meta.startsWith("i") ? "iif" : "oif"] = { neg, names };
        else r.other.push(`${meta} (...)`);
      } else if (payload && payload.protocol === "ip" && (payload.field === "saddr" || payload.field === "daddr")) {
        r[payload.field] = { neg, cidrs: addrList(right) };
      } else if (payload && (payload.protocol === "tcp" || payload.protocol === "udp") && payload.field === "dport") {
        const ranges = portList(right);
        if (ranges) r.dport = { neg, proto: payload.protocol, ranges };
        else r.other.push(`${payload.protocol} dport (...)`);
      } else if (meta === "l4proto" || (payload && payload.protocol === "ip" && payload.field === "protocol")) {
        const protos = stringList(right);
        if (protos) r.proto = { neg, protos };
        else r.other.push("meta l4proto (...)");
      } else if (ct === "state") {
        const states = stringList(right);
        if (!neg && states && states.length > 0 && states.every((s) => s === "invalid")) r.ctInvalidOnly = true;
        else r.other.push(`ct state ${neg ? "!= " : ""}${states?.join(",") ?? "(...)"}`);
      } else {
        r.other.push("(match)");
      }
    } else if (key === "xt" && isObj(v)) {
      if (v.type === "target") {
        if (v.name === "REJECT") r.verdict = "reject";
        else r.other.push(`xt target ${String(v.name)}`);
      } else if (v.name !== "comment") {
        r.other.push(`xt match ${String(v.name)}`); // an iptables extension nft cannot show: assumed to match
      }
    } else if (key === "drop" || key === "reject" || key === "accept" || key === "return" || key === "continue") {
      r.verdict = key;
    } else if ((key === "jump" || key === "goto") && isObj(v) && typeof v.target === "string") {
      r.verdict = key === "jump" ? { jump: v.target } : { goto: v.target };
    } else if (key !== "counter" && key !== "log") {
      r.other.push(key);
    }
  }
  return r;
}

/** Other tables' chains and rules from `nft -j list ruleset` (ip and inet families; netforge's own table left out). */
export function rulesFromNftJson(json: string): FwTable[] {
  let doc: { nftables?: Obj[] };
  try {
    doc = JSON.parse(json) as typeof doc;
  } catch {
    return [];
  }
  const tables = new Map<string, FwTable>();
  const tableOf = (family: string, name: string) => {
    const k = `${family} ${name}`;
    let t = tables.get(k);
    if (!t) {
      t = { label: `table ${k}`, chains: new Map() };
      tables.set(k, t);
    }
    return t;
  };
  const ours = (family: Json | undefined, table: Json | undefined) => family === NFT_FAMILY && table === NFT_TABLE;
  for (const item of doc.nftables ?? []) {
    const c = item.chain;
    if (isObj(c) && (c.family === "ip" || c.family === "inet") && !ours(c.family, c.table) && typeof c.name === "string") {
      const chain: FwChain = { name: c.name, rules: [] };
      if (typeof c.hook === "string") chain.hook = c.hook;
      if (typeof c.policy === "string") chain.policy = c.policy;
      tableOf(String(c.family), String(c.table)).chains.set(c.name, chain);
    }
    const r = item.rule;
    if (isObj(r) && (r.family === "ip" || r.family === "inet") && !ours(r.family, r.table) && Array.isArray(r.expr)) {
      tableOf(String(r.family), String(r.table)).chains.get(String(r.chain))?.rules.push(ruleFromNftExpr(r.expr));
    }
  }
  return [...tables.values()];
}

// ---------------------------------------------------------------------------------------------------------
// iptables-legacy-save -t filter (the same text format as iptables-nft-save)

/** Split a save line into words; "quoted strings" stay one word. */
function words(line: string): string[] {
  return [...line.matchAll(/"((?:[^"\\]|\\.)*)"|(\S+)/g)].map((m) => m[1] ?? m[2] ?? "");
}

const BUILTIN_TARGETS = new Set(["ACCEPT", "DROP", "REJECT", "RETURN"]);

/** The filter table of an iptables-save text (chains, policies, rules). */
export function rulesFromIptablesSave(text: string, label = "iptables-legacy table filter"): FwTable[] {
  const chains = new Map<string, FwChain>();
  let inFilter = false;
  const lines = text.split("\n").map((l) => l.trim());
  for (const l of lines) {
    if (l.startsWith("*")) inFilter = l === "*filter";
    else if (inFilter && l.startsWith(":")) {
      const [name, policy] = l.slice(1).split(/\s+/);
      if (!name) continue;
      const c: FwChain = { name, rules: [] };
      if (name === "INPUT" || name === "FORWARD" || name === "OUTPUT") {
        c.hook = name.toLowerCase();
        if (policy && policy !== "-") c.policy = policy.toLowerCase();
      }
      chains.set(name, c);
    }
  }
  inFilter = false;
  for (const l of lines) {
    if (l.startsWith("*")) inFilter = l === "*filter";
    if (!inFilter || !l.startsWith("-A ")) continue;
    const w = words(l);
    const chain = chains.get(w[1] ?? "");
    if (!chain) continue;
    const r: FwRule = { other: [], verdict: "continue" };
    let neg = false;
    let proto: "tcp" | "udp" | null = null;
    for (let i = 2; i < w.length; i++) {
      const t = w[i] as string;
      const arg = () => w[++i] ?? "";
      if (t === "!") {
        neg = true;
        continue;
      }
      if (t === "-i" || t === "-o") {
        const name = arg().replace(/\+$/, "*");
        r[t === "-i" ? "iif" : "oif"] = { neg, names: [name] };
      } else if (t === "-s" || t === "-d") {
        r[t === "-s" ? "saddr" : "daddr"] = { neg, cidrs: arg().split(",") };
      } else if (t === "-p") {
        const p = arg().toLowerCase();
        r.proto = { neg, protos: [p] };
        if (!neg && (p === "tcp" || p === "udp")) proto = p;
      } else if (t === "--dport" || t === "--dports" || t === "--destination-port") {
        const ranges = arg()
          .split(",")
          .map((s) => s.split(":").map(Number) as [number, number?])
          .map(([a, b]): [number, number] => [a, b ?? a]);
        if (ranges.every(([a, b]) => Number.isInteger(a) && Number.isInteger(b))) r.dport = { neg, proto, ranges };
        else r.other.push(`${t} (...)`);
      } else if (t === "--ctstate" || t === "--state") {
        const states = arg().split(",");
        if (!neg && states.every((s) => s === "INVALID")) r.ctInvalidOnly = true;
        else r.other.push(`ct state ${neg ? "!= " : ""}${states.join(",").toLowerCase()}`);
      } else if (t === "-j" || t === "-g") {
        const target = arg();
        if (t === "-g") r.verdict = { goto: target };
        else if (BUILTIN_TARGETS.has(target)) r.verdict = target.toLowerCase() as Verdict;
        else if (chains.has(target)) r.verdict = { jump: target };
        else r.other.push(`target ${target}`);
        // Target options (--reject-with ...) follow; they do not change what matches.
        while (i + 1 < w.length && (w[i + 1] as string).startsWith("--"))
          i += w[i + 2] !== undefined && !(w[i + 2] as string).startsWith("-") ? 2 : 1;
      } else if (t === "-m") {
        const mod = arg();
        if (mod !== "comment" && mod !== "tcp" && mod !== "udp" && mod !== "conntrack" && mod !== "state" && mod !== "multiport")
          r.other.push(`-m ${mod}`);
      } else if (t === "--comment") {
        arg();
      } else if (t.startsWith("-")) {
        // An option we do not read: assumed to match; its value (if any) is skipped.
        r.other.push(t);
        if (i + 1 < w.length && !(w[i + 1] as string).startsWith("-")) i++;
      }
      neg = false;
    }
    chain.rules.push(r);
  }
  return chains.size > 0 ? [{ label, chains }] : [];
}

/** Base chains of a parsed iptables filter table whose policy is DROP (the iptables-legacy half of the policy check). */
export function dropPolicies(tables: readonly FwTable[]): string[] {
  const out: string[] = [];
  for (const t of tables)
    for (const c of t.chains.values()) {
      if (c.policy !== "drop" || (c.hook !== "forward" && c.hook !== "input")) continue;
      out.push(
        c.hook === "forward"
          ? `host firewall: chain '${c.name}' of ${t.label} (hook forward) has policy drop; it drops the NAT, VM-to-VM and port-forward traffic netforge's rules accept unless it accepts that traffic itself`
          : `host firewall: chain '${c.name}' of ${t.label} (hook input) has policy drop; VMs get no DHCP/DNS from the host unless it accepts udp 53,67 and tcp 53 from netforge's bridges`,
      );
    }
  return out;
}
