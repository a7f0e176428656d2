// A PouchDB server (express-pouchdb over LevelDB) on loopback, the peer the
// gridwarden server is compared with. Prints "listening PORT" once it accepts
// requests and serves until killed.
//
// usage: node server.js DATA_DIR
'use strict';

const path = require('path');
const fs = require('fs');
const express = require('express');
const PouchDB = require('pouchdb');

const dataDir = process.argv[2];
if (!dataDir) {
  console.error('usage: node server.js DATA_DIR');
  process.exit(2);
}
fs.mkdirSync(dataDir, { recursive: true });

const ServerPouch = PouchDB.defaults({ prefix: dataDir + path.sep });
const app = express();
// In-memory config and no log file: the server should do nothing but serve.
app.use('/', require('express-pouchdb')(ServerPouch, {
  mode: 'minimumForPouchDB',
  inMemoryConfig: true,
  logPath: path.join(dataDir, 'log.txt'),
}));

const server = app.listen(0, '127.0.0.1', () => {
  console.log(`listening ${server.address().port}`);
});
