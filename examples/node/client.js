#!/usr/bin/env node
// westward from Node.js: check health, place a batch, route one job, send a bad job,
// then release every reservation it made (a run leaves no devices held).
//
//   npm ci && node client.js 127.0.0.1:50051
//
// Reads ../../proto/router/v1/router.proto directly (no generated code) and prints
// one JSON object with what the server answered.
'use strict';

const path = require('node:path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const PROTO_ROOT = path.resolve(__dirname, '..', '..', 'proto');
const LOADER_OPTIONS = {
  keepCase: true, // field names as in the .proto: max_latency_ms, not maxLatencyMs
  longs: String,
  enums: String,
  defaults: true,
  oneofs: true,
  includeDirs: [PROTO_ROOT, __dirname],
};

function load() {
  const definition = protoLoader.loadSync(['router/v1/router.proto', 'health.proto'], LOADER_OPTIONS);
  return grpc.loadPackageDefinition(definition);
}

function call(client, method, request, timeoutMs = 10000) {
  const deadline = new Date(Date.now() + timeoutMs);
  return new Promise((resolve, reject) => {
    client[method](request, { deadline }, (error, response) => (error ? reject(error) : resolve(response)));
  });
}

function job(name, count, extra = {}) {
  return {
    name,
    kind: 'JOB_KIND_INFERENCE',
    origin: 'shanghai',
    max_latency_ms: 50,
    accelerators: { count, types: ['A800'] },
    hours: 2,
    ...extra,
  };
}

async function main() {
  const target = process.argv[2] || '127.0.0.1:50051';
  const proto = load();
  const credentials = grpc.credentials.createInsecure();
  const router = new proto.router.v1.RouterService(target, credentials);
  const health = new proto.grpc.health.v1.Health(target, credentials);

  const checked = await call(health, 'Check', { service: 'router.v1.RouterService' });
  const placed = await call(router, 'Place', {
    jobs: [job('node-train', 8, { kind: 'JOB_KIND_TRAINING' }), job('node-infer', 4)],
    request_id: `node-${process.pid}-${Date.now()}`,
    time_limit_s: 2,
  });
  const routed = await call(router, 'Route', { job: job('node-route', 2), request_id: `route-${process.pid}` });
  let badCode = null;
  try {
    await call(router, 'Route', { job: job('node-bad', 0) });
  } catch (error) {
    badCode = grpc.status[error.code];
  }

  const made = placed.reservations.map((r) => r.reservation_id);
  if (routed.outcome === 'reservation') made.push(routed.reservation.reservation_id);
  const released = [];
  for (const id of made) {
    const answer = await call(router, 'Release', { reservation_id: id });
    released.push(answer.reservation.reservation_id);
  }

  const summary = {
    health: checked.status,
    placements: placed.plan.placements.map((p) => ({ job: p.job, site: p.site, zone: p.zone, cost_cny: p.cost_cny })),
    reservations: placed.reservations.map((r) => r.reservation_id),
    route: routed.outcome === 'reservation'
      ? { reservation_id: routed.reservation.reservation_id, site: routed.reservation.placement.site }
      : { unplaced: routed.unplaced.reason },
    bad_request: badCode,
    released,
  };
  process.stdout.write(`${JSON.stringify(summary)}\n`);
  router.close();
  health.close();
}

main().catch((error) => {
  process.stderr.write(`error: ${error.message}\n`);
  process.exit(1);
});
