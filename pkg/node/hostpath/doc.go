// Package hostpath reaches the host's files from the node agent, which sees
// the host's / under a root directory (/host in the DaemonSet, a fixture
// tree in tests, / on the host itself). Host paths are always absolute paths
// as the host names them; Root turns them into paths this process can open.
// Symlinks are resolved inside the root, the way the host would resolve
// them, so an absolute link never escapes to the container's own files.
// Reads are bounded and accept regular files only, so a huge file, /dev/zero
// or a FIFO cannot exhaust memory or hang the agent.
package hostpath
