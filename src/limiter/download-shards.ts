import type { BucketCheck, Check, Reading } from '../store/store.js';
import type { RefusalCache } from './refusal-cache.js';

/**
 * Which shard of the cluster-wide downloads bucket a download tries (ARCHITECTURE.md → Decisions:
 * the cluster-wide downloads bucket in shards). Each download starts one shard further on than this
 * process's last, so that every shard is tried first once in N downloads and they drain evenly; a
 * shard whose refusal this process remembers is skipped, as the store would refuse it too.
 */
export class DownloadShards {
  /** Each shard as a request's checks of its own: the refusal cache remembers a shard's refusal for every app. */
  private readonly alone: ReadonlyArray<readonly Check[]>;
  private turn = 0;
  /** After `untried` found every shard remembered empty: the one whose token is due first, and its reading. */
  soonest = -1;
  soonestReading: Reading | undefined;

  constructor(
    readonly shards: readonly BucketCheck[],
    private readonly refusals: RefusalCache | undefined,
    /**
     * Whether the store would be asked for a shard now (its Cluster slot up, or due for a probe). A
     * shard it would not ask is skipped while another is: its downloads would take the app's bucket
     * in the fallback while the app's other downloads take it in the store, each place a whole bucket.
     */
    private readonly reachable: (shard: BucketCheck) => boolean = () => true,
  ) {
    this.alone = shards.map((shard) => [shard]);
  }

  /** The shard the next download starts from. */
  nextTurn(): number {
    const turn = this.turn;
    this.turn = turn + 1 === this.shards.length ? 0 : turn + 1;
    return turn;
  }

  /**
   * The first of `count` shards from `first` on, round the ring, that the store would be asked for
   * and whose refusal this process does not remember (`RefusalCache.refused`: one let through counts
   * as a token taken, so the caller must send it, or forget its refusal); -1 when every one is
   * remembered, `soonest` then saying which is due first; the first unreachable one when no shard is
   * reachable (its download goes to the policy).
   */
  untried(first: number, count: number): number {
    const { shards, refusals, reachable } = this;
    this.soonest = -1;
    let unreachable = -1;
    for (let i = 0; i < count; i++) {
      const index = (first + i) % shards.length;
      if (!reachable(shards[index] as BucketCheck)) {
        if (unreachable === -1) unreachable = index;
        continue;
      }
      const standing = refusals?.refused(this.alone[index] as readonly Check[]);
      if (standing === undefined) return index;
      const reading = standing[0] as Reading;
      if (this.soonest === -1 || reading.retryAfterMs < (this.soonestReading as Reading).retryAfterMs) {
        this.soonest = index;
        this.soonestReading = reading;
      }
    }
    // every shard the store would be asked for is remembered empty: refused as such; none is: the policy's
    return this.soonest === -1 ? unreachable : -1;
  }

  /** What the store said of a shard a download tried, for the next downloads of every app. */
  answered(shard: Check, reading: Reading, sentAtMs: number): void {
    const { refusals } = this;
    if (refusals === undefined) return;
    refusals.forgetKey(shard.key); // the store's answer replaces what was remembered
    if (!reading.allowed) refusals.remember(this.alone[this.indexOf(shard)] as readonly Check[], [reading], sentAtMs);
  }

  /** A download's checks with shard `index`: made per download, not kept per app and shard. */
  checksOf(appBucket: BucketCheck, index: number): readonly Check[] {
    return [appBucket, this.shards[index] as BucketCheck];
  }

  indexOf(shard: Check): number {
    return this.shards.indexOf(shard as BucketCheck);
  }
}
