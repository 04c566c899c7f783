// Package names holds the names of mtscn's scheduler plugins, as the
// in-tree k8s.io/kubernetes/pkg/scheduler/framework/plugins/names does for
// the default plugins, so that code which only needs a plugin's name (the
// scheduler command, simulate, audit, tests) does not link the plugin.
package names
