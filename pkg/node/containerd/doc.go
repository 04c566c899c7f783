// Package containerd reads containerd's configuration the way containerd
// does: the main config.toml and, breadth first, every file it imports,
// with imports resolved by the rule of the containerd version that will
// read them, and the plugins tables merged by that version's rule. It is
// the one reader of containerd's config chain in mtscn: the installer
// (pkg/node/install) plans its changes with it and discovery
// (pkg/node/discover) lists the configured handlers with it.
//
// The rules, read from containerd's source
// (github.com/containerd/containerd/services/server/config/config.go in
// v1.6, github.com/containerd/containerd/v2/cmd/containerd/server/config/config.go
// in v2):
//
//   - An import without "*" is a path; a relative one is relative to the
//     directory of the importing file as containerd names it (a symlinked
//     config.toml's own directory, not its target's).
//   - An import with "*" is a glob (only "*" makes a glob; "?" and "[" do
//     not). containerd 2.x resolves a relative glob against the importing
//     file's directory; containerd 1.x passes it to filepath.Glob as
//     written, so it is relative to containerd's working directory (/ under
//     systemd). Matches come in filepath.Glob's order.
//   - A file already loaded is not loaded again; a missing import stops
//     containerd, and is reported as an error here.
//   - containerd 1.x replaces a whole plugin table with the one of each later
//     file that defines it; containerd 2.x merges plugin tables key by key.
//     The merge depends on the binary, not on the config version: 2.x reads
//     version 2 files with its own rule.
//
// Every file is read through pkg/node/hostpath: symlinks resolve inside the
// host root, reads are bounded (MaxFileBytes) and only regular files are
// read. The TOML and chain parsers have Go fuzz targets (fuzz_test.go).
package containerd
