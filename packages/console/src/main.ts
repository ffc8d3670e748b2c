/**
 * The netforge console (served by the API at /console): sign in with a token, then the fleet, the networks,
 * a network's page, a new network and the jobs, each page live from the API's event stream. Routing is the
 * URL's fragment (#/networks...), so every page has an address and the server serves one document.
 */
import { render } from "preact";
import { useEffect, useState } from "preact/hooks";
import { ApiError, call, session } from "./api";
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

function SignIn({ onSignedIn }: { onSignedIn: () => void }) {
  const [token, setToken] = useState("");
  const [error, setError] = useState<unknown>(null);
  const submit = async (e: Event) => {
    e.preventDefault();
    session.signIn(token.trim());
    try {
      // Any viewer may list hosts: a token the API does not know is refused here (401).
      await call("list-hosts", {});
      onSignedIn();
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

function App() {
  const [signedIn, setSignedIn] = useState(session.token() !== null);
  const { path, params } = useRoute();
  if (!signedIn) return html`<${SignIn} onSignedIn=${() => setSignedIn(true)} />`;
  const signOut = () => {
    session.signOut();
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
