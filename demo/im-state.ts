import { randomUUID } from 'node:crypto';

/** The in-memory world of the demo IM server: one per app. */
export interface AppState {
  readonly users: Map<string, { username: string; nickname?: string; created: number; activated: boolean }>;
  readonly friends: Map<string, Set<string>>;
  readonly blocks: Map<string, Set<string>>;
  readonly groups: Map<string, Room>;
  readonly rooms: Map<string, Room>;
  /** One entry per push delivered, as the limiter counts them: `to` is who it reaches (a broadcast: the whole app). */
  readonly messages: Array<{ id: string; from: string; to: string[]; type: string; at: number }>;
  readonly files: Map<string, ChatFile>;
}

/** An uploaded file: its bytes as they came, and the media type it is served with. */
export interface ChatFile {
  readonly bytes: Buffer;
  readonly type: string;
}

export interface Room {
  readonly id: string;
  name: string;
  owner: string;
  readonly members: Set<string>;
  readonly created: number;
}

const apps = new Map<string, AppState>();

export function stateOf(appKey: string): AppState {
  let state = apps.get(appKey);
  if (state === undefined) {
    state = {
      users: new Map(),
      friends: new Map(),
      blocks: new Map(),
      groups: new Map(),
      rooms: new Map(),
      messages: [],
      files: new Map(),
    };
    apps.set(appKey, state);
  }
  return state;
}

let nextId = 1_000_000_000_000n;
/** Numeric IDs like the IM server's group and message IDs. */
export const newId = (): string => String(nextId++);
export const newUuid = (): string => randomUUID();

export function setOf<K>(map: Map<K, Set<string>>, key: K): Set<string> {
  let set = map.get(key);
  if (set === undefined) {
    set = new Set();
    map.set(key, set);
  }
  return set;
}
