// Package install puts Kata Containers on a node and takes it off again, the
// way kata-deploy does, with the guarantees a platform team needs:
//
//   - the node is claimed (mtscn.io/sandbox-runtime=pending,
//     katacontainers.io/kata-runtime=false) before the host is touched, and
//     labelled ready and untainted only after containerd is verified to list
//     every installed handler;
//   - the Kata artifacts are staged next to the install directory and swapped
//     in with a rename, so a binary in use is never rewritten in place;
//   - containerd's configuration is edited as TOML (github.com/pelletier/go-toml/v2),
//     parsed before and after every change, backed up before the first change,
//     and written with temp file + fsync + rename;
//   - uninstall restores config.toml byte for byte, is safe to run twice and
//     after an install that stopped half way.
//
// Every host file operation goes through the Ops interface so that tests can
// inject a failure after any single operation, and every node change goes
// through the Node interface so host-only tests run without a cluster.
// README.md in this directory documents the lifecycle.
package install
