// pouch.js: the "district" of the PouchDB reference in tests/bench/transfer.sh: a
// PouchDB database in memory replicating with pouch-server.js over HTTP.
//
//   node pouch.js transfer RELAY_URL DIRECT_URL STATS_FILE RECORDS AMEND
//   node pouch.js clone DIRECT_URL RECORDS
//
// The documents are the ledger's visit records of tests/bench/benchlib.c (bench_visit):
// _id V-120112-B<n>, the same fields and values; an amendment sets "notes" on the record
// tests/bench/bench_sync.c's amend picks, "<tag> follow-up <i>", one revision each (as
// each amendment is one commit there).
//
// transfer: the local database and the server's "ledger" (reached at RELAY_URL, through
// relay.js, whose STATS_FILE counts the bytes) start with the same RECORDS documents,
// replicated untimed and uncounted both ways (so that each direction has its
// checkpoint). Counted, each one PouchDB.replicate with the defaults (batches of 100):
//   idle:  local -> server when nothing changed (the fixed cost of one replication);
//   push:  AMEND updates made locally, replicated local -> server;
//   echo:  server -> local right after the push: what reading back the pushed changes
//          costs (left out of "fetch", so that it moves only the server's changes);
//   fetch: AMEND updates made on the server (through DIRECT_URL, not counted),
//          replicated server -> local.
// clone: the first copy: an empty local database, one PouchDB.replicate from the server
// (DIRECT_URL: no relay), timed.
// Prints shell assignments NAME=NUMBER (bytes up = client to server, down = back).
'use strict';

const fs = require('fs');
const PouchDB = require('pouchdb-core')
	.plugin(require('pouchdb-adapter-memory'))
	.plugin(require('pouchdb-adapter-http'))
	.plugin(require('pouchdb-replication'));

const OFFICE = '120112';
let requests = 0; // HTTP requests made to the server

function visitId(i) {
	return `V-${OFFICE}-B${String(i).padStart(12, '0')}`;
}

function visit(i) {
	const id = visitId(i);
	return { _id: id, id, type: 'visit', date: '2026-11-29', kind: 'home',
		 worker: 'grid worker 7', notes: 'routine visit, household well' };
}

function remote(url) {
	// every request counted, then made as PouchDB makes it
	return new PouchDB(url, { fetch: (u, o) => { requests++; return PouchDB.fetch(u, o); } });
}

function fail(msg) {
	console.error(`pouch.js: ${msg}`);
	process.exit(1);
}

const sleep = (ms) => new Promise((resolve) => setTimeout(resolve, ms));

// the relay's totals once they stopped moving: [up, down, connections]
async function relayTotals(file) {
	let last = '';
	for (let i = 0; i < 50; i++) {
		const now = fs.readFileSync(file, 'utf8');
		if (now === last) break;
		last = now;
		await sleep(100);
	}
	return last.trim().split(' ').map(Number);
}

// AMEND amendments of db's documents, one revision each, picked as bench_sync does
async function amend(db, n, m, tag) {
	for (let i = 0; i < m; i++) {
		const doc = await db.get(visitId((i * 7919 + 13) % n));
		doc.notes = `${tag} follow-up ${i}`;
		await db.put(doc);
	}
}

// one counted replication: prints NAME_up, NAME_down, NAME_conns, NAME_requests
async function counted(name, from, to, stats, expectWritten) {
	const [u0, d0, c0] = await relayTotals(stats);
	const r0 = requests;
	const res = await PouchDB.replicate(from, to);
	const [u1, d1, c1] = await relayTotals(stats);
	if (!res.ok || res.docs_written !== expectWritten)
		fail(`${name}: ${res.docs_written} documents written, expected ${expectWritten}`);
	console.log(`${name}_up=${u1 - u0}\n${name}_down=${d1 - d0}`);
	console.log(`${name}_conns=${c1 - c0}\n${name}_requests=${requests - r0}`);
}

async function transfer(relayUrl, directUrl, stats, n, m) {
	const local = new PouchDB('district', { adapter: 'memory' });
	const server = remote(relayUrl);
	let t0 = Date.now();

	for (let i = 0; i < n; i += 1000) {
		const docs = [];
		for (let j = i; j < Math.min(n, i + 1000); j++) docs.push(visit(j));
		await local.bulkDocs(docs);
	}
	// the untimed, uncounted start: the same documents on both sides, a checkpoint each way
	await PouchDB.replicate(local, server, { batch_size: 1000 });
	await PouchDB.replicate(server, local, { batch_size: 1000 });
	console.log(`setup_s=${(Date.now() - t0) / 1000}`);

	await counted('idle', local, server, stats, 0);
	await amend(local, n, m, 'district');
	await counted('push', local, server, stats, m);
	await counted('echo', server, local, stats, 0);
	await amend(remote(directUrl), n, m, 'city');
	await counted('fetch', server, local, stats, m);

	// both sides hold the same documents, the last amendment included
	const id = visitId(((m - 1) * 7919 + 13) % n);
	const [a, b] = [await local.get(id), await remote(directUrl).get(id)];
	if (a._rev !== b._rev || a.notes !== `city follow-up ${m - 1}`)
		fail(`the copies differ: ${JSON.stringify(a)} ${JSON.stringify(b)}`);
	const [ia, ib] = [await local.info(), await remote(directUrl).info()];
	if (ia.doc_count !== n || ib.doc_count !== n)
		fail(`documents: ${ia.doc_count} local, ${ib.doc_count} on the server, expected ${n}`);
}

async function clone(directUrl, n) {
	const copy = new PouchDB('laptop', { adapter: 'memory' });
	const t0 = Date.now();
	const res = await PouchDB.replicate(remote(directUrl), copy);
	const t1 = Date.now();
	const info = await copy.info();
	if (!res.ok || info.doc_count !== n)
		fail(`clone: ${info.doc_count} documents, expected ${n}`);
	console.log(`clone_s=${(t1 - t0) / 1000}\nclone_requests=${requests}`);
	console.log(`clone_docs_written=${res.docs_written}`);
}

const [mode, ...args] = process.argv.slice(2);
let work;
if (mode === 'transfer' && args.length === 5)
	work = transfer(args[0], args[1], args[2], Number(args[3]), Number(args[4]));
else if (mode === 'clone' && args.length === 2)
	work = clone(args[0], Number(args[1]));
else
	fail('usage: pouch.js transfer RELAY_URL DIRECT_URL STATS_FILE RECORDS AMEND | clone DIRECT_URL RECORDS');
work.catch((e) => fail(e.stack || String(e)));
