package install

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	sddbus "github.com/coreos/go-systemd/v22/dbus"
	"github.com/godbus/dbus/v5"
)

// Restarter restarts containerd after its configuration changed.
type Restarter interface {
	Restart(ctx context.Context, unit string) error
}

// NoRestart leaves containerd alone (--restart=none): the operator restarts
// it, or the node is rebooted.
type NoRestart struct{}

// Restart implements Restarter.
func (NoRestart) Restart(context.Context, string) error { return nil }

// SystemdRestarter restarts a unit through systemd's private D-Bus socket
// (HostRoot/run/systemd/private), which works without a D-Bus daemon and
// from a container that mounts the host at HostRoot.
type SystemdRestarter struct {
	HostRoot string
}

// Restart implements Restarter: it queues a restart job and waits for it.
func (s SystemdRestarter) Restart(ctx context.Context, unit string) error {
	socket := filepath.Join(s.HostRoot, "run/systemd/private")
	if _, err := os.Stat(socket); err != nil {
		return fmt.Errorf("restarting %s through systemd: no systemd socket at %s (use --restart-mode=signal, command or none on hosts without systemd): %w", unit, socket, err)
	}
	conn, err := sddbus.NewConnection(func() (*dbus.Conn, error) {
		c, err := dbus.Dial("unix:path="+socket, dbus.WithContext(ctx))
		if err != nil {
			return nil, err
		}
		if err := c.Auth([]dbus.Auth{dbus.AuthExternal(strconv.Itoa(os.Getuid()))}); err != nil {
			c.Close()
			return nil, err
		}
		return c, nil
	})
	if err != nil {
		return fmt.Errorf("connecting to systemd at %s: %w", socket, err)
	}
	defer conn.Close()
	done := make(chan string, 1)
	if _, err := conn.RestartUnitContext(ctx, unit, "replace", done); err != nil {
		return fmt.Errorf("restarting %s through systemd: %w", unit, err)
	}
	select {
	case result := <-done:
		if result != "done" {
			return fmt.Errorf("restarting %s through systemd: job %s; see journalctl -u %s", unit, result, unit)
		}
		return nil
	case <-ctx.Done():
		return fmt.Errorf("restarting %s through systemd: %w", unit, ctx.Err())
	}
}
