// Type tests: tsc fails on an error below that is not expected, and on an expected error that does not occur.
import { imRateLimit } from 'im-rate-limit';

export const valid = imRateLimit({ overrides: { 'acme#chat': { messages: { ratePerSecond: 1 } } } });

export const misspeltCategory = imRateLimit({
  // @ts-expect-error: no category `mesages`
  overrides: { 'acme#chat': { mesages: { ratePerSecond: 1 } } },
});

export const misspeltFigure = imRateLimit({
  // @ts-expect-error: no figure `ratePerSecnd`
  overrides: { 'acme#chat': { messages: { ratePerSecnd: 1 } } },
});

export const figureOfAnotherCategory = imRateLimit({
  // @ts-expect-error: `messageMaxBytes` is a figure of messages, not of users
  overrides: { 'acme#chat': { users: { messageMaxBytes: 1 } } },
});

export const notAnAppKey = imRateLimit({
  // @ts-expect-error: an overrides key is `org#app`
  overrides: { acme: { messages: { ratePerSecond: 1 } } },
});
