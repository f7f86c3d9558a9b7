/**
 * `im-rate-limit/catalog`: the IM REST API's routes as the limiter classifies them, for tools
 * that need the same answer (a gateway, a test, a dashboard): which category and app a request
 * belongs to, and the app key its state is kept under.
 */
export { appKeyOf } from './limits/app-key.js';
export type { RouteMatch } from './limits/classify.js';
export {
  type MembershipEffect,
  type MembershipKind,
  type MessageSend,
  type Method,
  type Route,
  routes,
} from './limits/routes.js';
export { type Classifier, classify } from './middleware/classify-request.js';
