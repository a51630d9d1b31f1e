/**
 * Several `astrometry-net serve` nodes as separate processes (so one can be killed with -9)
 * sharing one store and one files root, and the client side that spreads solves over them.
 *
 * `solveAcross` is the one piece to swap once the client takes a list of servers
 * (`new Client({ apiUrl: [a, b, c] })`): until then it uploads through one Client per node,
 * round-robin, and follows each submission through any live node.
 */
import { randomApiKey, startServeWith, type Serve } from '../../../test/helpers/serve-process.js';
import { Client, Submission, type Calibration, type SolveInput } from 'astrometry-net-client';

export interface ClusterNode {
  serve: Serve;
  url: string;
  /** The node's id in the store (claims and process records carry it). */
  id: string;
  pid: number;
  /** Killed, or told to take no new uploads. */
  draining: boolean;
  dead: boolean;
  /** Uploads to this node not yet answered. */
  inFlight: number;
  /** Aborted when the node is killed: waits on it stop at once. */
  gone: AbortController;
}

export interface ClusterOptions {
  nodes: number;
  dataDir: string;
  /** postgres://…; absent: embedded SQLite (one node). */
  database?: string;
  solver: 'simulated' | 'solve-field';
  apiKey?: string;
  concurrency?: number;
  leaseSeconds?: number;
}

export class Cluster {
  readonly nodes: ClusterNode[] = [];
  readonly apiKey: string;

  private constructor(private readonly opts: ClusterOptions) {
    this.apiKey = opts.apiKey ?? randomApiKey();
  }

  static async start(opts: ClusterOptions): Promise<Cluster> {
    const c = new Cluster(opts);
    await Promise.all(Array.from({ length: opts.nodes }, () => c.addNode()));
    return c;
  }

  args(): string[] {
    const o = this.opts;
    return [
      '--port', '0',
      '--solver', o.solver,
      '--api-key', this.apiKey,
      '--data-dir', o.dataDir,
      ...(o.database ? ['--database', o.database] : []),
      ...(o.concurrency ? ['--concurrency', String(o.concurrency)] : []),
      '--lease-seconds', String(o.leaseSeconds ?? 3),
    ];
  }

  async addNode(): Promise<ClusterNode> {
    const serve = await startServeWith(this.args());
    const id = /node: ([0-9a-f-]{36})/.exec(serve.stderr())?.[1];
    if (!id) throw new Error(`serve did not log its node id:\n${serve.stderr()}`);
    const node: ClusterNode = { serve, url: serve.apiUrl, id, pid: serve.child.pid as number, draining: false, dead: false, inFlight: 0, gone: new AbortController() };
    this.nodes.push(node);
    return node;
  }

  live(): ClusterNode[] {
    return this.nodes.filter((n) => !n.dead);
  }

  /** Stops sending uploads to `node`, waits for its uploads in flight, then kills it with SIGKILL. */
  async kill(node: ClusterNode): Promise<void> {
    node.draining = true;
    while (node.inFlight > 0) await new Promise((r) => setTimeout(r, 5));
    node.dead = true;
    node.gone.abort(new Error('node killed'));
    node.serve.child.kill('SIGKILL');
    await node.serve.exit;
  }

  /** Stops every live node cleanly (SIGTERM), as an operator would. */
  async stop(): Promise<void> {
    await Promise.all(
      this.live().map(async (n) => {
        n.dead = true;
        n.gone.abort(new Error('node stopped'));
        n.serve.child.kill('SIGTERM');
        await n.serve.exit;
      }),
    );
  }
}

export interface Solved {
  index: number;
  subid: number;
  jobId: number;
  calibration: Calibration;
  uploadedTo: string;
}

const clients = new WeakMap<ClusterNode, Client>();
function clientFor(cluster: Cluster, node: ClusterNode): Client {
  let c = clients.get(node);
  if (!c) {
    c = new Client({
      apiUrl: node.url,
      apiKey: cluster.apiKey,
      // A local server: no politeness floor needed, and a dead node must fail fast.
      polling: { minIntervalMs: 100, maxIntervalMs: 500 },
      retry: { retries: 2, baseDelayMs: 100, maxDelayMs: 500 },
      stallTimeoutMs: 10_000,
      timeoutMs: 10 * 60_000,
    });
    clients.set(node, c);
  }
  return c;
}

/**
 * THE CLIENT PART. Solves every input across the cluster with at most `concurrency` in flight
 * and resolves with each one's result, in input order. Swap its body for one multi-server Client.
 */
export async function solveAcross(cluster: Cluster, inputs: readonly SolveInput[], concurrency: number): Promise<Solved[]> {
  const out: Solved[] = new Array(inputs.length);
  let next = 0;
  let rr = 0;
  // A node restarting (the single-node case) is waited for, not failed over.
  const pick = async (forUpload: boolean): Promise<ClusterNode> => {
    for (let waited = 0; ; waited += 20) {
      const pool = cluster.live().filter((n) => !forUpload || !n.draining);
      if (pool.length > 0) return pool[rr++ % pool.length] as ClusterNode;
      if (waited > 60_000) throw new Error('no live node for a minute');
      await new Promise((r) => setTimeout(r, 20));
    }
  };
  const one = async (index: number): Promise<void> => {
    const node = await pick(true);
    node.inFlight++;
    let subid: number;
    try {
      const sub = clientFor(cluster, node).submit(inputs[index] as SolveInput);
      const snap = await sub.handle.until((s) => s.context.subid !== null || s.context.error !== null);
      if (snap.context.subid === null) throw new Error(`upload ${index} to ${node.url} failed: ${JSON.stringify(snap.context.error)}`);
      subid = snap.context.subid;
      sub.cancel('followed elsewhere');
    } finally {
      node.inFlight--;
    }
    // Any node can answer for any submission: follow it through a live one, moving on when it dies.
    for (let attempt = 0; ; attempt++) {
      const poller = await pick(false);
      try {
        const s = Submission.byId(subid, clientFor(cluster, poller).session);
        const wait = { signal: poller.gone.signal };
        const job = await s.untilDone(wait);
        await job.untilDone(wait);
        const calibration = await job.calibration(wait);
        out[index] = { index, subid, jobId: job.id, calibration, uploadedTo: node.url };
        return;
      } catch (err) {
        if (!poller.dead || attempt > 20) throw err;
      }
    }
  };
  const workers = Array.from({ length: Math.min(concurrency, inputs.length) }, async () => {
    while (next < inputs.length) await one(next++);
  });
  await Promise.all(workers);
  return out;
}
