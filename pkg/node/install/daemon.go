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
	// RetryInterval is the wait between failed install attempts.
	RetryInterval time.Duration
	// UninstallTimeout bounds the uninstall run after ctx is cancelled.
	UninstallTimeout time.Duration
	// UninstallOnStop runs Uninstall when ctx is cancelled (SIGTERM), as
	// kata-deploy's DaemonSet does.
	UninstallOnStop bool
}

// Serve is the DaemonSet mode: it serves /healthz (alive) and /readyz (200
// only once the install is verified) on ln, installs (retrying until it
// succeeds), waits for ctx to be cancelled, and then uninstalls.
func (in *Installer) Serve(ctx context.Context, ln net.Listener, o DaemonOptions) error {
	logger := klog.FromContext(ctx)
	if o.RetryInterval <= 0 {
		o.RetryInterval = 30 * time.Second
	}
	if o.UninstallTimeout <= 0 {
		o.UninstallTimeout = 5 * time.Minute
	}
	var ready atomic.Bool
	mux := http.NewServeMux()
	mux.HandleFunc("/healthz", func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte("ok\n"))
	})
	mux.HandleFunc("/readyz", func(w http.ResponseWriter, _ *http.Request) {
		if !ready.Load() {
			http.Error(w, "kata install not verified yet", http.StatusServiceUnavailable)
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

	for {
		if _, err := in.Install(ctx); err == nil {
			break
		} else if ctx.Err() == nil {
			logger.Error(err, "kata install failed; retrying", "retryInterval", o.RetryInterval)
		}
		select {
		case <-ctx.Done():
			return in.stop(ctx, o, &ready)
		case err := <-serveErr:
			return err
		case <-time.After(o.RetryInterval):
		}
	}
	ready.Store(true)
	logger.Info("kata installed; ready")
	select {
	case <-ctx.Done():
	case err := <-serveErr:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return in.stop(ctx, o, &ready)
}

func (in *Installer) stop(ctx context.Context, o DaemonOptions, ready *atomic.Bool) error {
	ready.Store(false)
	if !o.UninstallOnStop {
		return nil
	}
	klog.FromContext(ctx).Info("stopping: uninstalling kata")
	uctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), o.UninstallTimeout)
	defer cancel()
	_, err := in.Uninstall(uctx)
	return err
}
