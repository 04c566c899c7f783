package install

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"slices"
	"sort"
	"strings"

	"github.com/mtscn/mtscn/pkg/node/containerd"
)

// Verifier reads which runtimes containerd serves.
type Verifier interface {
	// Runtimes returns the handlers containerd serves with their
	// runtime_type; nil without an error means "not checked".
	Runtimes(ctx context.Context) (map[string]string, error)
}

// NoVerify skips the check (--verify=none).
type NoVerify struct{}

// Runtimes implements Verifier.
func (NoVerify) Runtimes(context.Context) (map[string]string, error) { return nil, nil }

// DumpVerifier runs `<Command...> --config <Config> config dump`, the real
// containerd merging config.toml with its imports exactly as the daemon
// does at start. On a host, Command is ["containerd"]; in a container that
// mounts the host at /host, ["chroot", "/host", "containerd"].
type DumpVerifier struct {
	Command []string
	Config  string
}

// DumpConfig returns the merged configuration containerd would run with.
func (d DumpVerifier) DumpConfig(ctx context.Context) (map[string]any, error) {
	if len(d.Command) == 0 {
		return nil, fmt.Errorf("no containerd command to run")
	}
	out, err := d.run(ctx, "--config", d.Config, "config", "dump")
	if err != nil && strings.Contains(err.Error(), d.Config+": no such file or directory") {
		// No config file: containerd runs on its defaults.
		out, err = d.run(ctx, "config", "default")
	}
	if err != nil {
		return nil, err
	}
	return containerd.Parse("containerd config dump", out)
}

func (d DumpVerifier) run(ctx context.Context, arg ...string) ([]byte, error) {
	args := append(append([]string{}, d.Command[1:]...), arg...)
	cmd := exec.CommandContext(ctx, d.Command[0], args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("running %s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return stdout.Bytes(), nil
}

// Dump returns the merged configuration's runtimes, by handler.
func (d DumpVerifier) Dump(ctx context.Context) (map[string]any, error) {
	doc, err := d.DumpConfig(ctx)
	if err != nil {
		return nil, err
	}
	for _, plugin := range []string{containerd.PluginCRIv3, containerd.PluginCRIv2} {
		if rt := containerd.Table(doc, "plugins", plugin, "containerd", "runtimes"); rt != nil {
			return rt, nil
		}
	}
	return map[string]any{}, nil
}

// Runtimes implements Verifier.
func (d DumpVerifier) Runtimes(ctx context.Context) (map[string]string, error) {
	rt, err := d.Dump(ctx)
	if err != nil {
		return nil, fmt.Errorf("reading containerd's merged config: %w", err)
	}
	out := map[string]string{}
	for h, v := range rt {
		m, _ := v.(map[string]any)
		out[h], _ = m["runtime_type"].(string)
	}
	return out, nil
}

// checkServed compares what containerd serves with what it must serve:
// every runtime in keep (runc first), and every handler in want with a
// runtime_type starting with the given type.
func checkServed(served map[string]string, keep []string, want map[string]string) error {
	var lost, missing []string
	keep = slices.Clone(keep)
	sort.SliceStable(keep, func(i, j int) bool { return keep[i] == "runc" && keep[j] != "runc" })
	for _, h := range keep {
		if _, ok := served[h]; !ok {
			lost = append(lost, h)
		}
	}
	for h, typ := range want {
		if got, ok := served[h]; !ok || !strings.HasPrefix(got, typ) {
			missing = append(missing, h)
		}
	}
	sort.Strings(missing)
	var msgs []string
	if len(lost) > 0 {
		msgs = append(msgs, fmt.Sprintf("containerd no longer serves %s, which it served before", strings.Join(lost, ", ")))
	}
	if len(missing) > 0 {
		msgs = append(msgs, fmt.Sprintf("containerd does not serve %s", strings.Join(missing, ", ")))
	}
	if len(msgs) == 0 {
		return nil
	}
	return fmt.Errorf("%s (it serves %v): check containerd's log; the config may be overridden by a later import, or containerd was not restarted", strings.Join(msgs, "; "), sortedKeysOf(served))
}
