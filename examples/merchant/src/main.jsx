// The merchant example's page: Lava's own checkout package opens the (local) Lava's hosted
// checkout; after onSuccess the backend confirms the checkout with Lava over REST before this
// browser counts as that customer; then prompts go through the sidecar, billed to them.
import { useEffect, useState } from "react";
import { createRoot } from "react-dom/client";
import { useLavaCheckout } from "@lavapayments/checkout";

async function api(path, body) {
  const response = await fetch(path, {
    method: body === undefined ? "GET" : "POST",
    headers: body === undefined ? {} : { "Content-Type": "application/json" },
    body: body === undefined ? undefined : JSON.stringify(body),
    credentials: "same-origin",
  });
  const doc = await response.json().catch(() => ({ error: `HTTP ${response.status}` }));
  if (!response.ok) throw new Error(doc.error || `HTTP ${response.status}`);
  return doc;
}

// Lava's amounts are decimal strings; a request often costs a fraction of a cent.
function dollars(text) {
  const n = Number(text);
  if (!Number.isFinite(n)) return text;
  const [whole, frac = ""] = n.toFixed(6).split(".");
  return `$${whole}.${frac.replace(/0+$/, "").padEnd(2, "0")}`;
}

function App() {
  const [config, setConfig] = useState(null);
  const [account, setAccount] = useState(null);
  const [status, setStatus] = useState("");
  const [event, setEvent] = useState(null);
  const [prompt, setPrompt] = useState("Say hello to a new subscriber.");
  const [answer, setAnswer] = useState(null);
  const [busy, setBusy] = useState(false);

  useEffect(() => {
    api("/api/config")
      .then((doc) => { setConfig(doc); setAccount(doc.customer); })
      .catch((e) => setStatus(`Could not load the plan: ${e.message}`));
  }, []);

  const { open } = useLavaCheckout({
    // The package passes { checkoutSessionId, connectionId } (Lava's customer id). It accepts a
    // message from any origin, so the backend asks Lava before trusting it.
    onSuccess: async ({ checkoutSessionId, connectionId }) => {
      setEvent({ kind: "success", checkoutSessionId, connectionId });
      setStatus("Checkout finished; confirming with Lava…");
      try {
        const confirmed = await api("/api/confirm", { checkout_session_id: checkoutSessionId });
        setAccount(confirmed);
        setStatus(`Confirmed by Lava: customer ${confirmed.customer_id}`);
      } catch (e) {
        setStatus(`Not confirmed: ${e.message}`);
      }
    },
    onCancel: ({ checkoutSessionId }) => {
      setEvent({ kind: "cancel", checkoutSessionId, connectionId: null });
      setStatus("Checkout cancelled: nothing was charged.");
    },
    onError: ({ error }) => setStatus(`The checkout could not open: ${error}`),
  });

  async function start(path) {
    setStatus("Opening Lava's checkout…");
    try {
      const { checkout_session_token } = await api(path, {});
      open(checkout_session_token);
    } catch (e) {
      setStatus(`Could not start a checkout: ${e.message}`);
    }
  }

  async function send(e) {
    e.preventDefault();
    setBusy(true);
    try {
      const doc = await api("/api/prompt", { prompt });
      setAnswer(doc);
      setAccount({ customer_id: doc.customer_id, plan: doc.plan, credits: doc.credits });
    } catch (err) {
      setAnswer({ error: err.message });
    } finally {
      setBusy(false);
    }
  }

  const plan = config && config.plan;
  return (
    <main>
      <h1>Acme Writer</h1>
      <p className="lede">An AI feature sold by subscription, billed per token through Lava.</p>
      {plan && (
        <section className="plan" id="plan">
          <h2>{plan.name}</h2>
          <p><b>{dollars(plan.price)}</b> per {plan.interval}, {dollars(plan.included_credit)} of
            usage included.</p>
          <button id="subscribe" onClick={() => start("/api/checkout")}>Subscribe</button>
        </section>
      )}
      <p id="status" role="status">{status}</p>
      {event && (
        <pre id="event" data-kind={event.kind} data-session={event.checkoutSessionId}
             data-customer={event.connectionId || ""}>{JSON.stringify(event)}</pre>
      )}
      {account && (
        <section className="account" id="account">
          <p>Customer <code id="customer">{account.customer_id}</code> on {account.plan || "no plan"};
            credit left <b id="credits">{account.credits === null ? "none" : dollars(account.credits)}</b></p>
          {config && config.bundle && (
            <button id="topup" onClick={() => start("/api/topup")}>
              Buy {config.bundle.name} ({dollars(config.bundle.cost)})
            </button>
          )}
          <form onSubmit={send}>
            <label htmlFor="prompt">Prompt</label>
            <textarea id="prompt" value={prompt} onChange={(e) => setPrompt(e.target.value)} rows={3} />
            <button id="send" type="submit" disabled={busy}>Send through the sidecar</button>
          </form>
          {answer && answer.error && <p id="error" className="error">{answer.error}</p>}
          {answer && !answer.error && (
            <div id="answer">
              <p id="reply">{answer.reply}</p>
              <p id="usage" data-tokens={answer.usage ? answer.usage.total_tokens : ""}
                 data-lava-requests={answer.lava.total_requests}>
                This prompt: {answer.usage ? answer.usage.total_tokens : "?"} tokens. Lava billed
                this customer today: {answer.lava.total_requests} requests,{" "}
                {answer.lava.total_usage_tokens} tokens, {dollars(answer.lava.total_charge)}.
              </p>
            </div>
          )}
        </section>
      )}
    </main>
  );
}

createRoot(document.getElementById("root")).render(<App />);
