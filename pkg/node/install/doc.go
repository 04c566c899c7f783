// Package install puts sandbox runtimes (Kata Containers, gVisor) into a
// node's containerd and takes them off again, with the guarantees a
// platform team needs (docs/node-agent.md, README.md in this directory):
//
//   - the node is claimed (mtscn.io/sandbox-runtime=pending) before the host
//     is touched, and marked ready and untainted only after the CRI of the
//     restarted containerd serves every new handler and every runtime it
//     served before (runc first) and discovery reports the new handlers;
//     otherwise the previous config is put back;
//   - it never writes mtscn.io/runtime.<handler>, whose one writer is
//     discovery: it withdraws a handler through the note of
//     pkg/node/withdrawal and waits until discovery dropped the label
//     before containerd changes (handoff.go);
//   - containerd's config chain is read with pkg/node/containerd and edited
//     as TOML in the layout that keeps the user's file authoritative on
//     containerd 1.x (runtimes inline) and 2.x (a drop-in), backed up before
//     the first change, written with temp file + fsync + rename, keeping
//     mode, owner and symlinks;
//   - artifacts are staged beside the install dir on the same mount and
//     swapped in with a rename, so a binary in use is never rewritten;
//   - uninstall is explicit, refuses while sandboxes run (unless forced),
//     restores the config byte for byte or keeps the admin's later edits,
//     and is safe to run twice and after a crash.
//
// Every host file operation goes through Ops so that tests can inject a
// failure after any single operation, and every node change goes through
// Node so host-only tests run without a cluster.
package install
