/**
 * A change with a preview: the dry run's answer shown verbatim (each step's exact command, warnings), applied
 * on confirmation with the plan's hash and the version it was previewed on (a change made meanwhile: 412, and
 * a fresh preview is offered); the job's steps then follow live from its event stream.
 */
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, session, shellLine, stream } from "./api";
import { html } from "./html";

export interface Step {
  step: string;
  name: string;
  command: string[];
  xml?: string;
  nft?: string;
  live: boolean;
}
export interface Plan {
  host?: string;
  planHash: string;
  steps: Step[];
  warnings?: string[];
  changed?: string[];
  notLive?: string[];
}
export interface Job {
  id: string;
  action: string;
  network: string | null;
  host: string | null;
  state: string;
  progress: {
    percent: number;
    step: string | null;
    steps: { name: string; state: string; startedAt: string | null; finishedAt: string | null }[];
  };
  error: { code: string; message: string; details?: Record<string, unknown> } | null;
  warnings: string[];
  createdAt: string;
  startedAt: string | null;
  finishedAt: string | null;
}

export function ErrorBox({ error }: { error: unknown }) {
  if (!error) return null;
  if (error instanceof ApiError) {
    const fields = error.fields;
    return html`<div class="error" role="alert">
      <strong>${error.body.code}</strong> (HTTP ${error.status}): ${error.body.message}
      ${fields.length > 0 ? html`<div>Field: ${fields.map((f, i) => html`${i > 0 ? ", " : ""}<code>${f}</code>`)}</div>` : null}
    </div>`;
  }
  return html`<div class="error" role="alert">${String((error as Error).message ?? error)}</div>`;
}

export function PlanView({ plan }: { plan: Plan }) {
  return html`<section class="plan" aria-label="Preview">
    <h3>Preview${plan.host ? html` on host <code>${plan.host}</code>` : null}</h3>
    ${(plan.changed ?? []).length > 0 ? html`<ul class="changed">${plan.changed?.map((c) => html`<li>${c}</li>`)}</ul>` : null}
    ${(plan.warnings ?? []).map((w) => html`<div class="warning" role="status">Warning: ${w}</div>`)}
    ${(plan.notLive ?? []).map((w) => html`<div class="warning">Not live: ${w}</div>`)}
    ${
      plan.steps.length === 0
        ? html`<p>Nothing to change.</p>`
        : html`<ol class="steps">
            ${plan.steps.map(
              (s) => html`<li>
                <span class="step-name">${s.name}</span> <span class="tag">${s.live ? "live" : "definition"}</span>
                <pre class="cmd">${shellLine(s.command)}</pre>
                ${s.nft ? html`<details><summary>nft rules</summary><pre>${s.nft}</pre></details>` : null}
                ${s.xml ? html`<details><summary>libvirt XML</summary><pre>${s.xml}</pre></details>` : null}
              </li>`,
            )}
          </ol>`
    }
  </section>`;
}

const durationOf = (s: { startedAt: string | null; finishedAt: string | null }) =>
  s.startedAt && s.finishedAt ? `${Date.parse(s.finishedAt) - Date.parse(s.startedAt)} ms` : "";

export function JobSteps({ job }: { job: Job }) {
  return html`<div class="job" aria-live="polite">
    <div>Job <code>${job.id}</code> (${job.action}${job.network ? html` of <code>${job.network}</code>` : null}):
      <strong class=${`state state-${job.state}`}>${job.state}</strong></div>
    <table>
      <thead><tr><th scope="col">Step</th><th scope="col">State</th><th scope="col">Took</th></tr></thead>
      <tbody>${job.progress.steps.map((s) => html`<tr><td>${s.name}</td><td>${s.state}</td><td>${durationOf(s)}</td></tr>`)}</tbody>
    </table>
    ${job.error ? html`<div class="error" role="alert"><strong>${job.error.code}</strong>: ${job.error.message}</div>` : null}
    ${job.warnings.map((w) => html`<div class="warning">Warning: ${w}</div>`)}
  </div>`;
}

/** Follow a job from its event stream to its end (the snapshot first, then every event). */
export function useJob(id: string | null): Job | null {
  const [job, setJob] = useState<Job | null>(null);
  useEffect(() => {
    if (id === null) return;
    const ac = new AbortController();
    stream(`/api/jobs/${encodeURIComponent(id)}/events`, (e) => setJob(JSON.parse(e.data) as Job), ac.signal).catch(() => {
      // The stream ends with the job or when the page leaves; a lost stream: read the job once.
      if (!ac.signal.aborted)
        fetchJob(id)
          .then(setJob)
          .catch(() => {});
    });
    return () => ac.abort();
  }, [id]);
  return job;
}

async function fetchJob(id: string): Promise<Job> {
  const res = await fetch(`/api/jobs/${encodeURIComponent(id)}`, { headers: { authorization: `Bearer ${session.token()}` } });
  return ((await res.json()) as { job: Job }).job;
}

export interface ChangeProps {
  action: string;
  /** The request body (without dryRun/expectPlan); null: the form is not complete yet. */
  body: Record<string, unknown> | null;
  /** The network version the form was built from (sent as If-Match). */
  version?: number;
  label: string;
  onDone?: (job: Job) => void;
}

/** Preview → Apply → live job. */
export function ChangeFlow({ action, body, version, label, onDone }: ChangeProps) {
  const [plan, setPlan] = useState<Plan | null>(null);
  const [previewed, setPreviewed] = useState<string | null>(null);
  const [error, setError] = useState<unknown>(null);
  const [jobId, setJobId] = useState<string | null>(null);
  const [busy, setBusy] = useState(false);
  const job = useJob(jobId);
  const current = JSON.stringify(body);
  useEffect(() => {
    if (job && (job.state === "succeeded" || job.state === "failed")) onDone?.(job);
  }, [job?.state]);
  const preview = async () => {
    if (body === null) return;
    setBusy(true);
    setError(null);
    setJobId(null);
    try {
      const r = await call<{ plan: Plan }>(action, { ...body, dryRun: true }, { ifMatch: version });
      setPlan(r.plan);
      setPreviewed(current);
    } catch (err) {
      setPlan(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const apply = async () => {
    if (body === null || plan === null) return;
    setBusy(true);
    setError(null);
    try {
      const r = await call<{ job: Job }>(action, { ...body, expectPlan: plan.planHash }, { ifMatch: version });
      setJobId(r.job.id);
      setPlan(null);
    } catch (err) {
      // A change made since the preview (412) or a plan that differs: preview again.
      setPlan(null);
      setError(err);
    } finally {
      setBusy(false);
    }
  };
  const stale = plan !== null && previewed !== current;
  return html`<div class="flow">
    <button type="button" onClick=${preview} disabled=${busy || body === null}>Preview ${label}</button>
    ${
      plan && !stale
        ? html`<${PlanView} plan=${plan} /><button type="button" class="primary" onClick=${apply} disabled=${busy}>Apply ${label}</button>`
        : null
    }
    ${stale ? html`<p class="warning">The form changed since the preview: preview again.</p>` : null}
    <${ErrorBox} error=${error} />
    ${job ? html`<${JobSteps} job=${job} />` : null}
  </div>`;
}
