// Package withdrawal is the note through which the sandbox installer
// (pkg/node/install) withdraws runtime handlers from discovery
// (pkg/node/discover) before it changes containerd in a way that removes or
// replaces them.
//
// Discovery is the only writer of the node label mtscn.io/runtime.<handler>
// (docs/labels.md). The installer never writes that label; to take a
// handler out of service quickly and safely it writes this note, a small
// JSON file in a host directory both DaemonSets mount (the installer
// read-write, discovery read-only), and waits until discovery has dropped
// the label. Discovery never reports a handler the note names, and checks
// the note every few seconds between its full rounds
// (docs/node-agent.md#one-writer-per-label).
//
// The note holds handler names only, nothing secret; it is written
// atomically with mode 0644 so that discovery, which reads the host as an
// unprivileged user, can read it.
package withdrawal
