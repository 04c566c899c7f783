package install

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"sort"
	"strings"
)

// Verifier checks that containerd serves the handlers.
type Verifier interface {
	Verify(ctx context.Context, handlers []string) error
}

// NoVerify skips the check (--verify=none).
type NoVerify struct{}

// Verify implements Verifier.
func (NoVerify) Verify(context.Context, []string) error { return nil }

// DumpVerifier runs `<Command...> --config <Config> config dump`, the real
// containerd merging config.toml with its imports exactly as the daemon
// does at start, and checks that the merged config lists every handler as
// a Kata runtime. On a host, Command is ["containerd"]; in a container that
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
	args := append(append([]string{}, d.Command[1:]...), "--config", d.Config, "config", "dump")
	cmd := exec.CommandContext(ctx, d.Command[0], args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		return nil, fmt.Errorf("running %s: %w: %s", strings.Join(cmd.Args, " "), err, strings.TrimSpace(stderr.String()))
	}
	return parseTOML("containerd config dump", stdout.Bytes())
}

// Dump returns the merged configuration's runtimes, by handler.
func (d DumpVerifier) Dump(ctx context.Context) (map[string]any, error) {
	doc, err := d.DumpConfig(ctx)
	if err != nil {
		return nil, err
	}
	for _, plugin := range []string{PluginCRIv3, PluginCRIv2} {
		if rt := table(doc, "plugins", plugin, "containerd", "runtimes"); rt != nil {
			return rt, nil
		}
	}
	return map[string]any{}, nil
}

// Verify implements Verifier.
func (d DumpVerifier) Verify(ctx context.Context, handlers []string) error {
	runtimes, err := d.Dump(ctx)
	if err != nil {
		return fmt.Errorf("verifying containerd's config: %w", err)
	}
	var missing []string
	for _, h := range handlers {
		rt, _ := runtimes[h].(map[string]any)
		if typ, _ := rt["runtime_type"].(string); !strings.HasPrefix(typ, "io.containerd.kata") {
			missing = append(missing, h)
		}
	}
	if len(missing) > 0 {
		sort.Strings(missing)
		return fmt.Errorf("containerd's merged config (%s) lacks Kata runtimes %s: another file in its imports overrides the drop-in", d.Config, strings.Join(missing, ", "))
	}
	return nil
}
