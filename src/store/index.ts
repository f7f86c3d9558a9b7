/**
 * `im-rate-limit/store`: the contracts a store or a membership ledger of your own implements
 * (`store: yourStore`, `membership: yourLedger`), and what they are given and answer. The stores
 * this package ships are in the main entry.
 */
export type { MembershipLedger, Reservation } from './ledger.js';
export type {
  BucketCheck,
  Check,
  Progress,
  Reading,
  Settings,
  SettingsCheck,
  SettingsDiffer,
  Store,
  WindowCheck,
} from './store.js';
