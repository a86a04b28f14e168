import { createHttpTransport } from '../client/http-transport.js';
import { VirtualClock } from '../sim/clock.js';
import { createEngine } from '../sim/engine.js';
import { startSimServers } from '../sim/server/index.js';
import { toyEngine } from '../sim/server/testing/toy-engine.js';
import { SimService } from '../sim/service.js';
import { freePort } from '../testing/free-port.js';
import { syntheticItems } from '../workload/synthetic.js';
import { requestFor } from './requests.js';
import { createSimTransport } from './sim-transport.js';
import { transportContract } from './testing/transport-contract.js';

const item = syntheticItems({
  count: 1,
  input: { kind: 'fixed', value: 20 },
  output: { kind: 'fixed', value: 8 },
  seed: 1,
})[0]!;

transportContract('HTTP client -> simulator HTTP front (real time, real sockets)', async () => {
  const sim = await startSimServers({
    servers: [{ model: 'toy-model', port: 0 }],
    createEngine: (o, clock) => toyEngine(clock, { model: o.model, maxModelLen: 2048, stepMs: 1 }),
    seed: 3,
  });
  const t = createHttpTransport();
  const endpoint = { baseUrl: `${sim.endpoints[0]!.url}/v1`, model: 'toy-model' };
  const port = await freePort();
  return {
    transport: t,
    run: (p) => p,
    request: () =>
      requestFor(item, { endpoint, api: 'chat', stream: true, minTokens: true, ignoreEos: false }),
    deadEndpoint: { baseUrl: `http://127.0.0.1:${port}/v1`, model: 'toy-model' },
    close: async () => {
      await t.close();
      await sim.close();
    },
  };
});

transportContract('simulator transport (in-process, virtual time)', async () => {
  const clock = new VirtualClock(5_000);
  const engine = createEngine(
    { model: 'meta-llama/Llama-3.1-8B-Instruct', gpu: 'H100', maxModelLen: 8192 },
    clock,
  );
  const service = new SimService({ engine, clock, seed: 3 });
  const endpoint = { baseUrl: 'sim://a/v1', model: service.modelName };
  const sim = createSimTransport({
    clock,
    services: (ep) => (ep.baseUrl === endpoint.baseUrl ? service : undefined),
  });
  return {
    transport: sim,
    run: (p) => sim.drive(p),
    request: () =>
      requestFor(item, { endpoint, api: 'chat', stream: true, minTokens: true, ignoreEos: false }),
    deadEndpoint: { baseUrl: 'sim://nobody/v1', model: service.modelName },
    close: async () => undefined,
  };
});
