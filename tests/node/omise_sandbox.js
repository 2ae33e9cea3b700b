'use strict';
// tests/node/omise_sandbox.js: Omise fidelity. The official `omise` npm package (an independent
// client: its own HTTP code, JSON bodies, error handling) creates tokens, a source and charges
// against `tally sandbox`, and every object it parses is checked: the fields the test asserts
// and every field the package's own TypeScript declarations promise (omise_types.js).
//
// omise-node 1.x has no port setting: `host`/`vaultHost` are host names handed to Node's
// http.request, and OMISE_SCHEME=http (read from the environment) picks plain HTTP, so it
// connects to port 80. The sandbox therefore listens on a loopback address of its own, port 80.
//
// Environment (set by tests/integration/node_clients_test.cpp):
//   OMISE_SCHEME=http
//   TALLY_NODE_OMISE_HOST    the sandbox's address (serves both the API and the vault)
//   TALLY_NODE_OMISE_PUBLIC_KEY, TALLY_NODE_OMISE_SECRET_KEY   the keys the sandbox accepts
// Exit status 0 and a last line `PASS omise_sandbox: <n> checks`, or 1 with `FAIL: ...`.

const http = require('http');
const omiseFactory = require('omise');
const omisePackage = require('omise/package.json');
const {check, equal, matches, isoTime, rejection, run, env, fail, show} = require('./check');
const {missingFields} = require('./omise_types');

// Fields the package's declarations list that Omise's recorded responses do not carry either
// (shared/fixtures/omise, from omise-go's testdata) nor its docs describe: the declarations
// are stricter than the wire there, so the sandbox is not asked for them.
const notOnTheWire = {
  'Sources.IScannableCode': ['id', 'created_at'],  // recorded: {object, type, image} only
};

function checkDeclaredShape(what, object, namespace, name) {
  const exempt = notOnTheWire[`${namespace}.${name}`] || [];
  const missing = missingFields(object, namespace, name).filter((f) => !exempt.includes(f));
  check(`${what} has every field omise's ${namespace}.${name} declares`, missing.length === 0,
      {missing, object});
}

function get(url) {
  return new Promise((resolve, reject) => {
    http.get(url, (response) => {
      let body = '';
      response.setEncoding('utf8');
      response.on('data', (chunk) => {
        body += chunk;
      });
      response.on('end', () => resolve({status: response.statusCode, headers: response.headers, body}));
    }).on('error', reject);
  });
}

async function main() {
  equal('OMISE_SCHEME', process.env.OMISE_SCHEME, 'http');
  const host = env('TALLY_NODE_OMISE_HOST');
  const publicKey = env('TALLY_NODE_OMISE_PUBLIC_KEY');
  const secretKey = env('TALLY_NODE_OMISE_SECRET_KEY');
  console.log(`omise ${omisePackage.version} against http://${host} (api and vault)`);
  const omise = omiseFactory({
    publicKey,
    secretKey,
    host,
    vaultHost: host,
    omiseVersion: '2019-05-29',
  });

  // 1. A token from the vault (public key).
  const card = {
    name: 'SOMCHAI PRASERT',
    number: '4242424242424242',
    expiration_month: 12,
    expiration_year: 2035,
    security_code: '123',
    city: 'Bangkok',
    postal_code: '10320',
  };
  const token = await omise.tokens.create({card});
  equal('token.object', token.object, 'token');
  matches('token.id', token.id, /^tokn_test_[0-9a-z]+$/);
  equal('token.livemode', token.livemode, false);
  equal('token.used', token.used, false);
  equal('token.charge_status', token.charge_status, 'unknown');
  isoTime('token.created_at', token.created_at);
  equal('token.card.object', token.card.object, 'card');
  matches('token.card.id', token.card.id, /^card_test_[0-9a-z]+$/);
  equal('token.card.brand', token.card.brand, 'Visa');
  equal('token.card.last_digits', token.card.last_digits, '4242');
  equal('token.card.expiration_month', token.card.expiration_month, 12);
  equal('token.card.expiration_year', token.card.expiration_year, 2035);
  equal('token.card.name', token.card.name, 'SOMCHAI PRASERT');
  check('the token never carries the card number', !JSON.stringify(token).includes(card.number),
      token);
  checkDeclaredShape('token', token, 'Tokens', 'IToken');
  checkDeclaredShape('token.card', token.card, 'Cards', 'ICard');

  const fetchedToken = await omise.tokens.retrieve(token.id);
  equal('tokens.retrieve: id', fetchedToken.id, token.id);

  // 2. A PromptPay source (public key, API host).
  const source = await omise.sources.create({type: 'promptpay', amount: 50000, currency: 'thb'});
  equal('source.object', source.object, 'source');
  matches('source.id', source.id, /^src_test_[0-9a-z]+$/);
  equal('source.type', source.type, 'promptpay');
  equal('source.flow', source.flow, 'offline');
  equal('source.amount', source.amount, 50000);
  equal('source.currency', source.currency, 'THB');
  equal('source.livemode', source.livemode, false);
  isoTime('source.created_at', source.created_at);
  checkDeclaredShape('source', source, 'Sources', 'ISource');

  // 3. A card charge with the token (secret key): captured at once.
  const charge = await omise.charges.create({
    amount: 100000,
    currency: 'thb',
    card: token.id,
    description: 'omise-node fidelity',
    return_uri: 'https://example.org/return',
    metadata: {purchase_id: 'pur_node_1', note: 'independent client'},
  });
  equal('charge.object', charge.object, 'charge');
  matches('charge.id', charge.id, /^chrg_test_[0-9a-z]+$/);
  equal('charge.location', charge.location, `/charges/${charge.id}`);
  equal('charge.status', charge.status, 'successful');
  equal('charge.paid', charge.paid, true);
  equal('charge.authorized', charge.authorized, true);
  equal('charge.capture', charge.capture, true);
  equal('charge.expired', charge.expired, false);
  equal('charge.amount', charge.amount, 100000);
  equal('charge.currency', charge.currency, 'THB');
  equal('charge.description', charge.description, 'omise-node fidelity');
  equal('charge.return_uri', charge.return_uri, 'https://example.org/return');
  equal('charge.metadata', charge.metadata, {purchase_id: 'pur_node_1', note: 'independent client'});
  matches('charge.transaction', charge.transaction, /^trxn_test_[0-9a-z]+$/);
  equal('charge.failure_code', charge.failure_code, null);
  equal('charge.failure_message', charge.failure_message, null);
  equal('charge.authorize_uri', charge.authorize_uri, null);
  equal('charge.source', charge.source, null);
  equal('charge.card.last_digits', charge.card.last_digits, '4242');
  equal('charge.card.id', charge.card.id, token.card.id);
  isoTime('charge.created_at', charge.created_at);
  isoTime('charge.paid_at', charge.paid_at);
  equal('charge.refunds.object', charge.refunds.object, 'list');
  equal('charge.refunds.data', charge.refunds.data, []);
  check('charge.net + fee + fee_vat = amount', charge.net + charge.fee + charge.fee_vat === charge.amount,
      charge);
  checkDeclaredShape('charge', charge, 'Charges', 'ICharge');
  checkDeclaredShape('charge.card', charge.card, 'Cards', 'ICard');
  checkDeclaredShape('charge.refunds', charge.refunds, 'Charges', 'IListRefundResponse');

  const usedToken = await omise.tokens.retrieve(token.id);
  equal('the charged token is used', usedToken.used, true);
  equal('the charged token\'s charge_status', usedToken.charge_status, 'successful');

  // 4. A charge with the PromptPay source: pending, with a QR to scan.
  const qrCharge = await omise.charges.create({
    amount: 50000,
    currency: 'thb',
    source: source.id,
    metadata: {purchase_id: 'pur_node_2'},
  });
  equal('promptpay charge.status', qrCharge.status, 'pending');
  equal('promptpay charge.paid', qrCharge.paid, false);
  equal('promptpay charge.authorized', qrCharge.authorized, false);
  equal('promptpay charge.transaction', qrCharge.transaction, null);
  equal('promptpay charge.card', qrCharge.card, null);
  equal('promptpay charge.source.id', qrCharge.source.id, source.id);
  equal('promptpay charge.source.type', qrCharge.source.type, 'promptpay');
  equal('promptpay charge.source.charge_status', qrCharge.source.charge_status, 'pending');
  const code = qrCharge.source.scannable_code;
  check('promptpay charge.source.scannable_code is present', code && typeof code === 'object',
      qrCharge.source);
  equal('scannable_code.object', code.object, 'barcode');
  equal('scannable_code.type', code.type, 'qr');
  equal('scannable_code.image.object', code.image.object, 'document');
  matches('scannable_code.image.id', code.image.id, /^docu_test_[0-9a-z]+$/);
  matches('scannable_code.image.download_uri', code.image.download_uri,
      new RegExp(`^http://${host.replace(/\./g, '\\.')}(:80)?/charges/${qrCharge.id}/documents/`));
  isoTime('promptpay charge.expires_at', qrCharge.expires_at);
  check('promptpay charge.expires_at is in the future', Date.parse(qrCharge.expires_at) > Date.now(),
      qrCharge.expires_at);
  checkDeclaredShape('promptpay charge', qrCharge, 'Charges', 'ICharge');
  checkDeclaredShape('promptpay charge.source', qrCharge.source, 'Sources', 'ISource');
  checkDeclaredShape('scannable_code', code, 'Sources', 'IScannableCode');
  checkDeclaredShape('scannable_code.image', code.image, 'Disputes', 'IDocument');
  const qr = await get(code.image.download_uri);
  equal('GET download_uri: status', qr.status, 200);
  matches('GET download_uri: content-type', qr.headers['content-type'], /^image\//);

  // An inline source object (what omise-python's tests send) works the same way.
  const inline = await omise.charges.create({amount: 30000, currency: 'thb', source: {type: 'promptpay'}});
  equal('inline-source charge.status', inline.status, 'pending');
  equal('inline-source charge.source.type', inline.source.type, 'promptpay');
  check('inline-source charge has a QR', Boolean(inline.source.scannable_code.image.download_uri),
      inline.source);

  // 5. Retrieve both charges.
  const fetched = await omise.charges.retrieve(charge.id);
  equal('charges.retrieve(card charge): id', fetched.id, charge.id);
  equal('charges.retrieve(card charge): status', fetched.status, 'successful');
  equal('charges.retrieve(card charge): paid', fetched.paid, true);
  equal('charges.retrieve(card charge): metadata', fetched.metadata, charge.metadata);
  const fetchedQr = await omise.charges.retrieve(qrCharge.id);
  equal('charges.retrieve(promptpay charge): status', fetchedQr.status, 'pending');
  equal('charges.retrieve(promptpay charge): download_uri', fetchedQr.source.scannable_code.image.download_uri,
      code.image.download_uri);

  // The list (a GET with the query the package builds from its argument).
  const list = await omise.charges.list({limit: 2, order: 'reverse_chronological'});
  equal('charges.list: object', list.object, 'list');
  equal('charges.list: limit', list.limit, 2);
  equal('charges.list: order', list.order, 'reverse_chronological');
  check('charges.list: total counts at least the three charges made here', list.total >= 3, list.total);
  equal('charges.list: newest first', list.data.map((c) => c.id), [inline.id, qrCharge.id]);

  // 6. A declining test card: a charge that failed, not an error.
  const declineToken = await omise.tokens.create({card: {...card, number: '4111111111140011'}});
  const declined = await omise.charges.create({amount: 100000, currency: 'thb', card: declineToken.id});
  equal('declined charge.object', declined.object, 'charge');
  equal('declined charge.status', declined.status, 'failed');
  equal('declined charge.paid', declined.paid, false);
  equal('declined charge.authorized', declined.authorized, false);
  equal('declined charge.failure_code', declined.failure_code, 'insufficient_fund');
  matches('declined charge.failure_message', declined.failure_message, /insufficient fund/);
  equal('declined charge.transaction', declined.transaction, null);
  equal('the declined token\'s charge_status', (await omise.tokens.retrieve(declineToken.id)).charge_status, 'failed');
  checkDeclaredShape('declined charge', declined, 'Charges', 'ICharge');

  // 7. Errors: the package rejects with Omise's error object.
  const missing = await rejection('charges.retrieve(unknown id)', omise.charges.retrieve('chrg_test_doesnotexist00'));
  equal('not found: object', missing && missing.object, 'error');
  equal('not found: code', missing.code, 'not_found');
  matches('not found: message', missing.message, /was not found/);
  matches('not found: location', missing.location, /^https:\/\/docs\.omise\.co\/api\/errors#/);

  const reused = await rejection('a second charge on the same token',
      omise.charges.create({amount: 100000, currency: 'thb', card: token.id}));
  equal('used token: code', reused && reused.code, 'used_token');

  const spareToken = await omise.tokens.create({card});
  const small = await rejection('a charge below the minimum',
      omise.charges.create({amount: 100, currency: 'thb', card: spareToken.id}));
  equal('below minimum: code', small && small.code, 'invalid_charge');
  equal('a refused charge does not spend the token', (await omise.tokens.retrieve(spareToken.id)).used, false);

  const badCard = await rejection('a token for a number failing Luhn',
      omise.tokens.create({card: {...card, number: '4242424242424241'}}));
  equal('bad card: code', badCard && badCard.code, 'invalid_card');

  const stranger = omiseFactory({publicKey, secretKey: 'skey_test_someone_else', host, vaultHost: host});
  const denied = await rejection('a charge with another secret key', stranger.charges.retrieve(charge.id));
  equal('wrong key: code', denied && denied.code, 'authentication_failure');

  // The callback style reaches the same objects.
  await new Promise((resolve) => {
    omise.charges.retrieve(declined.id, (error, value) => {
      if (error) {
        fail('charges.retrieve with a callback', show(error));
      }
      equal('charges.retrieve(callback): status', value.status, 'failed');
      resolve();
    });
  });
}

run('omise_sandbox', main);
