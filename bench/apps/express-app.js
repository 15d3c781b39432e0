'use strict';
// The benchmark app: express 5 with two middleware functions and one route, so a
// traced request makes about 4 spans (http server, 2 x middleware, request handler),
// plus one pg query span with BENCH_SCENARIO=pg.
//   BENCH_SCENARIO=hello|pg  PORT=0  PGHOST/PGPORT/PGUSER/PGDATABASE (pg only)
// Prints "listening <port>" on stdout once it accepts connections.
const express = require('express');

const scenario = process.env.BENCH_SCENARIO || 'hello';
const app = express();
app.use(function requestId(req, res, next) {
  res.setHeader('x-request-id', '1');
  next();
});
app.use(function noCache(req, res, next) {
  res.setHeader('cache-control', 'no-store');
  next();
});

if (scenario === 'pg') {
  const { Pool } = require('pg');
  const pool = new Pool({ max: 10 });
  app.get('/users/:id', async (req, res, next) => {
    try {
      const r = await pool.query('SELECT id, name FROM users WHERE id = $1', [Number(req.params.id) || 1]);
      res.json(r.rows[0] || null);
    } catch (e) {
      next(e);
    }
  });
} else {
  app.get('/users/:id', (req, res) => {
    res.send('hello world');
  });
}

const server = app.listen(Number(process.env.PORT || 0), '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
server.keepAliveTimeout = 60_000;
process.on('SIGTERM', () => server.close(() => process.exit(0)));
