// Command mtscn-node is mtscn's node agent. It discovers what Node Feature
// Discovery cannot (usable /dev/kvm, nested virtualization, PVM, IOMMU, QAT
// VFs on vfio-pci, CPU side-channel exposure, /dev/shm capacity, installed
// Kata handlers), publishes it as an NFD NodeFeature, and installs or
// uninstalls sandbox runtimes (gVisor, Kata Containers) into the node's
// containerd.
//
// Each subcommand lives in its own file and registers itself in
// subcommands from an init function.
package main

import (
	"os"

	"github.com/spf13/cobra"
	"k8s.io/component-base/cli"

	"github.com/mtscn/mtscn/pkg/cmdutil"
)

// subcommands are added by init functions in this package's other files.
var subcommands []func() *cobra.Command

func newRootCommand() *cobra.Command {
	return cmdutil.NewRoot("mtscn-node", "mtscn's node agent: discover virtualization features, publish them, install sandbox runtimes", subcommands)
}

func main() {
	os.Exit(cli.Run(newRootCommand()))
}
