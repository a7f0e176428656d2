// One PouchDB replication, timed, for the benchmark harness:
//   push: a local PouchDB (LevelDB) holding the reports replicates them to a
//         database of the PouchDB server (with --reports, loaded first;
//         without, the local database holds them already);
//   pull: a new, empty local PouchDB replicates a database of the server;
//   load: only loads --reports into the local database (no server needed),
//         so a later `push` in a fresh process is the whole replication.
// Loading the reports into the local database is not timed (as recording is
// not timed on the gridwarden side). With --count-bytes the traffic goes
// through a TCP relay on loopback that counts bytes at the socket; timed runs
// go direct, as the relay shares this process's one thread. --batch-size N
// sets PouchDB's replication `batch_size` (its default is 100; apps that
// replicate thousands of docs commonly raise it to 1,000).
//
// usage: node replicate.js push|pull|load SERVER_PORT DB_NAME LOCAL_DIR
//                          [--reports REPORTS.jsonl] [--count-bytes] [--batch-size N]
// prints one JSON line: {"docs":N,"seconds":S,"bytes_up":B,"bytes_down":B}
'use strict';

const fs = require('fs');
const net = require('net');
const path = require('path');
const PouchDB = require('pouchdb');

const [mode, serverPort, dbName, localDir, ...rest] = process.argv.slice(2);
const reportsFile = rest.includes('--reports') ? rest[rest.indexOf('--reports') + 1] : null;
const countBytes = rest.includes('--count-bytes');
const batchSize = rest.includes('--batch-size') ? Number(rest[rest.indexOf('--batch-size') + 1]) : null;

// A TCP relay on loopback that counts bytes each way.
function countingRelay(targetPort) {
  const counts = { up: 0, down: 0 };
  const relay = net.createServer((client) => {
    const upstream = net.connect(Number(targetPort), '127.0.0.1');
    client.on('data', (d) => { counts.up += d.length; upstream.write(d); });
    upstream.on('data', (d) => { counts.down += d.length; client.write(d); });
    client.on('end', () => upstream.end());
    upstream.on('end', () => client.end());
    client.on('error', () => upstream.destroy());
    upstream.on('error', () => client.destroy());
  });
  return new Promise((resolve) => {
    relay.listen(0, '127.0.0.1', () => resolve({ relay, counts, port: relay.address().port }));
  });
}

async function countDocs(dir) {
  const db = new PouchDB(path.join(dir, 'db'));
  const info = await db.info();
  await db.close();
  return info.doc_count;
}

function readReports(file) {
  return fs.readFileSync(file, 'utf8').split('\n').filter((l) => l.length > 0).map((l) => JSON.parse(l));
}

async function main() {
  if (!['push', 'pull', 'load'].includes(mode) || !serverPort || !dbName || !localDir) {
    throw new Error('usage: node replicate.js push|pull|load SERVER_PORT DB_NAME LOCAL_DIR [--reports FILE] [--count-bytes] [--batch-size N]');
  }
  fs.mkdirSync(localDir, { recursive: true });
  const local = new PouchDB(path.join(localDir, 'db'));
  if (reportsFile) {
    const docs = readReports(reportsFile);
    for (let i = 0; i < docs.length; i += 1000) {
      await local.bulkDocs(docs.slice(i, i + 1000));
    }
  }
  if (mode === 'load') {
    await local.close();
    console.log(JSON.stringify({ docs: (await countDocs(localDir)), seconds: 0, bytes_up: 0, bytes_down: 0 }));
    return;
  }
  const relay = countBytes ? await countingRelay(serverPort) : null;
  const port = relay ? relay.port : serverPort;
  const remote = new PouchDB(`http://127.0.0.1:${port}/${dbName}`);
  const started = process.hrtime.bigint();
  const options = batchSize ? { batch_size: batchSize } : {};
  const result = mode === 'push'
    ? await local.replicate.to(remote, options)
    : await local.replicate.from(remote, options);
  const seconds = Number(process.hrtime.bigint() - started) / 1e9;
  if (result.doc_write_failures > 0) {
    throw new Error(`${result.doc_write_failures} documents failed to replicate`);
  }
  console.log(JSON.stringify({
    docs: result.docs_written,
    seconds,
    bytes_up: relay ? relay.counts.up : 0,
    bytes_down: relay ? relay.counts.down : 0,
  }));
  await local.close();
  if (relay) relay.relay.close();
}

main().catch((e) => {
  console.error(e && e.stack ? e.stack : String(e));
  process.exit(1);
});
