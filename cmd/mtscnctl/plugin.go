package main

import (
	"path/filepath"
	"strings"

	"github.com/spf13/cobra"

	"github.com/mtscn/mtscn/pkg/version"
)

// pluginName is the name `make install` gives mtscnctl beside its own
// (hack/make/install.mk): kubectl runs an executable named kubectl-<name>
// found on PATH for `kubectl <name> ...`, with the remaining arguments, so
// `kubectl mtscn audit --context prod` runs `kubectl-mtscn audit --context
// prod`.
const pluginName = "kubectl-mtscn"

// asPlugin makes root's help and version say `kubectl mtscn` when the
// binary runs under the plugin name argv0.
func asPlugin(root *cobra.Command, argv0 string) *cobra.Command {
	if strings.TrimSuffix(filepath.Base(argv0), ".exe") != pluginName {
		return root
	}
	if root.Annotations == nil {
		root.Annotations = map[string]string{}
	}
	root.Annotations[cobra.CommandDisplayNameAnnotation] = "kubectl mtscn"
	root.SetVersionTemplate("kubectl mtscn " + version.String() + "\n")
	return root
}
