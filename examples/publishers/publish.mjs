// Minimal eventchain publisher (Node.js, npm packages "nats" 2.x).
import { connect, headers } from "nats";

const envelope = {
  touchpoint_id: "wf-2026-000123",
  channel: "web_form",
  occurred_at: "2026-03-02T09:15:00+08:00",
  direction: "inbound",
  actor: null,
  identities: [{ kind: "phone", value: "13800138000" }],
  payload: { form_id: "contact-us" },
};

const nc = await connect({ servers: "nats://127.0.0.1:4222" });
const js = nc.jetstream();
const h = headers();
h.set("Nats-Msg-Id", envelope.touchpoint_id);
const data = new TextEncoder().encode(JSON.stringify(envelope));
for (;;) { // no ack: publish again; the Nats-Msg-Id makes repeats harmless
  try {
    const ack = await js.publish(`touchpoints.${envelope.channel}`, data, { headers: h, timeout: 5000 });
    console.log(`stored as seq ${ack.seq} (duplicate=${ack.duplicate})`);
    break;
  } catch {
    await new Promise((r) => setTimeout(r, 1000));
  }
}
await nc.drain();
