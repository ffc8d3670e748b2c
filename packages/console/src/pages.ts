/** The console's pages: fleet, networks, one network, a new network, jobs. */
import { useEffect, useState } from "preact/hooks";
import { call } from "./api";
import { ChangeFlow, ErrorBox, type Job, JobSteps } from "./flow";
import { createBody, FORMS, type Host, numberOr, pageForms, shownFields, type Suggestion, TYPES, type Values } from "./forms";
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

/** A host's QoS capability in words (list-hosts `qos`; absent from older workers: nothing said). */
const qosCapability = (h: Host): string =>
  h.qos === undefined ? "" : h.qos.supported ? "yes" : `no (missing: ${h.qos.missing.join(", ") || "unknown"})`;

/** A host's underlay in words (list-hosts `underlay`; absent from older workers: nothing said). */
const underlayOf = (h: Host): string =>
  h.underlay === undefined
    ? ""
    : h.underlay === null
      ? `none (${h.underlayProblem ?? "unknown"})`
      : `${h.underlay.ip} on ${h.underlay.interface}, MTU ${h.underlay.mtu}`;

export function FleetPage() {
  const q = useQuery<{ hosts: Host[] }>("list-hosts", {}, []);
  useTick(1000);
  // Heartbeats arrive every few seconds: read the hosts again as often; jobs that end change network counts.
  useEffect(() => {
    const t = setInterval(q.reload, 5000);
    return () => clearInterval(t);
  }, []);
  useJobEvents(() => q.reload());
  const hosts = q.data?.hosts ?? [];
  // Older workers publish no underlay: the column shows once a host record has one.
  const underlay = hosts.some((h) => h.underlay !== undefined);
  return html`<section>
    <h2>Fleet</h2>
    <${ErrorBox} error=${q.error} />
    <table>
      <caption>Hosts</caption>
      <thead><tr><th scope="col">Host</th><th scope="col">Hostname</th><th scope="col">Status</th><th scope="col">Heartbeat</th>
        <th scope="col">Networks</th><th scope="col">libvirt</th><th scope="col">QoS</th>${underlay ? html`<th scope="col">Underlay</th>` : null}
        <th scope="col">Firewall warnings</th></tr></thead>
      <tbody>
        ${hosts.map(
          (h) => html`<tr>
            <td><a href=${`#/networks?host=${encodeURIComponent(h.id)}`}>${h.id}</a></td><td>${h.hostname}</td>
            <td class=${`status-${h.status}`}>${h.status}</td><td>${ageOf(h.lastSeenAt)}</td><td>${h.networks}</td>
            <td>${h.libvirtVersion ?? ""}</td><td>${qosCapability(h)}</td>${underlay ? html`<td>${underlayOf(h)}</td>` : null}
            <td>${(h.firewallWarnings ?? []).join("; ")}</td>
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
        ${["", ...TYPES].map((t) => html`<option value=${t}>${t || "any"}</option>`)}
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
  const forms = pageForms(n?.type ?? "");
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
    ${forms.has("dhcp") && n.dhcp.enabled ? html`<${DhcpForm} network=${n} reload=${reload} />` : null}
    ${forms.has("reservations") ? html`<${Reservations} network=${n} reload=${reload} />` : null}
    ${forms.has("reservations") && n.ipv6?.mode === "dhcpv6" ? html`<${Reservations6} network=${n} reload=${reload} />` : null}
    ${forms.has("firewall") ? html`<${Firewall} network=${n} reload=${reload} />` : null}
    ${forms.has("forwards") ? html`<${Forwards} network=${n} reload=${reload} />` : null}
    ${forms.has("dns") ? html`<${DnsForm} network=${n} reload=${reload} />` : null}
    ${forms.has("qos") ? html`<${QosForm} network=${n} reload=${reload} />` : null}
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

/** IPv6 reservations: a DHCPv6 client is named by its DUID (libvirt refuses a MAC in an IPv6 host entry). */
function Reservations6({ network, reload }: { network: any; reload: () => void }) {
  const [form, setForm] = useState({ duid: "", ip: "", hostname: "" });
  const [remove, setRemove] = useState<string | null>(null);
  const body =
    form.duid && form.ip
      ? { name: network.name, duid: form.duid, ip: form.ip, ...(form.hostname ? { hostname: form.hostname } : {}) }
      : null;
  const set = (k: keyof typeof form) => (e: Event) => setForm({ ...form, [k]: (e.target as HTMLInputElement).value });
  return html`<section aria-label="IPv6 reservations">
    <h3>IPv6 reservations (DHCPv6, by DUID)</h3>
    <table>
      <thead><tr><th scope="col">DUID</th><th scope="col">IPv6</th><th scope="col">Hostname</th><th scope="col"><span class="sr">Remove</span></th></tr></thead>
      <tbody>${(network.reservations6 ?? []).map(
        (r: any) => html`<tr><td>${r.duid}</td><td>${r.ip}</td><td>${r.hostname ?? ""}</td>
          <td><button type="button" onClick=${() => setRemove(r.duid)} aria-label=${`Remove IPv6 reservation ${r.duid}`}>Remove</button></td></tr>`,
      )}</tbody>
    </table>
    ${remove ? html`<${ChangeFlow} action="unassign-static-ip" body=${{ name: network.name, duid: remove }} onDone=${reload} version=${network.version} label=${`removal of ${remove}`} />` : null}
    <form class="row" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>DUID <input name="duid" value=${form.duid} onInput=${set("duid")} placeholder="00:03:00:01:52:54:00:12:34:56" /></label>
      <label>IPv6 address <input name="ip6" value=${form.ip} onInput=${set("ip")} placeholder=${network.ipv6?.dhcp?.start ?? ""} /></label>
      <label>Hostname <input name="hostname6" value=${form.hostname} onInput=${set("hostname")} /></label>
    </form>
    <${ChangeFlow} action="assign-static-ip" body=${body} onDone=${reload} version=${network.version} label="IPv6 reservation" />
  </section>`;
}

/** DNS host records (configure-network-dns): the whole set, edited as rows and sent at once. */
function DnsForm({ network, reload }: { network: any; reload: () => void }) {
  const [hosts, setHosts] = useState<{ ip: string; names: string[] }[]>(network.dnsHosts ?? []);
  const [draft, setDraft] = useState({ ip: "", names: "" });
  useEffect(() => setHosts(network.dnsHosts ?? []), [network.version]);
  const add = (e: Event) => {
    e.preventDefault();
    const names = draft.names.split(/[\s,]+/).filter((x) => x !== "");
    if (draft.ip === "" || names.length === 0) return;
    setHosts([...hosts, { ip: draft.ip, names }]);
    setDraft({ ip: "", names: "" });
  };
  return html`<section aria-label="DNS records">
    <h3>DNS records</h3>
    <table>
      <thead><tr><th scope="col">Address</th><th scope="col">Names</th><th scope="col"><span class="sr">Remove</span></th></tr></thead>
      <tbody>${hosts.map(
        (r, i) => html`<tr><td>${r.ip}</td><td>${r.names.join(" ")}</td>
          <td><button type="button" onClick=${() => setHosts(hosts.filter((_, j) => j !== i))} aria-label=${`Remove DNS record ${r.ip}`}>Remove</button></td></tr>`,
      )}</tbody>
    </table>
    <form class="row" aria-label="New DNS record" onSubmit=${add}>
      <label>Record address <input name="dnsIp" value=${draft.ip} onInput=${(e: Event) => setDraft({ ...draft, ip: (e.target as HTMLInputElement).value })} /></label>
      <label>DNS names (space separated) <input name="dnsNames" value=${draft.names}
        onInput=${(e: Event) => setDraft({ ...draft, names: (e.target as HTMLInputElement).value })} /></label>
      <button type="submit">Add record</button>
    </form>
    <${ChangeFlow} action="configure-network-dns" body=${{ name: network.name, hosts }} onDone=${reload} version=${network.version} label="DNS records" />
  </section>`;
}

const DIRECTIONS = ["inbound", "outbound"] as const;
const LIMIT_PARTS = [
  ["averageKbps", "average kbit/s"],
  ["peakKbps", "peak kbit/s (optional)"],
  ["burstKib", "burst KiB (optional)"],
] as const;

/** A limit of the form's text fields (`prefix` + direction + part); undefined when its average is empty. */
function limitOf(v: Values, prefix: string, dir: string): Record<string, number | string> | undefined {
  if ((v[`${prefix}${dir}.averageKbps`] ?? "") === "") return undefined;
  const out: Record<string, number | string> = {};
  for (const [k] of LIMIT_PARTS) {
    const raw = v[`${prefix}${dir}.${k}`] ?? "";
    if (raw !== "") out[k] = numberOr(raw);
  }
  return out;
}

/** The form's text of a QoS set's network limits. */
function qosValues(q: any): Values {
  const v: Values = {};
  for (const dir of DIRECTIONS)
    for (const [k] of LIMIT_PARTS) {
      const x = q?.network?.[dir]?.[k];
      v[`net.${dir}.${k}`] = x === undefined ? "" : String(x);
    }
  return v;
}

/** Bandwidth limits (configure-network-qos): the network's own each way, and per VM NIC by MAC; the whole set at once. */
function QosForm({ network, reload }: { network: any; reload: () => void }) {
  const [v, setV] = useState<Values>(qosValues(network.qos));
  const [vms, setVms] = useState<any[]>(network.qos?.vms ?? []);
  const [draft, setDraft] = useState({ mac: "", inbound: "", outbound: "" });
  useEffect(() => {
    setV(qosValues(network.qos));
    setVms(network.qos?.vms ?? []);
  }, [network.version]);
  const inbound = limitOf(v, "net.", "inbound");
  const outbound = limitOf(v, "net.", "outbound");
  const body = {
    name: network.name,
    network: inbound || outbound ? { ...(inbound ? { inbound } : {}), ...(outbound ? { outbound } : {}) } : null,
    vms,
  };
  const addVm = (e: Event) => {
    e.preventDefault();
    if (draft.mac === "" || (draft.inbound === "" && draft.outbound === "")) return;
    setVms([
      ...vms,
      {
        mac: draft.mac,
        ...(draft.inbound ? { inbound: { averageKbps: numberOr(draft.inbound) } } : {}),
        ...(draft.outbound ? { outbound: { averageKbps: numberOr(draft.outbound) } } : {}),
      },
    ]);
    setDraft({ mac: "", inbound: "", outbound: "" });
  };
  const rate = (l: any) => (l ? `${l.averageKbps} kbit/s${l.peakKbps ? ` (peak ${l.peakKbps})` : ""}` : "—");
  return html`<section aria-label="Bandwidth limits">
    <h3>Bandwidth limits</h3>
    <form class="row" aria-label="Network limits" onSubmit=${(e: Event) => e.preventDefault()}>
      ${DIRECTIONS.map((dir) =>
        LIMIT_PARTS.map(
          ([k, words]) => html`<label>${dir === "inbound" ? "Inbound (to the VMs)" : "Outbound (from the VMs)"} ${words}
            <input name=${`${dir}.${k}`} inputmode="numeric" value=${v[`net.${dir}.${k}`] ?? ""}
              onInput=${(e: Event) => setV({ ...v, [`net.${dir}.${k}`]: (e.target as HTMLInputElement).value })} /></label>`,
        ),
      )}
    </form>
    <table>
      <caption>Per VM limits</caption>
      <thead><tr><th scope="col">MAC</th><th scope="col">Inbound</th><th scope="col">Outbound</th><th scope="col"><span class="sr">Remove</span></th></tr></thead>
      <tbody>${vms.map(
        (l, i) => html`<tr><td>${l.mac}</td><td>${rate(l.inbound)}</td><td>${rate(l.outbound)}</td>
          <td><button type="button" onClick=${() => setVms(vms.filter((_, j) => j !== i))} aria-label=${`Remove VM limit ${l.mac}`}>Remove</button></td></tr>`,
      )}</tbody>
    </table>
    <form class="row" aria-label="New VM limit" onSubmit=${addVm}>
      <label>VM MAC <input name="qosMac" value=${draft.mac} onInput=${(e: Event) => setDraft({ ...draft, mac: (e.target as HTMLInputElement).value })} /></label>
      <label>VM inbound kbit/s <input name="qosIn" inputmode="numeric" value=${draft.inbound}
        onInput=${(e: Event) => setDraft({ ...draft, inbound: (e.target as HTMLInputElement).value })} /></label>
      <label>VM outbound kbit/s <input name="qosOut" inputmode="numeric" value=${draft.outbound}
        onInput=${(e: Event) => setDraft({ ...draft, outbound: (e.target as HTMLInputElement).value })} /></label>
      <button type="submit">Add VM limit</button>
    </form>
    <${ChangeFlow} action="configure-network-qos" body=${body} onDone=${reload} version=${network.version} label="bandwidth limits" />
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

/** A datalist of values from the hosts' inventory for a field (its id ties the input to it). */
function Suggestions({ id, items }: { id: string; items: Suggestion[] }) {
  return html`<datalist id=${id}>${items.map((o) => html`<option value=${o.value} label=${o.label}></option>`)}</datalist>`;
}

export function CreatePage() {
  const [type, setType] = useState(TYPES[0] ?? "");
  const [values, setValues] = useState<Values>({});
  const hosts = useQuery<{ hosts: Host[] }>("list-hosts", {}, []);
  const set = (k: string) => (e: Event) => {
    const t = e.target as HTMLInputElement;
    setValues({ ...values, [k]: t.type === "checkbox" ? (t.checked ? "on" : "") : t.value });
  };
  // Suggestions come from the host asked for, else from every online host (placement picks one that has it).
  const all = hosts.data?.hosts ?? [];
  const candidates = values.host ? all.filter((h) => h.id === values.host) : all.filter((h) => h.status === "online");
  const input = (key: string, label: string, hint?: string, list?: string) =>
    html`<label>${label} <input name=${key} value=${values[key] ?? ""} placeholder=${hint ?? ""} list=${list} onInput=${set(key)} /></label>`;
  const check = (key: string, label: string) =>
    html`<label class="check"><input type="checkbox" name=${key} checked=${values[key] === "on"} onChange=${set(key)} /> ${label}</label>`;
  const form = FORMS[type];
  return html`<section>
    <h2>New network</h2>
    <form class="stack" aria-label="New network" onSubmit=${(e: Event) => e.preventDefault()}>
      <label>Type <select name="type" value=${type} onChange=${(e: Event) => setType((e.target as HTMLSelectElement).value)}>
        ${TYPES.map((t) => html`<option value=${t}>${t}</option>`)}</select></label>
      ${form ? html`<p class="hint" id="type-summary">${form.summary}</p>` : null}
      ${input("name", "Name")}
      <label>Host <select name="host" value=${values.host ?? ""} onChange=${set("host")}>
        <option value="">any (placement)</option>
        ${all.map((h) => html`<option value=${h.id}>${h.id} (${h.status})</option>`)}</select></label>
      <fieldset>
        <legend>${type} settings</legend>
        ${shownFields(type, values).map((f) => {
          if (f.kind === "check") return check(f.path, f.label);
          if (f.kind === "select")
            return html`<label>${f.label} <select name=${f.path} value=${values[f.path] ?? f.options?.[0]?.[0] ?? ""} onChange=${set(f.path)}>
              ${(f.options ?? []).map(([v, l]) => html`<option value=${v}>${l}</option>`)}</select></label>`;
          const list = f.suggest ? `suggest-${f.path.replace(/\W/g, "-")}` : undefined;
          return html`${input(f.path, f.label, f.hint, list)}${f.suggest && list ? html`<${Suggestions} id=${list} items=${f.suggest(candidates)} />` : null}`;
        })}
      </fieldset>
      ${check("noAutostart", "Autostart off")}
      ${check("noStart", "Define only, do not start")}
      ${input("description", "Description (optional)")}
    </form>
    <${ChangeFlow} action="create-network" body=${createBody(type, values)} label="network"
      onDone=${(j: Job) => goIfSucceeded(j, `#/network/${encodeURIComponent(j.network ?? "")}`)} />
  </section>`;
}
