/**
 * The plans of the lifecycle jobs (create, start, stop, delete), pure: from the spec, the host facts of one
 * snapshot (facts.ts) and, for an existing network, what it is now. The worker runs exactly these host
 * steps (apps/worker/src/plan-executor.ts) around its read-only checks (attachments, overlap, DHCP answers);
 * the API's dry run returns them with the host's inventory as the facts. Phase names are the job's step
 * names (actions/jobs.ts), so a preview and the job's progress speak of the same steps.
 */
import type { NetSpec } from "../planner/network-spec";
import { modelOf } from "../drivers/registry";
import { dhcpOptionsFile } from "../render/network-xml";
import type { QosSpec } from "../actions/changes";
import {
  hasQos,
  emptyTcPlan,
  ifbNameFor,
  inboundIfbOf,
  limitsDirection,
  limitsVms,
  qosStepNameAt,
  renderQosAt,
  type ShapedAt,
  tcText,
} from "../render/tc-qos";
import type { HostFacts, NetworkFacts } from "./facts";
import { type HostStep, type JobPlan, type NftStep, nftStep, type QosStep } from "./steps";

/** The host steps that make what the type needs besides libvirt (nothing for the routed types). */
function setUpSteps(spec: NetSpec, facts: HostFacts, host: string): HostStep[] {
  return modelOf(spec).hostSteps?.setUp(spec, facts, host) ?? [];
}

/** What the type makes right after libvirt's start (on the bridge libvirt made): nothing for most types. */
function afterStartSteps(spec: NetSpec, facts: HostFacts, host: string): HostStep[] {
  return modelOf(spec).hostSteps?.afterStart?.(spec, facts, host) ?? [];
}

/** The network's part of netforge's table as a started network of `spec` gets it (null: the type has none). */
export function firewallStep(spec: NetSpec): NftStep | null {
  const part = modelOf(spec).firewall(spec);
  return part ? nftStep("apply firewall (one nft transaction)", spec.name, part) : null;
}

const startStep = (name: string): HostStep => ({
  kind: "virsh",
  name: "start network",
  args: ["net-start", name],
  undo: ["net-destroy", name],
  undoName: "stop network",
  live: true,
});

/**
 * create-network: host setup and the definition ("defining network"); with `start`, libvirt's start and the
 * network's part of the table at the same time ("starting network"); the autostart flag ("setting autostart",
 * which the worker begins with the start: it touches only the persistent definition).
 */
export function planCreate(spec: NetSpec, opts: { start: boolean; autostart: boolean }, facts: HostFacts, host: string): JobPlan {
  const xml = modelOf(spec).render(spec);
  const fw = opts.start ? firewallStep(spec) : null;
  const phases: JobPlan["phases"] = [
    {
      step: "defining network",
      hostSteps: [
        ...setUpSteps(spec, facts, host),
        {
          kind: "xml",
          name: "define network",
          network: spec.name,
          xml,
          undo: { undefine: true },
          undoName: "undefine network",
          live: false,
        },
      ],
    },
  ];
  if (opts.start) {
    const after = afterStartSteps(spec, facts, host);
    // A spec made with a QoS set (an overlay's member added to a shaped overlay) is shaped once its bridge is up.
    const qos = qosStartStep(spec);
    const hostSteps = [startStep(spec.name), ...after, ...(fw ? [fw] : []), ...(qos ? [qos] : [])];
    phases.push(
      after.length === 0
        ? { step: "starting network", concurrent: true, hostSteps: fw ? [startStep(spec.name), fw] : [startStep(spec.name)] }
        : // What the type makes on libvirt's bridge waits for the start (lane 0, the shaping too); what needs nothing
          // of it (an overlay's guard tables) and then the table's part run beside it (lane 1), as nat's table part does.
          {
            step: "starting network",
            hostSteps,
            lanes: hostSteps.map((s) => (s === fw || (s.kind === "command" && s.besideStart === true) ? 1 : 0)),
          },
    );
  }
  phases.push({
    step: "setting autostart",
    ...(opts.start ? { overlapsPrevious: true } : {}),
    hostSteps: [
      {
        kind: "virsh",
        name: "set autostart",
        args: opts.autostart ? ["net-autostart", spec.name] : ["net-autostart", spec.name, "--disable"],
        undo: null,
        live: false,
      },
    ],
  });
  return { phases, libvirtXml: xml, ...(fw ? { nft: fw.text } : {}), warnings: [] };
}

/**
 * start-network: a definition from before netforge owned the type's rules is first redefined from the spec
 * (libvirt adds no rules of its own from then on), the host setup, libvirt's start, then the network's part
 * of the table.
 */
export function planStart(spec: NetSpec, net: NetworkFacts, facts: HostFacts, host: string): JobPlan {
  const model = modelOf(spec);
  const steps: HostStep[] = [];
  if (model.redefineBeforeStart(net.forwardMode)) {
    steps.push({
      kind: "xml",
      name: "move the definition to forward mode 'open'",
      network: spec.name,
      xml: model.render(spec),
      undo: { xml: net.xml },
      undoName: `restore definition of ${spec.name}`,
      live: false,
    });
  }
  steps.push(...setUpSteps(spec, facts, host));
  steps.push(startStep(spec.name));
  steps.push(...afterStartSteps(spec, facts, host));
  const fw = firewallStep(spec);
  if (fw) steps.push(fw);
  const qos = qosStartStep(spec);
  if (qos) steps.push(qos);
  return { phases: [{ step: "starting network", hostSteps: steps }], ...(fw ? { nft: fw.text } : {}), warnings: [] };
}

/**
 * The network's bandwidth limits applied once libvirt made its bridge (docs/adr/0044-network-qos.md); undone by
 * taking them away. null: the spec has none (or the type no bridge of netforge's addressing).
 */
export function qosStartStep(spec: NetSpec): QosStep | null {
  const s = shapingOf(spec);
  if (!s) return null;
  const ifb = ifbNameFor(spec.uuid);
  const apply = renderQosAt(s.at, ifb, s.qos, null);
  // (An overlay member's part of a set that only limits the network: nothing of it is on this host.)
  if (emptyTcPlan(apply)) return null;
  return {
    kind: "qos",
    name: qosStepNameAt(s.at, ifb, s.qos, null),
    bridge: s.at.bridge,
    ifb,
    apply,
    undo: renderQosAt(s.at, ifb, null, s.qos),
    text: tcText(apply),
    live: true,
  };
}

/**
 * The network's bandwidth limits taken away while it keeps running (an overlay member changing role in a gateway
 * move: what the old role made on this host goes before its ports leave the bridge, and the new role's set is
 * applied after they are back, qosStartStep). Undone by applying the set again. null: nothing of a set here.
 */
export function qosStopStep(spec: NetSpec): QosStep | null {
  const s = shapingOf(spec);
  if (!s) return null;
  const ifb = ifbNameFor(spec.uuid);
  const made = renderQosAt(s.at, ifb, s.qos, null);
  if (emptyTcPlan(made)) return null;
  const apply = renderQosAt(s.at, ifb, null, s.qos);
  return {
    kind: "qos",
    name: qosStepNameAt(s.at, ifb, null, s.qos),
    bridge: s.at.bridge,
    ifb,
    apply,
    undo: made,
    text: tcText(apply),
    live: true,
  };
}

/**
 * A network's QoS set and where it is shaped (the routed types: their bridge; a bridge network: its uplink NIC);
 * null when it has no set or nowhere to shape it.
 */
export function shapingOf(spec: NetSpec): { at: ShapedAt; qos: QosSpec } | null {
  const model = modelOf(spec);
  const view = model.view(spec);
  const qos = view.qos;
  const bridge = model.addressing(spec)?.bridge;
  const at: ShapedAt | null = view.shapedAt ?? (bridge ? { bridge, uplink: null } : null);
  if (!qos || !hasQos(qos) || !at) return null;
  return { at, qos };
}

/**
 * A bridge network's shaping taken away before its NIC is given back (delete-network): netforge's qdiscs on the
 * uplink are the host's NIC's, which outlives the network. Undone by applying the set again.
 */
function uplinkQosRemoval(spec: NetSpec | null): HostStep[] {
  const s = spec ? shapingOf(spec) : null;
  if (!spec || !s || s.at.uplink === null) return [];
  const ifb = ifbNameFor(spec.uuid);
  const apply = renderQosAt(s.at, ifb, null, s.qos);
  return [
    {
      kind: "qos",
      name: `remove bandwidth limits from uplink ${s.at.uplink} (tc)`,
      bridge: s.at.bridge,
      ifb,
      apply,
      undo: renderQosAt(s.at, ifb, s.qos, null),
      text: tcText(apply),
      live: true,
    },
  ];
}

/**
 * What stopping a running network runs: what the type made on libvirt's bridge goes first, then libvirt's stop,
 * then its part leaves the table (it stays in the spec).
 */
function stopSteps(name: string, net: Pick<NetworkFacts, "active" | "firewall">, spec: NetSpec | null = null): HostStep[] {
  const steps: HostStep[] = [];
  if (net.active && spec) steps.push(...(modelOf(spec).hostSteps?.beforeStop?.(spec) ?? []));
  if (net.active)
    steps.push({
      kind: "virsh",
      name: "stop network",
      args: ["net-destroy", name],
      undo: ["net-start", name],
      undoName: "restart network",
      live: true,
    });
  if (net.firewall) steps.push(nftStep("remove firewall (one nft transaction)", name, null));
  return steps;
}

/** stop-network. */
export function planStop(name: string, net: Pick<NetworkFacts, "active" | "firewall">, spec: NetSpec | null = null): JobPlan {
  return { phases: [{ step: "stopping network", hostSteps: stopSteps(name, net, spec) }], warnings: [] };
}

/** A network with an MTU: its DHCP options file goes with it (docs/adr/0042-network-mtu.md); nothing to undo. */
function optionsFileRemoval(spec: NetSpec | null): HostStep[] {
  if (!spec || modelOf(spec).view(spec).mtu === null) return [];
  return [
    { kind: "command", name: "remove the DHCP options file", argv: ["rm", "-f", dhcpOptionsFile(spec.uuid)], undo: null, live: false },
  ];
}

/**
 * A network with outbound limits or a VM's inbound limit: its IFBs go with it (docs/adr/0044-network-qos.md);
 * gone already is fine.
 */
function ifbRemoval(spec: NetSpec | null): HostStep[] {
  const qos = spec ? modelOf(spec).view(spec).qos : null;
  if (!spec || !qos) return [];
  const ifb = ifbNameFor(spec.uuid);
  // A bridge network's IFB (inbound) goes with its uplink's shaping (uplinkQosRemoval).
  if (shapingOf(spec)?.at.uplink) return [];
  const at = shapingOf(spec)?.at;
  // What the set made here (an overlay member makes IFBs for its VMs' limits only).
  const made = at ? renderQosAt(at, ifb, qos, null) : null;
  const devs = made
    ? [...(made.ifb ? [ifb] : []), ...(made.ifbIn ? [inboundIfbOf(ifb)] : [])]
    : [...(limitsDirection(qos, "outbound") ? [ifb] : []), ...(limitsVms(qos, "inbound") ? [inboundIfbOf(ifb)] : [])];
  return devs.map((dev) => ({
    kind: "command" as const,
    name: dev === ifb ? "remove the bandwidth limits' IFB device" : "remove the bandwidth limits' inbound IFB device",
    argv: ["ip", "link", "del", dev],
    undo: null,
    allowFailure: true,
    live: true as const,
  }));
}

/** delete-network: stop (when running), remove the definition, then give back what the type took on the host. */
export function planDelete(spec: NetSpec | null, name: string, net: NetworkFacts, facts: HostFacts): JobPlan {
  // Undone by defining it again as it is now, with its autostart flag.
  const removal: HostStep = {
    kind: "virsh",
    name: "remove definition",
    args: ["net-undefine", name],
    undo: { define: net.xml, autostart: net.autostart },
    undoName: "redefine network",
    live: false,
  };
  const phases: JobPlan["phases"] = [];
  if (net.active) phases.push({ step: "stopping network", hostSteps: stopSteps(name, net, spec) });
  phases.push({
    step: "removing definition",
    hostSteps: [
      removal,
      ...uplinkQosRemoval(spec),
      ...(spec ? (modelOf(spec).hostSteps?.tearDown(spec, facts) ?? []) : []),
      ...optionsFileRemoval(spec),
      ...ifbRemoval(spec),
    ],
  });
  return { phases, warnings: [] };
}
