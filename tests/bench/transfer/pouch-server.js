// pouch-server.js: the "city" of the PouchDB reference in tests/bench/transfer.sh: a
// CouchDB-protocol HTTP server (express-pouchdb, the server half of pouchdb-server)
// whose databases are PouchDB databases held in memory.
//
//   node pouch-server.js
//
// Listens on 127.0.0.1 at a port of the system's choosing, printed on stdout. Runs in
// its own process, as a city's server would, so that the client's and the server's work
// do not share one event loop. Stops on SIGTERM or SIGINT. express-pouchdb's smallest
// mode ("minimumForPouchDB": what PouchDB's replication needs, with gzip compression of
// responses, no config or log files) is used.
'use strict';

const PouchDB = require('pouchdb-core')
	.plugin(require('pouchdb-adapter-memory'))
	.plugin(require('pouchdb-adapter-http'))
	.plugin(require('pouchdb-replication'));
const expressPouchDB = require('express-pouchdb');

const app = expressPouchDB(PouchDB.defaults({ adapter: 'memory' }), { mode: 'minimumForPouchDB' });
const server = app.listen(0, '127.0.0.1', () => {
	process.stdout.write(`${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
