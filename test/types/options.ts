// Checked by `npm run typecheck`, never run: each `@ts-expect-error` fails the typecheck if its line compiles.
import { imRateLimit, type Options, type Overrides } from '../../src/index.js';

imRateLimit({ overrides: { 'acme#chat': { messages: { ratePerSecond: 100, dailyPushQuota: null } } } });
imRateLimit({ basePath: '/v1', edition: (appKey) => (appKey.startsWith('vip#') ? 'enterprise' : 'community') });
const perApp: Overrides = { groups: { maxJoinedPerUser: 2000 } };
imRateLimit({ overrides: { 'acme#chat': perApp }, headers: 'legacy', mode: 'report' });
imRateLimit({ overrides: { get: async () => perApp } });

// @ts-expect-error: a misspelt category
imRateLimit({ overrides: { 'acme#chat': { mesages: { ratePerSecond: 1 } } } });
// @ts-expect-error: a misspelt figure
imRateLimit({ overrides: { 'acme#chat': { messages: { ratePerSecnd: 1 } } } });
// @ts-expect-error: a figure of another category
imRateLimit({ overrides: { 'acme#chat': { users: { messageMaxBytes: 1 } } } });
// @ts-expect-error: overrides that are not an object of categories
imRateLimit({ overrides: { 'acme#chat': 42 } });
// @ts-expect-error: a key that is not org#app
imRateLimit({ overrides: { 'acme/chat': {} } });
// @ts-expect-error: an unknown option
imRateLimit({ editon: 'community' });
// @ts-expect-error: a header style that does not exist
imRateLimit({ headers: 'draft-9' });
// @ts-expect-error: a figure of the wrong type
imRateLimit({ overrides: { 'acme#chat': { messages: { ratePerSecond: '100' } } } });

export const options: Options = { basePath: /^\/v\d+/ };
