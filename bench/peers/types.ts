/**
 * The peer contract: a gateway the bench can put where portcullis stands (nginx, HAProxy, fastify,
 * portcullis itself). A peer knows how to install itself, which kinds of work it can do, and how
 * to render its own config for one of them; the harness does the rest (ports, pinning, interleaved
 * rounds, /proc figures), the same way for every peer.
 *
 * A new kind of work (`api-key`, `ratelimit`) is a member of `GatewayWork`
 * (bench/scenarios/types.ts); every peer's `supports` and `launch` then say what they do with it.
 */
import type { GatewayConfig, GatewayWork, Listen } from '../scenarios/types.js'

/** What a peer gets from the run. */
export interface PeerEnv {
  /** Repo root: templates and the fastify peer are read from `bench/peers/` there. */
  readonly root: string
  /** The run's temp dir, removed at exit: rendered configs go here. */
  readonly workDir: string
  readonly upstream: { readonly host: string; readonly port: number }
  /** portcullis `--workers`; a peer runs as many workers (0 counts as 1 where 1 is the least). */
  readonly workers: number
  readonly log: (message: string) => void
}

/** One target as a peer sees it. */
export interface PeerInput {
  /** undefined for a portcullis-only target (only the portcullis peer takes those). */
  readonly work: GatewayWork | undefined
  /** portcullis's own config for the target, written by the scenario. */
  readonly gatewayConfig: GatewayConfig
}

/** How to start one instance of a peer. */
export interface Launch {
  readonly command: string
  readonly args: readonly string[]
  /**
   * For a gateway that announces readiness on stdout: maps that line to the pids it names (more
   * pids are found as descendants of the command). Without it, the port accepting is the signal.
   */
  readonly ready?: (line: string) => readonly number[] | undefined
}

export interface Peer {
  /** Short name: column labels, `--peer NAME`, report rows. */
  readonly name: string
  /**
   * Installs what the peer needs when it is missing (once per run). Resolves to its version line;
   * rejects with the reason it cannot run, which the report prints.
   */
  prepare(env: PeerEnv): Promise<string>
  /** true, or why this peer cannot do the work (printed in the report). */
  supports(work: GatewayWork | undefined): true | string
  /** Targets whose keys are equal share one running instance within a scenario. */
  instanceKey(input: PeerInput): unknown
  /** Writes the instance's config into env.workDir (file names start with `id`) and says how to start it. */
  launch(input: PeerInput, at: Listen, env: PeerEnv, id: string): Launch
  /** How the peer is set up, one line for the report. */
  describe(env: PeerEnv): string
}
