/**
 * The netforge console (served by the API at /console): sign in with a token, then the fleet, the networks,
 * a network's page, a new network and the jobs, each page live from the API's event stream. Routing is the
 * URL's fragment (#/networks...), so every page has an address and the server serves one document.
 */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, request, session } from "./api";
import { ErrorBox } from "./flow";
import { html } from "./html";
import { CreatePage, FleetPage, JobsPage, NetworkPage, NetworksPage } from "./pages";

function useRoute(): { path: string; params: URLSearchParams } {
  const read = () => {
    const [path, query] = (location.hash.replace(/^#/, "") || "/fleet").split("?");
    return { path: path ?? "/fleet", params: new URLSearchParams(query ?? "") };
  };
  const [route, setRoute] = useState(read);
  useEffect(() => {
    const on = () => setRoute(read());
    addEventListener("hashchange", on);
    return () => removeEventListener("hashchange", on);
  }, []);
  return route;
}

type Role = "viewer" | "operator" | "admin";

/** The token's role (GET /api/whoami): what the header offers (an admin's queue dashboard). */
const whoami = async (): Promise<Role> => ((await request<{ role: Role }>("GET", "/api/whoami")) as { role: Role }).role;

function SignIn({ onSignedIn }: { onSignedIn: (role: Role) => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    session.signIn(token.trim());
    try {
      // Any token the API knows has a role; one it does not know is refused here (401).
      onSignedIn(await whoami());
    } catch (err) {
      session.signOut();
      setError(err);
    }
  };
  return html`<main id="main"><h1>netforge</h1>
    <form class="stack signin" onSubmit=${submit}>
      <label>API token <input type="password" name="token" autocomplete="off" value=${token}
        onInput=${(e: Event) => setToken((e.target as HTMLInputElement).value)} /></label>
      <p class="hint">Kept in this tab only (session storage), sent as a bearer token.</p>
      <button type="submit" class="primary">Sign in</button>
      <${ErrorBox} error=${error} />
    </form></main>`;
}

const PAGES: [string, string][] = [
  ["/fleet", "Fleet"],
  ["/networks", "Networks"],
  ["/create", "New network"],
  ["/jobs", "Jobs"],
];

/**
 * The queue dashboard (Bull Board) for an admin: the token goes in a header to POST /api/queue-dashboard/session,
 * which sets the dashboard's HttpOnly cookie; then the page opens with no token in its URL (never
 * `?access_token=`: an address ends up in history, logs and Referer headers).
 */
function QueueLink() {
  const [error, setError] = useState<unknown>(null);
  const open = async (e: Event) => {
    e.preventDefault();
    setError(null);
    try {
      const r = await request<{ dashboard: string }>("POST", "/api/queue-dashboard/session");
      location.assign(r?.dashboard ?? "/admin/queues");
    } catch (err) {
      setError(err);
    }
  };
  return html`<a href="/admin/queues" class="queues" onClick=${open}>Queue dashboard</a>${error ? html`<${ErrorBox} error=${error} />` : null}`;
}

function App() {
  const [signedIn, setSignedIn] = useState(session.token() !== null);
  const [role, setRole] = useState<Role | null>(null);
  const { path, params } = useRoute();
  useEffect(() => {
    if (signedIn && role === null)
      whoami()
        .then(setRole)
        .catch(() => {});
  }, [signedIn]);
  if (!signedIn)
    return html`<${SignIn}
      onSignedIn=${(r: Role) => {
        setRole(r);
        setSignedIn(true);
      }}
    />`;
  const signOut = () => {
    // The dashboard's cookie (if this browser opened it) goes with the session; the answer is not waited for.
    request("DELETE", "/api/queue-dashboard/session").catch(() => {});
    session.signOut();
    setRole(null);
    setSignedIn(false);
  };
  let page: unknown;
  if (path.startsWith("/network/")) page = html`<${NetworkPage} name=${decodeURIComponent(path.slice("/network/".length))} />`;
  else if (path === "/networks") page = html`<${NetworksPage} params=${params} />`;
  else if (path === "/create") page = html`<${CreatePage} />`;
  else if (path === "/jobs") page = html`<${JobsPage} />`;
  else page = html`<${FleetPage} />`;
  return html`<div>
    <a class="skip" href="#main" onClick=${(e: Event) => {
      e.preventDefault();
      document.getElementById("main")?.focus();
    }}>Skip to content</a>
    <header><span class="brand">netforge</span>
      <nav aria-label="Pages"><ul>${PAGES.map(
        ([p, label]) => html`<li><a href=${`#${p}`} aria-current=${path === p ? "page" : undefined}>${label}</a></li>`,
      )}</ul></nav>
      ${role === "admin" ? html`<${QueueLink} />` : null}
      ${role ? html`<span class="role">Role: ${role}</span>` : null}
      <button type="button" onClick=${signOut}>Sign out</button>
    </header>
    <main id="main" tabindex="-1">${page}</main>
  </div>`;
}

// A token the API stopped accepting (revoked, expired) sends the tab back to the sign-in page.
addEventListener("unhandledrejection", (e) => {
  if (e.reason instanceof ApiError && e.reason.status === 401) session.signOut();
});

render(html`<${App} />`, document.getElementById("app") as HTMLElement);
