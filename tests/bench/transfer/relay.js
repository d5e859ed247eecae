// relay.js: a byte-counting TCP relay for tests/bench/transfer.sh.
//
//   node relay.js TARGET_PORT STATS_FILE
//
// Listens on 127.0.0.1 at a port of the system's choosing, printed on stdout as soon as
// it listens. Every connection accepted is forwarded to 127.0.0.1:TARGET_PORT, bytes
// unchanged (TLS passes through untouched). It counts the bytes of all connections, per
// direction: "up" from the connecting side (the client) to the target, "down" back.
// After every change it rewrites STATS_FILE (a temporary file renamed over it, so a
// reader never sees half a line) as one line:
//
//   UP DOWN CONNECTIONS OPEN
//
// (bytes up, bytes down, connections accepted, connections still open). A byte is
// counted before it is forwarded, so once a peer has read a reply, the file holds it.
// Stops on SIGTERM or SIGINT.
'use strict';

const net = require('net');
const fs = require('fs');

const target = Number(process.argv[2]);
const statsFile = process.argv[3];
if (!target || !statsFile) {
	console.error('usage: node relay.js TARGET_PORT STATS_FILE');
	process.exit(2);
}

let up = 0;
let down = 0;
let connections = 0;
let open = 0;

function save() {
	fs.writeFileSync(statsFile + '.tmp', `${up} ${down} ${connections} ${open}\n`);
	fs.renameSync(statsFile + '.tmp', statsFile);
}

const server = net.createServer({ allowHalfOpen: true }, (client) => {
	const upstream = net.connect({ port: target, host: '127.0.0.1', allowHalfOpen: true });
	let closed = 0;

	connections++;
	open++;
	client.setNoDelay(true);
	upstream.setNoDelay(true);
	// count first (listeners run in the order they were added), then forward with
	// pipe, which also passes on each side's end of stream (FIN) and back-pressure
	client.on('data', (chunk) => {
		up += chunk.length;
		save();
	});
	upstream.on('data', (chunk) => {
		down += chunk.length;
		save();
	});
	client.pipe(upstream);
	upstream.pipe(client);
	// a reset or error on one side ends the other: nothing more can pass
	client.on('error', () => upstream.destroy());
	upstream.on('error', () => client.destroy());
	const onClose = () => {
		if (++closed === 2) {
			open--;
			save();
		} else {
			client.destroy();
			upstream.destroy();
		}
	};
	client.on('close', onClose);
	upstream.on('close', onClose);
	save();
});

server.listen(0, '127.0.0.1', () => {
	save();
	process.stdout.write(`${server.address().port}\n`);
});
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => process.exit(0));
