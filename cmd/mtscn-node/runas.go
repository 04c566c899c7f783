package main

import (
	"context"
	"fmt"
	"strconv"
	"strings"

	"k8s.io/klog/v2"

	"github.com/mtscn/mtscn/pkg/node/agent"
)

const runAsHelp = `uid:gid to switch to before reading the host, keeping as supplementary groups the groups of /dev/kvm and /dev/vhost-vsock (never 0) and no capabilities; needs to start as root (the DaemonSet uses 65532:65532)`

// switchUser applies --run-as (empty: nothing to do).
func switchUser(ctx context.Context, runAs, hostRoot string) error {
	if runAs == "" {
		return nil
	}
	u, g, ok := strings.Cut(runAs, ":")
	uid, errU := strconv.Atoi(u)
	gid, errG := strconv.Atoi(g)
	if !ok || errU != nil || errG != nil || uid < 0 || gid < 0 {
		return fmt.Errorf("--run-as=%q: want uid:gid, e.g. 65532:65532", runAs)
	}
	if hostRoot == "" {
		hostRoot = "/"
	}
	groups, err := agent.RunAs(hostRoot, uid, gid)
	if err != nil {
		return err
	}
	klog.FromContext(ctx).Info("running as", "uid", uid, "gid", gid, "deviceGroups", groups)
	return nil
}
