'use strict';
// tests/node/stripe_signatures.js: the engine's POST /v1/webhooks/stripe against an independent
// signer, the official `stripe` npm package (webhooks.generateTestHeaderString). Headers it
// makes must be accepted and the event stored (seen through GET /v1/admin/webhooks/inbox);
// the same header over an altered payload, a timestamp older than the 5-minute tolerance, the
// wrong secret, a non-v1 scheme or no header at all must be refused with 400 invalid_signature
// and store nothing. The package's own verifier (webhooks.constructEvent) is asked too, so the
// two implementations are seen to agree.
//
// Environment (set by tests/integration/node_clients_test.cpp):
//   TALLY_NODE_ENGINE_URL                the engine, e.g. http://127.0.0.1:41234
//   TALLY_NODE_STRIPE_WEBHOOK_SECRET     the engine's TALLY_STRIPE_WEBHOOK_SECRET
//   TALLY_NODE_ADMIN_KEY                 the engine's admin API key (Bearer)
// Prints `STORED {"event_id":...,"payload":...}` for each event the engine must hold (the C++
// test compares the stored raw bodies), then `PASS stripe_signatures: <n> checks`; exit 1 with
// `FAIL: ...` otherwise.

const crypto = require('crypto');
const Stripe = require('stripe');
const {check, equal, rejection, run, env} = require('./check');

const toleranceS = 300;  // API.md: "older than 5 minutes" is refused (Stripe's default too)

function randomId(prefix) {
  return prefix + crypto.randomBytes(12).toString('hex');
}

// A payment_intent.succeeded event as Stripe sends it (API version 2024-06-20 shape, trimmed).
function eventPayload(eventId, intentId, amount) {
  const created = Math.floor(Date.now() / 1000);
  return JSON.stringify({
    id: eventId,
    object: 'event',
    api_version: '2024-06-20',
    created,
    data: {
      object: {
        id: intentId,
        object: 'payment_intent',
        amount,
        amount_received: amount,
        currency: 'thb',
        status: 'succeeded',
        metadata: {purchase_id: 'pur_node_stripe'},
        created,
        livemode: false,
      },
    },
    livemode: false,
    pending_webhooks: 1,
    request: {id: null, idempotency_key: null},
    type: 'payment_intent.succeeded',
  }, null, 2);  // pretty-printed, as Stripe delivers it: the bytes are what is signed
}

async function main() {
  const engine = env('TALLY_NODE_ENGINE_URL').replace(/\/$/, '');
  const secret = env('TALLY_NODE_STRIPE_WEBHOOK_SECRET');
  const adminKey = env('TALLY_NODE_ADMIN_KEY');
  console.log(`stripe ${Stripe.PACKAGE_VERSION} signing for ${engine}/v1/webhooks/stripe`);
  const stripe = new Stripe('sk_test_node_clients_unused');  // only its webhook helpers are used
  const receiver = `${engine}/v1/webhooks/stripe`;

  async function deliver(payload, header) {
    const headers = {'Content-Type': 'application/json', 'User-Agent': 'Stripe/1.0 (+https://stripe.com/docs/webhooks)'};
    if (header !== undefined) {
      headers['Stripe-Signature'] = header;
    }
    const response = await fetch(receiver, {method: 'POST', headers, body: payload});
    const text = await response.text();
    return {status: response.status, type: response.headers.get('content-type') || '', text};
  }

  function accepted(what, response) {
    equal(`${what}: status`, response.status, 200);
    equal(`${what}: body`, JSON.parse(response.text), {received: true});
  }

  function refused(what, response) {
    equal(`${what}: status`, response.status, 400);
    check(`${what}: a problem document`, response.type.startsWith('application/problem+json'), response);
    equal(`${what}: problem code`, JSON.parse(response.text).code, 'invalid_signature');
  }

  async function inbox() {
    const response = await fetch(`${engine}/v1/admin/webhooks/inbox?limit=100`, {
      headers: {Authorization: `Bearer ${adminKey}`},
    });
    equal('GET /v1/admin/webhooks/inbox: status', response.status, 200);
    const body = await response.json();
    return body.items.filter((item) => item.gateway === 'stripe');
  }

  const now = () => Math.floor(Date.now() / 1000);
  const stored = [];

  // 1. A fresh signature from the package: accepted and stored.
  const eventId = randomId('evt_1Node');
  const intentId = randomId('pi_3Node');
  const payload = eventPayload(eventId, intentId, 9900);
  const header = stripe.webhooks.generateTestHeaderString({payload, secret});
  check('generateTestHeaderString gives t=...,v1=...', /^t=\d+,v1=[0-9a-f]{64}$/.test(header), header);
  const parsed = stripe.webhooks.constructEvent(payload, header, secret);
  equal('the package\'s own verifier accepts it: event id', parsed.id, eventId);
  accepted('signed delivery', await deliver(payload, header));
  stored.push({event_id: eventId, payload});

  let rows = await inbox();
  const row = rows.find((item) => item.event_id === eventId);
  check('the event is in the admin inbox', row !== undefined, rows);
  equal('inbox: gateway', row.gateway, 'stripe');
  equal('inbox: event_key', row.event_key, 'payment_intent.succeeded');
  equal('inbox: object_id', row.object_id, intentId);
  equal('inbox: body_bytes', row.body_bytes, Buffer.byteLength(payload));

  // A redelivery, signed anew: 200, no second row.
  accepted('redelivery', await deliver(payload, stripe.webhooks.generateTestHeaderString({payload, secret})));

  // 2. The same header over an altered payload (amount raised): refused.
  const altered = payload.replace('"amount": 9900', '"amount": 990000');
  check('the payload was altered', altered !== payload);
  await rejection('the package\'s own verifier on the altered payload',
      Promise.resolve().then(() => stripe.webhooks.constructEvent(altered, header, secret)));
  refused('altered payload, original header', await deliver(altered, header));
  // ... and one whitespace byte is enough.
  refused('payload with one extra space, original header', await deliver(payload + ' ', header));

  // 3. Timestamps: older than the tolerance is refused, inside it is accepted.
  const staleEvent = randomId('evt_1Stale');
  const stalePayload = eventPayload(staleEvent, randomId('pi_3Stale'), 9900);
  const staleHeader = stripe.webhooks.generateTestHeaderString({payload: stalePayload, secret, timestamp: now() - toleranceS - 60});
  await rejection('the package\'s own verifier on the stale header',
      Promise.resolve().then(() => stripe.webhooks.constructEvent(stalePayload, staleHeader, secret)));
  refused(`timestamp ${toleranceS + 60} s old`, await deliver(stalePayload, staleHeader));
  refused('timestamp a day old',
      await deliver(stalePayload, stripe.webhooks.generateTestHeaderString({payload: stalePayload, secret, timestamp: now() - 86400})));

  const lateEvent = randomId('evt_1Late');
  const latePayload = eventPayload(lateEvent, randomId('pi_3Late'), 44900);
  accepted(`timestamp ${toleranceS - 60} s old`,
      await deliver(latePayload, stripe.webhooks.generateTestHeaderString({payload: latePayload, secret, timestamp: now() - (toleranceS - 60)})));
  stored.push({event_id: lateEvent, payload: latePayload});

  // 4. Other secrets, schemes, or no header.
  const otherEvent = randomId('evt_1Other');
  const otherPayload = eventPayload(otherEvent, randomId('pi_3Other'), 9900);
  refused('signed with another secret',
      await deliver(otherPayload, stripe.webhooks.generateTestHeaderString({payload: otherPayload, secret: 'whsec_not_the_engines_secret'})));
  refused('a v0 signature only (Stripe\'s test scheme)',
      await deliver(otherPayload, stripe.webhooks.generateTestHeaderString({payload: otherPayload, secret, scheme: 'v0'})));
  refused('no Stripe-Signature header', await deliver(otherPayload, undefined));
  refused('an empty Stripe-Signature header', await deliver(otherPayload, ''));

  // 5. A secret rotation: the header carries the old secret's v1 and the new one's (as Stripe
  // sends for 24 hours after rolling a secret): accepted.
  const rotatedEvent = randomId('evt_1Rotate');
  const rotatedPayload = eventPayload(rotatedEvent, randomId('pi_3Rotate'), 159900);
  const t = now();
  const oldSigned = stripe.webhooks.generateTestHeaderString({payload: rotatedPayload, secret: 'whsec_rolled_away', timestamp: t});
  const newSigned = stripe.webhooks.generateTestHeaderString({payload: rotatedPayload, secret, timestamp: t});
  const rotatedHeader = `${oldSigned},${newSigned.split(',')[1]}`;
  equal('the package\'s own verifier accepts the rotated header', stripe.webhooks.constructEvent(rotatedPayload, rotatedHeader, secret).id, rotatedEvent);
  accepted('two v1 signatures, the second valid', await deliver(rotatedPayload, rotatedHeader));
  stored.push({event_id: rotatedEvent, payload: rotatedPayload});

  // The inbox holds exactly the accepted events, once each.
  rows = await inbox();
  equal('stripe events in the inbox', rows.map((item) => item.event_id).sort(), stored.map((s) => s.event_id).sort());
  for (const s of stored) {
    console.log(`STORED ${JSON.stringify(s)}`);
  }
}

run('stripe_signatures', main);
