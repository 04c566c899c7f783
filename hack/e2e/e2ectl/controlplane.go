package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/devcluster"
)

// runControlPlane starts etcd and kube-apiserver in this process
// (pkg/devcluster), writes the kubeconfigs the node components use, and
// runs until SIGTERM or SIGINT. Files in -dir:
//
//	cluster/               etcd data and certificates (removed on exit)
//	admin.kubeconfig       system:masters
//	kubelet-<node>.kubeconfig  system:node:<node> in system:nodes
//	ca.crt                 the CA, for the kubelets' client-certificate auth
//	ready                  written last: the API server is up
func runControlPlane(ctx context.Context, fs *flag.FlagSet, args []string) error {
	dir := fs.String("dir", "", "directory for the control plane's files (required)")
	nodes := fs.String("nodes", "", "comma-separated node names to issue kubelet kubeconfigs for")
	klogFlags := flag.NewFlagSet("klog", flag.ExitOnError)
	klog.InitFlags(klogFlags)
	fs.Func("v", "log verbosity", func(s string) error { return klogFlags.Set("v", s) })
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *dir == "" {
		return fmt.Errorf("-dir is required")
	}
	logger := klog.Background().WithName("controlplane")
	ctx = klog.NewContext(ctx, logger)
	c, err := devcluster.Start(ctx, devcluster.Options{DataDir: filepath.Join(*dir, "cluster"), LogOutput: os.Stderr})
	if err != nil {
		return err
	}
	defer func() {
		if err := c.Stop(); err != nil {
			logger.Error(err, "Stopping the control plane")
		}
	}()
	if err := copyFile(c.KubeconfigPath, filepath.Join(*dir, "admin.kubeconfig")); err != nil {
		return err
	}
	if err := copyFile(c.CAFile(), filepath.Join(*dir, "ca.crt")); err != nil {
		return err
	}
	for _, n := range strings.Split(*nodes, ",") {
		if n == "" {
			continue
		}
		path := filepath.Join(*dir, "kubelet-"+n+".kubeconfig")
		if err := c.IssueKubeconfig(path, "system:node:"+n, []string{"system:nodes"}); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(*dir, "ready"), []byte(c.APIServerURL+"\n"), 0o644); err != nil {
		return err
	}
	logger.Info("Control plane running", "url", c.APIServerURL, "kubeconfig", filepath.Join(*dir, "admin.kubeconfig"))
	<-ctx.Done()
	logger.Info("Stopping the control plane")
	return nil
}

func copyFile(from, to string) error {
	data, err := os.ReadFile(from)
	if err != nil {
		return err
	}
	return os.WriteFile(to, data, 0o600)
}
