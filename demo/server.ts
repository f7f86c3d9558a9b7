import { createDemoApp } from './app.js';

const port = Number(process.env.PORT ?? 3000);
const edition = process.env.IM_EDITION ?? 'community';

const { app } = createDemoApp({ edition });
const server = app.listen(port, '127.0.0.1', () => {
  console.log(`im-rate-limit demo IM server on http://127.0.0.1:${port} (edition ${edition}, in-memory store)`);
});
const stop = () => server.close(() => process.exit(0));
process.on('SIGINT', stop).on('SIGTERM', stop);
