// Package cmdutil holds what mtscn's own commands (mtscn-node, mtscnctl)
// share: a cobra root that prints the build version and collects
// subcommands registered by each command's files.
package cmdutil
