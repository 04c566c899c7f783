package main

import (
	"sort"
	"testing"

	"github.com/google/go-cmp/cmp"
)

// TestSubcommands checks that every subcommand registers itself with the
// flags its documentation and the Makefile use.
func TestSubcommands(t *testing.T) {
	want := map[string][]string{
		"audit":    {"context", "kubeconfig", "log-file", "output", "scheduler-config"},
		"demo":     {"compare", "data-dir", "keep", "log-file", "scheduler-config"},
		"simulate": {"data-dir", "filename", "log-file", "scheduler-config"},
	}
	got := map[string][]string{}
	for _, c := range newRootCommand().Commands() {
		var flags []string
		for _, name := range []string{"compare", "context", "data-dir", "filename", "keep", "kubeconfig", "log-file", "output", "scheduler-config"} {
			if c.Flags().Lookup(name) != nil {
				flags = append(flags, name)
			}
		}
		sort.Strings(flags)
		got[c.Name()] = flags
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("subcommands and flags (-want,+got):\n%s", diff)
	}
}
