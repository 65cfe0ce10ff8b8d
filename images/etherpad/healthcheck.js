'use strict';
// The image's HEALTHCHECK: GET /p/healthcheck-<random> on 127.0.0.1:9001,
// healthy only on HTTP 200.
//
// Serving a pad page makes Etherpad read that pad's row from its database
// (PadManager.sanitizePadId -> db.get('pad:<id>')); a random pad id is
// never in ueberDB's cache, so a 200 proves that the database answers.
// No pad is created (that happens only when a browser joins the pad).
//
// Etherpad 1.8.14 stores a session row (sessionstorage:<sid>) for every
// request that comes without its session cookie, and never deletes those
// rows: the check keeps the cookie Etherpad hands out in COOKIE_FILE and
// sends it back, so all checks share one session row instead of adding
// one every interval.
const crypto = require('crypto');
const fs = require('fs');
const http = require('http');

const port = Number(process.env.ETHERPAD_HEALTHCHECK_PORT || 9001);
const COOKIE_FILE = process.env.ETHERPAD_HEALTHCHECK_COOKIE || '/opt/etherpad/var/healthcheck.cookie';
const TIMEOUT_MS = 8000;
const path = `/p/healthcheck-${crypto.randomBytes(8).toString('hex')}`;

const fail = (why) => {
  console.error(`unhealthy: GET ${path}: ${why}`);
  process.exit(1);
};

let cookie = '';
try {
  cookie = fs.readFileSync(COOKIE_FILE, 'utf8').trim();
} catch (err) {
  // The first check: Etherpad gives us a session below.
}

const headers = cookie ? {Cookie: cookie} : {};
const req = http.get({host: '127.0.0.1', port, path, headers, timeout: TIMEOUT_MS}, (res) => {
  res.resume();
  const given = (res.headers['set-cookie'] || [])
      .map((c) => c.split(';')[0])
      .find((c) => c.startsWith('express_sid='));
  if (given && given !== cookie) {
    try {
      fs.writeFileSync(COOKIE_FILE, `${given}\n`, {mode: 0o600});
    } catch (err) {
      console.error(`note: cannot keep the session cookie in ${COOKIE_FILE}: ${err.message}`);
    }
  }
  if (res.statusCode === 200) {
    console.log(`healthy: GET ${path}: 200`);
    process.exit(0);
  }
  fail(`HTTP ${res.statusCode}`);
});
req.on('timeout', () => req.destroy(new Error(`no answer within ${TIMEOUT_MS / 1000} s`)));
req.on('error', (err) => fail(err.message));
