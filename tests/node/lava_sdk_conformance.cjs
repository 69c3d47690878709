// Lava's official Node SDK (@lavapayments/nodejs) against `lava-sidecar dev-gateway`: every
// documented call a merchant's backend makes, as the SDK makes it. Run by
// tests/emulator/test_node_sdk.py, which starts the gateway and checks the tokens printed here.
//
//   LAVA_BASE_URL=http://127.0.0.1:PORT/v1/ LAVA_SECRET_KEY=aks_test_… SIDECAR_TOKEN=… \
//     node tests/node/lava_sdk_conformance.cjs
//
// Prints one JSON document on stdout; exits 1 naming the first step that failed.
"use strict";

const { Lava } = require("@lavapayments/nodejs");

const baseUrl = process.env.LAVA_BASE_URL;
const lava = new Lava(process.env.LAVA_SECRET_KEY, { baseUrl });
const out = { steps: [], tokens: {} };

function check(cond, what) {
  if (!cond) throw new Error(`expected ${what}`);
}

async function step(name, fn) {
  try {
    const value = await fn();
    out.steps.push(name);
    return value;
  } catch (err) {
    process.stdout.write(JSON.stringify({ ...out, failed: name, error: String(err && err.message || err) }) + "\n");
    process.exit(1);
  }
}

async function main() {
  // -- meters ------------------------------------------------------------------------------
  const meter = await step("meters.create", () => lava.meters.create({
    name: "Chat tokens", meter_slug: "chat-tokens", rate_type: "fixed", tier_type: "tokens_1m",
    tiers: [{ start: "0", rate: "3.00" }],
  }));
  check(meter.meter_id && meter.meter_slug === "chat-tokens", "a meter with its slug");
  const spare = await step("meters.create (percentage, graduated)", () => lava.meters.create({
    name: "Markup", rate_type: "percentage", tier_type: "tokens_1m",
    tiers: [{ start: "0", rate: "20" }, { start: "1000000", rate: "10" }],
  }));
  await step("meters.list", async () => {
    const page = await lava.meters.list({ limit: 1 });
    check(page.data.length === 1 && page.has_more === true && page.next_cursor, "one meter and a cursor");
    const next = await lava.meters.list({ limit: 500, cursor: page.next_cursor });
    check(next.data.length >= 1 && next.has_more === false, "the rest on the second page");
  });
  await step("meters.retrieve", async () => {
    check((await lava.meters.retrieve(meter.meter_id)).meter_id === meter.meter_id, "the meter");
  });
  await step("meters.update", async () => {
    const m = await lava.meters.update(meter.meter_id, { name: "Chat", tiers: [{ start: "0", rate: "3.00" }] });
    check(m.name === "Chat", "the new name");
  });
  await step("meters.delete", async () => {
    const d = await lava.meters.delete(spare.meter_id);
    check(d.deleted === true, "deleted: true");
  });

  // -- plans and bundles ----------------------------------------------------------------------
  const plan = await step("subscriptions.createPlan", () => lava.subscriptions.createPlan({
    name: "Pro", period_amount: "20.00", billing_interval: "month", rollover_type: "none",
    included_credit: "20.00", meter_ids: [meter.meter_id],
    credit_bundles: [{ name: "Top-up", cost: "5.00", credit_amount: "5.00" }],
    default_auto_top_up_bundle_index: null,
  }));
  check(plan.plan_id && plan.linked_meters.length === 1, "a plan linked to the meter");
  const free = await step("subscriptions.createPlan (free)", () => lava.subscriptions.createPlan({
    name: "Free tier", period_amount: "0", billing_interval: "month",
  }));
  await step("subscriptions.listPlans", async () => {
    check((await lava.subscriptions.listPlans()).data.length >= 2, "the plans");
  });
  await step("subscriptions.retrievePlan", async () => {
    check((await lava.subscriptions.retrievePlan(plan.plan_id)).plan_id === plan.plan_id, "the plan");
  });
  await step("subscriptions.updatePlan", async () => {
    check((await lava.subscriptions.updatePlan(plan.plan_id, { name: "Pro+" })).name === "Pro+", "the new name");
  });
  await step("creditBundles.list", async () => {
    const bundles = await lava.creditBundles.list({ plan_id: plan.plan_id });
    check(bundles.data.length === 1, "the plan's bundle");
    const one = await lava.creditBundles.retrieve(bundles.data[0].credit_bundle_id);
    check(one.plan_id === plan.plan_id, "the bundle");
  });

  // -- checkout and customers -------------------------------------------------------------------
  const session = await step("checkoutSessions.create", () => lava.checkoutSessions.create({
    checkout_mode: "subscription", origin_url: "http://localhost:3000", plan_id: plan.plan_id,
  }));
  check(session.checkout_session_id && session.checkout_session_token, "a session and its token");
  // What the hosted checkout does when the buyer pays: dev-gateway's own completion route.
  const done = await step("checkout completion (dev-gateway only)", async () => {
    const r = await fetch(`${baseUrl}checkout_sessions/${session.checkout_session_id}/complete`, {
      method: "POST", headers: { Authorization: `Bearer ${process.env.LAVA_SECRET_KEY}`, "Content-Type": "application/json" },
      body: JSON.stringify({ phone: "+15555550100", email: "ada@example.com" }),
    });
    check(r.ok, `200 from the completion route, got ${r.status}`);
    return r.json();
  });
  const customerId = done.customer_id;
  check(customerId, "a customer from the checkout");
  await step("customers.create / update / delete", async () => {
    const c = await lava.customers.create({ reference_id: "user-42", email: "bob@example.com", name: "Bob", metadata: { tier: "gold", seats: 5, beta: true } });
    const u = await lava.customers.update(c.customer_id, { email: null, name: "Robert" });
    check(u.customer_id === c.customer_id, "the updated customer");
    const sub = await lava.subscriptions.create({ customer_id: c.customer_id, plan_id: free.plan_id });
    check(sub, "a free subscription");
    const subs = await lava.subscriptions.list({ customer_id: c.customer_id, status: "all" });
    check(subs.data.length === 1, "the customer's subscription");
    await lava.subscriptions.update(subs.data[0].subscription_id, { auto_top_up_bundle_id: null });
    await lava.subscriptions.cancel(subs.data[0].subscription_id);
    await lava.customers.delete(c.customer_id);
  });
  await step("customers.list / retrieve / getSubscription", async () => {
    check((await lava.customers.list({ limit: 10 })).data.some((c) => c.customer_id === customerId), "the customer listed");
    check((await lava.customers.retrieve(customerId)).customer_id === customerId, "the customer");
    const sub = await lava.customers.getSubscription(customerId);
    check(sub.subscription && sub.subscription.plan_id === plan.plan_id, "the Pro subscription");
  });

  // -- forward tokens and the gateway ---------------------------------------------------------
  out.tokens.customer = lava.generateForwardToken({ customer_id: customerId, meter_slug: meter.meter_slug });
  out.tokens.merchant = lava.generateForwardToken({});
  out.tokens.meter_only = lava.generateForwardToken({ customer_id: null, meter_slug: meter.meter_slug });
  out.tokens.disabled = lava.generateForwardToken({ customer_id: customerId, meter_slug: meter.meter_slug, disable_billing: true });
  out.tokens.byok = lava.generateForwardToken({ customer_id: customerId, meter_slug: meter.meter_slug, provider_key: "sk-own-key" });
  out.customer_id = customerId;
  out.meter_slug = meter.meter_slug;
  const chat = { model: "gpt-4o-mini", messages: [{ role: "user", content: "Hello from Node" }] };
  const reply = await step("gateway (customer)", () => lava.gateway("https://api.openai.com/v1/chat/completions", {
    customer_id: customerId, meter_slug: meter.meter_slug, body: chat,
  }));
  check(reply.usage && reply.usage.total_tokens > 0, "an OpenAI answer with usage");
  out.tokens_told = reply.usage.total_tokens;
  await step("gateway (meter only: customer_id null in the token)", async () => {
    const r = await lava.gateway("https://api.openai.com/v1/chat/completions", { meter_slug: meter.meter_slug, body: chat });
    check(r.usage, "an answer");
  });
  await step("gateway (merchant)", async () => {
    const r = await lava.gateway("https://api.anthropic.com/v1/messages", {
      body: { model: "claude-haiku-4-5", max_tokens: 16, messages: [{ role: "user", content: "hi" }] },
      headers: { "anthropic-version": "2023-06-01" },
    });
    check(r.usage && r.usage.output_tokens > 0, "an Anthropic answer");
  });
  await step("providers.openai with the sidecar's forward token", async () => {
    const r = await fetch(`${lava.providers.openai}/chat/completions`, {
      method: "POST", body: JSON.stringify(chat),
      headers: { Authorization: `Bearer ${process.env.SIDECAR_TOKEN}`, "Content-Type": "application/json" },
    });
    check(r.ok, `200, got ${r.status}`);
    check((r.headers.get("x-lava-request-id") || "").startsWith("req_"), "x-lava-request-id");
    out.sidecar_token_request_id = r.headers.get("x-lava-request-id");
  });

  // -- what was used ------------------------------------------------------------------------------
  await step("usage.retrieve (a start years back)", async () => {
    const u = await lava.usage.retrieve({ start: "2019-01-01T00:00:00Z" });
    check(u.totals.total_requests >= 4, `at least 4 requests, got ${u.totals.total_requests}`);
    const mine = await lava.usage.retrieve({ start: "2015-06-01T00:00:00-05:00", end: new Date(Date.now() + 86400e3).toISOString(), customer_id: customerId, meter_id: meter.meter_id });
    check(mine.totals.total_requests === 1, `the customer's request, got ${mine.totals.total_requests}`);
    out.usage_items = mine.items.length;
  });
  const listed = await step("requests.list", async () => {
    const page = await lava.requests.list({ customer_id: customerId, limit: 100 });
    check(page.data.length === 1, `the customer's request, got ${page.data.length}`);
    return page;
  });
  await step("requests.retrieve", async () => {
    const one = await lava.requests.retrieve(listed.data[0].request_id);
    check(one.request_id === listed.data[0].request_id, "the request");
  });
  await step("requests.create (post-request reporting)", async () => {
    const r = await lava.requests.create({ request_id: "ext_001", customer_id: customerId, meter_slug: meter.meter_slug, input_tokens: 100, output_tokens: 50 });
    check(r.request_id === "ext_001", "the reported request");
  });
  await step("requests.list (metadata_filters)", async () => {
    const page = await lava.requests.list({ metadata_filters: { user_id: "nobody" } });
    check(page.data.length === 0, "no request");
  });

  // -- plumbing ---------------------------------------------------------------------------------
  await step("webhooks.*", async () => {
    const w = await lava.webhooks.create({ name: "Hook", url: "http://127.0.0.1:9/hook" });
    check(w.webhook_secret, "the webhook secret, once");
    check((await lava.webhooks.list()).data.length === 1, "one webhook");
    check((await lava.webhooks.retrieve(w.webhook_id)).url === "http://127.0.0.1:9/hook", "the webhook");
    await lava.webhooks.update(w.webhook_id, { name: "Hook 2" });
    await lava.webhooks.delete(w.webhook_id);
  });
  await step("secretKeys.*", async () => {
    const k = await lava.secretKeys.create({ name: "ci" });
    check(k.secret_key && k.secret_key.startsWith("aks_"), "the new key, once");
    check((await lava.secretKeys.list()).data.length >= 2, "the keys");
    await lava.secretKeys.delete(k.secret_key_id);
  });
  await step("models.list", async () => {
    const models = await lava.models.list();
    check(models.object === "list" && models.data.some((m) => m.id === "gpt-4o-mini"), "an OpenAI-style model list");
  });
  await step("subscriptions.deletePlan", async () => {
    check((await lava.subscriptions.deletePlan(free.plan_id)).deleted === true, "deleted: true");
  });

  process.stdout.write(JSON.stringify(out) + "\n");
}

main().catch((err) => {
  process.stdout.write(JSON.stringify({ ...out, failed: "main", error: String(err && err.stack || err) }) + "\n");
  process.exit(1);
});
