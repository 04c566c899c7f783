package install

import (
	"context"
	"errors"
	"fmt"
	"path"
	"slices"
	"strings"
	"time"

	v1 "k8s.io/api/core/v1"
	"k8s.io/apimachinery/pkg/util/wait"
	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/node/withdrawal"
	"github.com/mtscn/mtscn/pkg/wellknown"
)

// Discovery is the only writer of mtscn.io/runtime.<handler>
// (docs/node-agent.md#one-writer-per-label). The installer hands handlers
// over to it through the withdrawal note (pkg/node/withdrawal): before it
// changes containerd in a way that removes or replaces a handler it
// withdraws the handler and waits until discovery has dropped the label;
// after a verified install it clears the withdrawal and waits until
// discovery has published the label, and only then reports the node ready.

// ErrDiscoveryTimeout is returned when discovery did not drop or publish a
// runtime label in time (Options.DiscoveryTimeout). The installer then
// changed nothing further (fail closed) and recorded one Warning Event
// with reason EventDiscoveryTimeout.
var ErrDiscoveryTimeout = errors.New("discovery did not update the node's runtime labels in time")

// Event reasons of the handoff.
const (
	EventRuntimeWithdrawn = "SandboxRuntimeWithdrawn"
	EventDiscoveryTimeout = "SandboxDiscoveryTimeout"
)

// DefaultPollInterval is how often the installer reads its Node while it
// waits for discovery.
const DefaultPollInterval = time.Second

// WithPollInterval sets how often the Node is read while waiting for
// discovery (tests).
func WithPollInterval(d time.Duration) Option { return func(in *Installer) { in.poll = d } }

func (in *Installer) notePath() string { return in.host(path.Clean(in.opts.WithdrawnNote)) }

func (in *Installer) readNote() (withdrawal.Note, error) {
	b, ok, err := readOptional(in.ops, in.notePath())
	if err != nil || !ok {
		return withdrawal.Note{}, err
	}
	n, err := withdrawal.Parse(in.opts.WithdrawnNote, b)
	if err != nil {
		// The installer owns the file: a damaged note is rewritten from
		// what this run withdraws (discovery withholds every sandbox
		// handler meanwhile, fail closed).
		return withdrawal.Note{}, nil
	}
	return n, nil
}

// writeNote replaces the note (atomically, 0644), or removes it when it
// withdraws nothing. The directory stays: discovery's DaemonSet mounts it.
func (in *Installer) writeNote(n withdrawal.Note) error {
	cur, exists, err := readOptional(in.ops, in.notePath())
	if err != nil {
		return err
	}
	if n.Empty() {
		if _, err := removeIfExists(in.ops, in.notePath()); err != nil {
			return fmt.Errorf("clearing the withdrawal note: %w", err)
		}
		return nil
	}
	b := withdrawal.Marshal(n)
	if exists && string(cur) == string(b) {
		return nil
	}
	if err := writeFileAtomic(in.ops, in.notePath(), b, withdrawal.Mode); err != nil {
		return fmt.Errorf("writing the withdrawal note: %w", err)
	}
	return nil
}

// withdraw takes handlers out of discovery's reports before containerd
// changes: it writes them into the note and waits until none of their
// labels is on the Node. On timeout it fails closed (ErrDiscoveryTimeout,
// one Warning Event), unless proceed is set (uninstall --force), which
// goes on after the Warning.
func (in *Installer) withdraw(ctx context.Context, reason string, handlers []string, proceed bool) error {
	if len(handlers) == 0 {
		return nil
	}
	note, err := in.readNote()
	if err != nil {
		return err
	}
	if err := in.writeNote(note.With(reason, handlers...)); err != nil {
		return err
	}
	start := time.Now()
	waited, err := in.waitLabels(ctx, func(labels map[string]string) []string {
		var left []string
		for _, h := range handlers {
			if _, ok := labels[wellknown.RuntimeLabel(h)]; ok {
				left = append(left, wellknown.RuntimeLabel(h))
			}
		}
		return left
	})
	if errors.Is(err, ErrDiscoveryTimeout) {
		msg := fmt.Sprintf("%s still on the Node %v after the installer withdrew the handlers in %s; is mtscn-node discovery (DaemonSet mtscn-node) running on this node, and does it mount %s? ",
			strings.Join(waited, ", "), in.opts.DiscoveryTimeout, in.opts.WithdrawnNote, path.Dir(in.opts.WithdrawnNote))
		if proceed {
			in.node.Event(ctx, v1.EventTypeWarning, EventDiscoveryTimeout, msg+"--force: going on, pods may still be scheduled to the handlers while they go")
			klog.FromContext(ctx).Info("discovery did not drop the runtime labels in time; --force: going on", "labels", waited, "timeout", in.opts.DiscoveryTimeout)
			return nil
		}
		in.node.Event(ctx, v1.EventTypeWarning, EventDiscoveryTimeout, msg+"containerd was left unchanged")
		return fmt.Errorf("%w: %s%s", ErrDiscoveryTimeout, msg, "containerd was left unchanged")
	}
	if err != nil {
		return err
	}
	if waited != nil {
		in.note(ctx, v1.EventTypeNormal, EventRuntimeWithdrawn, "discovery dropped the runtime labels; changing containerd now",
			"labels", strings.Join(waited, ","), "waited", time.Since(start).Round(time.Millisecond).String(), "for", reason)
	}
	return nil
}

// handBack clears the withdrawal of handlers containerd now serves
// (verified) and waits until discovery publishes
// mtscn.io/runtime.<handler>=true for each, so that the node is reported
// ready only once pods can select it. On timeout it fails closed.
func (in *Installer) handBack(ctx context.Context, handlers []string) error {
	note, err := in.readNote()
	if err != nil {
		return err
	}
	if err := in.writeNote(note.Without(handlers...)); err != nil {
		return err
	}
	if len(handlers) == 0 {
		return nil
	}
	waited, err := in.waitLabels(ctx, func(labels map[string]string) []string {
		var missing []string
		for _, h := range handlers {
			if labels[wellknown.RuntimeLabel(h)] != wellknown.ValueTrue {
				missing = append(missing, wellknown.RuntimeLabel(h))
			}
		}
		return missing
	})
	if errors.Is(err, ErrDiscoveryTimeout) {
		msg := fmt.Sprintf("%s=true not on the Node %v after a verified install; is mtscn-node discovery (DaemonSet mtscn-node) running on this node, and does it read %s and see the handlers in containerd's config and CRI? The startup taint stays",
			strings.Join(waited, "=true, "), in.opts.DiscoveryTimeout, in.opts.WithdrawnNote)
		in.node.Event(ctx, v1.EventTypeWarning, EventDiscoveryTimeout, msg)
		return fmt.Errorf("%w: %s", ErrDiscoveryTimeout, msg)
	}
	return err
}

// waitLabels reads the Node until pending returns nothing, and returns
// what pending returned first (nil when nothing was pending, or there is
// no Node). After DiscoveryTimeout it returns what is still pending and
// ErrDiscoveryTimeout.
func (in *Installer) waitLabels(ctx context.Context, pending func(map[string]string) []string) ([]string, error) {
	labels, ok, err := in.node.ReadLabels(ctx)
	if err != nil || !ok {
		return nil, err
	}
	first := pending(labels)
	if len(first) == 0 {
		return nil, nil
	}
	logger := klog.FromContext(ctx)
	logger.Info("waiting for discovery", "labels", first, "timeout", in.opts.DiscoveryTimeout)
	every := in.poll
	if every <= 0 {
		every = DefaultPollInterval
	}
	left := first
	err = wait.PollUntilContextTimeout(ctx, every, in.opts.DiscoveryTimeout, false, func(ctx context.Context) (bool, error) {
		labels, _, err := in.node.ReadLabels(ctx)
		if err != nil {
			logger.Info("reading the node while waiting for discovery failed; retrying", "err", err)
			return false, nil
		}
		left = pending(labels)
		return len(left) == 0, nil
	})
	switch {
	case err == nil:
		return first, nil
	case wait.Interrupted(err) && ctx.Err() == nil:
		return left, ErrDiscoveryTimeout
	default:
		return left, err
	}
}

// withdrawable are the handlers of handlers the installer may withdraw:
// its own, never a runtime someone else configured.
func withdrawable(handlers, user []string) []string {
	return slices.DeleteFunc(slices.Clone(handlers), func(h string) bool { return slices.Contains(user, h) })
}
