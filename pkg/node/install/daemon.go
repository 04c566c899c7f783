package install

import (
	"context"
	"errors"
	"net"
	"net/http"
	"sync/atomic"
	"time"

	"k8s.io/klog/v2"
)

// DaemonOptions configure Serve.
type DaemonOptions struct {
	// RetryInterval is the first wait after a failed install; it doubles
	// after each failure up to MaxRetryInterval.
	RetryInterval time.Duration
	// MaxRetryInterval caps the wait between attempts (default 30m).
	MaxRetryInterval time.Duration
}

// Serve is the DaemonSet mode: it serves /healthz (alive) and /readyz (200
// only once the install is verified) on ln, installs (retrying with
// exponential backoff until it succeeds) and then waits for ctx to be
// cancelled. Stopping never uninstalls: a DaemonSet rollout or a deleted
// pod leaves the runtimes in place; `mtscn-node uninstall` is the explicit
// action. After a rollback it does not restart containerd again for the
// same plan.
func (in *Installer) Serve(ctx context.Context, ln net.Listener, o DaemonOptions) error {
	logger := klog.FromContext(ctx)
	if o.RetryInterval <= 0 {
		o.RetryInterval = 30 * time.Second
	}
	if o.MaxRetryInterval <= 0 {
		o.MaxRetryInterval = 30 * time.Minute
	}
	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "sandbox install not verified yet", http.StatusServiceUnavailable)
			return
		}
		_, _ = w.Write([]byte("ok\n"))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	serveErr := make(chan error, 1)
	go func() { serveErr <- srv.Serve(ln) }()
	defer func() {
		shutdownCtx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
		defer cancel()
		_ = srv.Shutdown(shutdownCtx)
	}()

	wait := o.RetryInterval
	for {
		if _, err := in.installOnce(ctx, true); err == nil {
			break
		} else if ctx.Err() == nil {
			logger.Error(err, "sandbox install failed; retrying", "retryIn", wait, "rolledBack", errors.Is(err, ErrRolledBack))
		}
		select {
		case <-ctx.Done():
			return nil
		case err := <-serveErr:
			return err
		case <-time.After(wait):
		}
		wait = min(2*wait, o.MaxRetryInterval)
	}
	ready.Store(true)
	logger.Info("sandbox runtimes installed; ready")
	select {
	case <-ctx.Done():
		ready.Store(false)
		logger.Info("stopping; the sandbox runtimes stay installed (uninstall with `mtscn-node uninstall`)")
		return nil
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
		return nil
	}
}
