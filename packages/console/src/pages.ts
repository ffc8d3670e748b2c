/** The console's pages: fleet, networks, one network, a new network, jobs. */
import { useEffect, useState } from "preact/hooks";
import { call } from "./api";
import { ChangeFlow, ErrorBox, type Job, JobSteps } from "./flow";
import { html } from "./html";
import { ageOf, useJobEvents, useTick } from "./live";

/** Read `action` with `body` now and whenever `deps` change; `reload` reads again. */
function useQuery<T>(action: string, body: unknown, deps: unknown[]): { data: T | null; error: unknown; reload: () => void } {
  const [data, setData] = useState<T | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [n, setN] = useState(0);
  useEffect(() => {
    let live = true;
    call<T>(action, body)
      .then((d) => {
        if (!live) return;
        setData(d);
        setError(null);
      })
      .catch((e) => live && setError(e));
    return () => {
      live = false;
    };
  }, [...deps, n]);
  return { data, error, reload: () => setN((x) => x + 1) };
}

interface Host {
  id: string;
  hostname: string;
  status: string;
  lastSeenAt: string | null;
  libvirtVersion: string | null;
  networks: number;
  firewallWarnings?: string[];
}

export function FleetPage() {
  const q = useQuery<{ hosts: Host[] }>("list-hosts", {}, []);
  useTick(1000);
  // Heartbeats arrive every few seconds: read the hosts again as often; jobs that end change network counts.
  useEffect(() => {
    const t = setInterval(q.reload, 5000);
    return () => clearInterval(t);
  }, []);
  useJobEvents(() => q.reload());
  return html`<section>
    <h2>Fleet</h2>
    <${ErrorBox} error=${q.error} />
    <table>
      <caption>Hosts</caption>
      <thead><tr><th scope="col">Host</th><th scope="col">Hostname</th><th scope="col">Status</th><th scope="col">Heartbeat</th>
        <th scope="col">Networks</th><th scope="col">libvirt</th><th scope="col">Firewall warnings</th></tr></thead>
      <tbody>
        ${(q.data?.hosts ?? []).map(
          (h) => html`<tr>
            <td><a href=${`#/networks?host=${encodeURIComponent(h.id)}`}>${h.id}</a></td><td>${h.hostname}</td>
            <td class=${`status-${h.status}`}>${h.status}</td><td>${ageOf(h.lastSeenAt)}</td><td>${h.networks}</td>
            <td>${h.libvirtVersion ?? ""}</td><td>${(h.firewallWarnings ?? []).join("; ")}</td>
          </tr>`,
        )}
      </tbody>
    </table>
  </section>`;
}

interface NetworkRow {
  name: string;
  type: string;
  host: string;
  cidr: string | null;
  state: string;
  version: number;
}

export function NetworksPage({ params }: { params: URLSearchParams }) {
  const [filters, setFilters] = useState({ name: "", type: "", state: "", host: params.get("host") ?? "" });
  const [cursors, setCursors] = useState<(string | null)[]>([null]);
  const cursor = cursors[cursors.length - 1] ?? null;
  const body: Record<string, unknown> = { limit: 100 };
  for (const [k, v] of Object.entries(filters)) if (v !== "") body[k] = v;
  if (cursor !== null) body.cursor = cursor;
  const q = useQuery<{ networks: NetworkRow[]; nextCursor: string | null }>("list-networks", body, [JSON.stringify(body)]);
  useJobEvents(() => q.reload());
  const set = (k: keyof typeof filters) => (e: Event) => {
    setFilters({ ...filters, [k]: (e.target as HTMLInputElement).value });
    setCursors([null]);
  };
  return html`<section>
    <h2>Networks</h2>
    <form class="filters" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Name contains <input value=${filters.name} onInput=${set("name")} /></label>
      <label>Type <select value=${filters.type} onChange=${set("type")}>
        ${["", "nat", "isolated", "bridge", "sriov"].map((t) => html`<option value=${t}>${t || "any"}</option>`)}
      </select></label>
      <label>State <select value=${filters.state} onChange=${set("state")}>
        ${["", "active", "inactive"].map((t) => html`<option value=${t}>${t || "any"}</option>`)}
      </select></label>
      <label>Host <input value=${filters.host} onInput=${set("host")} /></label>
    </form>
    <${ErrorBox} error=${q.error} />
    <table>
      <caption>Networks (page ${cursors.length})</caption>
      <thead><tr><th scope="col">Name</th><th scope="col">Type</th><th scope="col">Host</th><th scope="col">Subnet</th>
        <th scope="col">State</th><th scope="col">Version</th></tr></thead>
      <tbody>
        ${(q.data?.networks ?? []).map(
          (n) => html`<tr><td><a href=${`#/network/${encodeURIComponent(n.name)}`}>${n.name}</a></td><td>${n.type}</td>
            <td>${n.host}</td><td>${n.cidr ?? ""}</td><td>${n.state}</td><td>${n.version}</td></tr>`,
        )}
      </tbody>
    </table>
    <nav class="pager" aria-label="Pages">
      <button type="button" disabled=${cursors.length === 1} onClick=${() => setCursors(cursors.slice(0, -1))}>Previous page</button>
      <button type="button" disabled=${!q.data?.nextCursor} onClick=${() => setCursors([...cursors, q.data?.nextCursor ?? null])}>Next page</button>
    </nav>
  </section>`;
}

type Rule = Record<string, unknown>;

/** A QoS set in words: the network's limits each way and how many VMs have their own. */
function qosSummary(q: { network: Record<string, { averageKbps: number }> | null; vms: unknown[] }): string {
  const dirs = q.network
    ? Object.entries(q.network)
        .filter(([, l]) => l)
        .map(([d, l]) => `${d} ${l.averageKbps} kbit/s`)
    : [];
  return `${dirs.length > 0 ? `network: ${dirs.join(", ")}` : "no network limit"}; ${q.vms.length} VM limit(s)`;
}

/** After a job that succeeded, go to `hash` (a created network's page, the list after a delete). */
function goIfSucceeded(job: Job, hash: string): void {
  if (job.state === "succeeded") location.hash = hash;
}

function KeyValues({ rows }: { rows: [string, unknown][] }) {
  return html`<dl class="kv">${rows.map(([k, v]) => html`<dt>${k}</dt><dd>${v === null || v === undefined ? "—" : typeof v === "object" ? JSON.stringify(v) : String(v)}</dd>`)}</dl>`;
}

export function NetworkPage({ name }: { name: string }) {
  const d = useQuery<{ network: any }>("describe-network", { name }, [name]);
  const ips = useQuery<{ ips: any[] }>("list-network-ips", { name }, [name]);
  const jobs = useQuery<{ jobs: Job[] }>("list-jobs", { network: name, limit: 10 }, [name]);
  const reload = () => {
    d.reload();
    ips.reload();
    jobs.reload();
  };
  useJobEvents(reload, name);
  const n = d.data?.network;
  if (!n) return html`<section><h2>Network ${name}</h2><${ErrorBox} error=${d.error} />${d.error ? null : html`<p>Loading…</p>`}</section>`;
  return html`<section>
    <h2>Network ${n.name}</h2>
    <${KeyValues}
      rows=${[
        ["type", n.type],
        ["description", n.description],
        ["host", n.host],
        ["state", n.state],
        ["subnet", n.cidr],
        ["gateway", n.gateway],
        ["DHCP", n.dhcp.enabled ? `${n.dhcp.start} - ${n.dhcp.end}, lease ${n.dhcp.leaseTime} s` : "off"],
        ["bridge", n.bridge?.name],
        ["MTU", n.mtu],
        ["IPv6", n.ipv6 ? `${n.ipv6.cidr} (${n.ipv6.mode}${n.ipv6.routed ? ", routed" : ""})` : "none"],
        ["bandwidth limits", n.qos ? qosSummary(n.qos) : "none"],
        ["version", n.version],
        ["attached VMs", n.stats?.connectedVms],
        ["allocated IPs", n.stats?.allocatedIps],
        ["stats read", n.stats?.observedAt],
      ]}
    />
    <h3>IP table</h3>
    <table>
      <thead><tr><th scope="col">IP</th><th scope="col">MAC</th><th scope="col">VM</th><th scope="col">Hostname</th><th scope="col">Static</th><th scope="col">Lease expires</th></tr></thead>
      <tbody>${(ips.data?.ips ?? []).map(
        (i) =>
          html`<tr><td>${i.ip}</td><td>${i.mac}</td><td>${i.vmName ?? ""}</td><td>${i.hostname ?? ""}</td><td>${i.static ? "yes" : "no"}</td><td>${i.leaseExpiresAt ?? ""}</td></tr>`,
      )}</tbody>
    </table>
    ${n.dhcp.enabled ? html`<${DhcpForm} network=${n} reload=${reload} />` : null}
    <${Reservations} network=${n} reload=${reload} />
    <${Firewall} network=${n} reload=${reload} />
    ${n.cidr !== null ? html`<${Forwards} network=${n} reload=${reload} />` : null}
    <h3>Recent jobs</h3>
    <${JobsTable} jobs=${jobs.data?.jobs ?? []} />
    <h3>Delete</h3>
    <${ChangeFlow} action="delete-network" body=${{ name: n.name }} version=${n.version} label=${`deletion of ${n.name}`}
      onDone=${(j: Job) => goIfSucceeded(j, "#/networks")} />
  </section>`;
}

function DhcpForm({ network, reload }: { network: any; reload: () => void }) {
  const d = network.dhcp;
  const [form, setForm] = useState({ start: d.start ?? "", end: d.end ?? "", leaseTime: String(d.leaseTime ?? "") });
  useEffect(() => setForm({ start: d.start ?? "", end: d.end ?? "", leaseTime: String(d.leaseTime ?? "") }), [network.version]);
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const body =
    form.start && form.end
      ? { name: network.name, start: form.start, end: form.end, ...(form.leaseTime ? { leaseTime: Number(form.leaseTime) } : {}) }
      : null;
  return html`<section aria-label="DHCP">
    <h3>DHCP</h3>
    <form class="row" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Range start <input name="start" value=${form.start} onInput=${set("start")} /></label>
      <label>Range end <input name="end" value=${form.end} onInput=${set("end")} /></label>
      <label>Lease time (s) <input name="leaseTime" inputmode="numeric" value=${form.leaseTime} onInput=${set("leaseTime")} /></label>
    </form>
    <${ChangeFlow} action="configure-network-dhcp" body=${body} onDone=${reload} version=${network.version} label="DHCP range" />
  </section>`;
}

function Forwards({ network, reload }: { network: any; reload: () => void }) {
  const [form, setForm] = useState({ protocol: "tcp", hostPort: "", vmIp: "", vmPort: "" });
  const [remove, setRemove] = useState<any>(null);
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  const body =
    form.hostPort && form.vmIp
      ? {
          name: network.name,
          action: "add",
          protocol: form.protocol,
          hostPort: Number(form.hostPort),
          vmIp: form.vmIp,
          ...(form.vmPort ? { vmPort: Number(form.vmPort) } : {}),
        }
      : null;
  // An IPv6 address and its port as URLs write them ("[fd00::5]:80"): "fd00::5:80" would read as one address.
  const at = (ip: string, port: number) => (ip.includes(":") ? `[${ip}]:${port}` : `${ip}:${port}`);
  const hostPart = (f: any) => (f.hostIp ? at(f.hostIp, f.hostPort) : String(f.hostPort));
  const key = (f: any) => `${f.protocol}/${hostPart(f)}`;
  return html`<section aria-label="Port forwards">
    <h3>Port forwards</h3>
    <table>
      <thead><tr><th scope="col">Protocol</th><th scope="col">Host port</th><th scope="col">VM</th><th scope="col"><span class="sr">Remove</span></th></tr></thead>
      <tbody>${(network.portForwards ?? []).map(
        (f: any) => html`<tr><td>${f.protocol}</td><td>${hostPart(f)}</td><td>${at(f.vmIp, f.vmPort)}</td>
          <td><button type="button" onClick=${() => setRemove(f)} aria-label=${`Remove forward ${key(f)}`}>Remove</button></td></tr>`,
      )}</tbody>
    </table>
    ${
      remove
        ? html`<${ChangeFlow} action="configure-network-port-forward"
            body=${{ name: network.name, action: "remove", protocol: remove.protocol, hostPort: remove.hostPort, ...(remove.hostIp ? { hostIp: remove.hostIp } : {}) }}
            onDone=${reload} version=${network.version} label=${`removal of forward ${key(remove)}`} />`
        : null
    }
    <form class="row" aria-label="New forward" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Protocol <select name="protocol" value=${form.protocol} onChange=${set("protocol")}>
        <option value="tcp">tcp</option><option value="udp">udp</option></select></label>
      <label>Host port <input name="hostPort" inputmode="numeric" value=${form.hostPort} onInput=${set("hostPort")} /></label>
      <label>VM address <input name="vmIp" value=${form.vmIp} onInput=${set("vmIp")} /></label>
      <label>VM port (default: the host port) <input name="vmPort" inputmode="numeric" value=${form.vmPort} onInput=${set("vmPort")} /></label>
    </form>
    <${ChangeFlow} action="configure-network-port-forward" body=${body} onDone=${reload} version=${network.version} label="forward" />
  </section>`;
}

function Reservations({ network, reload }: { network: any; reload: () => void }) {
  const [form, setForm] = useState({ mac: "", ip: "", hostname: "" });
  const [remove, setRemove] = useState<string | null>(null);
  const body =
    form.mac && form.ip ? { name: network.name, mac: form.mac, ip: form.ip, ...(form.hostname ? { hostname: form.hostname } : {}) } : null;
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  return html`<section aria-label="Reservations">
    <h3>Reservations</h3>
    <table>
      <thead><tr><th scope="col">MAC</th><th scope="col">IP</th><th scope="col">Hostname</th><th scope="col"><span class="sr">Remove</span></th></tr></thead>
      <tbody>${(network.reservations ?? []).map(
        (r: any) => html`<tr><td>${r.mac}</td><td>${r.ip}</td><td>${r.hostname ?? ""}</td>
          <td><button type="button" onClick=${() => setRemove(r.mac)} aria-label=${`Remove reservation ${r.mac}`}>Remove</button></td></tr>`,
      )}</tbody>
    </table>
    ${remove ? html`<${ChangeFlow} action="unassign-static-ip" body=${{ name: network.name, mac: remove }} onDone=${reload} version=${network.version} label=${`removal of ${remove}`} />` : null}
    <form class="row" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>MAC <input name="mac" value=${form.mac} onInput=${set("mac")} placeholder="52:54:00:12:34:56" /></label>
      <label>IP <input name="ip" value=${form.ip} onInput=${set("ip")} /></label>
      <label>Hostname <input name="hostname" value=${form.hostname} onInput=${set("hostname")} /></label>
    </form>
    <${ChangeFlow} action="assign-static-ip" body=${body} onDone=${reload} version=${network.version} label="reservation" />
  </section>`;
}

const RULE_FIELDS = ["direction", "protocol", "ports", "source", "destination", "action", "comment"] as const;

function Firewall({ network, reload }: { network: any; reload: () => void }) {
  const fw = network.firewall ?? { defaultInbound: "accept", defaultOutbound: "accept", rules: [] };
  const [rules, setRules] = useState<Rule[]>(fw.rules);
  const [defaults, setDefaults] = useState({ defaultInbound: fw.defaultInbound, defaultOutbound: fw.defaultOutbound });
  const [draft, setDraft] = useState<Rule>({ direction: "inbound", protocol: "tcp", ports: "", action: "accept" });
  useEffect(() => {
    setRules(fw.rules);
    setDefaults({ defaultInbound: fw.defaultInbound, defaultOutbound: fw.defaultOutbound });
  }, [network.version]);
  const move = (i: number, by: number) => {
    const next = [...rules];
    const [r] = next.splice(i, 1);
    next.splice(i + by, 0, r as Rule);
    setRules(next);
  };
  const clean = (r: Rule) => Object.fromEntries(Object.entries(r).filter(([, v]) => v !== "" && v !== undefined));
  // The whole set, as configure-network-firewall replaces it (the host services kept as they are).
  const body = { name: network.name, ...defaults, rules: rules.map(clean), ...(fw.hostServices ? { hostServices: fw.hostServices } : {}) };
  return html`<section aria-label="Firewall">
    <h3>Firewall</h3>
    <form class="row" onSubmit=${(e: Event) => e.preventDefault()}>
      ${(["defaultInbound", "defaultOutbound"] as const).map(
        (k) => html`<label>${k === "defaultInbound" ? "Default inbound" : "Default outbound"}
          <select value=${defaults[k]} onChange=${(e: Event) => setDefaults({ ...defaults, [k]: (e.target as HTMLSelectElement).value })}>
            ${["accept", "drop", "reject"].map((v) => html`<option value=${v}>${v}</option>`)}
          </select></label>`,
      )}
    </form>
    <table>
      <thead><tr>${RULE_FIELDS.map((f) => html`<th scope="col">${f}</th>`)}<th scope="col"><span class="sr">Order</span></th></tr></thead>
      <tbody>${rules.map(
        (r, i) => html`<tr>${RULE_FIELDS.map((f) => html`<td>${r[f] === undefined ? "" : String(r[f])}</td>`)}
          <td>
            <button type="button" disabled=${i === 0} onClick=${() => move(i, -1)} aria-label=${`Move rule ${i + 1} up`}>Up</button>
            <button type="button" disabled=${i === rules.length - 1} onClick=${() => move(i, 1)} aria-label=${`Move rule ${i + 1} down`}>Down</button>
            <button type="button" onClick=${() => setRules(rules.filter((_, j) => j !== i))} aria-label=${`Remove rule ${i + 1}`}>Remove</button>
          </td></tr>`,
      )}</tbody>
    </table>
    <form class="row" aria-label="New rule" onSubmit=${(e: Event) => {
      e.preventDefault();
      setRules([...rules, clean(draft)]);
    }}>
      <label>Direction <select value=${draft.direction} onChange=${(e: Event) => setDraft({ ...draft, direction: (e.target as HTMLSelectElement).value })}>
        <option value="inbound">inbound</option><option value="outbound">outbound</option></select></label>
      <label>Protocol <select value=${draft.protocol} onChange=${(e: Event) => setDraft({ ...draft, protocol: (e.target as HTMLSelectElement).value })}>
        ${["tcp", "udp", "icmp", "any"].map((v) => html`<option value=${v}>${v}</option>`)}</select></label>
      <label>Ports <input name="ports" value=${draft.ports as string} onInput=${(e: Event) => setDraft({ ...draft, ports: (e.target as HTMLInputElement).value })} /></label>
      <label>Source <input name="source" value=${(draft.source as string) ?? ""} onInput=${(e: Event) => setDraft({ ...draft, source: (e.target as HTMLInputElement).value })} /></label>
      <label>Action <select value=${draft.action} onChange=${(e: Event) => setDraft({ ...draft, action: (e.target as HTMLSelectElement).value })}>
        ${["accept", "drop", "reject"].map((v) => html`<option value=${v}>${v}</option>`)}</select></label>
      <button type="submit">Add rule</button>
    </form>
    <${ChangeFlow} action="configure-network-firewall" body=${body} onDone=${reload} version=${network.version} label="firewall" />
  </section>`;
}

function JobsTable({ jobs, onPick }: { jobs: Job[]; onPick?: (id: string) => void }) {
  return html`<table>
    <thead><tr><th scope="col">Job</th><th scope="col">Action</th><th scope="col">Network</th><th scope="col">Host</th><th scope="col">State</th><th scope="col">Created</th></tr></thead>
    <tbody>${jobs.map(
      (j) => html`<tr>
        <td>${onPick ? html`<button type="button" class="link" onClick=${() => onPick(j.id)}>${j.id}</button>` : j.id}</td>
        <td>${j.action}</td><td>${j.network ?? ""}</td><td>${j.host ?? ""}</td>
        <td class=${`state state-${j.state}`}>${j.state}${j.error ? ` (${j.error.code})` : ""}</td><td>${j.createdAt}</td></tr>`,
    )}</tbody>
  </table>`;
}

export function JobsPage() {
  const q = useQuery<{ jobs: Job[] }>("list-jobs", { limit: 50 }, []);
  const [picked, setPicked] = useState<string | null>(null);
  useJobEvents(() => q.reload());
  const job = (q.data?.jobs ?? []).find((j) => j.id === picked) ?? null;
  return html`<section>
    <h2>Jobs</h2>
    <${ErrorBox} error=${q.error} />
    ${job ? html`<${JobSteps} job=${job} />` : null}
    <${JobsTable} jobs=${q.data?.jobs ?? []} onPick=${setPicked} />
  </section>`;
}

const TYPE_FIELDS: Record<string, { key: string; label: string; hint?: string }[]> = {
  nat: [
    { key: "cidr", label: "Subnet", hint: "192.168.100.0/24" },
    { key: "dhcpStart", label: "DHCP start (optional)" },
    { key: "dhcpEnd", label: "DHCP end (optional)" },
  ],
  isolated: [
    { key: "cidr", label: "Subnet", hint: "10.20.0.0/24" },
    { key: "dhcpStart", label: "DHCP start (optional)" },
    { key: "dhcpEnd", label: "DHCP end (optional)" },
  ],
  bridge: [
    { key: "interface", label: "NIC to bridge (or leave empty and name a bridge)" },
    { key: "bridge", label: "Existing bridge" },
  ],
  sriov: [
    { key: "pf", label: "Physical function (PF)" },
    { key: "vfs", label: "VF count" },
    { key: "vlan", label: "VLAN (optional)" },
  ],
};

/** The create body of the form's values (fields left empty are left out). */
export function createBody(type: string, v: Record<string, string>): Record<string, unknown> | null {
  if (!v.name) return null;
  const body: Record<string, unknown> = { name: v.name, type };
  if (v.host) body.host = v.host;
  if (v.description) body.description = v.description;
  // The addressed types are the ones whose form asks for a subnet (TYPE_FIELDS): no type named here.
  if ((TYPE_FIELDS[type] ?? []).some((f) => f.key === "cidr")) {
    if (!v.cidr) return null;
    body.cidr = v.cidr;
    if (v.dhcpStart && v.dhcpEnd) body.dhcp = { start: v.dhcpStart, end: v.dhcpEnd };
  }
  for (const k of ["interface", "bridge", "pf"]) if (v[k]) body[k] = v[k];
  for (const k of ["vfs", "vlan"]) if (v[k]) body[k] = Number(v[k]);
  return body;
}

export function CreatePage() {
  const [type, setType] = useState("nat");
  const [values, setValues] = useState<Record<string, string>>({});
  const hosts = useQuery<{ hosts: Host[] }>("list-hosts", {}, []);
  const set = (k: string) => (e: Event) => setValues({ ...values, [k]: (e.target as HTMLInputElement).value });
  const input = (key: string, label: string, hint?: string) =>
    html`<label>${label} <input name=${key} value=${values[key] ?? ""} placeholder=${hint ?? ""} onInput=${set(key)} /></label>`;
  return html`<section>
    <h2>New network</h2>
    <form class="stack" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Type <select name="type" value=${type} onChange=${(e: Event) => setType((e.target as HTMLSelectElement).value)}>
        ${Object.keys(TYPE_FIELDS).map((t) => html`<option value=${t}>${t}</option>`)}</select></label>
      ${input("name", "Name")}
      <label>Host <select name="host" value=${values.host ?? ""} onChange=${set("host")}>
        <option value="">any (placement)</option>
        ${(hosts.data?.hosts ?? []).map((h) => html`<option value=${h.id}>${h.id} (${h.status})</option>`)}</select></label>
      ${(TYPE_FIELDS[type] ?? []).map((f) => input(f.key, f.label, f.hint))}
      ${input("description", "Description (optional)")}
    </form>
    <${ChangeFlow} action="create-network" body=${createBody(type, values)} label="network"
      onDone=${(j: Job) => goIfSucceeded(j, `#/network/${encodeURIComponent(j.network ?? "")}`)} />
  </section>`;
}
